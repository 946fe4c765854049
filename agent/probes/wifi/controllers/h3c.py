"""H3C WX/Comware AC: HH3C-DOT11-APMT-MIB (1.3.6.1.4.1.25506.2.75.2).

No H3C controller recording exists; these columns come from the MIB text:
status table 25506.2.75.2.1.1.1.N (index hh3cDot11APID):
  4 hh3cDot11APOperationStatus: join(1) joinConfirm(2) download(3) config(4) run(5)
  5 hh3cDot11APTemplateNameOfAP
  8 hh3cDot11APConnectionType: master(1) slave(2) notAvailable(3)
object table 25506.2.75.2.1.2.1.N (same index hh3cDot11APObjID):
  7 hh3cDot11CurrAPStationAssocCount, 8 hh3cDot11CurrAPName.
Only run(5) serves clients. ConnectionType slave(2) means this AC is the
backup for that AP (HA pair), so the row is standby, not down. The MIB has
no AP-group column: areas on H3C match by AP name or pattern.
"""

from __future__ import annotations

from typing import ClassVar

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import Columns, ControllerMib, number, text

STATUS = "1.3.6.1.4.1.25506.2.75.2.1.1.1"
OBJECT = "1.3.6.1.4.1.25506.2.75.2.1.2.1"
RUN = 5
SLAVE = 2


class H3c(ControllerMib):
    vendor = "h3c"
    columns: ClassVar[dict[str, str]] = {
        "state": f"{STATUS}.4",
        "template": f"{STATUS}.5",
        "connection": f"{STATUS}.8",
        "clients": f"{OBJECT}.7",
        "name": f"{OBJECT}.8",
    }
    sample = """\
vendor = "h3c"              # WX / Comware ACs (HH3C-DOT11-APMT-MIB): no AP groups
host = "10.0.0.3"           # there, so areas match APs by name or pattern
version = "3"
user = "audit"
auth_key = "change-me-auth"
priv_key = "change-me-priv"
"""

    def decode(self, cols: Columns, controller: str) -> list[ApState]:
        names = cols.get("name", {})
        templates = cols.get("template", {})
        out: list[ApState] = []
        for index in sorted(set(cols.get("state", {})) | set(names), key=_numeric):
            name = text(names.get(index)) or text(templates.get(index))
            if not name:
                continue
            if number(cols.get("connection", {}).get(index)) == SLAVE:
                state = STANDBY
            elif number(cols.get("state", {}).get(index)) == RUN:
                state = ONLINE
            else:
                state = OFFLINE
            out.append(ApState(name, state, "", number(cols.get("clients", {}).get(index)),
                               controller))
        return out


def _numeric(index: str) -> tuple[int, ...]:
    return tuple(int(p) for p in index.split(".") if p.isdigit())

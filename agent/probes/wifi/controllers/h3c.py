"""H3C WX / Comware ACs (and HP/3Com-branded ones): the DOT11 APMT and ACMT MIBs on three arcs.

The same tables sit under three roots, tried newest first:
``25506.2.75`` (HH3C-DOT11-APMT-MIB), ``2011.10.2.75`` (H3C-DOT11-APMT-MIB,
older Comware) and ``43.45.1.10.2.75`` (A3COM-HUAWEI-DOT11-APMT-MIB). Under
a root R (columns from the MIB text):

- status table R.2.1.1.1 (index hh3cDot11APID, an OCTET STRING: length then
  bytes): 4 OperationStatus join(1) joinConfirm(2) download(3) config(4)
  run(5), 5 TemplateNameOfAP, 8 ConnectionType master(1) slave(2)
  notAvailable(3). It has no offline value: a disconnected AP leaves it.
- object table R.2.1.2.1 (index hh3cDot11APObjID, also a string; "APs in
  the running status" only): 7 CurrAPStationAssocCount, 8 CurrAPName.
- brief info table R.2.1.12.1 (index = the AP name as a string): 18 connect
  type (as ConnectionType), 21 station count, 25 BrfAPOperationStatus
  run(1)/idle(2). Configured APs that are down are listed here as idle.
- idle list R.2.1.9.1 (index hh3cDot11APIdleTemplateName): APs configured
  but not connected; 2 serial id.
- scalars R.1.1.2.N (HH3C-DOT11-ACMT-MIB): 4 MasterAPCount (APs with a
  master tunnel to this AC, compared with the online count), 15
  ACBackupStatus active(1)/standby(2), 21 TotalAPconnected.

Nothing in the MIB says the status and object tables share index values,
so rows are joined by AP name (template name or decoded index), never by
index. Only run serves clients. A slave connection means this AC is the
backup for that AP (HA pair): standby, not down; an AC whose
ACBackupStatus is standby is treated as a configured backup. The MIB has
no AP-group column: areas on H3C match by AP name or pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import (
    Columns,
    ControllerMib,
    Decoded,
    Generation,
    number,
    scalar,
    string_index,
    text,
)

ROOTS = (("hh3c", "1.3.6.1.4.1.25506.2.75"), ("h3c", "1.3.6.1.4.1.2011.10.2.75"),
         ("a3com", "1.3.6.1.4.1.43.45.1.10.2.75"))
RUN, BRIEF_RUN = 5, 1
SLAVE = 2
AC_STANDBY = 2


def _generation(name: str, root: str) -> Generation:
    return Generation(name, {
        "state": f"{root}.2.1.1.1.4",
        "template": f"{root}.2.1.1.1.5",
        "connection": f"{root}.2.1.1.1.8",
        "clients": f"{root}.2.1.2.1.7",
        "name": f"{root}.2.1.2.1.8",
        "brief_connection": f"{root}.2.1.12.1.18",
        "brief_clients": f"{root}.2.1.12.1.21",
        "brief_state": f"{root}.2.1.12.1.25",
        "idle_serial": f"{root}.2.1.9.1.2",
        "ctl_online": f"{root}.1.1.2.4",
        "ha_status": f"{root}.1.1.2.15",
        "ctl_connected": f"{root}.1.1.2.21",
    }, ("state", "name", "brief_state", "idle_serial"))


@dataclass
class _Ap:
    online: bool = False
    slave: bool = False
    clients: int | None = None


class H3c(ControllerMib):
    vendor = "h3c"
    generations = tuple(_generation(name, root) for name, root in ROOTS)
    sample = """\
vendor = "h3c"              # WX / Comware ACs (HH3C-DOT11-APMT-MIB; older arcs too): no AP
host = "10.0.0.3"           # groups there, so areas match APs by name or pattern
version = "3"
user = "audit"
auth_key = "change-me-auth"
priv_key = "change-me-priv"
"""

    def decode(self, generation: Generation, cols: Columns, controller: str) -> Decoded:
        aps: dict[str, _Ap] = {}

        def ap(name: str) -> _Ap:
            return aps.setdefault(name, _Ap())
        templates = cols.get("template", {})
        for index in set(cols.get("state", {})) | set(templates) | set(cols.get("connection", {})):
            name = text(templates.get(index)) or string_index(index)
            if not name:
                continue
            row = ap(name)
            row.online |= number(cols.get("state", {}).get(index)) == RUN
            row.slave |= number(cols.get("connection", {}).get(index)) == SLAVE
        names = cols.get("name", {})
        for index in set(names) | set(cols.get("clients", {})):
            name = text(names.get(index)) or string_index(index)
            if not name:
                continue
            row = ap(name)
            row.online = True  # the object table lists running APs only
            row.clients = number(cols.get("clients", {}).get(index))
        for index in (set(cols.get("brief_state", {})) | set(cols.get("brief_clients", {}))
                      | set(cols.get("brief_connection", {}))):
            name = string_index(index)
            if not name:
                continue
            row = ap(name)
            row.online |= number(cols.get("brief_state", {}).get(index)) == BRIEF_RUN
            row.slave |= number(cols.get("brief_connection", {}).get(index)) == SLAVE
            if row.clients is None:
                row.clients = number(cols.get("brief_clients", {}).get(index))
        for index in cols.get("idle_serial", {}):
            name = string_index(index)
            if name:
                ap(name)  # configured, not connected: down unless another table runs it
        out = []
        for name, row in sorted(aps.items()):
            # A slave tunnel is this AC backing the AP up, whatever its state here.
            state = STANDBY if row.slave else ONLINE if row.online else OFFLINE
            out.append(ApState(name, state, "", row.clients if row.online else 0, controller))
        ha = scalar(cols, "ha_status")
        # Master APs are the ones this AC serves, as our online count is.
        online = scalar(cols, "ctl_online")
        if online is None:
            online = scalar(cols, "ctl_connected")
        return Decoded(out, None if ha is None else ha == AC_STANDBY, None, online)

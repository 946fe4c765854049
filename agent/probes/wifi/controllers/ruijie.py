"""Ruijie AC (WS6008, WS6108, ...): RUIJIE-AC-MGMT-MIB ruijieApCfgTable.

No Ruijie controller recording exists; these columns come from the MIB text
(1.3.6.1.4.1.4881.1.1.10.2.56.2.1.1.1.N, index ruijieApMacAddr, 6 sub-ids):
  2 ruijieApApName, 3 ruijieApApgName (AP group), 34 ruijieApStaNum,
  48 ruijieApState ("1 -- on line; 2 -- off line").
The MIB has no HA role per AP: configure the backup AC of a pair with
``role = "backup"`` so its off-line rows count as standby.
"""

from __future__ import annotations

from typing import ClassVar

from agent.probes.wifi.aps import OFFLINE, ONLINE, ApState
from agent.probes.wifi.controllers import Columns, ControllerMib, number, text

AP_CFG = "1.3.6.1.4.1.4881.1.1.10.2.56.2.1.1.1"
ON_LINE = 1


class Ruijie(ControllerMib):
    vendor = "ruijie"
    columns: ClassVar[dict[str, str]] = {
        "name": f"{AP_CFG}.2",
        "group": f"{AP_CFG}.3",
        "clients": f"{AP_CFG}.34",
        "state": f"{AP_CFG}.48",
    }
    sample = """\
vendor = "ruijie"           # WS6008, WS6108, ... (RUIJIE-AC-MGMT-MIB)
role = "backup"             # the standby AC of an HA pair: its off-line APs are standby
host = "10.0.0.4"
community = "public"
"""

    def decode(self, cols: Columns, controller: str) -> list[ApState]:
        out: list[ApState] = []
        for index, raw_name in cols.get("name", {}).items():
            name = text(raw_name)
            if not name:
                continue
            state = ONLINE if number(cols.get("state", {}).get(index)) == ON_LINE else OFFLINE
            out.append(ApState(name, state, text(cols.get("group", {}).get(index)),
                               number(cols.get("clients", {}).get(index)), controller))
        return out

"""Ruijie AC (WS6008, WS6108, ...): RUIJIE-AC-MGMT-MIB.

Columns from the MIB text, all under 1.3.6.1.4.1.4881.1.1.10.2.56.2.1:

- ruijieApCfgTable .1.1.N (index ruijieApMacAddr, 6 sub-ids): 2
  ruijieApApName, 3 ruijieApApgName (AP group), 34 ruijieApStaNum, 48
  ruijieApState ("1 -- on line; 2 -- off line"). Firmware is reported to
  list only on-line APs here.
- ruijieApOfflineTable .5.1.N: 1 offline time, 2 AP name. An AP listed here
  and not on line in the config table is down.
- ruijieApBackupStateTable .6.1.N (index as the config table): 1 the AC's
  role for that AP: unknown, master, slave, taken as 1, 2, 3 in that order
  (the numbering is an assumption no recording has confirmed). A slave row
  is this AC backing the AP up (HA pair): standby, not down, without
  ``role = "backup"`` in the config.
"""

from __future__ import annotations

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import Columns, ControllerMib, Decoded, Generation, number, text

BASE = "1.3.6.1.4.1.4881.1.1.10.2.56.2.1"
AP_CFG = f"{BASE}.1.1"
AP_OFFLINE = f"{BASE}.5.1"
AP_BACKUP = f"{BASE}.6.1"
ON_LINE = 1
SLAVE = 3

CURRENT = Generation("ruijie-ac-mgmt", {
    "name": f"{AP_CFG}.2",
    "group": f"{AP_CFG}.3",
    "clients": f"{AP_CFG}.34",
    "state": f"{AP_CFG}.48",
    "offline_name": f"{AP_OFFLINE}.2",
    "backup_state": f"{AP_BACKUP}.1",
}, ("name", "offline_name"))


class Ruijie(ControllerMib):
    vendor = "ruijie"
    generations = (CURRENT,)
    sample = """\
vendor = "ruijie"           # WS6008, WS6108, ... (RUIJIE-AC-MGMT-MIB); a standby AC is
host = "10.0.0.4"           # recognised from its per-AP backup state, no role needed
community = "public"
"""

    def decode(self, generation: Generation, cols: Columns, controller: str) -> Decoded:
        found: dict[str, ApState] = {}
        backup = cols.get("backup_state", {})
        for index, raw_name in cols.get("name", {}).items():
            name = text(raw_name)
            if not name:
                continue
            if number(backup.get(index)) == SLAVE:
                state = STANDBY
            elif number(cols.get("state", {}).get(index)) == ON_LINE:
                state = ONLINE
            else:
                state = OFFLINE
            found[name] = ApState(name, state, text(cols.get("group", {}).get(index)),
                                  number(cols.get("clients", {}).get(index))
                                  if state == ONLINE else 0, controller)
        for index, raw_name in cols.get("offline_name", {}).items():
            name = text(raw_name)
            if name and name not in found:
                state = STANDBY if number(backup.get(index)) == SLAVE else OFFLINE
                found[name] = ApState(name, state, "", 0, controller)
        return Decoded(sorted(found.values(), key=lambda a: a.name))

"""Ruijie AC (WS6008, WS6108, ...): RUIJIE-AC-MGMT-MIB and RUIJIE-WLAN-FIT-AP-CF-MIB.

Columns from the MIB text (RUIJIE-AC-MGMT-MIB revision 2009-09-18), all
under 1.3.6.1.4.1.4881.1.1.10.2.56.2.1:

- ruijieApCfgTable .1.1.N (index ruijieApMacAddr, 6 sub-ids): 2
  ruijieApApName, 3 ruijieApApgName (AP group), 34 ruijieApStaNum, 48
  ruijieApState ("1 -- on line; 2 -- off line"). Firmware is reported to
  list only on-line APs here.
- ruijieApCfgRadioTable .2.1.N (index ruijieApMacAddr . ruijieApCfgRadioId
  1..31): 2 ruijieApRadioEn (0 disable, 1 enable), 11 ruijieApCurChan, 13
  ruijieApRadioType (1 802.11b, 2 802.11a: 2.4 / 5 GHz).
- ruijieApOfflineTable .5.1.N (index ruijieApOffMacAddr): 1 ruijieApOfftime
  (seconds), 2 ruijieApOffApName. An AP listed here and not on line in the
  config table is down.
- ruijieApBackupStateTable .6.1.N (index ruijieApMacAddr): 1
  ruijieApBackupState unknown(0) master(1) slave(2). A slave row is this AC
  backing the AP up (HA pair): standby, not down, without
  ``role = "backup"`` in the config.

Radio state, from RUIJIE-WLAN-FIT-AP-CF-MIB (revision 2010-02-28, the AC's
view of its fit APs, under 1.3.6.1.4.1.4881.1.1.10.2.81), indexed like
ruijieApCfgRadioTable: apInterfaceWirelessconfigTable .2.3.1.1.N: 7
apIfWireOperStatus up(0)/down(1)/admindown(2), 11 apIfWireRadioChannelUsing,
42 apIfWireRadioChannelutilization (the MIB states no unit; read as percent,
values outside 0..100 dropped); apInterfaceWireStatisticsTable .10.4.1.1.N:
5 apChStatsNumStations ("the number of stations used this channel"). A
radio without an operational status counts as up unless it is disabled.
Neither MIB has a per-radio noise figure.
"""

from __future__ import annotations

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import Columns, ControllerMib, Decoded, Generation, number, text
from agent.probes.wifi.radios import Radio, band_of_channel, percent_share

BASE = "1.3.6.1.4.1.4881.1.1.10.2.56.2.1"
AP_CFG = f"{BASE}.1.1"
AP_RADIO = f"{BASE}.2.1"
AP_OFFLINE = f"{BASE}.5.1"
AP_BACKUP = f"{BASE}.6.1"
FIT = "1.3.6.1.4.1.4881.1.1.10.2.81"
RADIO_IF = f"{FIT}.2.3.1.1"
RADIO_STATS = f"{FIT}.10.4.1.1"
ON_LINE = 1
SLAVE = 2
RADIO_TYPES = {1: "2.4ghz", 2: "5ghz"}  # ruijieApRadioType 802.11b, 802.11a
OPER_UP, DISABLED = 0, 0  # apIfWireOperStatus up(0); ruijieApRadioEn 0 disable

CURRENT = Generation("ruijie-ac-mgmt", {
    "name": f"{AP_CFG}.2",
    "group": f"{AP_CFG}.3",
    "clients": f"{AP_CFG}.34",
    "state": f"{AP_CFG}.48",
    "offline_name": f"{AP_OFFLINE}.2",
    "backup_state": f"{AP_BACKUP}.1",
    "radio_enabled": f"{AP_RADIO}.2",
    "radio_cfg_channel": f"{AP_RADIO}.11",
    "radio_type": f"{AP_RADIO}.13",
    "radio_oper": f"{RADIO_IF}.7",
    "radio_channel": f"{RADIO_IF}.11",
    "radio_util": f"{RADIO_IF}.42",
    "radio_clients": f"{RADIO_STATS}.5",
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
        radios = _radios(cols)
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
                                  if state == ONLINE else 0, controller,
                                  radios=tuple(radios.get(index, ())))
        for index, raw_name in cols.get("offline_name", {}).items():
            name = text(raw_name)
            if name and name not in found:
                state = STANDBY if number(backup.get(index)) == SLAVE else OFFLINE
                found[name] = ApState(name, state, "", 0, controller)
        return Decoded(sorted(found.values(), key=lambda a: a.name))


def _radios(cols: Columns) -> dict[str, list[Radio]]:
    """Radio rows by AP index (AP MAC . radio id)."""
    def col(role: str, index: str) -> int | None:
        return number(cols.get(role, {}).get(index))
    out: dict[str, list[Radio]] = {}
    roles = ("radio_oper", "radio_type", "radio_enabled")
    for index in sorted({i for role in roles for i in cols.get(role, {})}):
        parts = index.split(".")
        if len(parts) != 7:
            continue
        oper = col("radio_oper", index)
        up = oper == OPER_UP if oper is not None else col("radio_enabled", index) != DISABLED
        channel = col("radio_channel", index)
        if channel is None:
            channel = col("radio_cfg_channel", index)
        band = RADIO_TYPES.get(col("radio_type", index) or 0) or band_of_channel(channel)
        out.setdefault(".".join(parts[:6]), []).append(Radio(
            parts[6], band, up, channel, percent_share(col("radio_util", index)), None,
            col("radio_clients", index)))
    return out

"""Huawei AC (AC6605, AC6508, ...): HUAWEI-WLAN-AP-MIB, or HUAWEI-WLAN-DEVICE-MIB on older firmware.

Current firmware, hwWlanApTable (1.3.6.1.4.1.2011.6.139.13.3.3.1.N, index =
AP MAC as 6 sub-ids): 4 hwWlanApName, 5 hwWlanApGroup, 6 hwWlanApRunState,
44 hwWlanApOnlineUserNum. hwWlanApRunState: idle(1) autofind(2)
typeNotMatch(3) fault(4) config(5) configFailed(6) download(7) normal(8)
committing(9) commitFailed(10) standby(11) verMismatch(12)
nameConflicted(13) invalid(14) countryCodeMismatch(15). normal(8) and
committing(9) serve clients (Huawei's own hwWlanApNormalRatio counts both);
standby(11) is the HA backup's copy of an AP and is never counted as down.

Where a walk holds no run state (a view that hides it, or a recording of
only some columns) the VAP table (1.3.6.1.4.1.2011.6.139.17.1.1.1.N, index
= AP MAC . radio . WLAN id; 9 hwWlanVapStaOnlineCnt, 10 hwWlanVapStatus
up(1)/down(2)) stands in: an AP is running when one of its VAPs is up (any
VAP when no status is listed); its clients are the sum of its VAPs'.

Radios (HUAWEI-WLAN-AP-RADIO-MIB hwWlanRadioInfoTable
1.3.6.1.4.1.2011.6.139.16.1.2.1.N, index = AP MAC . radio id): 5 FreqType
(1 = 2.4 GHz, 2 = 5 GHz: radio 0 and 1 of the recorded dual-band AC6605 AP),
6 RunState up(1)/down(2)/invalid(255), 7 WorkingChannel, 24 Noise (dBm),
25 ChUtilizationRate (percent); clients per radio are its VAPs' stations.

The controller's own counts (hwWlanApCount 2011.6.139.12.1.5.7,
hwWlanServiceNormalAPCount 2011.6.139.12.1.5.6) feed the cross-check.

Older firmware: HUAWEI-WLAN-DEVICE-MIB hwApTable
(1.3.6.1.4.1.2011.6.139.2.6.1.1.N, index hwApIndex): 7 hwApSysName, 8
hwApRunState idle(1) autofind(2) typeNotMatch(3) fault(4) config(5)
configFailed(6) download(7) normal(8) committing(9) commitFailed(10)
standby(11) vermismatch(12) as the MIB text (revision 2015-06-18) numbers
them: the same numbers as hwWlanApRunState's, so they are read alike.
No AP group there: areas match by name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import (
    Columns,
    ControllerMib,
    Decoded,
    Generation,
    number,
    scalar,
    text,
)
from agent.probes.wifi.radios import Radio

AP_TABLE = "1.3.6.1.4.1.2011.6.139.13.3.3.1"
VAP_TABLE = "1.3.6.1.4.1.2011.6.139.17.1.1.1"
AP_STATS = "1.3.6.1.4.1.2011.6.139.12.1.5"
OLD_AP_TABLE = "1.3.6.1.4.1.2011.6.139.2.6.1.1"
RADIO_TABLE = "1.3.6.1.4.1.2011.6.139.16.1.2.1"
BANDS = {1: "2.4ghz", 2: "5ghz"}
RADIO_UP = 1
SERVING = frozenset({8, 9})  # normal, committing
RUN_STANDBY = 11
VAP_UP = 1

CURRENT = Generation("huawei-wlan-ap", {
    "name": f"{AP_TABLE}.4",
    "group": f"{AP_TABLE}.5",
    "state": f"{AP_TABLE}.6",
    "clients": f"{AP_TABLE}.44",
    "vap_clients": f"{VAP_TABLE}.9",
    "vap_status": f"{VAP_TABLE}.10",
    "ctl_online": f"{AP_STATS}.6",
    "ctl_total": f"{AP_STATS}.7",
    "radio_band": f"{RADIO_TABLE}.5",
    "radio_state": f"{RADIO_TABLE}.6",
    "radio_channel": f"{RADIO_TABLE}.7",
    "radio_noise": f"{RADIO_TABLE}.24",
    "radio_util": f"{RADIO_TABLE}.25",
}, ("name",))
OLDER = Generation("huawei-wlan-device", {
    "name": f"{OLD_AP_TABLE}.7",
    "state": f"{OLD_AP_TABLE}.8",
}, ("name",))


class Huawei(ControllerMib):
    vendor = "huawei"
    generations = (CURRENT, OLDER)
    sample = """\
vendor = "huawei"           # AC6605, AC6508, ... (HUAWEI-WLAN-AP-MIB; older: hwApTable)
host = "10.0.0.2"
community = "public"
"""

    def decode(self, generation: Generation, cols: Columns, controller: str) -> Decoded:
        vap_clients: dict[str, int] = defaultdict(int)
        vap_up: dict[str, bool] = defaultdict(bool)
        statuses = cols.get("vap_status", {})
        for index in set(cols.get("vap_clients", {})) | set(statuses):
            ap_index = ".".join(index.split(".")[:6])
            vap_clients[ap_index] += number(cols.get("vap_clients", {}).get(index)) or 0
            status = number(statuses.get(index))
            vap_up[ap_index] |= status is None or status == VAP_UP
        radios = _radios(cols)
        states = cols.get("state", {})
        out: list[ApState] = []
        for index, raw_name in cols.get("name", {}).items():
            name = text(raw_name)
            if not name:
                continue
            run = number(states.get(index))
            if run is None:
                state = ONLINE if vap_up.get(index) else OFFLINE
            elif run in SERVING:
                state = ONLINE
            elif run == RUN_STANDBY:
                state = STANDBY
            else:
                state = OFFLINE
            clients = number(cols.get("clients", {}).get(index))
            if clients is None and index in vap_clients:
                clients = vap_clients[index] if state == ONLINE else 0
            out.append(ApState(name, state, text(cols.get("group", {}).get(index)), clients,
                               controller, radios=tuple(radios.get(index, ()))))
        return Decoded(out, None, scalar(cols, "ctl_total"), scalar(cols, "ctl_online"))


def _radios(cols: Columns) -> dict[str, list[Radio]]:
    """hwWlanRadioInfoTable rows by AP index; clients per radio from its VAPs."""
    per_radio: dict[str, int] = defaultdict(int)
    for index, value in cols.get("vap_clients", {}).items():
        per_radio[".".join(index.split(".")[:7])] += number(value) or 0

    def col(role: str) -> Mapping[str, int | str]:
        return cols.get(role, {})
    out: dict[str, list[Radio]] = defaultdict(list)
    for index in sorted(set(col("radio_state")) | set(col("radio_band"))):
        parts = index.split(".")
        if len(parts) != 7:
            continue
        util = number(col("radio_util").get(index))
        noise = number(col("radio_noise").get(index))
        out[".".join(parts[:6])].append(Radio(
            parts[6], BANDS.get(number(col("radio_band").get(index)) or 0, "unknown"),
            number(col("radio_state").get(index)) in (None, RADIO_UP),
            number(col("radio_channel").get(index)),
            util / 100 if util is not None and 0 <= util <= 100 else None,
            float(noise) if noise is not None and -150 <= noise <= 0 else None,
            per_radio.get(index)))
    return out

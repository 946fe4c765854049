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

The controller's own counts (hwWlanApCount 2011.6.139.12.1.5.7,
hwWlanServiceNormalAPCount 2011.6.139.12.1.5.6) feed the cross-check.

Older firmware: HUAWEI-WLAN-DEVICE-MIB hwApTable
(1.3.6.1.4.1.2011.6.139.2.6.1.1.N): 7 name, 8 run state, read with the same
run-state values (their numbering is shared by the two MIBs' state types).
No AP group there: areas match by name.
"""

from __future__ import annotations

from collections import defaultdict

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

AP_TABLE = "1.3.6.1.4.1.2011.6.139.13.3.3.1"
VAP_TABLE = "1.3.6.1.4.1.2011.6.139.17.1.1.1"
AP_STATS = "1.3.6.1.4.1.2011.6.139.12.1.5"
OLD_AP_TABLE = "1.3.6.1.4.1.2011.6.139.2.6.1.1"
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
                               controller))
        return Decoded(out, None, scalar(cols, "ctl_total"), scalar(cols, "ctl_online"))

"""Huawei AC (AC6605, AC6508, ...): HUAWEI-WLAN-AP-MIB hwWlanApTable and the VAP table.

Columns (1.3.6.1.4.1.2011.6.139.13.3.3.1.N, index = AP MAC as 6 sub-ids):
  4 hwWlanApName, 5 hwWlanApGroup, 6 hwWlanApRunState, 44 hwWlanApOnlineUserNum.
hwWlanApRunState: idle(1) autofind(2) typeNotMatch(3) fault(4) config(5)
configFailed(6) download(7) normal(8) committing(9) commitFailed(10)
standby(11) verMismatch(12) nameConflicted(13) invalid(14)
countryCodeMismatch(15). Only normal(8) serves clients; standby(11) is the
HA backup's copy of an AP and is never counted as down.

The recorded AC6605 (tests/fixtures/wifi) has the name column but neither
run state nor online users. For such an AC the VAP table
(1.3.6.1.4.1.2011.6.139.17.1.1.1.N, index = AP MAC . radio . WLAN id;
7 hwWlanVapApName, 9 hwWlanVapStaOnlineCnt) stands in: an AP with VAPs is
taken as running and its clients are the sum of its VAPs' stations.
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import Columns, ControllerMib, number, text

AP_TABLE = "1.3.6.1.4.1.2011.6.139.13.3.3.1"
VAP_TABLE = "1.3.6.1.4.1.2011.6.139.17.1.1.1"
RUN_NORMAL = 8
RUN_STANDBY = 11


class Huawei(ControllerMib):
    vendor = "huawei"
    columns: ClassVar[dict[str, str]] = {
        "name": f"{AP_TABLE}.4",
        "group": f"{AP_TABLE}.5",
        "state": f"{AP_TABLE}.6",
        "clients": f"{AP_TABLE}.44",
        "vap_clients": f"{VAP_TABLE}.9",
    }
    sample = """\
vendor = "huawei"           # AC6605, AC6508, ... (HUAWEI-WLAN-AP-MIB)
host = "10.0.0.2"
community = "public"
"""

    def decode(self, cols: Columns, controller: str) -> list[ApState]:
        vap_clients: dict[str, int] = defaultdict(int)
        for index, value in cols.get("vap_clients", {}).items():
            ap_index = ".".join(index.split(".")[:6])
            vap_clients[ap_index] += number(value) or 0
        states = cols.get("state", {})
        out: list[ApState] = []
        for index, raw_name in cols.get("name", {}).items():
            name = text(raw_name)
            if not name:
                continue
            run = number(states.get(index))
            if run is None:
                state = ONLINE if index in vap_clients else OFFLINE
            elif run == RUN_NORMAL:
                state = ONLINE
            elif run == RUN_STANDBY:
                state = STANDBY
            else:
                state = OFFLINE
            clients = number(cols.get("clients", {}).get(index))
            if clients is None and index in vap_clients:
                clients = vap_clients[index]
            out.append(ApState(name, state, text(cols.get("group", {}).get(index)), clients,
                               controller))
        return out

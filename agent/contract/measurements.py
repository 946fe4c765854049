"""The measurement schema: every measurement an agent may send, and who writes the rest.

Each agent measurement declares its fields (stored type, unit, for strings a
bound or a vocabulary), its tags and how many distinct tag combinations one
school may have. The collector refuses anything outside this (see
``schema.check``), and writes each field with its declared type, so a field's
type in the database never depends on what some school sent first. The agent
checks its own readings against it before spooling.

A newer agent that adds a field needs a collector that knows it: the schema is
versioned with the contract (``SCHEMA_REVISION``), collectors are upgraded
first, and until then the new field is refused with ``unknown_field``.
"""

from __future__ import annotations

from agent.contract.probes import PROBE_NAMES
from agent.contract.reading import RESULTS
from agent.contract.schema import F, Measurement, T, one_of

SCHEMA_REVISION = 2  # bump with every added measurement, field or tag

_RESULT = F(str, values=one_of(*RESULTS))
_TEXT = F(str, max_len=256)
_SHORT = F(str, max_len=64)
_COUNT = F(int)
_FLAG = F(bool)


def _f(unit: str) -> F:
    return F(float, unit)


_BPS, _MBPS, _SECONDS, _DBM, _SHARE = _f("bps"), _f("mbps"), _f("seconds"), _f("dbm"), \
    _f("share")
_RATIO = F(float)
_BYTES = F(int, "bytes")

# Levels and uplinks are vocabularies: the collector names them in alert texts
# and keys its alert state on them, which a school's free text must never reach.
PATH_LEVELS = ("county", "city", "province", "platform", "internet")
UPLINKS = ("default", "edu", "isp", "isp2", "mobile", "backup")

AGENT = Measurement({
    "version": F(str, max_len=32), "uptime_seconds": _SECONDS, "spool_depth": _COUNT,
    "spool_dropped": _COUNT, "probe_errors": _COUNT, "published": _COUNT, "result": _RESULT,
    # revision 2: the disk takes no writes, so readings wait in memory (how many);
    # a damaged spool file was moved aside during this run
    "spool_full": _FLAG, "spool_memory": _COUNT, "spool_corrupt": _FLAG,
}, {}, 1, "the agent's own health")

PROBE_RUN = Measurement({
    "duration_seconds": _SECONDS, "readings": _COUNT,
    # "invalid": the probe returned readings outside this schema.
    "result": F(str, values=one_of(*RESULTS, "invalid")),
    # revision 2: why a run ended in error or timeout, in one line
    "reason": F(str, max_len=200),
    # Only the agent's own probes: a name a school invents would be text of its
    # choosing on the operators' dashboards (and 64 more series of its own).
}, {"probe": T(values=PROBE_NAMES)}, len(PROBE_NAMES),
    "one per probe run: how long it took and how it ended")

WAN_LINK = Measurement({
    "contracted_mbps": _MBPS, "link_speed_mbps": _MBPS, "oper_up": _FLAG, "mtu": _COUNT,
    "duplex": _SHORT, "ipv4_addrs": _COUNT, "ipv6_global_addrs": _COUNT,
    "ipv4_addr": _SHORT, "ipv6_addr": _SHORT, "rx_bps": _BPS, "tx_bps": _BPS,
    "utilisation": _RATIO, "counter_reset": _FLAG, "device_rebooted": _FLAG,
    "rx_peak_bps": _BPS, "tx_peak_bps": _BPS, "rx_p95_bps": _BPS, "tx_p95_bps": _BPS,
    "samples": _COUNT, "error": _TEXT, "result": _RESULT,
}, {"iface": T(), "source": T(values=one_of("snmp"))}, 8, "the exit port's speed and traffic")

WAN_THROUGHPUT = Measurement({
    "download_bps": _BPS, "upload_bps": _BPS, "download_seconds": _SECONDS,
    "upload_seconds": _SECONDS, "rtt_seconds": _SECONDS, "jitter_seconds": _SECONDS,
    "download_bytes": _BYTES, "upload_bytes": _BYTES, "bytes_used": _BYTES,
    "streams": _COUNT, "stable": _FLAG, "error": _TEXT, "result": _RESULT,
    "cpu_busy_share": _SHARE, "cpu_max_core_share": _SHARE, "agent_cpu_share": _SHARE,
    "cpu_limited": _FLAG, "iface": _SHORT, "iface_rx_bytes": _BYTES,
    "iface_tx_bytes": _BYTES, "other_rx_bps": _BPS, "other_tx_bps": _BPS,
    "duration_seconds": _SECONDS,
    # latency under load: idle and loaded RTT to the test server (TCP connect)
    # and to a STAMP node, and the bufferbloat figure (their difference), graded
    "idle_rtt_seconds": _SECONDS, "loaded_rtt_seconds": _SECONDS,
    "loaded_rtt_p95_seconds": _SECONDS, "bufferbloat_seconds": _SECONDS,
    "loaded_rtt_samples": _COUNT, "loaded_rtt_lost": _COUNT,
    "node_idle_rtt_seconds": _SECONDS, "node_loaded_rtt_seconds": _SECONDS,
    "node_loaded_rtt_p95_seconds": _SECONDS, "node_bufferbloat_seconds": _SECONDS,
    "node_loaded_rtt_samples": _COUNT, "node_loaded_rtt_lost": _COUNT,
    "bufferbloat_grade": F(str, values=one_of("A+", "A", "B", "C", "D", "F")),
}, {"method": T(values=one_of("http", "iperf3", "speedtest")), "server": T(),
    "uplink": T(values=one_of(*UPLINKS))}, 32,
    "a bandwidth test against a measurement server")

_STATUS = F(str, values=one_of("ok", "below", "down", "unknown"))
CLASSROOM_LINK = Measurement({
    "source": F(str, values=one_of("map", "alias")), "floor": _COUNT, "result": _RESULT,
    "status": _STATUS, "port_problem": _SHORT, "if_index": _COUNT, "admin_up": _FLAG,
    "oper_up": _FLAG, "speed_source": _SHORT, "speed_suspect": _FLAG, "speed_problem": _SHORT,
    "link_speed_mbps": _MBPS, "meets_target": _FLAG, "counter_bits": _COUNT,
    "rx_bps": _BPS, "tx_bps": _BPS, "rate_problem": _SHORT,
}, {"classroom": T(), "switch": T(), "port": T(), "building": T()}, 4000,
    "one classroom's switch port")

CLASSROOM_SWITCH = Measurement({
    "result": _RESULT, "ports": _COUNT, "classrooms": _COUNT, "requests": _COUNT,
    "poll_seconds": _SECONDS, "ports_32bit_counters": _COUNT, "detail": _TEXT,
}, {"switch": T()}, 256, "one access switch's poll")

CLASSROOM_SUMMARY = Measurement({
    "classrooms": _COUNT, "classrooms_mapped": _COUNT, "classrooms_discovered": _COUNT,
    "classrooms_meeting": _COUNT, "classrooms_below": _COUNT, "classrooms_down": _COUNT,
    "classrooms_unknown": _COUNT, "unmapped_ports": _COUNT, "min_speed_mbps": _MBPS,
    "switches": _COUNT, "switches_failed": _COUNT, "meeting_share": _SHARE, "result": _RESULT,
}, {}, 1, "the school's classrooms at a glance")

WIFI_AREA = Measurement({
    "covered": _FLAG, "required": _FLAG, "result": _RESULT, "source": _SHORT,
    "aps_total": _COUNT, "aps_online": _COUNT, "aps_standby": _COUNT, "clients": _COUNT,
    "best_signal_dbm": _DBM, "aps_remembered": _COUNT, "aps_radio_down": _COUNT,
    # from a walking survey (``schoolnet-agent wifi-survey``)
    "survey_scans": _COUNT, "bss_total": _COUNT, "school_bss": _COUNT,
}, {"area": T(), "area_kind": T(values=one_of("teaching", "office", "activity", "other"))},
    1000, "coverage of one teaching, office or activity area")

WIFI_COVERAGE = Measurement({
    "required_areas": _COUNT, "covered_areas": _COUNT, "areas_no_data": _COUNT,
    "controllers": _COUNT, "controllers_ok": _COUNT, "coverage_share": _SHARE,
    "result": _RESULT,
}, {}, 1, "the school's areas at a glance")

WIFI_CONTROLLER = Measurement({
    "result": _RESULT, "role": F(str, values=one_of("primary", "backup")),
    "duration_seconds": _SECONDS, "aps": _COUNT, "aps_online": _COUNT, "aps_standby": _COUNT,
    "clients": _COUNT, "detail": _TEXT,
    # revision 2: remembered inventory, firmware generation, HA state from the
    # MIB, and the controller's own counts against its tables
    "aps_down": _COUNT, "aps_remembered": _COUNT, "generation": _SHORT,
    "ha_state": F(str, values=one_of("active", "standby")), "ctl_aps_total": _COUNT,
    "ctl_aps_online": _COUNT, "count_gap": _COUNT, "counts_agree": _FLAG,
}, {"controller": T(), "vendor": T(values=one_of("huawei", "h3c", "ruijie"))}, 16,
    "one wireless controller's poll")

WIFI_AP = Measurement({
    "state": F(str, values=one_of("down")), "remembered": _FLAG, "group": _SHORT,
    "last_seen_seconds": _SECONDS,
}, {"ap": T(), "controller": T()}, 2000,
    "one AP that serves nobody: listed as down, or no longer listed since last_seen_seconds")

WIFI_RADIO = Measurement({
    "band": F(str, values=one_of("2.4ghz", "5ghz", "6ghz", "unknown")), "up": _FLAG,
    "channel": _COUNT, "utilisation_share": _SHARE, "noise_dbm": _DBM, "clients": _COUNT,
}, {"ap": T(), "radio": T(16), "controller": T()}, 4000,
    "one radio of an online AP, where the controller's MIB lists radios")

WIFI_SCAN = Measurement({
    "result": _RESULT, "bss_total": _COUNT, "bss_2g": _COUNT, "bss_5g": _COUNT,
    "hidden_bss": _COUNT, "school_bss": _COUNT, "best_signal_dbm": _DBM,
    "max_utilisation_share": _SHARE, "school_stations": _COUNT, "detail": _TEXT,
}, {"iface": T(), "method": T(values=one_of("iw", "scapy"))}, 8,
    "what the gateway's own radio heard")

_CHECK = _FLAG  # an IPv6 readiness check: passed or failed (absent: not run)
IPV6 = Measurement({
    "level": _COUNT, "level_name": _SHORT, "failing": _TEXT, "unchecked": _TEXT,
    "result": _RESULT, "wan_interface": _SHORT, "wan_global_addrs": _COUNT, "wan_addr": _SHORT,
    "default_route_dev": _SHORT, "default_route_via": _SHORT, "delegated_prefix": _SHORT,
    "prefix_delegation": _FLAG, "targets": _COUNT, "targets_aaaa": _COUNT,
    "targets_tcp_v6": _COUNT, "dns_aaaa": _FLAG, "degradation": _RATIO,
    "v6_extra_seconds": _SECONDS, "v6_degraded": _FLAG, "lan_interface": _SHORT,
    "lan_result": _SHORT, "lan_global_addrs": _COUNT, "ra_routers": _COUNT,
    "ra_seen": _COUNT, "ra_seconds": _SECONDS, "ra_m_flag": _FLAG, "ra_o_flag": _FLAG,
    "ra_router_lifetime_seconds": _SECONDS, "ra_prefix": _SHORT, "ra_prefix_autonomous": _FLAG,
    "ra_prefix_valid_seconds": _SECONDS, "ra_prefix_preferred_seconds": _SECONDS,
    "lan_dhcpv6_result": _SHORT, "dhcpv6_dns_servers": _COUNT, "dhcpv6_addresses": _COUNT,
    "ra_rdnss": _COUNT, "lan_dns_v6_result": _SHORT, "lan_dns_v6_server": _SHORT,
    "wan_global_addr": _CHECK, "default_route": _CHECK, "tcp_v6": _CHECK, "lan_ra": _CHECK,
    "lan_prefix": _CHECK, "lan_dhcpv6": _CHECK, "lan_dns_v6": _CHECK,
    "school_site_aaaa": _CHECK, "school_site_http_v6": _CHECK,
}, {}, 1, "the school's IPv6 readiness level")

IPV6_TARGET = Measurement({
    "aaaa_result": _SHORT, "a_result": _SHORT, "aaaa": _FLAG, "a": _FLAG, "addr_v6": _SHORT,
    "tcp_v6_result": _SHORT, "tcp_v4_result": _SHORT, "tcp_v6": _FLAG, "tcp_v4": _FLAG,
    "connect_v6_seconds": _SECONDS, "connect_v4_seconds": _SECONDS, "latency_ratio": _RATIO,
    "degradation": _RATIO, "http_v6_result": _SHORT, "http_v6": _FLAG,
    "http_v6_status": _COUNT, "result": _RESULT,
}, {"target": T(), "role": T(values=one_of("platform", "school_site"))}, 64,
    "reachability of one IPv6 target")

_PATH_TAGS = {"target": T(64), "level": T(values=one_of(*PATH_LEVELS)),
              "uplink": T(values=one_of(*UPLINKS))}
PATH_QUALITY = Measurement({
    "sent": _COUNT, "received": _COUNT, "late": _COUNT, "duplicates": _COUNT,
    "loss_share": _SHARE, "loss_forward_share": _SHARE, "loss_backward_share": _SHARE,
    "rtt_min_seconds": _SECONDS, "rtt_median_seconds": _SECONDS, "rtt_p95_seconds": _SECONDS,
    "rtt_max_seconds": _SECONDS, "jitter_seconds": _SECONDS, "pdv_seconds": _SECONDS,
    "up": _FLAG, "up_share": _SHARE, "class_hours": _FLAG, "duration_seconds": _SECONDS,
    "error": _TEXT, "result": _RESULT,
}, _PATH_TAGS, 32, "round trip, jitter and loss to one education network node, per minute")

PATH_OUTAGE = Measurement({
    "duration_seconds": _SECONDS, "lost_packets": _COUNT, "ongoing": _FLAG, "result": _RESULT,
}, _PATH_TAGS, 32, "one outage window of a path, stamped with its start")

# Written by agents, one reading per probe result (units are in field names).
SCHEMA: dict[str, Measurement] = {
    "agent": AGENT, "probe_run": PROBE_RUN, "wan_link": WAN_LINK,
    "wan_throughput": WAN_THROUGHPUT, "classroom_link": CLASSROOM_LINK,
    "classroom_switch": CLASSROOM_SWITCH, "classroom_summary": CLASSROOM_SUMMARY,
    "wifi_area": WIFI_AREA, "wifi_coverage": WIFI_COVERAGE, "wifi_controller": WIFI_CONTROLLER,
    "wifi_ap": WIFI_AP, "wifi_radio": WIFI_RADIO, "wifi_scan": WIFI_SCAN, "ipv6": IPV6,
    "ipv6_target": IPV6_TARGET, "path_quality": PATH_QUALITY, "path_outage": PATH_OUTAGE,
}
AGENT_MEASUREMENTS = frozenset(SCHEMA)

# Written only by the collector; a school publishing one is refused.
COLLECTOR_MEASUREMENTS = frozenset({
    "agent_status",       # online/offline, from the agents' birth and last-will messages
    "compliance",         # one verdict per school and target
    "alerts",             # alerts sent, should they ever be stored
    "rollup",             # regional roll-ups per region and target (collector.judge.rollups)
    "agent_state",        # each school's agent state, re-stated (collector.judge.agentstate)
    "agent_attention",    # agent_state of the schools needing attention (likewise)
    "agent_rollup",       # schools per agent state and region (collector.judge.agentstate)
    "school_summary",     # each school's report facts, per round (collector.judge.summary)
    "indicator_rollup",   # report counts per county and school type (report.stored_rollup)
})

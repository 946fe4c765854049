"""The measurement vocabulary: which measurements exist and who may write each.

Agents send the first set, one per probe kind (see each probe's package); the
collector alone writes the second, derived from what it stored. A name a
school sends that is not an agent measurement is not the agent's to write.
"""

from __future__ import annotations

# Written by agents, one reading per probe result (units are in field names).
AGENT_MEASUREMENTS = frozenset({
    "agent",              # the agent's own health: uptime, spool, probe errors
    "probe_run",          # one per probe run: duration and result
    "wan_link",           # exit port speed and traffic
    "wan_throughput",     # a bandwidth test against a measurement server
    "classroom_link",     # one classroom's switch port
    "classroom_switch",   # one access switch's poll
    "classroom_summary",  # the school's classrooms at a glance
    "wifi_area",          # coverage of one teaching, office or activity area
    "wifi_coverage",      # the school's areas at a glance
    "wifi_controller",    # one wireless controller's poll
    "wifi_scan",          # what the gateway's own radio heard
    "ipv6",               # the school's IPv6 readiness level
    "ipv6_target",        # reachability of one IPv6 target
})

# Written only by the collector.
COLLECTOR_MEASUREMENTS = frozenset({
    "agent_status",       # online/offline, from the agents' birth and last-will messages
    "compliance",         # one verdict per school and target
})

"""The probe names: the vocabulary of ``probe_run``'s ``probe`` tag.

The agent registers one probe package per name (``agent.probes.REGISTRY``,
checked against this list by a test); the collector names probes in alert
texts only from here, never from what a school's payload says.
"""

from __future__ import annotations

PROBE_NAMES = frozenset({"wan_link", "wan_throughput", "ipv6", "classroom_links", "wifi",
                         "path_quality"})

"""Probe ``wan_throughput``: the active exit-bandwidth test (http, iperf3 or
speedtest methods), its schedule and trust checks. Config: ``sample.toml``."""

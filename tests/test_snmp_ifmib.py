"""Speed judgement and counter arithmetic of agent.probes.classroom_links.ifmib.

The values here are constructed (not recorded) to hit each edge exactly: the
Gauge32 ceiling, 32- and 64-bit wraps, a reboot hidden inside a long interval.
The same behaviours are exercised against real agents in test_snmp_snmpd.py.
"""

from __future__ import annotations

import pytest

from agent.probes.classroom_links.ifmib import (
    GAUGE32_MAX,
    Port,
    Sample,
    agent_restarted,
    counter_delta,
    flapping,
    judge_speed,
    rates,
)
from agent.probes.classroom_links.map import find_port, matches_any


def port(index: int = 1, **kw: object) -> Port:
    base: dict[str, object] = {
        "index": index, "name": f"Gi0/0/{index}", "alias": "", "descr": "", "if_type": 6,
        "admin_up": True, "oper_up": True, "speed_bps": None, "high_speed_mbps": None,
        "last_change": 100, "in_octets": 0, "out_octets": 0, "counter_bits": 64,
        "discontinuity": 0}
    base.update(kw)
    return Port(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("high", "low", "mbps", "problem"), [
    (1000, 1_000_000_000, 1000.0, ""),
    (100, None, 100.0, ""),
    (None, 100_000_000, 100.0, ""),
    (None, 10_000_000, 10.0, ""),
    (10000, GAUGE32_MAX, 10000.0, ""),  # RFC 2863: ifSpeed saturates, ifHighSpeed tells
    (None, GAUGE32_MAX, None, "max_value"),  # saturated with nothing else to ask
    (GAUGE32_MAX, None, None, "max_value"),
    (0, 0, None, "zero"),
    (None, 0, None, "zero"),
    (1000, 100_000_000, None, "mismatch"),
    (None, None, None, "missing"),
])
def test_judge_speed(high: int | None, low: int | None, mbps: float | None,
                     problem: str) -> None:
    speed = judge_speed(port(high_speed_mbps=high, speed_bps=low))
    assert (speed.mbps, speed.problem) == (mbps, problem)


def test_port_from_row_falls_back_to_32_bit_counters_per_port() -> None:
    both = Port.from_row(1, {"in64": 5, "out64": 6, "in32": 1, "out32": 2, "name": b"Gi0/0/1"})
    only32 = Port.from_row(2, {"in32": 1, "out32": 2, "alias": "教室 101".encode()})
    none = Port.from_row(3, {"oper": 2})
    assert (both.counter_bits, both.in_octets) == (64, 5)
    assert (only32.counter_bits, only32.in_octets, only32.alias) == (32, 1, "教室 101")
    assert (none.counter_bits, none.in_octets, none.oper_up) == (0, None, False)
    gbk = Port.from_row(4, {"alias": "高一(3)班".encode("gb18030")})
    assert gbk.alias == "高一(3)班"


def sample(at: float, uptime: int | None, rx: int, tx: int, bits: int = 64,
           speed: float | None = 1000.0, last_change: int = 100, disc: int = 0) -> Sample:
    return Sample(uptime, at, rx, tx, bits, disc, speed, speed, last_change)


def test_rates_from_64_bit_counters() -> None:
    rx, tx, why = rates(sample(0, 1000, 0, 0), sample(10, 2000, 12_500_000, 1_250_000))
    assert (rx, tx, why) == (10_000_000.0, 1_000_000.0, "")


def test_64_bit_backwards_is_a_reset_not_a_wrap() -> None:
    before = sample(0, 1000, 2**64 - 1000, 10)
    rx, tx, why = rates(before, sample(300, 31000, 5000, 20))
    assert rx is None and why == "counter_reset"
    assert tx == round(10 * 8 / 300, 1)


def test_32_bit_wrap_is_accepted_only_when_plausible() -> None:
    # 100 Mbit/s link, 10 s: one wrap of 2^32 fits only if the rate stays below the link.
    assert counter_delta(2**32 - 1000, 24_000, 32, 10, 100.0) == 25_000
    # 60 s at 1 Gbit/s could hold more than one wrap (one takes 34 s): ambiguous.
    assert counter_delta(2**32 - 1000, 24_000, 32, 60, 1000.0) is None
    # Unknown speed: a wrap cannot be told from a reset.
    assert counter_delta(2**32 - 1000, 24_000, 32, 10, None) is None
    # A "wrap" that would need 3 Gbit/s on a 100 Mbit/s port is a reset.
    assert counter_delta(2**31, 2**31 - 10, 32, 10, 100.0) is None


def test_agent_restart_hides_rates_even_when_uptime_grew_past_the_old_value() -> None:
    before = sample(0, 100 * 100, 10**9, 10**9)
    plain = sample(300, 50 * 100, 10**9 + 10, 10**9 + 10)  # uptime went back
    hidden = sample(3600, 200 * 100, 10**9 + 10, 10**9 + 10)  # rebooted, then ran 200 s
    assert agent_restarted(before, plain) and agent_restarted(before, hidden)
    assert rates(before, hidden)[2] == "agent_restarted"
    assert not agent_restarted(before, sample(300, 400 * 100, 0, 0))


def test_rate_faster_than_the_link_is_refused() -> None:
    before = sample(0, 0, 0, 0, speed=100.0)
    rx, _tx, why = rates(before, sample(1, 100, 10**9, 0, speed=100.0))
    assert rx is None and why == "counter_reset"


def test_counter_discontinuity_time_change_drops_the_rate() -> None:
    rx, _tx, why = rates(sample(0, 0, 0, 0, disc=0), sample(10, 1000, 10, 10, disc=900))
    assert rx is None and why == "counter_discontinuity"


def test_flapping_speed_without_link_change() -> None:
    before = sample(0, 0, 0, 0, speed=1000.0, last_change=100)
    assert flapping(before, sample(300, 30000, 0, 0, speed=10.0, last_change=100))
    assert not flapping(before, sample(300, 30000, 0, 0, speed=10.0, last_change=25000))
    assert not flapping(before, sample(300, 30000, 0, 0, speed=1000.0, last_change=100))


def test_alias_patterns_are_globs_with_literal_brackets() -> None:
    assert matches_any("教室 301", ["教室*"])
    assert matches_any("高一(3)班", ["*班"])
    assert matches_any("Classroom-12", ["classroom-*"])
    assert matches_any("Cust: X [Access;PortDot1X]", ["*[Access;PortDot1X]"])
    assert not matches_any("Cust: X [Access]", ["*[Access;PortDot1X]"])
    assert not matches_any("", ["*"])


def test_find_port_by_index_name_alias_and_ambiguity() -> None:
    ports = {1: port(1, alias="教室 101"), 2: port(2, alias="教室 102"),
             3: port(3, alias="spare"), 4: port(4, alias="spare")}
    assert find_port(2, ports)[0] is ports[2]
    assert find_port("Gi0/0/3", ports)[0] is ports[3]
    assert find_port("gi0/0/4", ports)[0] is ports[4]
    assert find_port("教室 101", ports)[0] is ports[1]
    assert find_port("spare", ports) == (None, "port_ambiguous")
    assert find_port(9, ports) == (None, "port_not_found")

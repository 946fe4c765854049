"""path_quality's logic: STAMP packets, the reflector's limits, the figures, outages, class hours.

The loopback test runs the real probe against the real reflector on
127.0.0.1 in a thread (no process, no namespace): the end-to-end shape. The
accuracy against injected delay and loss is proved in namespaces
(test_path_quality_netns.py).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.contract.configschema import build
from agent.contract.errors import ConfigErrors
from agent.contract.stamp import PACKET_LEN, ReflectedPacket, SenderPacket, ntp_now, to_ntp
from agent.contract.wire import Identity
from agent.probes import ProbeContext
from agent.probes.path_quality.hours import in_class_hours
from agent.probes.path_quality.outages import OutageTracker
from agent.probes.path_quality.probe import PathQuality, PathQualityOptions
from agent.probes.path_quality.session import Session
from agent.probes.path_quality.stats import summarise
from collector.reflector import Limits, Reflector, open_socket, serve

SRC = ("192.0.2.7", 40000)
S = 1_000_000_000


def test_packets_round_trip_and_keep_their_length() -> None:
    sent = SenderPacket(7, ntp_now())
    assert len(sent.pack()) == PACKET_LEN and SenderPacket.unpack(sent.pack()) == sent
    back = ReflectedPacket(3, to_ntp(2 * S + 500_000), to_ntp(2 * S), 7, sent.timestamp, 64)
    assert ReflectedPacket.unpack(back.pack()) == back
    assert back.turnaround_seconds == pytest.approx(0.0005, abs=1e-8)
    assert SenderPacket.unpack(b"x" * 43) is None


def test_reflector_never_answers_with_more_than_it_got() -> None:
    r = Reflector(Limits())
    for size in (PACKET_LEN, 200, 1500):
        answer = r.handle(SenderPacket(1, 0).pack() + bytes(size - PACKET_LEN), SRC, 0.0)
        assert answer is not None and len(answer) == size
    assert r.handle(b"\0" * (PACKET_LEN - 1), SRC, 0.0) is None
    assert r.handle(b"\0" * 1501, SRC, 0.0) is None
    assert r.counts["bad_size"] == 2 and r.counts["answered"] == 3


def test_reflector_limits_each_source_and_counts_each_session() -> None:
    r = Reflector(Limits(rate_pps=10, burst=5))
    packet = SenderPacket(0, 0).pack()
    answers = [r.handle(packet, SRC, 0.0) for _ in range(8)]
    assert sum(a is not None for a in answers) == 5 and r.counts["source_rate"] == 3
    # Another school is not starved by the first.
    assert r.handle(packet, ("192.0.2.8", 1), 0.0) is not None
    # Refilled at the rate: one second later ten more.
    assert sum(r.handle(packet, SRC, 1.0) is not None for _ in range(12)) == 5
    seqs = [ReflectedPacket.unpack(a).seq for a in answers if a]  # type: ignore[union-attr]
    assert seqs == [0, 1, 2, 3, 4]
    other_port = r.handle(packet, (SRC[0], 40001), 2.0)
    assert other_port is not None and ReflectedPacket.unpack(other_port).seq == 0  # type: ignore[union-attr]


def test_reflector_allow_list() -> None:
    r = Reflector(Limits(allow=(ipaddress.ip_network("10.0.0.0/8"),)))
    packet = SenderPacket(0, 0).pack()
    assert r.handle(packet, SRC, 0.0) is None and r.counts["not_allowed"] == 1
    assert r.handle(packet, ("10.1.2.3", 5), 0.0) is not None
    assert r.handle(packet, ("::ffff:10.1.2.3", 5), 0.0) is not None


def _session(rtts: dict[int, float], sent: int, reflected: set[int]) -> Session:
    s = Session(sent_ns=[i * S // 10 for i in range(sent)], sent_mono=[0.0] * sent,
                rtt=rtts, reflector_seqs=reflected, started_ns=0, ended_ns=sent * S // 10)
    s.result = "ok" if rtts else "timeout"
    return s


def test_figures_from_a_session() -> None:
    # 10 packets: #2 never reached the reflector, #5 was reflected and lost on the way back.
    rtts = {i: 0.010 + 0.002 * (i % 2) for i in range(10) if i not in (2, 5)}
    f = summarise(_session(rtts, 10, set(range(9))))
    assert f["sent"] == 10 and f["received"] == 8
    assert f["loss_share"] == pytest.approx(0.2)
    assert f["loss_forward_share"] == pytest.approx(0.1)
    assert f["loss_backward_share"] == pytest.approx(0.1)
    assert f["rtt_min_seconds"] == pytest.approx(0.010)
    assert f["rtt_p95_seconds"] == pytest.approx(0.012)
    assert f["rtt_median_seconds"] == pytest.approx(0.011)
    # Adjacent answered pairs (0,1) (3,4) (6,7) (7,8) (8,9) all differ by 2 ms.
    assert f["jitter_seconds"] == pytest.approx(0.002)
    assert f["up"] is True and f["up_share"] == 1.0 and f["result"] == "ok"


def test_a_silent_path_is_data() -> None:
    f = summarise(_session({}, 20, set()))
    assert f["up"] is False and f["loss_share"] == 1.0 and f["up_share"] == 0.0
    assert f["result"] == "timeout" and "rtt_median_seconds" not in f


def test_outage_windows_start_end_and_ongoing() -> None:
    tags = {"target": "county", "level": "county", "uplink": "default"}
    t = OutageTracker(min_seconds=2, max_gap_seconds=60)
    sent = [i * S for i in range(10)]
    # Silent from 3 s to the end: an ongoing outage stamped 3 s.
    first = t.feed(sent, [i < 3 for i in range(10)], tags)
    assert [(r.ts_ns, r.fields["ongoing"], r.fields["duration_seconds"]) for r in first] == \
        [(3 * S, True, 6.0)]
    # Back at 12 s: the same point, now closed and 9 s long.
    again = t.feed([10 * S, 11 * S, 12 * S], [False, False, True], tags)
    assert [(r.ts_ns, r.fields["ongoing"], r.fields["duration_seconds"]) for r in again] == \
        [(3 * S, False, 9.0)]
    assert again[0].fields["lost_packets"] == 9
    # One missed second is no outage.
    assert t.feed([13 * S, 14 * S, 15 * S], [False, True, True], tags) == []


def test_outage_closed_by_a_gap_nobody_measured() -> None:
    tags = {"target": "city", "level": "city", "uplink": "isp"}
    t = OutageTracker(min_seconds=2, max_gap_seconds=60)
    t.feed([0, S, 2 * S, 3 * S], [True, False, False, False], tags)
    later = t.feed([1000 * S], [True], tags)
    assert [(r.ts_ns, r.fields["ongoing"], r.fields["duration_seconds"]) for r in later] == \
        [(S, False, 2.0)]


def test_class_hours() -> None:
    monday_9 = datetime.datetime(2026, 11, 30, 9, 0)
    windows = ["07:50-12:00", "13:50-17:30"]
    assert in_class_hours(monday_9, windows, [1, 2, 3, 4, 5])
    assert not in_class_hours(monday_9.replace(hour=12, minute=30), windows, [1, 2, 3, 4, 5])
    assert not in_class_hours(monday_9, windows, [2, 3])
    assert in_class_hours(monday_9.replace(hour=3), [], [1])


def test_bad_options_name_their_key() -> None:
    with pytest.raises(ConfigErrors) as err:
        build(PathQualityOptions, {"class_hours": ["8-12"], "school_days": [0], "targets": {
            "county": {"host": "10.0.0.1", "level": "district", "source": "eth0"}}})
    text = str(err.value)
    for key in ("class_hours", "school_days", "level", "source"):
        assert key in text, text
    assert "08:00-11:50" in text and "one of" in text


@pytest.fixture
def loopback_reflector() -> Iterator[int]:
    sock = open_socket("127.0.0.1", 0)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(sock, Limits()), kwargs={"stop": stop})
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        sock.close()


def test_probe_against_the_reflector_on_loopback(loopback_reflector: int,
                                                 tmp_path: Path) -> None:
    opts = build(PathQualityOptions, {
        "packets_per_second": 20, "sample_seconds": 1, "reply_timeout_seconds": 0.3,
        "targets": {
            "county": {"host": "127.0.0.1", "port": loopback_reflector, "level": "county"},
            "nothing": {"host": "127.0.0.1", "port": 9, "level": "internet",
                        "uplink": "isp"}}})
    sunday = datetime.datetime(2026, 11, 29, 9, 0)
    ctx = ProbeContext(Identity("37", "3701", "370102", "370102-0001"), "primary", tmp_path)
    probe = PathQuality(opts, ctx, now=lambda: sunday)
    assert asyncio.run(probe.collect()) == []  # no lessons on Sunday
    probe = PathQuality(opts, ProbeContext(ctx.identity, "primary", tmp_path, True),
                        now=lambda: sunday)
    readings = {r.tags["target"]: r for r in asyncio.run(probe.collect())
                if r.measurement == "path_quality"}
    county, nothing = readings["county"].fields, readings["nothing"].fields
    assert county["result"] == "ok" and county["sent"] == 20 and county["received"] == 20
    assert 0 < county["rtt_median_seconds"] < 0.5  # type: ignore[operator]
    assert county["class_hours"] is False
    assert nothing["up"] is False and nothing["loss_share"] == 1.0
    assert readings["nothing"].tags == {"target": "nothing", "level": "internet", "uplink": "isp"}


def test_an_outage_continues_across_an_agent_restart(tmp_path: Path) -> None:
    from agent.probes.path_quality.outages import load_state, save_state

    tags = {"target": "county", "level": "county", "uplink": "edu"}
    state = tmp_path / "path_quality.json"
    before = {"county": OutageTracker(2, 60)}
    before["county"].feed([0, S, 2 * S, 3 * S], [True, False, False, False], tags)
    save_state(state, before)
    after = {"county": OutageTracker(2, 60), "city": OutageTracker(2, 60)}
    load_state(state, after)
    (closed,) = after["county"].feed([20 * S], [True], tags)
    assert (closed.ts_ns, closed.fields["ongoing"], closed.fields["duration_seconds"]) == \
        (S, False, 19.0)
    state.write_text("not json", encoding="utf-8")
    fresh = {"county": OutageTracker(2, 60)}
    load_state(state, fresh)  # a damaged file costs the continuity, nothing else
    assert fresh["county"].down_since == 0


@pytest.mark.parametrize(("tags", "fields", "reason"), [
    ({"target": "x", "level": "county", "uplink": "evil"}, {"result": "ok"}, "tag_value"),
    ({"target": "x", "level": "moon", "uplink": "edu"}, {"result": "ok"}, "tag_value"),
    ({"target": "x", "level": "county", "uplink": "edu"}, {"loss_share": 2.0}, "out_of_range"),
    ({"target": "x", "level": "county", "uplink": "edu"}, {"up": "yes"}, "field_type"),
    ({"target": "x", "level": "county", "uplink": "edu", "school": "other"}, {"up": True},
     "reserved_tag"),
])
def test_a_hostile_schools_quality_reading_is_refused_with_its_reason(
        tags: dict[str, str], fields: dict[str, object], reason: str) -> None:
    from agent.contract.errors import WireError
    from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
    from agent.contract.reading import Reading
    from agent.contract.schema import check_reading

    # Uplinks and levels reach alert texts and alert state: only the vocabulary passes.
    with pytest.raises(WireError) as err:
        check_reading(SCHEMA, COLLECTOR_MEASUREMENTS,
                      Reading("path_quality", fields, tags))  # type: ignore[arg-type]
    assert err.value.reason == reason

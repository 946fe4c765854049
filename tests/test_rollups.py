"""Regional roll-ups: counts per region and target, and their strict decoding nationally."""

from __future__ import annotations

import json

import pytest

from collector.judge.registry import School
from collector.judge.rollups import ALL_TARGETS, points
from collector.judge.rules import TARGETS, Verdict
from collector.national.wire import MAX_BYTES, Refused, decode, encode

NOW = 1_780_000_000 * 10**9
PREFIX = "schoolnet-rollup/v1"


def school(sid: str, province: str = "p1", city: str = "c1", county: str = "k1") -> School:
    return School(sid, sid, province, province, city, city, county, county, "primary", 10,
                  1000.0)


def verdicts(s: School, status: str) -> list[Verdict]:
    return [Verdict(s, t, status, None, 1.0, 3) for t in (*TARGETS, "all")]


SCHOOLS = [school("a"), school("b"), school("c", county="k2"), school("d", "p2", "c9", "k9")]
VERDICTS = (verdicts(SCHOOLS[0], "pass") + verdicts(SCHOOLS[1], "fail")
            + verdicts(SCHOOLS[2], "inconclusive"))  # d was not judged this round


def by_region(rows: list) -> dict[tuple[str, ...], dict]:
    return {(r.tags["level"], r.tags.get("province", ""), r.tags.get("city", ""),
             r.tags.get("county", ""), r.tags["target"]): r.fields for r in rows}


def test_counts_per_region_and_target_with_silent_schools_as_no_data() -> None:
    rows = by_region(points(VERDICTS, SCHOOLS, NOW))
    # 3 counties + 2 cities + 2 provinces, five targets each
    assert len(rows) == 7 * len(ALL_TARGETS)
    assert rows[("province", "p1", "", "", "all")] == {
        "schools": 3, "pass": 1, "fail": 1, "inconclusive": 1, "no_data": 0,
        "pass_share": pytest.approx(1 / 3), "fail_share": pytest.approx(1 / 3),
        "inconclusive_share": pytest.approx(1 / 3), "no_data_share": 0.0}
    assert rows[("county", "p1", "c1", "k1", "wifi")]["pass"] == 1
    assert rows[("county", "p1", "c1", "k1", "wifi")]["schools"] == 2
    assert rows[("county", "p1", "c1", "k2", "ipv6")]["inconclusive"] == 1
    # A registered school without a verdict lowers the share instead of vanishing.
    assert rows[("province", "p2", "", "", "exit_bandwidth")]["no_data"] == 1
    assert rows[("province", "p2", "", "", "exit_bandwidth")]["pass_share"] == 0.0


def test_every_point_carries_only_its_region_and_above() -> None:
    for row in points(VERDICTS, SCHOOLS, NOW):
        level = row.tags["level"]
        assert "school" not in row.tags
        assert ("city" in row.tags) == (level != "province")
        assert ("county" in row.tags) == (level == "county")
        assert row.ts_ns == NOW


def test_what_a_province_sends_the_nation_stores_unchanged() -> None:
    rows = points(VERDICTS, SCHOOLS, NOW)
    got = []
    for province, payload in encode(rows):
        assert len(payload) < MAX_BYTES
        got += decode(f"{PREFIX}/{province}", payload, PREFIX, frozenset({"p1", "p2"}))
    assert by_region(got) == by_region(rows)


def message(**changes: object) -> bytes:
    body = {"v": 1, "ts": NOW, "level": "city", "province": "p1", "city": "c1",
            "counts": {"all": [1, 2, 3, 4]}}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    (f"{PREFIX}/p3", message(province="p3"), "province"),       # not configured here
    (f"{PREFIX}/p1", message(province="p2"), "province"),       # another province's figures
    (f"{PREFIX}/p1/x", message(), "topic"),
    ("schoolnet/v1/p1", message(), "topic"),
    (f"{PREFIX}/p1", b"\xff{", "json"),
    (f"{PREFIX}/p1", b"[1]", "json"),
    (f"{PREFIX}/p1", message(v=2), "version"),
    (f"{PREFIX}/p1", message(school="a"), "unknown_key"),
    (f"{PREFIX}/p1", message(level="school"), "level"),
    (f"{PREFIX}/p1", message(level="province"), "region"),     # a province row naming a city
    (f"{PREFIX}/p1", message(city="c 1"), "region"),
    (f"{PREFIX}/p1", message(city=None), "region"),
    (f"{PREFIX}/p1", message(ts=1.5e18), "ts"),
    (f"{PREFIX}/p1", message(ts=1_780_000_000), "ts"),          # seconds, not nanoseconds
    (f"{PREFIX}/p1", message(counts={}), "counts"),
    (f"{PREFIX}/p1", message(counts={"speed": [1, 0, 0, 0]}), "target"),
    (f"{PREFIX}/p1", message(counts={"all": [1, 0, 0]}), "counts"),
    (f"{PREFIX}/p1", message(counts={"all": [1, -1, 0, 0]}), "counts"),
    (f"{PREFIX}/p1", message(counts={"all": [True, 0, 0, 0]}), "counts"),
    (f"{PREFIX}/p1", message(counts={"all": [1.5, 0, 0, 0]}), "counts"),
    (f"{PREFIX}/p1", message(counts={"all": [10**12, 0, 0, 0]}), "counts"),
    (f"{PREFIX}/p1", b" " * (MAX_BYTES + 1), "size"),
])
def test_the_national_tier_refuses_what_a_province_may_not_say(topic: str, payload: bytes,
                                                               reason: str) -> None:
    with pytest.raises(Refused) as err:
        decode(topic, payload, PREFIX, frozenset({"p1", "p2"}))
    assert err.value.reason == reason


def test_shares_are_recomputed_from_the_counts() -> None:
    [row] = decode(f"{PREFIX}/p1", message(), PREFIX, frozenset({"p1"}))
    assert row.fields["schools"] == 10
    assert row.fields["no_data_share"] == pytest.approx(0.4)
    assert row.tags == {"level": "city", "province": "p1", "city": "c1", "target": "all"}

"""The collector's indicator roll-ups: each unit's (county and school type) counts are
the report's own sums over the same summaries, written only when they change; a
school's marks are asked again only when more than its newest reading's time moved."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from collector.judge import summary
from collector.judge.registry import School
from collector.judge.rules import TARGETS
from collector.judge.summary import Summaries
from collector.judge.targets import Indicators
from collector.report.facts import Facts, fill
from collector.report.indicators import indicators
from collector.report.rollup import marks, units
from collector.report.stored_rollup import Stored, Tally, key_of

NOW = 1_780_000_000 * 10**9
STATUSES = ("pass", "fail", "inconclusive", "no_data")


def school(i: int, rng: random.Random) -> School:
    county = rng.choice(("370102", "370103", "370211"))
    return School(f"s{i:05d}", "学校", "37", "山东省", county[:4], f"市{county[:4]}", county,
                  f"县{county}", rng.choice(("primary", "junior", "teaching_point")),
                  rng.randint(0, 40), rng.choice((0.0, 100.0, 1000.0)))


def fields(rng: random.Random) -> dict[str, Any]:
    """Facts as summary.facts gives them, any of them missing."""
    out: dict[str, Any] = {}
    if rng.random() < 0.7:
        out["exit_median"] = rng.choice((50.0, 90.0, 850.0, 1200.0))
        out["exit_tests"] = rng.randint(1, 5)
    if rng.random() < 0.6:
        out["port_mbps"] = rng.choice((100.0, 1000.0))
    if rng.random() < 0.6:
        out["rooms_seen"] = rng.randint(0, 40)
        out["rooms_meeting"] = rng.randint(0, out["rooms_seen"])
    for kind in summary.AREA_KINDS:
        if rng.random() < 0.5:
            required = rng.randint(0, 4)
            out[f"wifi_{kind}_covered"] = rng.randint(0, required)
            out[f"wifi_{kind}_required"] = required
    if rng.random() < 0.6:
        out["ipv6_level"] = rng.randint(0, 4)
    if rng.random() < 0.7:
        out["probes"] = ",".join(sorted(rng.sample(("wan_link", "wifi", "ipv6"), 2)))
    return out


def text(cfg: Indicators, facts: dict[str, Any], rng: random.Random, last: int | None) -> str:
    verdicts = {t: [rng.choice(STATUSES), 1.0, 1.0, ""] for t in (*TARGETS, "all")}
    body = summary._ENCODER.encode({"basis": summary.basis(cfg), **facts,
                                    "verdicts": verdicts}).decode()
    return body if last is None else f'{{"last_ns":{last},{body[1:]}'


def test_counts_are_the_reports_sums_and_written_when_they_change() -> None:
    rng = random.Random(5)
    cfg = Indicators()
    schools = [school(i, rng) for i in range(600)]
    registry = {s.school_id: s for s in schools}
    texts = {s.school_id: text(cfg, fields(rng), rng, rng.choice((None, NOW - 10**12)))
             for s in schools}
    tally = Tally(cfg)
    kept = {sid: (tally.keep(registry[sid], t),) for sid, t in texts.items()}

    # The report's way: Facts from each summary, marks, sums per county and type.
    facts = []
    for s in schools:
        f = Facts(s)
        got = summary.read(texts[s.school_id])
        assert got is not None
        fill(f, got)
        facts.append(f)
    expected = {key_of(u[0]): u for u in units(facts, marks(facts, indicators(cfg)))}

    due = tally.due(schools, registry, kept, NOW)
    stored = {tuple(k.split("/")): msgspec.json.decode(counts, type=Stored)
              for k, counts, _ in due}
    assert stored.keys() == expected.keys() and len(stored) == 9  # 3 counties x 3 types
    for key, (_, n, applicable, met) in expected.items():
        got = stored[key]
        assert (got.schools, Counter(got.applicable), +Counter(got.met)) == (
            n, applicable, +met), key
    assert sum(Counter(s.met)["connected"] for s in stored.values()) == sum(
        f.reported for f in facts)  # not a comparison of empty counts

    for key, counts, _ in due:
        tally.restate.wrote(key, counts, NOW)
    assert tally.due(schools, registry, kept, NOW + 10**9) == []  # unchanged: nothing

    # One school's marks change: its unit alone.
    moved = schools[17]
    other = dict(kept)
    while other[moved.school_id] == kept[moved.school_id]:
        other[moved.school_id] = (tally.keep(moved, text(cfg, fields(rng), rng, NOW)),)
    assert [k for k, _, _ in tally.due(schools, registry, other, NOW)] == [
        "/".join(key_of(moved))]
    # A school without marks yet (the registry reloaded, it is new): its unit is left
    # out (a report reads summaries), the others unchanged.
    del other[moved.school_id]
    assert tally.due(schools, dict(registry), other, NOW) == []
    # Counted again only where a school's marks were made: 0.5 s a round at 50,000
    # schools counting them all.
    tally.due(schools, registry, kept, NOW)
    tally._counted = {k: "stale" for k in tally._counted}
    tally.keep(moved, texts[moved.school_id])
    tally.due(schools, registry, kept, NOW)
    assert [k for k, c in tally._counted.items() if c != "stale"] == [key_of(moved)]
    # A reloaded registry with one school's contract changed: its unit's digest.
    edited = {**registry, moved.school_id: dataclasses.replace(
        moved, contracted_mbps=moved.contracted_mbps + 1)}
    assert [k for k, _, _ in tally.due(list(edited.values()), edited, kept, NOW)] == [
        "/".join(key_of(moved))]


def test_marks_are_asked_again_only_when_more_than_the_newest_time_moved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    schools = [school(i, rng) for i in range(200)]
    content = {s.school_id: fields(rng) for s in schools}

    def facts(windows: Any, sid: str, now_ns: int, cfg: Indicators) -> dict[str, Any]:
        return {**content[sid], "last_ns": now_ns}  # a newer reading every round

    monkeypatch.setattr(summary, "facts", facts)
    monkeypatch.setattr(summary, "LAST_EVERY_NS", 0)
    judge = SimpleNamespace(fresh={s.school_id for s in schools}, moved=set(),
                            windows=SimpleNamespace(lock=threading.Lock()),
                            verdicts_of=lambda sid: [])
    summaries, tally = Summaries(Indicators()), Tally(Indicators())
    asked: list[str] = []

    def keep(s: School, text: str) -> object:
        asked.append(s.school_id)
        return tally.keep(s, text)

    summaries.keep = keep

    def round_at(now_ns: int) -> int:
        asked.clear()
        lines = [ln for b in summaries.due(judge, schools, now_ns)  # type: ignore[arg-type]
                 for ln in b]
        return len(lines)

    assert round_at(NOW) == len(schools) and len(asked) == len(schools)
    assert round_at(NOW + 10**9) == len(schools) and asked == []  # the time alone moved
    changed = schools[::7]
    new = {"ipv6_level": 4, "probes": "ipv6"}
    really = {s.school_id for s in changed if {**content[s.school_id], **new}
              != content[s.school_id]}
    for s in changed:
        content[s.school_id] = {**content[s.school_id], **new}
    round_at(NOW + 2 * 10**9)
    assert set(asked) == really and len(really) > 10
    # What is kept is the marks of the text last written, for every school.
    cfg = Indicators()
    for s in schools:
        written = summary.point(s, summary.stable(cfg, content[s.school_id], []), NOW, NOW)
        assert summaries.written[s.school_id][3] == tally.keep(
            s, str(written.fields["facts"]))


def test_marks_depend_on_the_newest_time_only_through_whether_there_is_one() -> None:
    """What lets Summaries keep a school's marks when only that time moved: for a new
    indicator reading last_ns's value this fails."""
    rng = random.Random(13)
    cfg = Indicators()
    tally = Tally(cfg)
    for i in range(300):
        s = school(i, rng)
        facts = fields(rng)
        seed = rng.random()
        one = tally.keep(s, text(cfg, facts, random.Random(seed), NOW - 30 * 86400 * 10**9))
        two = tally.keep(s, text(cfg, facts, random.Random(seed), NOW))
        assert one == two

"""The report from the collector's per-school summaries equals the report from raw readings.

A simulated county (several counties, Wi-Fi areas among its readings) goes
through the real pipeline into influxd; the judging windows are fed by the
pipeline's stored-readings callback, and a real Evaluator round writes the
verdicts, roll-ups and summaries. Every school's facts, and the report's
summary and ledger, must be the same read from the summaries as computed
from the raw readings: now, after more readings and a second round (which
writes only the changed schools), as of the first round (a past --as-of),
after a probe run that moves only the newest reading's time (within the lag
allowed for it), after readings that change some schools' verdicts' status
(written at once, the others waiting), for schools whose summary is missing (read raw,
county by county) and for a report asked with other indicator settings (read
raw, said in the log). The report's counts from the collector's indicator
roll-ups (per county and school type) equal those it sums from every school's
summary, at every level and for a region, at each step; a registry, settings
or a missing unit that does not match sends it back to the summaries; with the
raw roll-ups gone, the shipped continuous query's daily ones give the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import shlex
import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import MAX_PAYLOAD_BYTES, encode
from collector import config
from collector.ingest.pipeline import Pipeline
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.ingest.writer import make_writer
from collector.judge import summary
from collector.judge.evaluate import Evaluator
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import Registry, School
from collector.judge.restate import RESTATE_NS
from collector.judge.rounds import WindowJudge
from collector.judge.targets import Indicators, load_indicators
from collector.report import FORMATS, build, stored_rollup
from collector.report.facts import Facts, gather
from collector.report.period import Period
from tests.judging_county import MINUTE, SimSchool, county, messages, registry_csv
from tests.services import Influxd
from tests.support import collector_toml, influx1_storage, judging_toml

pytestmark = pytest.mark.integration

BOOTSTRAP = Path(__file__).resolve().parents[1] / "deploy/influxdb/bootstrap-influxdb1.sh"

KINDS = ("teaching", "office", "activity", "other")


def areas(schools: list[SimSchool], start_ns: int, rounds: int, seed: int = 3,
          retag: bool = True) -> list[Message]:
    """Wi-Fi areas (the report's, not the judge's): some covered, some not required, one
    area re-tagged to another kind in the last round, over several rounds. (The windows
    keep an area's two newest readings: an area re-tagged and then read twice more
    counts under its new kind alone, where the raw readings count both for the period.)"""
    rng = random.Random(seed)
    out = []
    for s in schools:
        if s.mood == "gone":
            continue
        layout = [(f"{kind}{i}", kind) for kind in KINDS for i in range(rng.randint(0, 2))]
        for r in range(rounds):
            for area, kind in layout:
                if rng.random() < 0.3:
                    continue
                if retag and area == "office0" and r == rounds - 1:
                    kind = "activity"  # re-tagged: both series count, as the database has them
                fields = {"covered": rng.random() < 0.7, "required": rng.random() < 0.9,
                          "result": "ok"}
                reading = Reading("wifi_area", fields, {"area": area, "area_kind": kind},
                                  start_ns + r * 5 * MINUTE + 7)
                out.append(Message(s.identity.topic("wifi_area"),
                                   encode(s.identity, reading, 10**6 + r)))
    return out


def store(pipe: Pipeline, batch: list[Message], size: int = 2000) -> None:
    for at in range(0, len(batch), size):
        pipe.process(batch[at:at + size])


def same(reader: InfluxQLReader, schools: list[School], cfg: Indicators, end_ns: int
         ) -> dict[str, Facts]:
    period = Period(end_ns, cfg.period_days, "now")
    mine = gather(reader, schools, period, cfg)
    raw = gather(reader, schools, period, cfg, summaries=False)
    assert mine.keys() == raw.keys()
    for sid in raw:
        assert mine[sid] == raw[sid], (sid, mine[sid], raw[sid])
    return mine


def counted_same(reader: InfluxQLReader, schools: list[School], cfg: Indicators,
                 end_ns: int, compare_ns: int | None = None, longterm: str = "") -> None:
    """The summary view from the indicator roll-ups equals the one summed from every
    school's summary: every level, and for one city and one county; ``compare_ns``
    also the earlier period's."""
    # An ISO time holds microseconds: one more, so a round at compare_ns is in.
    compare = None if compare_ns is None else dt.datetime.fromtimestamp(
        (compare_ns + 1000) // 1000 / 1e6, dt.UTC).isoformat()
    city, county = schools[0].city, schools[-1].county
    for level, region in (("province", None), ("city", None), ("county", None),
                          ("county", city), ("county", county)):
        reports = [build(schools, reader, cfg, lang="en", level=level, region=region,
                         now_ns=end_ns, compare=compare,
                         per_school=False, rollups=rollups, longterm=longterm)
                   for rollups in (True, False)]
        assert reports[0].units is not None and reports[1].units is None  # both ways
        if compare is not None:
            assert reports[0].earlier_units is not None and reports[1].earlier_units is None
        assert not reports[0].facts and len(reports[1].facts) == reports[0].schools
        outputs = [FORMATS[fmt](r) for r in reports for fmt in ("json", "csv")]
        assert outputs[:2] == outputs[2:], (level, region)


def written_at(evaluator: Evaluator) -> tuple[int, int]:
    """(the newest write time, how many schools were written then)."""
    times = [at for _, _, at, _ in evaluator.summaries.written.values()]
    return max(times), times.count(max(times))


def test_report_from_summaries_equals_report_from_readings(
        tmp_path: Path, influxd: Influxd, database: str,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO)
    # Every newer reading written at once, for exact equality; the lag the
    # default allows is checked at the end.
    monkeypatch.setattr(summary, "LAST_EVERY_NS", 0)
    sim = county(150, seed=23, cities=2)
    registry_path = registry_csv(sim, tmp_path / "schools.csv")
    cfg = config.load(judging_toml(tmp_path, 1883, influx1_storage(influxd.url, database),
                                   "sum", registry_path,
                                   extra=f'[alerts]\nstate_file = "{tmp_path / "a.json"}"'))
    indicators = load_indicators(cfg.targets.file)
    registry = Registry(registry_path)
    schools = list(registry.schools.values())
    writer = make_writer(cfg.storage)
    evaluator = Evaluator(cfg, writer, [], registry)
    stream = WindowJudge(evaluator.reader, evaluator.targets)
    stream.ready = True  # fed from the first reading on: nothing to rebuild
    evaluator.judge = stream
    reader = evaluator.reader
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9, registry),
                    make_writer(cfg.storage), lambda acked: None,
                    lambda m, r, d: pytest.fail(f"refused: {r} {d}"))
    pipe.on_stored = stream.feed

    start = time.time_ns() - 60 * MINUTE
    store(pipe, messages(sim, start, 12) + areas(sim, start, 12))
    evaluator.run_once()
    first, count = written_at(evaluator)
    assert count == len(schools)  # the first round writes every school's summary
    caplog.clear()
    facts = same(reader, schools, indicators, time.time_ns())
    assert f"{len(schools)} schools from the collector's summaries, 0 from raw" in caplog.text
    counted_same(reader, schools, indicators, time.time_ns())
    # The county exercises every fact: not a comparison of empty records.
    values = list(facts.values())
    assert any(f.exit_median for f in values) and any(f.exit_inconclusive for f in values)
    assert any(f.rooms_meeting for f in values) and any(
        f.rooms_seen > f.rooms_meeting for f in values)
    assert {k for f in values for k in f.wifi} == {"teaching", "office", "activity"}
    assert any(c < r for f in values for c, r in f.wifi.values())
    assert any(f.ipv6_level is not None for f in values) and any(
        not f.reported for f in values)
    assert {v.status for f in values for v in f.verdicts.values()} == {
        "pass", "fail", "inconclusive", "no_data"}

    # The report itself, summary with a comparison and the ledger, byte for byte.
    now = time.time_ns()
    for view, fmt in (("summary", "json"), ("ledger", "csv")):
        outputs = [FORMATS[fmt](build(schools, reader, indicators, lang="en", level="county",
                                      view=view, now_ns=now, summaries=summaries,
                                      compare="2026-01-01"))
                   for summaries in (True, False)]
        assert outputs[0] == outputs[1]

    # More readings from some schools, after the first round: only they are
    # judged again, and only those whose facts changed are written.
    movers = [s for s in sim if s.mood in ("good", "poor", "flaky")][::4]
    later = first + 10**9
    while time.time_ns() < later:
        time.sleep(0.01)
    store(pipe, messages(movers, later, 1, seed=8, hostile=False)
          + areas(movers, later, 1, seed=9, retag=False))
    evaluator.run_once()
    second, count = written_at(evaluator)
    assert second > first and 0 < count <= len(movers)
    facts = same(reader, schools, indicators, time.time_ns())
    # As of the first round (a past --as-of): its summaries, not the second's.
    same(reader, schools, indicators, first)
    # The counts: now, compared with the first round, and as of the first round.
    counted_same(reader, schools, indicators, time.time_ns(), first)
    counted_same(reader, schools, indicators, first)

    # A steady round writes nothing; a summary due for re-statement is written
    # again though unchanged.
    caplog.clear()
    evaluator.run_once()
    assert written_at(evaluator)[0] == second
    assert "indicator roll-ups: 0 of " in caplog.text
    sid = schools[0].school_id
    body, last, _, _ = evaluator.summaries.written[sid]
    evaluator.summaries.restate.wrote(sid, body, time.time_ns() - RESTATE_NS)  # due now
    evaluator.run_once()
    third, count = written_at(evaluator)
    assert third > second and count == 1 and evaluator.summaries.written[sid][:2] == (body,
                                                                                    last)

    # A probe run alone moves only the newest reading's time: by default such a
    # summary waits until it is LAST_EVERY_NS old, the report's "newest reading"
    # standing as of its writing meanwhile.
    monkeypatch.undo()
    monkeypatch.setattr(summary, "LAST_EVERY_NS", 15 * MINUTE)
    ran = [s for s in sim if facts[s.identity.school_id].reported
           and "wifi" in facts[s.identity.school_id].probes][:10]
    at = time.time_ns()
    store(pipe, [Message(s.identity.topic("probe_run"), encode(
        s.identity, Reading("probe_run", {"result": "ok", "duration_seconds": 1.0},
                            {"probe": "wifi"}, at), 2 * 10**6)) for s in ran])
    before = written_at(evaluator)[0]
    evaluator.run_once()
    assert written_at(evaluator)[0] == before  # nothing written
    counted_same(reader, schools, indicators, time.time_ns())  # the counts wait as well
    period = Period(time.time_ns(), indicators.period_days, "now")
    mine = gather(reader, schools, period, indicators)
    raw = gather(reader, schools, period, indicators, summaries=False)
    lagging = {sid for sid in raw if mine[sid] != raw[sid]}
    assert lagging == {s.identity.school_id for s in ran}
    for sid in lagging:
        # Its summary stands as of its writing, less than the lag allowed ago.
        assert raw[sid].last_ns == at and (mine[sid].last_ns or 0) < at
        assert time.time_ns() - evaluator.summaries.written[sid][2] < 15 * MINUTE
        mine[sid].last_ns = at
        assert mine[sid] == raw[sid]
    for sid in lagging:  # 15 minutes on, the next round writes them
        text, last, written, kept = evaluator.summaries.written[sid]
        evaluator.summaries.written[sid] = (text, last, written - 15 * MINUTE, kept)
    evaluator.run_once()
    assert written_at(evaluator)[1] == len(ran)
    same(reader, schools, indicators, time.time_ns())

    # New readings that change some schools' verdicts' status: those schools'
    # summaries are written at once, though written less than LAST_EVERY_NS ago;
    # the others with new readings wait.
    shifted = [s for s in sim if s.mood in ("good", "poor", "flaky")][1::4]
    before = written_at(evaluator)[0]
    store(pipe, messages(shifted, time.time_ns(), 1, seed=12, hostile=False))
    evaluator.run_once()
    changed = stream.moved
    assert changed and changed <= {s.identity.school_id for s in shifted}
    now_written = {sid for sid, (_, _, at, _) in evaluator.summaries.written.items()
                   if at > before}
    assert now_written == changed
    assert evaluator.summaries.lagging == {s.identity.school_id for s in shifted} - changed
    period = Period(time.time_ns(), indicators.period_days, "now")
    mine = gather(reader, schools, period, indicators)
    raw = gather(reader, schools, period, indicators, summaries=False)
    assert all(mine[sid] == raw[sid] for sid in changed)
    for sid in evaluator.summaries.lagging:  # 15 minutes on, they are written too
        text, last, written, kept = evaluator.summaries.written[sid]
        evaluator.summaries.written[sid] = (text, last, written - 15 * MINUTE, kept)
    evaluator.run_once()
    assert not evaluator.summaries.lagging
    same(reader, schools, indicators, time.time_ns())
    counted_same(reader, schools, indicators, time.time_ns())

    # Schools without a summary (as history from before them) come from raw
    # readings, read county by county; the rest still from the summaries.
    gone = [s for s in schools if s.county == schools[0].county][:3]
    for school in gone:
        reader.rows(f"DROP SERIES FROM \"{summary.MEASUREMENT}\" WHERE "
                    f"\"school\" = '{school.school_id}'")
    caplog.clear()
    same(reader, schools, indicators, time.time_ns())
    assert (f"{len(schools) - len(gone)} schools from the collector's summaries, "
            f"{len(gone)} from raw") in caplog.text

    # A report asked with other settings cannot use them: raw readings, said once.
    caplog.clear()
    other = Indicators(window=3)
    same(reader, schools, other, time.time_ns())
    assert f"0 schools from the collector's summaries, {len(schools)} from raw" in caplog.text
    assert caplog.text.count("computed for other indicator settings") == 1

    # The counts too: other settings, a registry that differs from the collector's
    # (one school's contract), or a unit with none stored send the report back to
    # every school's summary, saying why.
    def falls_back(schools: list[School], cfg: Indicators, why: str) -> None:
        caplog.clear()
        report = build(schools, reader, cfg, lang="en", level="county", per_school=False)
        assert report.units is None and len(report.facts) == len(schools)
        assert f"indicator roll-ups not used: {why}" in caplog.text, caplog.text

    falls_back(schools, other, "counted with other indicator settings")
    edited = [dataclasses.replace(s, contracted_mbps=s.contracted_mbps + 1) if i == 7 else s
              for i, s in enumerate(schools)]
    falls_back(edited, indicators, "counted for other registry entries for "
               f"{edited[7].province}/{edited[7].city}/{edited[7].county}/"
               f"{edited[7].school_type}")

    # Aged out of the raw retention: the deployment's daily aggregates, made by the
    # shipped continuous query (its SELECT run by hand over today), give the same
    # counts; for a registry changed since, as counted then.
    cq = next(shlex.split(ln) for ln in BOOTSTRAP.read_text(encoding="utf-8").splitlines()
              if ln.startswith("cq schoolnet_indicator_rollup_1d "))
    _, _, every, _, select, measurement = cq
    day = time.time_ns() // 86_400_000_000_000 * 86_400_000_000_000
    reader.rows(f'CREATE RETENTION POLICY "longterm" ON "{database}" DURATION 0s '
                "REPLICATION 1")
    reader.rows(f'SELECT {select} INTO "{database}"."longterm"."{measurement}_{every}" FROM '
                f'"{measurement}" WHERE time >= {day} AND time < {day + 2 * 86_400 * 10**9} '
                f"GROUP BY time({every}), *")
    reader.rows(f'DROP MEASUREMENT "{stored_rollup.MEASUREMENT}"')
    caplog.clear()
    counted_same(reader, schools, indicators, time.time_ns(), longterm="longterm")
    assert 'units from the daily indicator roll-ups in "longterm"' in caplog.text
    # A registry changed since (a contract, a school in a new county): the counts and
    # the school count as they were.
    added = [*edited, dataclasses.replace(schools[0], school_id="new-1", county="379999",
                                          county_name="新县")]
    report = build(added, reader, indicators, lang="en", level="county", per_school=False,
                   longterm="longterm")
    assert report.units is not None and report.schools == len(schools)
    assert "379999" not in {r.code for r in report.rows()}
    falls_back(schools, indicators, "none stored for ")  # without the policy
    caplog.clear()
    report = build(schools, reader, indicators, lang="en", level="county", per_school=False,
                   longterm="nosuch")
    assert report.units is None and '"nosuch" not read' in caplog.text
    writer.close()


def test_no_summaries_when_the_windows_cannot_give_them(
        tmp_path: Path, influxd: Influxd, database: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Indicators over a longer period than the judging windows keep: none written,
    one log line; reports read raw readings."""
    caplog.set_level(logging.INFO)
    sim = county(10, seed=5)
    registry_path = registry_csv(sim, tmp_path / "schools.csv")
    targets = tmp_path / "targets.toml"
    targets.write_text((Path(__file__).resolve().parents[1] / "configs/targets.toml")
                       .read_text(encoding="utf-8").replace("period_days = 30",
                                                            "period_days = 60"),
                       encoding="utf-8")
    cfg = config.load(collector_toml(
        tmp_path, 1883, influx1_storage(influxd.url, database), "nosum",
        f'[registry]\nfile = "{registry_path}"\n[targets]\nfile = "{targets}"\n'
        f'[alerts]\nstate_file = "{tmp_path / "a.json"}"\n'))
    evaluator = Evaluator(cfg, make_writer(cfg.storage), [], Registry(registry_path))
    evaluator.judge = WindowJudge(evaluator.reader, evaluator.targets)
    evaluator.run_once()
    evaluator.run_once()
    assert not evaluator.summaries.written
    assert caplog.text.count("school summaries not written: [indicators] period_days = 60") == 1
    assert not evaluator.reader.rows(f'SELECT * FROM "{summary.MEASUREMENT}"')

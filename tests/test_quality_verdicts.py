"""Quality verdicts and outage alerts on path_quality readings stored in a real influxd."""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import MAX_PAYLOAD_BYTES, encode
from collector.config import load as load_config
from collector.ingest.pipeline import Pipeline
from collector.ingest.transport import Message
from collector.ingest.validate import Validator
from collector.ingest.writer import InfluxV1Writer
from collector.judge import classminutes, quality, rounds
from collector.judge.alerts import Alerter
from collector.judge.evaluate import Evaluator
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import Registry, School
from collector.judge.rounds import WindowJudge, quality_from_database
from collector.judge.rules import Health
from collector.judge.targets import load as load_targets
from tests.judging_county import county, registry_csv
from tests.quality_support import REGION, REPO, school, store, verdicts
from tests.services import Influxd, wait_for
from tests.support import influx1_storage, judging_toml, registry_file
from tests.test_pipeline import storage

pytestmark = pytest.mark.integration

NOW = time.time_ns()
TARGETS = load_targets(REPO / "configs/targets.toml")
MIN = 60 * 10**9


def minute(sid: str, level: str, i: int, rtt_ms: float, loss: float = 0.0,
           pdv_ms: float = 5.0, up: float = 1.0, uplink: str = "edu",
           class_hours: bool = True) -> Reading:
    fields: dict[str, float | int | bool | str] = {
        "sent": 500, "received": round(500 * (1 - loss)), "loss_share": loss,
        "up": up > 0, "up_share": up, "class_hours": class_hours, "result": "ok"}
    if loss < 1:
        fields.update(rtt_p95_seconds=rtt_ms / 1000, pdv_seconds=pdv_ms / 1000)
    tags = {**REGION, "school": sid, "target": f"{level}-node", "level": level,
            "uplink": uplink}
    return Reading("path_quality", fields, tags, NOW - (i + 1) * MIN)


def ladder_minutes(sid: str, n: int, county: float, city: float, province: float,
                   platform: float, **kw: object) -> list[Reading]:
    return [minute(sid, lvl, i, rtt, **kw)  # type: ignore[arg-type]
            for i in range(n) for lvl, rtt in (("county", county), ("city", city),
                                               ("province", province),
                                               ("platform", platform))]


def test_verdicts_per_scenario(influxd: Influxd, database: str) -> None:
    points = (ladder_minutes("good", 100, 3, 8, 15, 30)
              + ladder_minutes("slowcity", 100, 3, 55, 60, 70)
              + ladder_minutes("lossy", 100, 3, 8, 15, 30, loss=0.03)
              + ladder_minutes("jittery", 100, 3, 8, 15, 30, pdv_ms=80)
              # Up 90% of class time (10 minutes fully down), fine otherwise.
              + ladder_minutes("flaky", 90, 3, 8, 15, 30)
              + [minute("flaky", "county", 90 + i, 0, loss=1.0, up=0.0) for i in range(10)]
              # Bad only outside class hours: not judged.
              + ladder_minutes("evening", 100, 3, 8, 15, 30)
              + [minute("evening", "county", 200 + i, 500, loss=0.5, class_hours=False)
                 for i in range(100)]
              # Two uplinks: edu passes, the ISP link cannot reach the county node well.
              + ladder_minutes("twolinks", 100, 3, 8, 15, 30)
              + ladder_minutes("twolinks", 100, 45, 50, 55, 40, uplink="isp"))
    store(influxd.url, database, points)
    names = ["good", "slowcity", "lossy", "jittery", "flaky", "evening", "twolinks", "silent"]
    v = verdicts(influxd.url, database, [school(s) for s in names])

    def status(sid: str, target: str, uplink: str = "edu") -> str:
        return v[(sid, target, uplink)].status

    for target in quality.QUALITY_TARGETS:
        assert status("good", target) == "pass", v[("good", target, "edu")]
        assert status("evening", target) == "pass"
        assert status("silent", target, "default") == "no_data"
    assert v[("good", "edu_ladder", "edu")].value == 3.0
    assert status("slowcity", "edu_ladder") == "fail"
    assert "city <= 40 ms in 0.0%" in v[("slowcity", "edu_ladder", "edu")].detail
    assert status("slowcity", "interactive_classroom") == "pass"  # 70 ms to the platform
    assert status("lossy", "edu_ladder") == status("lossy", "interactive_classroom") == "fail"
    assert status("jittery", "interactive_classroom") == "fail"
    assert status("jittery", "edu_ladder") == "pass"  # the ladder judges RTT and loss
    assert status("flaky", "class_hours_availability") == "fail"
    assert v[("flaky", "class_hours_availability", "edu")].value == pytest.approx(0.9)
    assert "lowest county" in v[("flaky", "class_hours_availability", "edu")].detail
    assert status("twolinks", "edu_ladder", "edu") == "pass"
    assert status("twolinks", "edu_ladder", "isp") == "fail"


def test_a_level_never_measured_leaves_the_ladder_inconclusive(influxd: Influxd,
                                                              database: str) -> None:
    store(influxd.url, database, [minute("nocity", lvl, i, 5) for i in range(80)
                                  for lvl in ("county", "province")])
    v = verdicts(influxd.url, database, [school("nocity")])
    ladder = v[("nocity", "edu_ladder", "edu")]
    assert ladder.status == "inconclusive" and "city not measured" in ladder.detail


def outage(sid: str, level: str, start_ago_s: int, seconds: float, ongoing: bool) -> Reading:
    return Reading("path_outage", {"duration_seconds": seconds, "lost_packets": 10,
                                   "ongoing": ongoing, "result": "ok"},
                   {**REGION, "school": sid, "target": "t", "level": level, "uplink": "edu"},
                   NOW - start_ago_s * 10**9)


def test_outage_alerts_on_start_and_end(influxd: Influxd, database: str, tmp_path: Path) -> None:
    reader = InfluxQLReader(storage(influxd.url, database))
    schools = {s: school(s) for s in ("a", "b", "stale")}
    store(influxd.url, database, [
        outage("a", "county", 300, 290, True),      # down now
        outage("b", "city", 3000, 120, False),      # was down, closed
        outage("stale", "county", 86000, 60, True),  # agent gone: the silent alert's case
    ])
    states = {s: Health(False, NOW, frozenset()) for s in schools}
    alerter = Alerter(str(tmp_path / "state.json"), [])
    from collector.judge.rules import Verdict
    seed = [Verdict(s, "ipv6", "pass", 3.0, 3.0, 5) for s in schools.values()]
    alerts = alerter.transitions(seed, quality.with_outages(reader, states, NOW), NOW)
    assert [(a.kind, a.school.school_id, a.subject) for a in alerts] == \
        [("path_down", "a", "county")]
    assert alerts[0].text("zh") == "a（a）到县级节点断网：uplink edu"
    store(influxd.url, database, [outage("a", "county", 300, 299, False)])
    alerts = alerter.transitions(seed, quality.with_outages(reader, states, NOW), NOW)
    assert [(a.kind, a.school.school_id) for a in alerts] == [("path_restored", "a")]
    assert alerts[0].text("en") == "a (a) reaches the county node again: uplink edu"


def test_a_round_requeries_path_quality_only_when_due(tmp_path: Path, influxd: Influxd,
                                                       database: str) -> None:
    """The running collector's rounds take path-quality verdicts from the database every
    quality_refresh_minutes, or at once when the registry changed."""
    row = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000"
    registry = registry_file(tmp_path / "schools.csv", [row.format(sid="good")])
    cfg = load_config(judging_toml(tmp_path, 1883, influx1_storage(influxd.url, database),
                                   "quality-refresh", registry,
                                   "quality_refresh_minutes = 30",
                                   f'[alerts]\nstate_file = "{tmp_path}/alerts.json"'))
    store(influxd.url, database, ladder_minutes("good", 100, 3, 8, 15, 30))
    evaluator = Evaluator(cfg, InfluxV1Writer(storage(influxd.url, database)), [])

    registered = list(evaluator.registry.schools.values())

    def ladder(now: int, schools: list[School] = registered) -> str:
        verdicts, _ = evaluator.round_verdicts(schools, now)
        return next(v.status for v in verdicts if v.target == "edu_ladder")

    assert ladder(NOW) == "pass"
    # The county node turns slow: five minutes on, the round keeps the verdict it has;
    # once 30 minutes have passed, it asks again.
    store(influxd.url, database, [minute("good", "county", i, 80) for i in range(100)])
    assert ladder(NOW + 5 * MIN) == "pass"
    assert ladder(NOW + 30 * MIN) == "fail"
    # A registry change is judged at once.
    store(influxd.url, database, [minute("good", "county", i, 3) for i in range(100)])
    assert ladder(NOW + 35 * MIN, [*registered, school("new")]) == "pass"


def test_counted_from_the_stream_or_by_the_database_the_verdicts_are_the_same(
        tmp_path: Path, influxd: Influxd, database: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A county's nine days of path readings go through the real pipeline into influxd,
    resends included; the class minutes counted from its stream, counted by the
    database (the one-off command's path), rebuilt by a collector that lost its
    counts, and resumed after a clean stop give the same verdicts, verdict by verdict."""
    # Local midnight at 16:00 UTC: the database's days must be the collector's.
    monkeypatch.setattr(classminutes, "local_offset_s", lambda: 8 * 3600)
    sim = county(40, seed=5)
    registry = Registry(registry_csv(sim, tmp_path / "schools.csv"))
    schools = list(registry.schools.values())
    reader = InfluxQLReader(storage(influxd.url, database))
    pipe = Pipeline(Validator(MAX_PAYLOAD_BYTES, 300 * 10**9, 35 * 86400 * 10**9, registry),
                    InfluxV1Writer(storage(influxd.url, database)), lambda acked: None,
                    lambda m, r, d: pytest.fail(f"refused: {r} {d}"))
    stream = WindowJudge(reader, TARGETS, str(tmp_path / "windows.pickle"))
    stream.ready = True
    pipe.on_stored = stream.feed
    now = time.time_ns()
    rng = random.Random(3)
    batch: list[Message] = []
    seq = 0
    for s in [s for s in sim if s.mood != "gone"]:  # those have no verdicts but no_data
        bad = rng.choice((0.0, 0.02, 0.05, 0.08, 0.3))  # share of bad minutes
        uplinks = ("edu", "isp") if rng.random() < 0.2 else ("edu",)
        for k in range(9 * 48):  # every 30 minutes, nine days back
            ts = now - k * 30 * MIN - rng.randrange(MIN)
            # Classes from 07:00 to 15:00 local span UTC midnight (08:00 local): days
            # counted in UTC would split them.
            local_hour = (ts // 10**9 + 8 * 3600) % 86400 // 3600
            for uplink in uplinks:
                for level in ("county", "city", "province", "platform"):
                    fields: dict[str, float | int | bool | str] = {
                        "sent": 600, "class_hours": 7 <= local_hour < 15, "result": "ok",
                        "loss_share": 0.05 if rng.random() < bad else 0.0,
                        "up_share": rng.randrange(64 - int(bad * 40), 65) / 64}
                    if rng.random() > bad / 2:  # else no answer at all that minute
                        slow = rng.random() < bad
                        fields["rtt_p95_seconds"] = rng.uniform(0.1, 0.3) if slow else \
                            rng.uniform(0.001, 0.015)
                        fields["pdv_seconds"] = 0.06 if rng.random() < bad else 0.004
                    seq += 1
                    tags = {"uplink": uplink, "level": level, "target": f"{level}-node"}
                    msg = Message(s.identity.topic("path_quality"), encode(
                        s.identity, Reading("path_quality", fields, tags, ts), seq))
                    batch.append(msg)
                    if rng.random() < 0.03:  # its receipt lost: sent again
                        batch.append(Message(msg.topic, msg.payload))
    for at in range(0, len(batch), 2000):
        pipe.process(batch[at:at + 2000])

    counted = stream.quality(schools, now)
    assert len(counted) == 3 * sum(1 + ("isp" in {v.uplink for v in counted
                                                  if v.school == s}) for s in schools)
    for target in quality.QUALITY_TARGETS:
        statuses = {v.status for v in counted if v.target == target}
        assert statuses >= {"pass", "fail", "no_data"}, target
    assert counted == quality_from_database(reader, TARGETS, schools, now)
    # A crash: no saved counts. Until the database has counted them, no verdicts.
    lost = WindowJudge(InfluxQLReader(storage("http://127.0.0.1:1", database)), TARGETS)
    lost.ready, lost.uncounted = True, {s.school_id for s in schools}
    monkeypatch.setattr(rounds, "RECOUNT_RETRY_SECONDS", 0.2)
    monkeypatch.setattr(rounds, "COUNT_WAIT_SECONDS", 0.5)
    with caplog.at_level(logging.INFO, "collector.judge.rounds"):
        lost.judge(schools, now)
        wait_for(lambda: "counting class minutes with the database failed" in caplog.text,
                 10, "a failed count")
        assert lost.quality(schools, now) == []
    assert f"path-quality verdicts of {len(schools)} schools wait" in caplog.text
    lost.reader = reader  # the database is back
    wait_for(lambda: not lost.uncounted, 60, "class minutes counted")
    assert lost.quality(schools, now) == counted
    stream.judge(schools, now)
    stream.save()
    resumed = WindowJudge(InfluxQLReader(storage("http://127.0.0.1:1", database)), TARGETS,
                          str(tmp_path / "windows.pickle"))
    assert resumed.quality(schools, now) == counted

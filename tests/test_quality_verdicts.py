"""Quality verdicts and outage alerts on path_quality readings stored in a real influxd."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from collector.config import load as load_config
from collector.ingest.writer import InfluxV1Writer
from collector.judge import quality
from collector.judge.alerts import Alerter
from collector.judge.evaluate import Evaluator
from collector.judge.reader import InfluxQLReader
from collector.judge.registry import School
from collector.judge.rules import Health
from tests.quality_support import REGION, school, store, verdicts
from tests.services import Influxd
from tests.support import influx1_storage, judging_toml, registry_file
from tests.test_pipeline import storage

pytestmark = pytest.mark.integration

NOW = time.time_ns()
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
    assert "city 55 ms" in v[("slowcity", "edu_ladder", "edu")].detail
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

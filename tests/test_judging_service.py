"""The running collector judges from the readings it stores, keeps the windows
across a clean restart, judges as today's queries would, and writes a school's
verdicts only when they change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.contract.reading import Reading
from agent.contract.wire import encode
from collector.judge.rounds import QueryJudge, WindowJudge
from tests.judging_county import county, registry_csv
from tests.services import Influxd, Mosquitto, wait_for
from tests.support import collector_toml, influx1_storage, publisher_client, running_collector

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def test_collector_judges_from_its_stream_and_resumes(tmp_path: Path, broker: Mosquitto,
                                                      influxd: Influxd, database: str,
                                                      unique: str) -> None:
    sim = county(3, classes=2)
    state = tmp_path / "windows.pickle"
    path = collector_toml(tmp_path, broker.port, influx1_storage(influxd.url, database),
                          f"judge-{unique}", f"""
[registry]
file = "{registry_csv(sim, tmp_path / 'schools.csv')}"
[targets]
file = "{REPO}/configs/targets.toml"
evaluate_interval_seconds = 86400
state_file = "{state}"
[alerts]
state_file = "{tmp_path}/alerts.json"
""")
    client = publisher_client(broker.port)
    sent = 0

    def stored_verdicts() -> int:
        series = influxd.query('SELECT count("status") FROM "compliance"', database)
        return int(series[0]["values"][0][1]) if series else 0

    with running_collector(path) as collector:
        judge = collector.evaluator.judge if collector.evaluator else None
        assert isinstance(judge, WindowJudge) and judge.streamed and not judge.ready
        for s in sim:
            for room in range(2):
                sent += 1
                reading = Reading("classroom_link", {"link_speed_mbps": 1000.0, "oper_up": True},
                                  {"classroom": f"c{room}"}, time.time_ns() - sent)
                client.publish(s.identity.topic("classroom_link"),
                               encode(s.identity, reading, sent), qos=1).wait_for_publish(5)
        wait_for(lambda: collector.pipeline.stats.stored >= sent, 30, "readings stored")
        evaluator = collector.evaluator
        assert evaluator is not None
        verdicts, _ = evaluator.run_once()
        assert judge.ready and judge.judged == len(sim)
        rooms = {v.school.school_id: v.status for v in verdicts if v.target == "classroom_links"}
        assert rooms == {s.identity.school_id: "pass" for s in sim}
        assert evaluator.written == len(verdicts) == stored_verdicts()

        # Nothing changed: the database already holds every verdict.
        evaluator.run_once()
        assert evaluator.written == 0 and stored_verdicts() == len(verdicts)
        # One school's classroom goes down: only that school's verdicts are written.
        first = sim[0].identity
        for _ in range(2):  # the room's median of its polls falls to 0
            sent += 1
            down = Reading("classroom_link", {"link_speed_mbps": 0.0, "oper_up": False},
                           {"classroom": "c0"}, time.time_ns())
            client.publish(first.topic("classroom_link"), encode(first, down, sent),
                           qos=1).wait_for_publish(5)
        wait_for(lambda: collector.pipeline.stats.stored >= sent, 30, "reading stored")
        verdicts, _ = evaluator.run_once()
        mine = [v for v in verdicts if v.school.school_id == first.school_id]
        assert judge.judged == 1 and evaluator.written == len(mine) > 0
        assert stored_verdicts() == len(verdicts) + len(mine)
        assert {v.status for v in mine if v.target == "classroom_links"} == {"fail"}
        now = time.time_ns()
        schools = list(evaluator.registry.schools.values())
        assert judge.judge(schools, now) == QueryJudge(judge.reader, judge.targets).judge(
            schools, now)
        before = {(v.school.school_id, v.target): v.status for v in verdicts}
    client.disconnect()
    assert state.exists()  # a clean stop keeps the windows
    with running_collector(path) as collector:
        judge = collector.evaluator.judge if collector.evaluator else None
        assert isinstance(judge, WindowJudge) and judge.ready and not state.exists()
        evaluator = collector.evaluator
        assert evaluator is not None
        verdicts, _ = evaluator.run_once()
        assert {(v.school.school_id, v.target): v.status for v in verdicts} == before
        # A new process knows nothing of what the database holds: it states every verdict.
        assert evaluator.written == len(verdicts)

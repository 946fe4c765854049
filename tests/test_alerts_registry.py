"""Registry reload without restart; alert rate limit and digest; the dry run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config import load as load_config
from collector.ingest.writer import InfluxV1Writer
from collector.judge.alerts import Alert, Alerter, AlertState
from collector.judge.evaluate import Evaluator
from collector.judge.registry import COLUMNS, Registry
from collector.judge.rules import Health, Verdict
from tests.services import Influxd
from tests.support import influx1_storage, judging_toml, registry_file
from tests.test_pipeline import storage
from tests.test_report import school

ROW = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n"


def judge_config(tmp: Path, influxd: Influxd, database: str, schools: list[str],
                 extra: str = "") -> Path:
    """A collector config for evaluate: these schools registered, the shipped targets."""
    registry = registry_file(tmp / "schools.csv",
                             [ROW.format(sid=s).rstrip("\n") for s in schools])
    return judging_toml(tmp, 1883, influx1_storage(influxd.url, database), "evaluate",
                        registry, extra=extra)


def test_registry_reloads_and_keeps_the_last_good_file(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1"), encoding="utf-8")
    registry = Registry(path, check_every=0.0)
    assert registry.get("s2") is None
    path.write_text(",".join(COLUMNS) + "\n" + ROW.format(sid="s1") + ROW.format(sid="s2"),
                    encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert registry.get("s2") is not None  # picked up without a restart
    path.write_text(",".join(COLUMNS) + "\nbroken,row\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert registry.get("s2") is not None  # a half-edited file changes nothing
    assert sorted(registry.schools) == ["s1", "s2"]


def test_rate_limit_folds_the_rest_into_one_digest(tmp_path: Path) -> None:
    sent: list[Alert | str] = []
    alerter = Alerter(str(tmp_path / "state.json"), [sent.append], max_per_hour=3)
    schools = [school(f"s{i}", "370102") for i in range(5)]
    verdicts = [Verdict(s, "ipv6", "fail", 1.0, 3.0, 5) for s in schools]
    alerts = alerter.transitions(verdicts, {}, time.time_ns())
    assert len(alerts) == 5
    alerter.send(alerts)
    assert len(sent) == 3 and alerter.held_back == 2
    alerter._sent.clear()  # an hour later
    alerter.send([])
    assert sent[-1] == ("另有 2 条告警因频率限制未单独发送 / "
                        "2 more alerts were held back by the rate limit")
    alerter.save()
    # Restarted with the saved state: the same verdicts raise nothing again.
    again = Alerter(str(tmp_path / "state.json"), [sent.append])
    assert again.transitions(verdicts, {}, time.time_ns()) == []
    healthy = {s.school_id: Health(False, time.time_ns(), frozenset()) for s in schools}
    recovered = again.transitions([Verdict(s, "ipv6", "pass", 3.0, 3.0, 5) for s in schools],
                                  healthy, time.time_ns())
    assert [a.kind for a in recovered] == ["recovered"] * 5


@pytest.mark.integration
def test_dry_run_prints_and_writes_nothing(tmp_path: Path, influxd: Influxd,
                                           database: str) -> None:
    config = judge_config(tmp_path, influxd, database, ["s1"])
    out = subprocess.run([sys.executable, "-m", "collector.cli", "evaluate", "-c", str(config),
                          "--dry-run"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "s1               exit_bandwidth   no_data" in out.stdout
    assert "0 alert(s) would be sent" in out.stdout
    assert influxd.rows("SELECT * FROM compliance", database) == []


TARGETS = ("exit_bandwidth", "classroom_links", "wifi", "ipv6")


def test_probe_names_in_the_contract_are_the_agents_probes() -> None:
    from agent.contract.probes import PROBE_NAMES
    from agent.probes import REGISTRY

    assert set(REGISTRY) == PROBE_NAMES


def test_one_schools_flood_does_not_hold_back_another_schools_alert(tmp_path: Path) -> None:
    sent: list[Alert | str] = []
    alerter = Alerter("", [sent.append], max_per_hour=60, max_per_school=6, max_per_county=20)
    a, c = school("a", "370102"), school("c", "370102")
    verdicts = [Verdict(a, t, "fail", 1.0, 3.0, 5) for t in TARGETS]
    health = {"a": Health(True, None, frozenset(("wan_link", "wifi", "ipv6", "wan_throughput",
                                                 "classroom_links"))),
              "c": Health(False, time.time_ns(), frozenset({"wifi"}))}
    alerts = alerter.transitions([*verdicts, Verdict(c, "ipv6", "pass", 3.0, 3.0, 5)],
                                 health, time.time_ns())
    assert sum(x.school.school_id == "a" for x in alerts) == 10
    alerter.send(alerts)
    delivered = [x for x in sent if isinstance(x, Alert)]
    assert [x.kind for x in delivered if x.school.school_id == "c"] == ["probe_failing"]
    assert sum(x.school.school_id == "a" for x in delivered) == 6  # its share, no more
    assert sent[-1] == ("另有 4 条告警因频率限制未单独发送 / "
                        "4 more alerts were held back by the rate limit")


def test_a_short_budget_goes_round_the_schools_first() -> None:
    sent: list[Alert | str] = []
    alerter = Alerter("", [sent.append], max_per_hour=3, max_per_school=100,
                      max_per_county=100)
    a, c = school("a", "370102"), school("c", "370211", "3702")
    now = time.time_ns()
    alerter.send([Alert("below_target", a, t, "", now) for t in TARGETS]
                 + [Alert("below_target", c, "wifi", "", now)])
    assert [(x.school.school_id, x.subject) for x in sent if isinstance(x, Alert)] == [
        ("a", "exit_bandwidth"), ("c", "wifi"), ("a", "classroom_links")]


def test_one_countys_flood_does_not_hold_back_another_county() -> None:
    sent: list[Alert | str] = []
    alerter = Alerter("", [sent.append], max_per_hour=60, max_per_school=6, max_per_county=20)
    now = time.time_ns()
    flood = [Alert("silent", school(f"x{i}", "370102"), "", "", now) for i in range(30)]
    other = Alert("silent", school("y", "370211", "3702"), "", "", now)
    alerter.send([*flood, other])
    delivered = [x for x in sent if isinstance(x, Alert)]
    assert other in delivered
    assert sum(x.school.county == "370102" for x in delivered) == 20


def test_invented_probe_names_never_become_state_or_text(tmp_path: Path) -> None:
    sent: list[Alert | str] = []
    alerter = Alerter(str(tmp_path / "state.json"), [sent.append])
    a = school("a", "370102")
    invented = frozenset({"wifi 请立即登录 http://evil.example/reset 重置密码",
                          *(f"p{i}" for i in range(100))})
    alerts = alerter.transitions([], {"a": Health(False, time.time_ns(), invented)},
                                 time.time_ns())
    assert alerts == []
    assert not any("probe:" in key for key in alerter.state.flat())
    # Even an Alert built by hand with such a subject does not carry it into a text.
    forged = Alert("probe_failing", a, "evil.example", "", time.time_ns())
    assert "evil" not in forged.text("zh") and "evil" not in forged.text("en")


def test_state_of_schools_no_longer_registered_is_pruned(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"a|ipv6": true, "gone|ipv6": true, "a|probe:wifi": true, '
                    '"a|probe:evil": true, "gone|silent": false}', encoding="utf-8")
    alerter = Alerter(str(path), [])
    assert alerter.prune({"a"}) == 3
    assert alerter.state.flat() == {"a|ipv6": True, "a|probe:wifi": True}


@pytest.mark.integration
def test_hostile_probe_names_do_not_hold_back_an_honest_alert(tmp_path: Path, influxd: Influxd,
                                                              database: str) -> None:
    """The issue's finding: 100 invented probe names × 3 failing runs from school A
    used the whole hourly budget and went verbatim into the texts."""
    from agent.contract.reading import Reading
    from agent.contract.wire import Identity
    from collector import config
    from collector.ingest.lineproto import line
    from collector.ingest.writer import make_writer
    from collector.judge.evaluate import Evaluator

    path = judge_config(tmp_path, influxd, database, ["a", "c"],
                        f'[alerts]\nstate_file = "{tmp_path / "alerts.json"}"')
    cfg = config.load(path)
    writer = make_writer(cfg.storage)
    now = time.time_ns()
    points = []
    for sid, probes in (("a", [f"x{i} 请立即登录 http://evil.example/reset" for i in range(100)]),
                        ("c", ["wifi"])):
        tags = Identity("37", "3701", "370102", sid).region_tags()
        for probe in probes:
            for run in range(3):
                points.append(line(Reading("probe_run", {"duration_seconds": 0.1,
                                                         "readings": 0, "result": "error"},
                                           {**tags, "probe": probe},
                                           now - (run + 1) * 10**9)))
    writer.write(points)
    sent: list[Alert | str] = []
    evaluator = Evaluator(cfg, writer, [sent.append], None)
    evaluator.run_once()
    texts = [x.text("zh") + x.text("en") + json.dumps(x.payload(), ensure_ascii=False)
             if isinstance(x, Alert) else x for x in sent]
    assert any(isinstance(x, Alert) and x.school.school_id == "c" and x.kind == "probe_failing"
               and x.subject == "wifi" for x in sent), texts
    assert not any("evil" in t or "请立即登录" in t for t in texts), texts
    assert "evil" not in (tmp_path / "alerts.json").read_text(encoding="utf-8")
    writer.close()


def test_a_failing_channel_or_state_file_is_logged_not_fatal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sent: list[Alert | str] = []

    def broken(_item: Alert | str) -> None:
        raise ConnectionError("injected: webhook down")

    (tmp_path / "a-file").write_text("")  # a missing directory is created; this cannot be
    alerter = Alerter(str(tmp_path / "a-file" / "state.json"), [broken, sent.append])
    a = school("a", "370102")
    alerter.send(alerter.transitions([Verdict(a, "ipv6", "fail", 1.0, 3.0, 5)], {},
                                     time.time_ns()))
    alerter.save()
    assert [x.kind for x in sent if isinstance(x, Alert)] == ["below_target"]
    assert "alert channel" in caplog.text and "injected: webhook down" in caplog.text
    assert "alert state not saved" in caplog.text


def test_state_is_written_only_when_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    schools = [school(f"s{i}", "370102") for i in range(3)]
    failing = [Verdict(s, "ipv6", "fail", 1.0, 3.0, 5) for s in schools]
    alerter = Alerter(str(path), [])
    alerter.transitions(failing, {}, time.time_ns())
    alerter.save()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == {f"s{i}|ipv6": True for i in range(3)}
    # A round that changes nothing leaves the file alone (a marker shows it).
    path.write_text('{"marker": true}', encoding="utf-8")
    alerter.transitions(failing, {}, time.time_ns())
    alerter.save()
    assert json.loads(path.read_text(encoding="utf-8")) == {"marker": True}
    # One recovery: the whole state is written again.
    alerter.transitions([Verdict(schools[0], "ipv6", "pass", 3.0, 3.0, 5), *failing[1:]], {},
                        time.time_ns())
    alerter.save()
    assert json.loads(path.read_text(encoding="utf-8")) == {**saved, "s0|ipv6": False}
    # So does forgetting a school that left the registry.
    path.write_text('{"marker": true}', encoding="utf-8")
    assert alerter.prune({"s0", "s1"}) == 1
    alerter.save()
    assert json.loads(path.read_text(encoding="utf-8")) == {"s0|ipv6": False, "s1|ipv6": True}


SUBJECTS = st.sampled_from(["ipv6", "edu_ladder@edu", "silent", "probe:wifi",
                            "outage:county@isp", ""])
# Ids one of which is another's prefix, and one JSON must escape: the file's keys
# must come out in json.dumps(sort_keys=True)'s order and spelling.
SIDS = ["a", "b", "c", "a0", "a-1", 'q"\\é']
OPS = st.lists(st.tuples(st.sampled_from(SIDS), SUBJECTS, st.booleans()), max_size=40)


@settings(max_examples=200, deadline=None)
@given(OPS, st.sets(st.sampled_from(SIDS)))
def test_alert_state_keeps_what_a_plain_dict_of_keys_would(
        ops: list[tuple[str, str, bool]], registered: set[str]) -> None:
    # Two bits a subject in one int a school: each state must stay its own.
    state, plain = AlertState(), {}
    for sid, subject, value in ops:
        assert state.get(sid, subject) is plain.get(f"{sid}|{subject}")
        state.set(sid, subject, value)
        plain[f"{sid}|{subject}"] = value
    assert state.flat() == plain
    out = io.StringIO()
    state.dump(out)  # what the state file holds, written a school at a time
    assert out.getvalue() == json.dumps(plain, sort_keys=True)
    resumed = AlertState(json.loads(out.getvalue()))
    assert resumed.flat() == plain
    probes = {(sid, subject) for sid, subject, _ in resumed.items(("probe:", "outage:"))}
    assert probes == {tuple(k.split("|")) for k in plain
                      if k.split("|")[1].startswith(("probe:", "outage:"))}
    gone = resumed.prune(lambda sid, subject: sid in registered)
    kept = {k: v for k, v in plain.items() if k.split("|")[0] in registered}
    assert (resumed.flat(), gone) == (kept, len(plain) - len(kept))
    assert set(resumed.bits) == {k.split("|")[0] for k in kept}  # no empty schools left


@pytest.mark.integration
def test_alert_state_is_pruned_when_the_registry_changes(tmp_path: Path, influxd: Influxd,
                                                         database: str) -> None:
    (tmp_path / "alerts.json").write_text('{"s1|ipv6": false, "gone|ipv6": true}',
                                          encoding="utf-8")
    config = judge_config(tmp_path, influxd, database, ["s1", "s2"],
                          f'[alerts]\nstate_file = "{tmp_path}/alerts.json"')
    evaluator = Evaluator(load_config(config), InfluxV1Writer(storage(influxd.url, database)),
                          [])
    evaluator.registry.check_every = 0.0
    evaluator.run_once()  # the file's states of schools no longer registered go at once
    assert evaluator.alerter.state.get("gone", "ipv6") is None
    assert evaluator.alerter.state.get("s1", "ipv6") is False
    # A state the rounds never make (no verdict names an unregistered school) stays
    # while the registry is the same: rounds do not walk every state...
    evaluator.alerter.state.set("ghost", "ipv6", True)
    evaluator.run_once()
    assert evaluator.alerter.state.get("ghost", "ipv6") is True
    # ...and goes once the registry is reloaded.
    rows = [ROW.format(sid=s).rstrip("\n") for s in ("s1", "s2", "s3")]
    registry_file(tmp_path / "schools.csv", rows)
    os.utime(tmp_path / "schools.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    evaluator.run_once()
    assert len(evaluator.registry.schools) == 3
    assert evaluator.alerter.state.get("ghost", "ipv6") is None
    assert evaluator.alerter.state.get("s1", "ipv6") is False

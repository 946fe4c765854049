"""Failure is data: every way a switch can fail becomes a result code, and the rest are polled.

All agents are real net-snmp snmpd processes: on loopback ports (views restrict
what a community may read, SIGSTOP makes one hang) and in a network namespace
whose uplink is shaped by tc tbf to a trickle (a switch that answers slowly;
this kernel has no netem).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.snmp_support import (
    V3_USER,
    School,
    Snmpd,
    by_classroom,
    collect,
    make_probe,
    run,
    running_snmpd,
    school_netns,
    summary,
)

# Integration tier: snmpd in network namespaces.
pytestmark = pytest.mark.integration

VIEWS = """
view sysonly included .1.3.6.1.2.1.1
rocommunity sysonly default -V sysonly
view iftonly included .1.3.6.1.2.1.1
view iftonly included .1.3.6.1.2.1.2
rocommunity iftonly default -V iftonly
"""


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Snmpd, Snmpd]]:
    root = Path(tmp_path_factory.mktemp("agents"))
    with running_snmpd(root / "ok", VIEWS) as good, running_snmpd(root / "hung") as hung:
        yield good, hung


def loop(agent: Snmpd, **kw: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": agent.port, "timeout": 0.5, "retries": 1, **kw}


def test_each_failure_has_its_code_and_the_rest_are_polled(agents: tuple[Snmpd, Snmpd],
                                                           tmp_path: Path) -> None:
    good, hung = agents
    switches = {
        "good": loop(good),
        "wrong_community": loop(good, community="not-this-one"),
        "v3_wrong_key": loop(good, version="3", user=V3_USER, auth_key="wrong-key-123",
                             priv_protocol="none"),
        "v3_unknown_user": loop(good, version="3", user="nobody", auth_key="whatever-123",
                                priv_protocol="none"),
        "no_such_host": {"host": "no-such-switch.invalid", "timeout": 0.5, "retries": 0},
        "hung": loop(hung),
        "no_if_mib": loop(good, community="sysonly"),
        "no_ifx_table": loop(good, community="iftonly"),
    }
    # Classroom names are the switch names; lo (ifIndex 1) is on every snmpd.
    classrooms = {name: {"switch": name, "port": 1} for name in switches}
    classrooms["missing_port"] = {"switch": "good", "port": "GigabitEthernet9/9/9"}
    probe = make_probe({"switches": switches, "classrooms": classrooms,
                        "sample_seconds": 0}, tmp_path)
    hung.pause()
    try:
        started = time.monotonic()
        readings = collect(probe)
        took = time.monotonic() - started
    finally:
        hung.resume()
    rooms = by_classroom(readings)
    results = {name: r.fields["result"] for name, r in rooms.items()}
    assert results == {
        "good": "ok", "wrong_community": "timeout", "v3_wrong_key": "auth_failed",
        "v3_unknown_user": "auth_failed", "no_such_host": "unreachable", "hung": "timeout",
        "no_if_mib": "unavailable", "no_ifx_table": "ok", "missing_port": "unavailable"}
    assert rooms["missing_port"].fields["port_problem"] == "port_not_found"
    assert rooms["missing_port"].tags["port"] == "GigabitEthernet9/9/9"
    assert rooms["hung"].fields["port_problem"] == "switch_failed"
    # Without ifXTable: name from ifDescr, speed from ifSpeed, 32-bit counters.
    old = rooms["no_ifx_table"]
    assert old.tags["port"] == "lo"
    assert old.fields["speed_source"] == "ifSpeed" and old.fields["counter_bits"] == 32
    switch_results = {r.tags["switch"]: r.fields["result"] for r in readings
                      if r.measurement == "classroom_switch"}
    assert switch_results["no_if_mib"] == "unavailable"
    total = summary(readings).fields
    assert total["switches"] == 8 and total["switches_failed"] == 6
    assert total["result"] == "partial"
    # Switches are polled side by side: the whole poll costs about one timeout, not six.
    assert took < 4.0, took


def test_all_switches_failing_gives_their_code(agents: tuple[Snmpd, Snmpd],
                                               tmp_path: Path) -> None:
    good, _hung = agents
    probe = make_probe({"switches": {"a": loop(good, community="no"),
                                     "b": loop(good, community="nope")},
                        "alias_patterns": ["教室*"]}, tmp_path)
    total = summary(collect(probe)).fields
    assert total["result"] == "timeout" and total["classrooms"] == 0


@pytest.fixture(scope="module")
def slow_switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[School, Snmpd]]:
    with school_netns({"c1": True, "c2": True, "c3": False}) as school:
        # 4 kbit/s out of the switch: a full answer packet waits ~3 s, like a
        # switch CPU busy with spanning tree or a congested management path.
        run("ip", "netns", "exec", school.ns, "tc", "qdisc", "add", "dev", "uplink", "root",
            "tbf", "rate", "4kbit", "burst", "1600", "latency", "10s")
        extra = f'override 1.3.6.1.2.1.31.1.1.1.18.{school.ifindex["c1"]} octet_str "教室 1"'
        with running_snmpd(Path(tmp_path_factory.mktemp("slow")), extra, netns=school.ns,
                           address=school.switch_addr) as agent:
            yield school, agent


def test_slow_switch_is_waited_for_within_its_deadline(slow_switch: tuple[School, Snmpd],
                                                       agents: tuple[Snmpd, Snmpd],
                                                       tmp_path: Path) -> None:
    school, agent = slow_switch
    good, _hung = agents
    slow = {"host": school.switch_addr, "port": agent.port, "timeout": 2.0, "retries": 0,
            "max_repetitions": 1}
    config = {"switches": {"slow": slow, "good": loop(good)}, "alias_patterns": ["教室*"],
              "classrooms": {"good": {"switch": "good", "port": 1}}, "sample_seconds": 0}
    readings = collect(make_probe(config, tmp_path))
    switches = {r.tags["switch"]: r.fields for r in readings
                if r.measurement == "classroom_switch"}
    assert switches["slow"]["result"] == "ok", switches["slow"]
    assert switches["slow"]["poll_seconds"] > 1.0 > switches["good"]["poll_seconds"]
    assert by_classroom(readings)["教室 1"].fields["result"] == "ok"
    # The same switch with a deadline shorter than its walk: cut off, the other fine.
    config["switch_deadline"] = 1.0
    readings = collect(make_probe(config, tmp_path))
    switches = {r.tags["switch"]: r.fields for r in readings
                if r.measurement == "classroom_switch"}
    assert switches["slow"]["result"] in ("timeout", "partial")
    assert switches["slow"]["poll_seconds"] < 1.5
    assert switches["good"]["result"] == "ok"
    assert by_classroom(readings)["good"].fields["result"] == "ok"


def test_no_leftover_namespaces() -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # Module fixtures of other files may still be open; none of this file's may be.
    assert all(not line.startswith("snt") or "_" in line for line in names.splitlines())

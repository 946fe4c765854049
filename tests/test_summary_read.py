"""A school summary reads back as written (collector.judge.summary), and one not in the
written form reads as None, so the report takes that school from raw readings."""

from __future__ import annotations

from collector.judge import summary
from collector.judge.registry import School
from collector.judge.rules import Verdict
from collector.judge.targets import Indicators

SCHOOL = School("370102-0001", "第一小学", "37", "山东省", "3701", "济南市", "370102", "历下区",
                "primary", 12, 1000.0)


def test_a_written_summary_reads_back_with_its_numbers_as_stored() -> None:
    cfg = Indicators()
    fields = {"exit_median": 512.5, "exit_newest": 600.0, "exit_tests": 5,
              "exit_inconclusive": 1, "port_mbps": 1000.0, "rooms_meeting": 10,
              "rooms_seen": 12, "wifi_teaching_covered": 3, "wifi_teaching_required": 4,
              "ipv6_level": 2, "probes": "wan_link,wan_throughput", "last_ns": 1234}
    verdicts = [Verdict(SCHOOL, "exit_bandwidth", "pass", 512.5, 400.0, 5),
                Verdict(SCHOOL, "all", "fail", None, 1.0, 0, "classrooms")]
    text = summary.summary_point(SCHOOL, cfg, fields, verdicts, 99).fields["facts"]
    got = summary.read(str(text))
    assert got is not None
    assert got.basis == summary.basis(cfg)
    assert (got.last_ns, got.exit_median, got.exit_tests, got.ipv6_level) == (1234, 512.5, 5, 2)
    assert got.probes == "wan_link,wan_throughput"
    assert got.wifi() == {"teaching": (3, 4)}  # kinds without required areas are absent
    # 400.0 is stored as 400 (as a compliance point reads back), and read back an int.
    assert got.verdicts["exit_bandwidth"] == ("pass", 512.5, 400, "")
    assert isinstance(got.verdicts["exit_bandwidth"][2], int)
    assert got.verdicts["all"] == ("fail", None, 1, "classrooms")


def test_an_empty_summary_reads_as_the_facts_of_a_silent_school() -> None:
    got = summary.read('{"basis":[5.0,30.0,100.0],"verdicts":{}}')
    assert got is not None
    assert (got.last_ns, got.exit_median, got.exit_tests, got.rooms_seen, got.probes) == \
        (None, None, 0, 0, "")
    assert got.wifi() == {}


def test_a_summary_not_in_the_written_form_reads_as_none() -> None:
    assert summary.read("not json") is None
    assert summary.read('{"verdicts":{}}') is None  # no basis
    assert summary.read('{"basis":[5.0,30.0,100.0],"exit_tests":"five"}') is None

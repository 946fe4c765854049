"""The ledger (台账): one line per school, what the registry says and what was measured,
and per target its status with the reason.

Columns are a list of :class:`Column`; per-target columns come from
:data:`TARGET_COLUMNS` (two per target: status and reason), so a new target
or a new measured figure is one entry there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collector.judge.rules import TARGETS
from collector.judge.targets import Indicators
from collector.report.facts import AREA_KINDS, Facts
from collector.report.indicators import KIND_NAMES, TARGET_NAMES
from collector.report.period import ReportError, time_label

Value = str | int | float | None
STATUS = {"pass": ("达标", "pass"), "fail": ("未达标", "fail"),
          "inconclusive": ("无法判定", "inconclusive"), "no_data": ("无数据", "no data"),
          "not_evaluated": ("未评估", "not evaluated")}
SCHOOL_TYPE = {"primary": "小学", "junior": "初中", "senior": "高中", "nine_year": "九年一贯制",
               "twelve_year": "十二年一贯制", "vocational": "中职", "teaching_point": "教学点",
               "special": "特殊教育"}


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    get: Callable[[Facts, str], Value]   # (facts, lang) -> cell
    kind: str = "text"                   # text, int, mbps, share, ratio, time: number formats

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


# The reasons this module words itself; a stored verdict's detail is the evaluator's.
REASONS_ZH = {"no reading in the period": "统计期内无任何读数",
              "no verdict stored in the period: run evaluate": "统计期内尚无判定：请运行 evaluate",
              "no reading of this kind": "无此类读数",
              "only tests the gateway could not run at full speed (CPU-bound)":
                  "仅有网关 CPU 受限、未能全速完成的测速"}


def reason(facts: Facts, target: str, lang: str) -> str:
    why = status(facts, target)[1]
    return REASONS_ZH.get(why, why) if lang == "zh" else why


def status(facts: Facts, target: str) -> tuple[str, str]:
    """(status, reason in English) as the stored verdict has it, or why there is none."""
    verdict = facts.verdicts.get(target)
    if verdict is None:
        if facts.reported:
            return "not_evaluated", "no verdict stored in the period: run evaluate"
        return "no_data", "no reading in the period"
    reason = verdict.detail
    if not reason and verdict.status == "no_data":
        reason = "no reading of this kind"
    elif not reason and verdict.status == "inconclusive" and target == "exit_bandwidth":
        reason = "only tests the gateway could not run at full speed (CPU-bound)"
    elif not reason and verdict.value is not None and verdict.threshold is not None:
        sign = "≥" if verdict.status == "pass" else "<"
        reason = f"{verdict.value:g} {sign} {verdict.threshold:g}"
    return verdict.status, reason


def _status_cell(target: str) -> Callable[[Facts, str], Value]:
    def get(facts: Facts, lang: str) -> Value:
        code = status(facts, target)[0]  # once: a 50,000-school ledger has 250,000 of these
        zh, en = STATUS.get(code, (code, code))
        return zh if lang == "zh" else en
    return get


def _reason_cell(target: str) -> Callable[[Facts, str], Value]:
    return lambda facts, lang: reason(facts, target, lang)


def _wifi(kind: str) -> Callable[[Facts, str], Value]:
    def get(facts: Facts, lang: str) -> Value:
        covered, required = facts.wifi.get(kind, (0, 0))
        return f"{covered}/{required}" if required else None
    return get


def _target_columns(target: str) -> list[Column]:
    zh, en = TARGET_NAMES.get(target, (target, target))
    return [Column(f"{target}_status", f"{zh}", f"{en}", _status_cell(target)),
            Column(f"{target}_reason", f"{zh}说明", f"{en}: why", _reason_cell(target))]


# Per target: its status and reason. Another target (or a figure judged per
# target) adds its columns here and they appear in every format.
TARGET_COLUMNS: list[Column] = [c for t in (*TARGETS, "all") for c in _target_columns(t)]


def columns(cfg: Indicators) -> list[Column]:
    room = f"班级≥{cfg.classroom_mbps:g}M"
    return [
        Column("city", "市", "City", lambda f, _: f.school.city_name),
        Column("county", "县区", "County", lambda f, _: f.school.county_name),
        Column("school_id", "学校代码", "School id", lambda f, _: f.school.school_id),
        Column("name", "学校名称", "School", lambda f, _: f.school.name),
        Column("type", "类型", "Type", lambda f, lang: SCHOOL_TYPE.get(
            f.school.school_type, f.school.school_type) if lang == "zh" else
            f.school.school_type),
        Column("classes", "班级数", "Classes", lambda f, _: f.school.classes, "int"),
        Column("contracted_mbps", "签约带宽(Mbps)", "Contracted Mbps",
               lambda f, _: f.school.contracted_mbps or None, "mbps"),
        Column("exit_median_mbps", "出口实测中位数(Mbps)", "Exit median Mbps",
               lambda f, _: f.exit_median, "mbps"),
        Column("exit_newest_mbps", "最近一次测速(Mbps)", "Newest test Mbps",
               lambda f, _: f.exit_newest, "mbps"),
        Column("exit_tests", "有效测速次数", "Good tests", lambda f, _: f.exit_tests, "int"),
        Column("port_mbps", "WAN口速率(Mbps)", "WAN port Mbps", lambda f, _: f.port_mbps,
               "mbps"),
        Column("classrooms", f"{room}/登记班级", f"Classes ≥{cfg.classroom_mbps:g}M / "
               "registered", lambda f, _: f"{f.rooms_meeting}/{f.classes}"
               if f.rooms_seen else None),
        *[Column(f"wifi_{k}", f"无线{KIND_NAMES[k][0]}(覆盖/应覆盖)",
                 f"Wi-Fi {KIND_NAMES[k][1]} (covered/required)", _wifi(k)) for k in AREA_KINDS],
        Column("ipv6_level", "IPv6 等级", "IPv6 level", lambda f, _: f.ipv6_level, "int"),
        Column("last_reading", "最近上报(UTC)", "Newest reading (UTC)",
               lambda f, _: time_label(f.last_ns), "time"),
        *TARGET_COLUMNS,
    ]


def below(facts: Facts) -> bool:
    """Not known to meet every target of its type: failing, inconclusive, silent or unjudged."""
    return status(facts, "all")[0] != "pass"


SORTS: dict[str, Callable[[Facts], tuple[object, ...]]] = {
    "region": lambda f: (f.school.province, f.school.city, f.school.county, f.school.school_id),
    "exit": lambda f: (f.exit_median is not None, f.exit_median or 0.0, f.school.school_id),
    "last_reading": lambda f: (f.last_ns is not None, f.last_ns or 0, f.school.school_id),
    "name": lambda f: (f.school.name, f.school.school_id),
}


def ledger(facts: list[Facts], only_below: bool, sort: str) -> list[Facts]:
    if sort not in SORTS:
        raise ReportError(f"--sort {sort}: use one of {', '.join(SORTS)}")
    rows = [f for f in facts if below(f)] if only_below else list(facts)
    return sorted(rows, key=SORTS[sort])

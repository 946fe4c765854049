"""The indicators the provincial documents publish, one predicate per school.

Each indicator says which schools it applies to (its denominator) and
whether a school meets it, from :class:`~.facts.Facts` alone, the same for
every school type: a 500 Mbps primary school and a 500 Mbps 教学点 both meet
"exit ≥100 Mbps". A new indicator is one entry in :func:`indicators`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.contract.probes import PROBE_NAMES
from collector.judge.rules import TARGETS
from collector.judge.targets import Indicators
from collector.report.facts import AREA_KINDS, Facts

IPV6_LEVELS = range(5)
KIND_NAMES = {"teaching": ("教学区", "teaching areas"), "office": ("办公区", "office areas"),
              "activity": ("主要活动场所", "activity areas")}
TARGET_NAMES = {"exit_bandwidth": ("出口带宽", "exit bandwidth"),
                "classroom_links": ("百兆进班", "classrooms"), "wifi": ("无线覆盖", "Wi-Fi"),
                "ipv6": ("IPv6", "IPv6"), "all": ("全部目标", "all targets")}


def _everyone(facts: Facts) -> bool:
    return True


@dataclass(frozen=True)
class Indicator:
    key: str
    zh: str
    en: str
    meets: Callable[[Facts], bool]
    applies: Callable[[Facts], bool] = _everyone
    group: str = "measured"   # measured, ipv6, probes, verdicts: how tables group columns

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    @property
    def universal(self) -> bool:
        """Applies to every school, so a roll-up need not ask each one."""
        return self.applies is _everyone


def exit_meets(facts: Facts, tier: float, cfg: Indicators) -> bool:
    """Measured at ``tier``: tests' median ≥ tier × share, and a port (if known) that
    can carry it (a port slower than the tier never can, whatever a test says)."""
    if facts.port_mbps is not None and facts.port_mbps < tier:
        return False
    return facts.exit_median is not None and facts.exit_median >= tier * cfg.throughput_share


def classrooms_meet(facts: Facts) -> bool:
    return facts.classes > 0 and facts.rooms_meeting >= facts.classes


def wifi_meets(facts: Facts, kind: str) -> bool:
    covered, required = facts.wifi.get(kind, (0, 0))
    return required > 0 and covered == required


def contract_meets(facts: Facts, cfg: Indicators) -> bool:
    return (facts.exit_median is not None
            and facts.exit_median >= cfg.contract_share * facts.school.contracted_mbps)


def _verdict(target: str) -> Callable[[Facts], bool]:
    def meets(facts: Facts) -> bool:
        verdict = facts.verdicts.get(target)
        return verdict is not None and verdict.status == "pass"
    return meets


def _tier(tier: float, cfg: Indicators) -> Callable[[Facts], bool]:
    return lambda f: exit_meets(f, tier, cfg)


def _kind(kind: str) -> Callable[[Facts], bool]:
    return lambda f: wifi_meets(f, kind)


def _level(level: int) -> Callable[[Facts], bool]:
    return lambda f: f.ipv6_level == level


def _probe(probe: str) -> Callable[[Facts], bool]:
    return lambda f: probe in f.probes


def mbps(value: float) -> str:
    return f"{value / 1000:g}G" if value >= 1000 and value % 1000 == 0 else f"{value:g}M"


def indicators(cfg: Indicators) -> list[Indicator]:
    out = [Indicator("connected", "已接入上报", "Connected (any reading)",
                     lambda f: f.reported)]
    for tier in cfg.exit_tiers_mbps:
        out.append(Indicator(f"exit_{tier:g}", f"出口带宽≥{mbps(tier)}",
                             f"Exit ≥{tier:g} Mbps", _tier(tier, cfg)))
    out.append(Indicator("classrooms", f"班级全部≥{mbps(cfg.classroom_mbps)}",
                         f"Every class ≥{cfg.classroom_mbps:g} Mbps", classrooms_meet))
    for kind in AREA_KINDS:
        zh, en = KIND_NAMES[kind]
        out.append(Indicator(f"wifi_{kind}", f"无线覆盖{zh}", f"Wi-Fi in {en}", _kind(kind)))
    out.append(Indicator("contract", f"达签约带宽{cfg.contract_share:.0%}",
                         f"≥{cfg.contract_share:.0%} of contracted",
                         lambda f: contract_meets(f, cfg),
                         lambda f: f.school.contracted_mbps > 0))
    for level in IPV6_LEVELS:
        out.append(Indicator(f"ipv6_level_{level}", f"IPv6 {level}级", f"IPv6 level {level}",
                             _level(level), group="ipv6"))
    # So the distribution adds up to the registered schools.
    out.append(Indicator("ipv6_unknown", "IPv6 无数据", "IPv6 no data",
                         lambda f: f.ipv6_level is None, group="ipv6"))
    for probe in sorted(PROBE_NAMES):
        out.append(Indicator(f"probe_{probe}", f"上报 {probe}", f"Reports {probe}",
                             _probe(probe), group="probes"))
    for target in (*TARGETS, "all"):
        zh, en = TARGET_NAMES.get(target, (target, target))
        out.append(Indicator(f"verdict_{target}", f"{zh}达标(按类型)",
                             f"{en[:1].upper() + en[1:]} met (by type)", _verdict(target),
                             group="verdicts"))
    return out


def thresholds(cfg: Indicators, lang: str) -> str:
    """The footnote that states how each indicator is measured."""
    tiers = "/".join(mbps(t) for t in cfg.exit_tiers_mbps)
    if lang == "zh":
        return (f"统计期：截至时刻前 {cfg.period_days:g} 天。出口带宽 {tiers}：最近 {cfg.window} 次"
                f"有效测速的中位数 ≥ 档位×{cfg.throughput_share:g}，且 WAN 口协商速率不低于档位；"
                f"班级：每个登记班级的端口 ≥{cfg.classroom_mbps:g} Mbps；无线：该类区域全部覆盖；"
                f"签约带宽：测速中位数 ≥ 签约带宽×{cfg.contract_share:g}（仅计有签约带宽的学校）；"
                "“按类型”列为各类学校自身目标的判定结果。分母为登记学校数，未上报的学校计为未达标。")
    return (f"Period: the {cfg.period_days:g} days before the as-of time. Exit {tiers}: the "
            f"median of the last {cfg.window} good tests ≥ tier × {cfg.throughput_share:g} "
            f"and a WAN port at least the tier; classes: every registered class's port ≥"
            f"{cfg.classroom_mbps:g} Mbps; Wi-Fi: every area of that kind covered; contract: "
            f"median ≥ {cfg.contract_share:g} × contracted (schools with a contract only); "
            "'by type' columns are the verdicts against each school type's own targets. "
            "Shares are of registered schools; a school that did not report does not meet.")

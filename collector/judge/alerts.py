"""Alerts on transitions only: below target, recovered, silent, back online,
a probe failing and recovering.

State (the last status per school and target) is kept in a JSON file, so a
collector restart does not repeat every alert. Alerts go to an MQTT topic and,
through apprise, to webhooks, e-mail, DingTalk or WeCom; past a per-hour
budget they are counted and folded into one digest. The budget has shares
per school and per county, so one school's flood cannot hold back another's
alert, and texts name only what the registry and the contract's vocabularies
hold: never a string from a school's payload.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from agent.contract.configschema import read_text
from agent.contract.errors import ConfigError
from agent.contract.measurements import PATH_LEVELS, UPLINKS
from agent.contract.probes import PROBE_NAMES
from collector.judge.registry import School
from collector.judge.rules import Health, Verdict

log = logging.getLogger(__name__)

TARGET_NAMES = {
    "zh": {"exit_bandwidth": "出口带宽（千兆进校）", "classroom_links": "班级接入（百兆进班）",
           "wifi": "无线覆盖（无线校园）", "ipv6": "IPv6 部署",
           "interactive_classroom": "互动课堂网络就绪（三个课堂）",
           "edu_ladder": "教育专网四级互联", "class_hours_availability": "上课时段可用率",
           "county": "县级节点", "city": "市级节点", "province": "省级节点",
           "platform": "教育平台", "internet": "互联网"},
    "en": {"exit_bandwidth": "exit bandwidth", "classroom_links": "classroom links",
           "wifi": "Wi-Fi coverage", "ipv6": "IPv6 readiness",
           "interactive_classroom": "interactive classroom readiness",
           "edu_ladder": "education network ladder",
           "class_hours_availability": "class-hour availability",
           "county": "county node", "city": "city node", "province": "province node",
           "platform": "education platform", "internet": "internet"},
}
TEXT = {
    "zh": {"below_target": "{name}（{sid}）{subject}未达标：{detail}",
           "recovered": "{name}（{sid}）{subject}已恢复达标：{detail}",
           "silent": "{name}（{sid}）监测探针失联：最后一次上报 {detail}",
           "back_online": "{name}（{sid}）监测探针已恢复上报",
           "probe_failing": "{name}（{sid}）探针 {subject} 连续失败",
           "probe_recovered": "{name}（{sid}）探针 {subject} 已恢复",
           "path_down": "{name}（{sid}）到{subject}断网：{detail}",
           "path_restored": "{name}（{sid}）到{subject}已恢复连通：{detail}",
           "digest": "另有 {count} 条告警因频率限制未单独发送"},
    "en": {"below_target": "{name} ({sid}) is below target for {subject}: {detail}",
           "recovered": "{name} ({sid}) meets the {subject} target again: {detail}",
           "silent": "{name} ({sid}) agent is silent: last reading {detail}",
           "back_online": "{name} ({sid}) agent reports again",
           "probe_failing": "{name} ({sid}) probe {subject} keeps failing",
           "probe_recovered": "{name} ({sid}) probe {subject} works again",
           "path_down": "{name} ({sid}) cannot reach the {subject}: {detail}",
           "path_restored": "{name} ({sid}) reaches the {subject} again: {detail}",
           "digest": "{count} more alerts were held back by the rate limit"},
}


@dataclass(frozen=True, slots=True)  # a start can alert on most of a province
class Alert:
    kind: str
    school: School
    subject: str
    # A verdict's evidence is worded when the alert is read: most of a province's
    # first alerts are only counted into a digest, and worded at once they held
    # ~28 MB through the round at 50,000 schools (bench_judging --path).
    about: str | Verdict
    ts_ns: int

    @property
    def detail(self) -> str:
        return self.about if isinstance(self.about, str) else evidence(self.about)

    def text(self, lang: str) -> str:
        subject = TARGET_NAMES[lang].get(self.subject, self.subject)
        if self.kind.startswith("probe_") and subject not in PROBE_NAMES:
            subject = "?"  # never reached from transitions(); a text must not carry it
        if self.kind.startswith("path_") and self.subject not in PATH_LEVELS:
            subject = "?"
        return TEXT[lang][self.kind].format(name=self.school.name, sid=self.school.school_id,
                                            subject=subject, detail=self.detail)

    def payload(self) -> dict[str, object]:
        return {"kind": self.kind, "school_id": self.school.school_id,
                "school": self.school.name, "subject": self.subject, "detail": self.detail,
                "ts": self.ts_ns, "text_zh": self.text("zh"), "text_en": self.text("en")}


def evidence(v: Verdict) -> str:
    if v.value is None:
        return "no readings"
    figure = f"{v.value:g}"
    return f"{figure} vs {v.threshold:g} ({v.readings} readings)" + (
        f"; {v.detail}" if v.detail else "")


Send = Callable[[Alert | str], None]


class AlertState:
    """Each school's last state per subject ("ipv6", "edu_ladder@edu", "silent",
    "probe:wifi", "outage:county@edu"): True (alerting), False, or none yet.

    One int a school, two bits a subject (known, alerting), the subjects numbered
    once for all schools: they come from the targets and the contract's
    vocabularies. Kept as "school|subject" keys a province's state took ~1 KB a
    school (42 MB at 50,000 schools with eight subjects each: tracemalloc), this
    ~100 bytes. The file holds the same flat JSON object as ever (``flat``)."""

    def __init__(self, flat: dict[str, object] | None = None) -> None:
        self.subjects: list[str] = []
        self.number: dict[str, int] = {}
        self.bits: dict[str, int] = {}
        for key, value in (flat or {}).items():
            if value is True or value is False:  # anything else: no state
                sid, _, subject = key.partition("|")
                self.set(sid, subject, value)

    def get(self, sid: str, subject: str) -> bool | None:
        i = self.number.get(subject)
        if i is None:
            return None
        two = self.bits.get(sid, 0) >> 2 * i & 3
        return two == 3 if two else None

    def set(self, sid: str, subject: str, value: bool) -> None:
        i = self.number.get(subject)
        if i is None:
            i = self.number[subject] = len(self.subjects)
            self.subjects.append(subject)
        self.bits[sid] = self.bits.get(sid, 0) & ~(3 << 2 * i) | (1 + 2 * value) << 2 * i

    def items(self, prefixes: tuple[str, ...] = ("",)) -> Iterator[tuple[str, str, bool]]:
        """(school, subject, state) for subjects starting with one of ``prefixes``."""
        wanted = [i for i, subject in enumerate(self.subjects) if subject.startswith(prefixes)]
        mask = sum(1 << 2 * i for i in wanted)
        for sid, bits in self.bits.items():
            if bits & mask:
                for i in wanted:
                    if bits >> 2 * i & 1:
                        yield sid, self.subjects[i], bool(bits >> 2 * i & 2)

    def prune(self, keep: Callable[[str, str], bool]) -> int:
        """Drop the states ``keep(school, subject)`` refuses; how many."""
        gone = [(sid, subject) for sid, subject, _ in self.items() if not keep(sid, subject)]
        for sid, subject in gone:
            bits = self.bits[sid] & ~(3 << 2 * self.number[subject])
            if bits:
                self.bits[sid] = bits
            else:
                del self.bits[sid]
        return len(gone)

    def flat(self) -> dict[str, bool]:
        return {f"{sid}|{subject}": value for sid, subject, value in self.items()}

    def dump(self, out: TextIO) -> None:
        """``json.dump(self.flat(), out, sort_keys=True)``, the same text, written a
        school at a time: built whole, a province's (a dict of a key per school and
        subject, then its text) was the top of the collector's peak memory in a
        round, 18 MB at 10,000 schools (tracemalloc), the state itself 1 MB."""
        escaped = [json.dumps(subject)[1:-1] for subject in self.subjects]
        order = sorted(range(len(self.subjects)), key=self.subjects.__getitem__)
        out.write("{")
        sep = ""
        # Keys sort as "school|subject": by the school's id followed by "|" (an id
        # that is another's prefix sorts as the key does), then by subject.
        for sid in sorted(self.bits, key=lambda sid: sid + "|"):
            bits, school = self.bits[sid], json.dumps(sid)[1:-1]
            parts = [f'"{school}|{escaped[i]}": {"true" if bits >> 2 * i & 2 else "false"}'
                     for i in order if bits >> 2 * i & 1]
            if parts:
                out.write(sep + ", ".join(parts))
                sep = ", "
        out.write("}")


def load_state(path: str) -> dict[str, object]:
    """The alert state file (absent: empty); ConfigError if it cannot be used."""
    if not path or not Path(path).exists():
        return {}
    try:
        text = read_text(path)
    except ConfigError as err:
        if err.line is None:  # unreadable, not mis-encoded
            raise
        # Written by the collector itself: other bytes mean damage, not an editor.
        raise ConfigError(path, "", None, "alert state is corrupt (not UTF-8 text); "
                          "delete it to start afresh") from None
    try:
        state = json.loads(text)
    except ValueError as err:
        raise ConfigError(path, "", None, f"alert state is not valid JSON ({err}); "
                          "fix it, or delete it to start afresh") from None
    if not isinstance(state, dict):
        raise ConfigError(path, "", None, "alert state must be a JSON object; "
                          "delete it to start afresh")
    return state


def interleave(alerts: list[Alert]) -> list[Alert]:
    """Each school's first alert, then each one's second, ...: a school with many
    alerts waits behind the others, not they behind it."""
    rank: Counter[str] = Counter()
    keyed = []
    for i, alert in enumerate(alerts):
        keyed.append((rank[alert.school.school_id], i, alert))
        rank[alert.school.school_id] += 1
    return [alert for _, _, alert in sorted(keyed, key=lambda k: (k[0], k[1]))]


class Alerter:
    def __init__(self, state_file: str, sinks: list[Send], max_per_hour: int = 60,
                 max_per_school: int = 6, max_per_county: int = 20) -> None:
        self.path = Path(state_file) if state_file else None
        self.state = AlertState(load_state(state_file))
        # Whether state changed since it was loaded or saved: a province's state is
        # hundreds of thousands of keys, and most rounds change none of them.
        self._dirty = False
        self.sinks = sinks
        self.max_per_hour = max_per_hour
        self.max_per_school = max_per_school
        self.max_per_county = max_per_county
        # When each alert of the last hour went out, and for whom.
        self._sent: deque[tuple[float, str, str]] = deque()
        self.held_back = 0

    def prune(self, registered: set[str]) -> int:
        """Forget schools no longer registered and probe names outside the vocabulary."""
        def keep(sid: str, what: str) -> bool:
            return sid in registered and (not what.startswith("probe:")
                                          or what[6:] in PROBE_NAMES)
        gone = self.state.prune(keep)
        self._dirty = self._dirty or bool(gone)
        return gone

    def transitions(self, verdicts: Iterable[Verdict], health: dict[str, Health],
                    now_ns: int) -> list[Alert]:
        alerts: list[Alert] = []

        def change(sid: str, what: str, new: bool, school: School, on: str | None,
                   off: str | None, subject: str, about: str | Verdict) -> None:
            old = self.state.get(sid, what)
            if old is not new:  # the values are True, False or absent
                self.state.set(sid, what, new)
                self._dirty = True
            if new is True and old is not True and on:
                alerts.append(Alert(on, school, subject, about, now_ns))
            elif new is False and old is True and off:
                alerts.append(Alert(off, school, subject, about, now_ns))

        by_school: dict[str, School] = {}
        for v in verdicts:
            by_school[v.school.school_id] = v.school
            # Only pass and fail move the state: no_data or inconclusive between
            # two fails must not produce a recovery and a second alert.
            if v.target != "all" and v.status in ("pass", "fail"):
                # Per-uplink verdicts keep a state each; uplinks are a vocabulary.
                at = f"@{v.uplink}" if v.uplink in UPLINKS else ""
                change(v.school.school_id, f"{v.target}{at}", v.status == "fail", v.school,
                       "below_target", "recovered", v.target, v)
        # The probes each school has state for, gathered once: asked school by
        # school it would cost every school a pass over all the state.
        known: dict[str, set[str]] = {}
        known_outages: dict[str, set[tuple[str, str]]] = {}
        for sid, what, _ in self.state.items(("probe:", "outage:")):
            kind, _, rest = what.partition(":")
            if kind == "probe":
                known.setdefault(sid, set()).add(rest)
                continue
            level, at, uplink = rest.partition("@")
            if at:
                known_outages.setdefault(sid, set()).add((level, uplink))
        for sid, h in health.items():
            school = by_school.get(sid)
            if school is None:
                continue
            if h.last_seen_ns is not None or h.silent:
                # Only the time: the words around it are in each language's template.
                seen = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(h.last_seen_ns / 1e9))
                        if h.last_seen_ns else "—")
                change(sid, "silent", h.silent, school, "silent", "back_online", "", seen)
            probes = known.get(sid, set())
            # A probe name comes from the school's payload: only the contract's
            # names may become state, and so text.
            for probe in sorted((probes | h.failing_probes) & PROBE_NAMES):
                change(sid, f"probe:{probe}", probe in h.failing_probes, school,
                       "probe_failing", "probe_recovered", probe, "")
            for level, uplink in sorted(known_outages.get(sid, set()) | set(h.outages)):
                if level in PATH_LEVELS and uplink in UPLINKS:
                    change(sid, f"outage:{level}@{uplink}", (level, uplink) in h.outages,
                           school, "path_down", "path_restored", level, f"uplink {uplink}")
        return alerts

    def save(self) -> None:
        if not self.path or not self._dirty:
            return
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as out:
                self.state.dump(out)
            tmp.replace(self.path)
            self._dirty = False
        except OSError as err:
            # A full or read-only disk costs repeated alerts after a restart,
            # not the judging itself.
            log.error("alert state not saved to %s: %s", self.path, err)

    def send(self, alerts: list[Alert]) -> None:
        now = time.monotonic()
        while self._sent and now - self._sent[0][0] > 3600:
            self._sent.popleft()
        # Counted once per round: a province-wide outage is thousands of alerts.
        per_school = Counter(sid for _, sid, _ in self._sent)
        per_county = Counter(county for _, _, county in self._sent)
        for alert in interleave(alerts):
            school = alert.school
            # Slugs may repeat under other cities: the county is its whole path.
            sid, county = school.school_id, f"{school.province}/{school.city}/{school.county}"
            if (len(self._sent) >= self.max_per_hour or per_school[sid] >= self.max_per_school
                    or per_county[county] >= self.max_per_county):
                self.held_back += 1
                continue
            self._sent.append((now, sid, county))
            per_school[sid] += 1
            per_county[county] += 1
            self._deliver(alert)
        if self.held_back and len(self._sent) < self.max_per_hour:
            self._deliver(TEXT["zh"]["digest"].format(count=self.held_back) + " / "
                          + TEXT["en"]["digest"].format(count=self.held_back))
            self._sent.append((now, "", ""))
            self.held_back = 0
        elif self.held_back:
            log.warning("%d alerts held back by the %d/hour limit", self.held_back,
                        self.max_per_hour)

    def _deliver(self, item: Alert | str) -> None:
        for sink in self.sinks:
            try:
                sink(item)
            except Exception as err:  # one broken channel must not silence the others
                log.error("an alert channel failed (%s: %s); the others still get it",
                          type(err).__name__, err)
                log.debug("alert channel %r failed", sink, exc_info=True)


def apprise_sink(urls: list[str], lang: str) -> Send:
    import apprise

    notifier = apprise.Apprise()
    for url in urls:
        notifier.add(url)

    def send(item: Alert | str) -> None:
        body = item.text(lang) if isinstance(item, Alert) else item
        title = "schoolnet-audit " + (item.kind if isinstance(item, Alert) else "digest")
        if not notifier.notify(body=body, title=title):
            log.error("apprise could not deliver: %s", body)
    return send


def mqtt_sink(publish: Callable[[str, bytes], object], prefix: str) -> Send:
    """Alerts as JSON on PREFIX/province/city/county/school (digests on PREFIX/digest)."""
    def send(item: Alert | str) -> None:
        if isinstance(item, Alert):
            topic = f"{prefix}/{item.school.identity.prefix.split('/', 2)[2]}"
            publish(topic, json.dumps(item.payload(), ensure_ascii=False).encode())
        else:
            publish(f"{prefix}/digest", json.dumps({"kind": "digest", "text": item},
                                                   ensure_ascii=False).encode())
    return send


def print_sink(lang: str) -> Send:
    def send(item: Alert | str) -> None:
        print("ALERT (dry run):", item.text(lang) if isinstance(item, Alert) else item)
    return send

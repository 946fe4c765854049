"""Readings of ``classroom_links``: per classroom, per switch, and the school summary.

A classroom's ``status`` is what 百兆进班 asks: ``ok`` (up and at least
``min_speed_mbps``), ``below`` (up, slower), ``down`` (not passing traffic) or
``unknown`` (the switch did not answer, the port was not found, or its speed
cannot be trusted). Unknown never counts as a pass or a fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.contract.reading import FieldValue, Reading
from agent.probes.classroom_links.ifmib import Sample, judge_speed, rates
from agent.probes.classroom_links.map import Match

if TYPE_CHECKING:
    from agent.probes.classroom_links.probe import SwitchPoll

_RANK = {"ok": 3, "below": 2, "down": 1, "unknown": 0}


def _tags(match: Match, port_label: str) -> dict[str, str]:
    room = match.classroom
    tags = {"classroom": room.name, "switch": room.switch, "port": port_label[:128]}
    if room.building:
        tags["building"] = room.building[:128]
    return tags


def classroom_reading(poll: SwitchPoll, match: Match, before: Sample | None,
                      now: Sample | None, ts: int, min_mbps: float,
                      flapped: bool = False) -> Reading:
    room, port = match.classroom, match.port
    fields: dict[str, FieldValue] = {"source": room.source}
    if room.floor is not None:
        fields["floor"] = room.floor
    if port is None or now is None:
        # The switch failed (its code travels on) or answered without this port.
        fields["result"] = poll.result if poll.result not in ("ok", "partial") else "unavailable"
        fields["status"] = "unknown"
        fields["port_problem"] = match.problem or "switch_failed"
        return Reading("classroom_link", fields, _tags(match, match.wanted or "unknown"), ts)
    fields["if_index"] = port.index
    if port.admin_up is not None:
        fields["admin_up"] = port.admin_up
    if port.oper_up is not None:
        fields["oper_up"] = port.oper_up
    speed = judge_speed(port)
    problem = "flapping" if flapped and not speed.problem else speed.problem
    fields["speed_source"] = speed.source
    fields["speed_suspect"] = bool(problem) and problem != "missing"
    if problem:
        fields["speed_problem"] = problem
    trusted = speed.mbps if not problem else None
    if trusted is not None and port.oper_up:
        fields["link_speed_mbps"] = trusted
    result = "ok"
    if port.oper_up is None:
        status, result = "unknown", "partial"
    elif not port.oper_up:
        # A down port's speed is whatever the switch keeps for it: not judged.
        status = "down"
    elif trusted is None:
        status, result = "unknown", "inconclusive"
    else:
        status = "ok" if trusted >= min_mbps else "below"
    fields["status"] = status
    fields["meets_target"] = status == "ok"
    fields["counter_bits"] = port.counter_bits
    if before is not None:
        rx, tx, why = rates(before, now)
        if rx is not None:
            fields["rx_bps"] = rx
        if tx is not None:
            fields["tx_bps"] = tx
        if why:
            fields["rate_problem"] = why
    else:
        fields["rate_problem"] = "first_sample"
    fields["result"] = result
    return Reading("classroom_link", fields, _tags(match, port.label), ts)


def switch_reading(poll: SwitchPoll, classrooms: int, ts: int) -> Reading:
    fields: dict[str, FieldValue] = {
        "result": poll.result, "ports": len(poll.ports), "classrooms": classrooms,
        "requests": poll.requests, "poll_seconds": poll.elapsed_seconds,
        "ports_32bit_counters": sum(1 for p in poll.ports.values() if p.counter_bits == 32),
    }
    if poll.detail:
        fields["detail"] = poll.detail[:256]
    return Reading("classroom_switch", fields, {"switch": poll.name}, ts)


def summary_reading(polls: Sequence[SwitchPoll], statuses: Sequence[tuple[str, str, str]],
                    unmapped: int, min_mbps: float, ts: int) -> Reading:
    # A classroom with two uplinks counts once, by its best port.
    best: dict[str, tuple[str, str]] = {}
    for room, source, status in statuses:
        if room not in best or _RANK[status] > _RANK[best[room][1]]:
            best[room] = (source, status)
    counts = Counter(status for _, status in best.values())
    failed = [p for p in polls if p.result not in ("ok", "partial")]
    known = len(best) - counts["unknown"]
    fields: dict[str, FieldValue] = {
        "classrooms": len(best),
        "classrooms_mapped": sum(1 for s, _ in best.values() if s == "map"),
        "classrooms_discovered": sum(1 for s, _ in best.values() if s == "alias"),
        "classrooms_meeting": counts["ok"], "classrooms_below": counts["below"],
        "classrooms_down": counts["down"], "classrooms_unknown": counts["unknown"],
        "unmapped_ports": unmapped, "min_speed_mbps": min_mbps,
        "switches": len(polls), "switches_failed": len(failed),
    }
    if known:
        fields["meeting_share"] = round(counts["ok"] / known, 4)
    if polls and len(failed) == len(polls):
        fields["result"] = Counter(p.result for p in failed).most_common(1)[0][0]
    elif not best:
        fields["result"] = "no_data"
    elif failed or counts["unknown"] or any(p.result == "partial" for p in polls):
        fields["result"] = "partial"
    else:
        fields["result"] = "ok"
    return Reading("classroom_summary", fields, {}, ts)

"""The figures one session yields: RTT spread, jitter, loss by direction, uptime.

* RTT: round trip minus the time the packet spent inside the reflector
  (STAMP carries both of the reflector's timestamps). min, median, p95
  (nearest rank) and max over the answered packets.
* jitter_seconds: mean absolute IPDV of adjacent packets, RFC 5481 section 4.1
  (IPDV of packet i = delay(i) - delay(i-1), both answered), on round-trip
  delays. Unlike RFC 3550's interarrival jitter it is not smoothed, so one
  burst in a minute shows at its size.
* pdv_seconds: RFC 5481 PDV at the 99th percentile, delay(p99) - delay(min):
  the play-out buffer a receiver would need, the quantity ITU-T Y.1541 bounds
  (as "IPDV", 50 ms for classes 0 and 1).
* loss: share of sent packets not answered within the reply timeout. The
  reflector numbers the packets it received, so the highest number it sent
  back says how many reached it: forward loss is what never reached the
  reflector, backward loss what it answered but never came back. (When the
  last answers are lost too, their forward packets count as lost forward.)
* up_share: share of the session's seconds in which at least one packet was
  answered; ``up`` when any was.
"""

from __future__ import annotations

import math
import statistics

from agent.contract.reading import FieldValue
from agent.probes.path_quality.session import Session


def nearest_rank(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def mean_abs_ipdv(rtt: dict[int, float]) -> float | None:
    diffs = [abs(rtt[seq] - rtt[seq - 1]) for seq in rtt if seq - 1 in rtt]
    return statistics.fmean(diffs) if diffs else None


def up_share(session: Session) -> float:
    if not session.sent_ns:
        return 0.0
    first = session.sent_ns[0]
    seconds: dict[int, bool] = {}
    for seq, at in enumerate(session.sent_ns):
        second = (at - first) // 1_000_000_000
        seconds[second] = seconds.get(second, False) or seq in session.rtt
    return sum(seconds.values()) / len(seconds)


def summarise(session: Session) -> dict[str, FieldValue]:
    sent, received = len(session.sent_ns), len(session.rtt)
    fields: dict[str, FieldValue] = {
        "sent": sent, "received": received, "late": session.late,
        "duplicates": session.duplicates, "up": received > 0,
        "up_share": up_share(session),
        "duration_seconds": max(0.0, (session.ended_ns - session.started_ns) / 1e9),
    }
    if sent:
        fields["loss_share"] = 1.0 - received / sent
    if received:
        reached = max(session.reflector_seqs) + 1  # the reflector counts from 0
        reached = min(sent, max(reached, received))
        fields["loss_forward_share"] = (sent - reached) / sent
        fields["loss_backward_share"] = (reached - received) / sent
        ordered = sorted(session.rtt.values())
        fields.update({
            "rtt_min_seconds": ordered[0], "rtt_median_seconds": statistics.median(ordered),
            "rtt_p95_seconds": nearest_rank(ordered, 0.95), "rtt_max_seconds": ordered[-1],
            "pdv_seconds": nearest_rank(ordered, 0.99) - ordered[0],
        })
        jitter = mean_abs_ipdv(session.rtt)
        if jitter is not None:
            fields["jitter_seconds"] = jitter
    if session.error:
        fields["error"] = session.error
    fields["result"] = session.result
    return fields

"""The collector's checks on untrusted messages: the wire contract plus policy.

The wire module checks the envelope; here the collector adds what only it can
judge: the measurement schema (so no school can store a field of another
type, a measurement the collector owns, or anything undeclared), the school
registry and the time window around its own clock.

A message too broken to name its sequence number, or from a school the
registry does not (yet) list as it names itself, is a plain ``WireError``: it
is dead-lettered and the agent keeps it. A well-formed reading that breaks the
contract for good (schema, time window) is ``Refused``:
dead-lettered *and* receipted as refused with its reason, so the agent stops
resending what will never be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
from agent.contract.reading import Reading
from agent.contract.schema import check
from agent.contract.wire import (
    STATUS,
    Envelope,
    Identity,
    Status,
    WireError,
    decode_status_of,
    parse_topic,
)
from collector.config import Validation
from collector.ingest.decode import decode_envelope_fast
from collector.ingest.fastpath import FastSchema
from collector.judge.registry import Registry

# Topics are as many as schools times measurements; past this many the
# parsed ones are forgotten and parsed again, so memory stays bounded (about
# 600 bytes each with its key: 12 MB).
MAX_TOPICS = 20_000
_FAST = FastSchema(SCHEMA)


class Refused(WireError):
    """A well-formed reading that breaks the contract for good (schema, time window)."""

    def __init__(self, reason: str, detail: str, envelope: Envelope) -> None:
        super().__init__(reason, detail)
        self.envelope = envelope


class Held(WireError):
    """A well-formed reading not stored for a reason the centre can fix (the
    registry): its receipt says why, and the agent keeps and resends it."""

    def __init__(self, reason: str, detail: str, envelope: Envelope) -> None:
        super().__init__(reason, detail)
        self.envelope = envelope


@dataclass(frozen=True)
class Validator:
    max_payload_bytes: int
    max_future_ns: int
    max_age_ns: int
    registry: Registry | None = None
    # topic -> its school's identity and measurement: a school sends the same
    # few topics again and again, and one Identity per topic also makes the
    # receipts' grouping by school find it by identity, not by comparison.
    _topics: dict[str, tuple[Identity, str]] = field(default_factory=dict, compare=False,
                                                     repr=False)

    @classmethod
    def from_config(cls, cfg: Validation, registry: Registry | None = None) -> Validator:
        return cls(cfg.max_payload_bytes, int(cfg.max_future_seconds * 1e9),
                   int(cfg.max_age_days * 86400e9), registry)

    def _registered(self, identity: Identity) -> WireError | None:
        if self.registry is None:
            return None
        school = self.registry.get(identity.school_id)
        if school is None:
            return WireError("unknown_school", f"{identity.school_id} is not in the registry")
        # ``school.identity != identity``, without building an Identity per reading
        if (school.school_id != identity.school_id or school.county != identity.county
                or school.city != identity.city or school.province != identity.province):
            return WireError("region_mismatch", f"topic says {identity.prefix}, registry says "
                             f"{school.identity.prefix}")
        return None

    def _parse(self, topic: str) -> tuple[Identity, str]:
        parsed = self._topics.get(topic)
        if parsed is None:
            parsed = parse_topic(topic)  # a bad topic raises, and is not kept
            if len(self._topics) >= MAX_TOPICS:
                self._topics.clear()
            self._topics[topic] = parsed
        return parsed

    def check_line(self, topic: str, payload: bytes, now_ns: int
                   ) -> tuple[Envelope | Status, str | None]:
        """``check``'s result, with its line (``lineproto.encode_checked``) where
        that came for free, or ``check``'s error. A reading the schema certainly
        accepts is checked and encoded in one pass; any other goes through
        ``check``, and its line is left to the caller (None)."""
        identity, measurement = self._parse(topic)
        if measurement != STATUS and self._registered(identity) is None:
            seq, ts, tags, fields = decode_envelope_fast(identity, measurement, payload,
                                                         self.max_payload_bytes)
            if (now_ns - self.max_age_ns <= ts <= now_ns + self.max_future_ns
                    and _FAST.tags_pass(measurement, tags)):
                text = _FAST.field_text(measurement, fields, seq)
                if text is not None:
                    head = _FAST.head(measurement, tags, identity.province, identity.city,
                                      identity.county, identity.school_id)
                    return (Envelope(identity, seq, Reading(measurement, fields, tags, ts)),
                            f"{head} {text} {ts}")
        return self.check(topic, payload, now_ns), None

    def check(self, topic: str, payload: bytes, now_ns: int) -> Envelope | Status:
        """Return the decoded message or raise WireError (Refused) with a reason code."""
        identity, measurement = self._parse(topic)
        unregistered = self._registered(identity)
        if measurement == STATUS:
            if unregistered is not None:
                raise unregistered
            return decode_status_of(identity, payload, self.max_payload_bytes)
        seq, ts, tags, fields = decode_envelope_fast(identity, measurement, payload,
                                                     self.max_payload_bytes)
        if unregistered is not None:
            # Held, not refused: the school keeps the reading and resends it,
            # so a registry fixed later loses nothing measured meanwhile.
            raise Held(unregistered.reason, unregistered.detail,
                       Envelope(identity, seq, Reading(measurement, {}, {}, ts)))
        try:
            check(SCHEMA, COLLECTOR_MEASUREMENTS, measurement, tags, fields)
        except WireError as err:
            raise Refused(err.reason, err.detail,
                          Envelope(identity, seq, Reading(measurement, {}, {}, ts))) from None
        envelope = Envelope(identity, seq, Reading(measurement, fields, tags, ts))
        if ts > now_ns + self.max_future_ns:
            raise Refused("ts_future", f"{(ts - now_ns) / 1e9:.0f} s ahead of the collector",
                          envelope)
        if ts < now_ns - self.max_age_ns:
            raise Refused("ts_past", f"{(now_ns - ts) / 86400e9:.1f} days old", envelope)
        return envelope

"""The collector's checks on untrusted messages: the wire contract plus policy.

The wire module checks shape and types; here the collector adds what only it
can judge: the time window around its own clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.contract.wire import (
    STATUS,
    Envelope,
    Identity,
    Status,
    WireError,
    decode_reading,
    decode_status_of,
    parse_topic,
)
from collector.config import Validation
from collector.judge.registry import Registry


class Refused(WireError):
    """A well-formed reading from a known school that policy refuses (its time)."""

    def __init__(self, reason: str, detail: str, envelope: Envelope) -> None:
        super().__init__(reason, detail)
        self.envelope = envelope


@dataclass(frozen=True)
class Validator:
    max_payload_bytes: int
    max_future_ns: int
    max_age_ns: int
    registry: Registry | None = None

    @classmethod
    def from_config(cls, cfg: Validation, registry: Registry | None = None) -> Validator:
        return cls(cfg.max_payload_bytes, int(cfg.max_future_seconds * 1e9),
                   int(cfg.max_age_days * 86400e9), registry)

    def _registered(self, identity: Identity) -> None:
        if self.registry is None:
            return
        school = self.registry.get(identity.school_id)
        if school is None:
            raise WireError("unknown_school", f"{identity.school_id} is not in the registry")
        if school.identity != identity:
            raise WireError("region_mismatch", f"topic says {identity.prefix}, registry says "
                            f"{school.identity.prefix}")

    def check(self, topic: str, payload: bytes, now_ns: int) -> Envelope | Status:
        """Return the decoded message or raise WireError with a reason code."""
        identity, measurement = parse_topic(topic)
        self._registered(identity)
        if measurement == STATUS:
            return decode_status_of(identity, payload, self.max_payload_bytes)
        envelope = decode_reading(identity, measurement, payload, self.max_payload_bytes)
        ts = envelope.reading.ts_ns
        if ts > now_ns + self.max_future_ns:
            raise Refused("ts_future", f"{(ts - now_ns) / 1e9:.0f} s ahead of the collector",
                          envelope)
        if ts < now_ns - self.max_age_ns:
            raise Refused("ts_past", f"{(now_ns - ts) / 86400e9:.1f} days old", envelope)
        return envelope

"""The collector's reasons for not storing readings, in plain words with what to do.

A receipt carries a reason code (``unknown_school``, ``ts_future`` ...); the
engineer at the school needs to know who can fix it and how.
"""

from __future__ import annotations

from agent.contract.wire import Identity

_ADVICE: dict[str, str] = {
    "unknown_school": ("this school id is not in the county's registry: ask the county "
                       "network centre to add {school} ({region})"),
    "region_mismatch": ("the registry files school {school} under other region codes than "
                        "this config ({region}): correct [school] province/city/county, or ask "
                        "the county network centre to correct the registry"),
    "ts_future": ("this gateway's clock is ahead of the collector's: enable NTP "
                  "(timedatectl set-ntp true) and check the time zone"),
    "ts_past": ("the readings are older than the collector keeps (the gateway's clock is "
                "behind, or the spool held them too long): enable NTP"),
    "too_many_series": ("a probe reports more distinct tag combinations than one school may "
                        "have: check the probe's classroom/area lists for generated names"),
    "unknown_measurement": ("the collector does not know this measurement: the agent is newer "
                            "than the collector; ask the network centre to upgrade it"),
    "collector_owned": ("the agent sent a measurement only the collector may write: "
                        "upgrade the agent"),
    "rate_limited": ("this school sends more readings per minute than allowed: lengthen probe "
                     "intervals; the readings are kept and sent later"),
}


def advice(reason: str, identity: Identity) -> str:
    """What the reason means for this school and what to do about it."""
    text = _ADVICE.get(reason)
    region = f"{identity.province}/{identity.city}/{identity.county}"
    if text is None:
        return (f"the collector gave reason {reason!r}: tell the network centre, quoting it "
                f"and school {identity.school_id}")
    return text.format(school=identity.school_id, region=region)

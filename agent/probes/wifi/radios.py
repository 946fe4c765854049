"""Per-radio state of an AP, where the controller's MIB offers it.

An AP that has joined its controller can still serve nobody on the band that
matters: a classroom AP whose 5 GHz radio is down leaves the room with a
crowded 2.4 GHz channel. Such an AP is online but not serving; an area needs
a serving AP to be covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.contract.reading import FieldValue, Reading

BANDS = ("2.4ghz", "5ghz", "6ghz", "unknown")


@dataclass(frozen=True)
class Radio:
    radio: str  # the controller's radio id on that AP
    band: str  # one of BANDS
    up: bool
    channel: int | None = None
    utilisation_share: float | None = None  # of air time on its channel, 0..1
    noise_dbm: float | None = None
    clients: int | None = None

    def reading(self, ts_ns: int, ap: str, controller: str) -> Reading:
        fields: dict[str, FieldValue] = {"band": self.band, "up": self.up}
        for key in ("channel", "utilisation_share", "noise_dbm", "clients"):
            value = getattr(self, key)
            if value is not None:
                fields[key] = value
        return Reading("wifi_radio", fields,
                       {"ap": ap[:128], "radio": self.radio, "controller": controller}, ts_ns)


def band_of_channel(channel: int | None) -> str:
    """The band an IEEE 802.11 channel number sits in: 1-14 2.4 GHz, 32-177 5 GHz.

    For tables that give a channel but no band (the H3C and Ruijie radio
    tables predate 6 GHz; their channel numbers are 2.4 or 5 GHz ones).
    """
    if channel is None:
        return "unknown"
    if 1 <= channel <= 14:
        return "2.4ghz"
    if 32 <= channel <= 177:
        return "5ghz"
    return "unknown"


def percent_share(value: int | None) -> float | None:
    """A 0..100 percentage as a 0..1 share; anything else (e.g. 255, "invalid") is None."""
    return value / 100 if value is not None and 0 <= value <= 100 else None


def radios_serve(radios: Sequence[Radio]) -> bool | None:
    """Whether an online AP's radios serve clients: None when no radio is known.

    A 5 GHz (or 6 GHz) radio, where the AP has one, must be up: that band
    carries a classroom's load. A single-band 2.4 GHz AP needs that radio up.
    """
    if not radios:
        return None
    high = [r for r in radios if r.band in ("5ghz", "6ghz")]
    return any(r.up for r in (high or radios))

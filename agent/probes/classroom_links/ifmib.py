"""IF-MIB for access switches: the columns we walk, one port's view, honest speeds and rates.

Switches lie in known ways, so nothing here trusts a number on its own:
ifSpeed 0 on an up port, 4294967295 (the Gauge32 ceiling, RFC 2863's "ask
ifHighSpeed") with no ifHighSpeed, ifSpeed and ifHighSpeed that disagree, a
speed that changes while the link never went down (ifLastChange still), and
counters that go backwards because the switch rebooted or cleared them.
Each becomes a flag and a missing value, never a made-up figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.snmp.client import Value, text

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
# Walked on every poll. Decoding dominates the agent's CPU (pysnmp/pyasn1), so
# columns only some switches need are in FALLBACK_COLUMNS, walked only when
# the main walk shows they are needed (a port without ifName or ifHCInOctets).
COLUMNS = {
    "type": "1.3.6.1.2.1.2.2.1.3",
    "speed": "1.3.6.1.2.1.2.2.1.5",
    "admin": "1.3.6.1.2.1.2.2.1.7",
    "oper": "1.3.6.1.2.1.2.2.1.8",
    "last_change": "1.3.6.1.2.1.2.2.1.9",
    "name": "1.3.6.1.2.1.31.1.1.1.1",
    "in64": "1.3.6.1.2.1.31.1.1.1.6",
    "out64": "1.3.6.1.2.1.31.1.1.1.10",
    "high_speed": "1.3.6.1.2.1.31.1.1.1.15",
    "alias": "1.3.6.1.2.1.31.1.1.1.18",
    "discontinuity": "1.3.6.1.2.1.31.1.1.1.19",
}
FALLBACK_COLUMNS = {
    "descr": "1.3.6.1.2.1.2.2.1.2",  # when ifName is missing (switches without ifXTable)
    "in32": "1.3.6.1.2.1.2.2.1.10",  # when ifHCInOctets is missing (half the Huawei stack)
    "out32": "1.3.6.1.2.1.2.2.1.16",
}
COUNTER_COLUMNS = {k: COLUMNS[k] for k in ("in64", "out64", "discontinuity")}


def fallback_columns(rows: Mapping[tuple[int, ...], Mapping[str, object]]) -> dict[str, str]:
    """The fallback columns these rows need: descr for nameless rows, 32-bit counters
    for rows without 64-bit ones."""
    need: dict[str, str] = {}
    if any("name" not in row for row in rows.values()):
        need["descr"] = FALLBACK_COLUMNS["descr"]
    if any("in64" not in row or "out64" not in row for row in rows.values()):
        need["in32"], need["out32"] = FALLBACK_COLUMNS["in32"], FALLBACK_COLUMNS["out32"]
    return need


GAUGE32_MAX = 2**32 - 1
# Interface types that are never a classroom's access port (ifType, IANAifType-MIB).
NOT_A_PORT = frozenset({24, 53, 131, 135, 136, 142, 150, 166})
# Speeds that flip by less than this share are rounding (ifSpeed 100000000 vs ifHighSpeed 100).
_SPEED_TOLERANCE = 0.02


@dataclass(frozen=True)
class Port:
    """One interface row as the switch reported it; fields are None when absent."""

    index: int
    name: str
    alias: str
    descr: str
    if_type: int | None
    admin_up: bool | None
    oper_up: bool | None
    speed_bps: int | None
    high_speed_mbps: int | None
    last_change: int | None
    in_octets: int | None
    out_octets: int | None
    counter_bits: int  # 64, 32, or 0 when the switch gives no octet counters
    discontinuity: int | None

    @classmethod
    def from_row(cls, index: int, row: dict[str, Value]) -> Port:
        def num(key: str) -> int | None:
            value = row.get(key)
            return value if isinstance(value, int) else None

        # Per port, not per switch: a Huawei stack recording has ifHCInOctets on
        # only half its ports, so the rest fall back to the 32-bit counters.
        if num("in64") is not None and num("out64") is not None:
            bits, rx, tx = 64, num("in64"), num("out64")
        elif num("in32") is not None and num("out32") is not None:
            bits, rx, tx = 32, num("in32"), num("out32")
        else:
            bits, rx, tx = 0, None, None
        admin, oper = num("admin"), num("oper")
        return cls(
            index=index, name=text(row.get("name")), alias=text(row.get("alias")).strip(),
            descr=text(row.get("descr")), if_type=num("type"),
            admin_up=None if admin is None else admin == 1,
            # ifOperStatus 1 is up; 2 down, 7 lowerLayerDown, 5 dormant... all not passing traffic.
            oper_up=None if oper is None else oper == 1,
            speed_bps=num("speed"), high_speed_mbps=num("high_speed"),
            last_change=num("last_change"), in_octets=rx, out_octets=tx, counter_bits=bits,
            discontinuity=num("discontinuity"))

    @property
    def label(self) -> str:
        """The port's name for tags: ifName, else ifDescr, else its index."""
        return (self.name or self.descr or f"ifIndex {self.index}")[:128]


def reported_mbps(port: Port) -> float | None:
    """The raw speed in Mbit/s, preferring ifHighSpeed, whatever its value."""
    if port.high_speed_mbps is not None:
        return float(port.high_speed_mbps)
    return None if port.speed_bps is None else port.speed_bps / 1e6


@dataclass(frozen=True)
class Speed:
    mbps: float | None  # None when it cannot be trusted or is not reported
    source: str  # "ifHighSpeed", "ifSpeed" or "none"
    problem: str  # "" when trusted; zero, max_value, mismatch, flapping, missing


def judge_speed(port: Port) -> Speed:
    """The port's speed from this poll alone; ``flapping`` needs history (see PortHistory)."""
    high, low = port.high_speed_mbps, port.speed_bps
    if high is None and low is None:
        return Speed(None, "none", "missing")
    if high is not None:
        if high == GAUGE32_MAX:
            return Speed(None, "ifHighSpeed", "max_value")
        if high == 0:
            return Speed(None, "ifHighSpeed", "zero")
        if low is not None and 0 < low < GAUGE32_MAX and \
                abs(low / 1e6 - high) > max(1.0, high * _SPEED_TOLERANCE):
            # ifSpeed is exact below 4.29 Gbit/s; disagreeing with ifHighSpeed
            # means one of them is wrong and we cannot tell which.
            return Speed(None, "ifHighSpeed", "mismatch")
        return Speed(float(high), "ifHighSpeed", "")
    assert low is not None
    if low == GAUGE32_MAX:
        return Speed(None, "ifSpeed", "max_value")
    if low == 0:
        return Speed(None, "ifSpeed", "zero")
    return Speed(round(low / 1e6, 3), "ifSpeed", "")


@dataclass(frozen=True)
class Sample:
    """What a port's counters said at one poll, with the switch's clock."""

    uptime_ticks: int | None  # sysUpTime, 1/100 s; None if the switch hides it
    at: float  # time.monotonic() when the walk's answer arrived
    in_octets: int | None
    out_octets: int | None
    bits: int
    discontinuity: int | None
    reported_mbps: float | None  # what the switch said, trusted or not (for flap checks)
    trusted_mbps: float | None  # judge_speed's verdict (for plausible rates)
    last_change: int | None


def agent_restarted(before: Sample, after: Sample) -> bool:
    """True when sysUpTime did not advance with the wall clock: the agent restarted.

    Going backwards is the plain case; after a reboot that happened early in a
    long interval uptime may already exceed the old value, so compare the
    advance with the time that really passed (half of it, less 2 s of slack).
    """
    if before.uptime_ticks is None or after.uptime_ticks is None:
        return False
    advanced = (after.uptime_ticks - before.uptime_ticks) / 100.0
    return advanced < 0 or advanced < (after.at - before.at) * 0.5 - 2.0


def counter_delta(before: int, after: int, bits: int, elapsed: float,
                  speed_mbps: float | None) -> int | None:
    """Octets between two readings, or None when no honest figure exists.

    A 64-bit counter going backwards is a reset (wrapping one takes decades even at
    100 Gbit/s). A 32-bit one wraps every 34 s at 1 Gbit/s, so a backwards step
    counts as one wrap only if the speed is known, one wrap fits the interval,
    and the resulting rate is possible on that link.
    """
    if after >= before:
        return after - before
    if bits != 32 or not speed_mbps or elapsed <= 0:
        return None
    wrap_seconds = 2**32 * 8 / (speed_mbps * 1e6)
    delta = after + 2**32 - before
    if elapsed >= wrap_seconds or delta * 8 / elapsed > speed_mbps * 1e6 * 1.05:
        return None
    return delta


def rates(before: Sample, after: Sample) -> tuple[float | None, float | None, str]:
    """rx/tx bits per second between two samples, and why they are missing when they are."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return None, None, "no_interval"
    if agent_restarted(before, after):
        return None, None, "agent_restarted"
    if before.discontinuity != after.discontinuity or before.bits != after.bits:
        return None, None, "counter_discontinuity"
    if before.in_octets is None or after.in_octets is None or \
            before.out_octets is None or after.out_octets is None:
        return None, None, "no_counters"
    speed = after.trusted_mbps
    out: list[float | None] = []
    for old, new in ((before.in_octets, after.in_octets), (before.out_octets, after.out_octets)):
        delta = counter_delta(old, new, after.bits, elapsed, speed)
        rate = None if delta is None else delta * 8 / elapsed
        # Faster than the wire allows: a counter was cleared and refilled, not traffic.
        if rate is not None and speed and rate > speed * 1e6 * 1.05:
            rate = None
        out.append(None if rate is None else round(rate, 1))
    return out[0], out[1], "" if None not in out else "counter_reset"


def flapping(before: Sample, after: Sample) -> bool:
    """A speed that changed although the link never went down: a known firmware trap."""
    old, new = before.reported_mbps, after.reported_mbps
    if old is None or new is None or agent_restarted(before, after):
        return False
    changed = abs(old - new) > max(1.0, new * _SPEED_TOLERANCE)
    return changed and before.last_change is not None and before.last_change == after.last_change

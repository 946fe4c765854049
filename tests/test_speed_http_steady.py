"""When the built-in http tester may stop, from window byte counts alone (no network)."""

from __future__ import annotations

from agent.probes.wan_throughput.http import HttpTester

WINDOW = 0.25


def marks(*mbit: float) -> list[tuple[float, int]]:
    """Sampler marks for consecutive windows at these rates (Mbit/s)."""
    out = [(0.0, 0)]
    for rate in mbit:
        t, b = out[-1]
        out.append((t + WINDOW, b + int(rate * 1e6 / 8 * WINDOW)))
    return out


def new_tester() -> HttpTester:
    # Constructing one parses the URL only; nothing connects.
    return HttpTester("http://192.0.2.1:8080/", 4, window=WINDOW, stable_windows=4,
                      tolerance=0.03)


def test_flat_link_stops_once_earlier_windows_confirm_the_rate() -> None:
    t = new_tester()
    # Window 0 (the burst into empty buffers) never counts, then four that
    # agree: nothing yet says they are not a dip.
    assert t._steady(marks(150, 95, 95, 95, 95)) is None
    m = marks(150, 95, 95, 95, 95, 95)
    start = t._steady(m)
    assert start == 1
    assert abs(t._rate(m[start:]) / 95e6 - 1) < 0.001


def test_even_dip_after_loss_is_not_taken_for_the_rate() -> None:
    # Four windows 4% low agree within 3% of each other: the old rule stopped
    # here and reported the dip.
    t = new_tester()
    assert t._steady(marks(150, 95, 95, 95, 91.2, 91, 91.5, 91.3)) is None
    # Once the dip is over and the rate since slow start is steady, it stops
    # and the figure averages over the dip instead of being it.
    m = marks(150, 95, 95, 95, 91.2, 91, 91.5, 91.3, 95, 95, 95, 95, 95)
    start = t._steady(m)
    assert start == 1
    rate = t._rate(m[start:])
    assert 91.3e6 < rate < 95e6


def test_slow_start_windows_are_left_out() -> None:
    t = new_tester()
    m = marks(20, 40, 80, 95, 95, 95, 95, 95)
    start = t._steady(m)
    assert start == 3  # window 3 (marks 3-4) first reached 95
    assert abs(t._rate(m[start:]) / 95e6 - 1) < 0.001


def test_windows_that_disagree_never_stop() -> None:
    t = new_tester()
    assert t._steady(marks(150, 95, 95, 95, 99, 91, 95)) is None
    assert t._steady(marks(0, 0, 0, 0, 0, 0)) is None

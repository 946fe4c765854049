"""Keeps the two test tiers honest.

``pytest -m "not integration"`` is the fast tier: pure logic, no root, no
services, no child processes, seconds for the lot. Anything that starts a
process (a service, ``ip netns``, ``tc``, the CLI in a subprocess, a
namespace's helper) belongs to the integration tier and must say so with
``@pytest.mark.integration`` (or ``pytestmark`` for a whole file).

The guard works from the interpreter's audit events rather than by patching
``subprocess``, so it also sees processes that libraries start (asyncio,
multiprocessing, os.system). A spawn is refused with an error that names
the fix, and also recorded, because code under test may catch the error and
turn it into a reading: the recorded spawn fails the test at teardown anyway.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Session fixtures that start a real service (tests/conftest.py).
SERVICE_FIXTURES = frozenset({"broker", "ejabberd", "influxd", "victoria", "database"})

# Audit events raised when a child process is about to start.
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec",
                           "os.spawn", "os.fork", "os.forkpty", "pty.spawn"})

# An unmarked test slower than this is listed at the end of the run: not an
# error (the machines' speed varies 4x), but a sign it belongs to the other tier.
SLOW_SECONDS = 2.0

_HINT = ("mark the test @pytest.mark.integration (or the whole file with "
         "pytestmark = pytest.mark.integration); see README.md, Tests")


class UnmarkedIntegrationTest(Exception):
    """A test outside the integration tier tried to start a process."""


class _Guard:
    def __init__(self) -> None:
        self.test: str | None = None  # set while an unmarked test runs
        self.spawned: list[str] = []

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self.test is None or event not in _SPAWN_EVENTS:
            return
        what = f"{event} {_describe(args)}"
        self.spawned.append(what)
        raise UnmarkedIntegrationTest(f"{self.test} started a process ({what}): {_HINT}")


def _describe(args: tuple[Any, ...]) -> str:
    cmd = args[1] if len(args) > 1 else args[0] if args else ""
    if isinstance(cmd, (list, tuple)):
        cmd = " ".join(str(part) for part in cmd)
    return repr(str(cmd)[:120])


_guard = _Guard()
_slow: list[tuple[float, str]] = []


def is_integration(item: pytest.Item) -> bool:
    return item.get_closest_marker("integration") is not None


def pytest_configure(config: pytest.Config) -> None:
    # The marker itself is declared in pyproject.toml (--strict-markers).
    # An audit hook cannot be removed; it stays inert outside unmarked tests.
    sys.addaudithook(_guard.audit)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if is_integration(item):
        return
    services = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if services:
        pytest.fail(f"{item.nodeid} uses the service fixture(s) {', '.join(services)}: {_HINT}",
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    unmarked = not is_integration(item)
    _guard.test = item.nodeid if unmarked else None
    _guard.spawned.clear()
    start = time.monotonic()
    try:
        yield
    finally:
        _guard.test = None
    took = time.monotonic() - start
    if unmarked and took > SLOW_SECONDS:
        _slow.append((took, item.nodeid))


@pytest.fixture(autouse=True)
def _no_processes_outside_integration(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _guard.test is not None and _guard.spawned:
        spawned = "; ".join(_guard.spawned[:3])
        _guard.spawned.clear()
        pytest.fail(f"{request.node.nodeid} started a process ({spawned}): {_HINT}",
                    pytrace=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _slow:
        return
    terminalreporter.section("slow tests outside the integration tier")
    for took, nodeid in sorted(_slow, reverse=True):
        terminalreporter.write_line(f"{took:6.1f} s  {nodeid}")

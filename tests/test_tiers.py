"""The fast-tier guard: an unmarked test cannot start a process or a service."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests import tiers

REPO = Path(__file__).resolve().parents[1]


def test_an_unmarked_test_cannot_start_a_process() -> None:
    try:
        with pytest.raises(tiers.UnmarkedIntegrationTest, match=r"pytest\.mark\.integration"):
            subprocess.run(["true"], check=False)
        assert tiers._guard.spawned and "true" in tiers._guard.spawned[0]
    finally:
        tiers._guard.spawned.clear()  # this test's own refused spawn is expected


INNER = '''
import asyncio
import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def broker():
    return "a service"


def test_spawns():
    subprocess.run(["true"])


def test_swallows_the_refusal():
    try:
        os.system("true")
    except Exception:
        pass  # as a probe turning errors into readings would


def test_spawns_from_asyncio():
    async def main():
        proc = await asyncio.create_subprocess_exec("true")
        await proc.wait()
    asyncio.run(main())


def test_uses_a_service(broker):
    pass


def test_pure():
    assert 1 + 1 == 2


@pytest.mark.integration
def test_marked_spawns(broker):
    subprocess.run(["true"], check=True)
'''


@pytest.mark.integration
def test_guard_in_a_real_session(pytester: pytest.Pytester,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest('pytest_plugins = ["tests.tiers"]\n')
    pytester.makeini(textwrap.dedent("""
        [pytest]
        addopts = --strict-markers
        markers = integration: needs a process
    """))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-q", "-rfE")
    out = result.stdout.str()
    refused = {"test_spawns", "test_swallows_the_refusal", "test_spawns_from_asyncio",
               "test_uses_a_service"}
    failing = {line.split("::")[1].split()[0] for line in result.outlines
               if line.startswith(("FAILED test_inner.py::", "ERROR test_inner.py::"))}
    assert failing == refused, out  # test_pure and test_marked_spawns pass
    for name in refused:
        assert any(f"test_inner.py::{name} " in line and "pytest.mark.integration" in line
                   for line in result.outlines), (name, out)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Only the marked test reached a real process; deselecting it is the fast tier.
    fast = pytester.runpytest_subprocess("-q", "-m", "not integration", "-k", "pure")
    assert fast.parseoutcomes() == {"passed": 1, "deselected": 5}

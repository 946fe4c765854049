"""Every reading the agent's own code builds, in any test, must fit the measurement schema.

The probes' pure tests and recorded fixtures run every way a probe builds a
reading; this plugin watches each ``Reading`` made by code under
``agent/probes/``, ``agent/runtime.py`` or ``agent/scheduler.py`` and fails
the test that made one the schema does not declare. A probe that adds a field
without a schema entry therefore fails CI in whichever test exercises it, not
at a collector in the field (where the reading would be refused).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.measurements import COLLECTOR_MEASUREMENTS, SCHEMA
from agent.contract.reading import Reading
from agent.contract.schema import check_reading
from agent.contract.wire import WireError

_AGENT = Path(__file__).resolve().parent.parent / "agent"
_WATCHED = (str(_AGENT / "probes"), str(_AGENT / "runtime.py"), str(_AGENT / "scheduler.py"))


class Recorder:
    def __init__(self) -> None:
        self.made: list[tuple[str, Reading]] = []  # (where, reading)
        self.seen: set[str] = set()  # measurements made by watched code this session

    def problems(self) -> list[str]:
        out = []
        for where, reading in self.made:
            try:
                check_reading(SCHEMA, COLLECTOR_MEASUREMENTS, reading)
            except WireError as err:
                out.append(f"{where} made a {reading.measurement} reading outside the "
                           f"measurement schema: {err} (declare it in "
                           "agent/contract/measurements.py)")
        return out


recorder = Recorder()
_init = Reading.__init__


def _watching_init(self: Reading, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    code = sys._getframe(1).f_code
    if code.co_filename.startswith(_WATCHED):
        recorder.made.append((f"{Path(code.co_filename).name}:{code.co_name}", self))
        recorder.seen.add(self.measurement)


Reading.__init__ = _watching_init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _readings_fit_the_schema() -> Iterator[None]:
    recorder.made.clear()
    yield
    problems = recorder.problems()
    recorder.made.clear()
    if problems:
        pytest.fail("\n".join(problems[:5]), pytrace=False)

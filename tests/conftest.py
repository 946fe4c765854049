"""Shared fixtures: real Mosquitto, ejabberd, influxd and VictoriaMetrics, one per session;
a local webhook endpoint per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.services import Ejabberd, Influxd, Mosquitto, VictoriaMetrics
from tests.support import webhook_server

# The tier guard: unmarked tests may not start processes or services;
# pytester runs a session of its own to test that guard. The schema guard:
# every reading a probe builds fits the measurement schema.
pytest_plugins = ["tests.tiers", "tests.schema_guard", "pytester"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")).running() as service:
        yield service


@pytest.fixture(scope="session")
def ejabberd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ejabberd]:
    """ejabberd's mod_mqtt, started only by the tests that ask for it."""
    with Ejabberd(tmp_path_factory.mktemp("ejabberd")).running() as service:
        yield service


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with Influxd(tmp_path_factory.mktemp("influxd")).running() as service:
        yield service


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    with VictoriaMetrics(tmp_path_factory.mktemp("victoria")).running() as service:
        yield service


@pytest.fixture
def database(influxd: Influxd) -> str:
    """A fresh InfluxDB database for one test."""
    name = f"test{next(_names)}"
    influxd.create_db(name)
    return name


@pytest.fixture
def unique() -> str:
    """A short token that keeps one test's topics and client ids apart from another's."""
    return f"t{next(_names)}"



@pytest.fixture
def webhook() -> Iterator[int]:
    """The port of a local webhook endpoint; what it was sent is in tests.support.Hook.bodies."""
    with webhook_server() as port:
        yield port

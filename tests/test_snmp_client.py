"""agent.snmp.client against a real net-snmp snmpd on a loopback port (v2c and v3 authPriv)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.snmp.client import GetResult, SnmpClient, Target, WalkResult, text
from tests.snmp_support import V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, Snmpd, running_snmpd

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_COLUMNS = {"name": "1.3.6.1.2.1.31.1.1.1.1", "oper": "1.3.6.1.2.1.2.2.1.8",
              "high_speed": "1.3.6.1.2.1.31.1.1.1.15", "in_hc": "1.3.6.1.2.1.31.1.1.1.6"}


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    # ifHighSpeed.1 is overridden so the test knows one value the agent must return.
    extra = "override .1.3.6.1.2.1.31.1.1.1.15.1 uinteger 100"
    with running_snmpd(Path(tmp_path_factory.mktemp("snmpd")), extra) as agent:
        yield agent


def v2c(agent: Snmpd, **kw: object) -> Target:
    return Target("127.0.0.1", agent.port, **kw)  # type: ignore[arg-type]


def v3(agent: Snmpd, **kw: object) -> Target:
    base: dict[str, object] = {"version": "3", "user": V3_USER, "auth_key": V3_AUTH_KEY,
                               "priv_key": V3_PRIV_KEY}
    base.update(kw)
    return Target("127.0.0.1", agent.port, **base)  # type: ignore[arg-type]


def get(target: Target, oids: list[str]) -> GetResult:
    async def main() -> GetResult:
        async with SnmpClient() as client:
            return await client.get(target, oids)
    return asyncio.run(main())


def walk(target: Target, columns: dict[str, str], deadline: float | None = None) -> WalkResult:
    async def main() -> WalkResult:
        async with SnmpClient() as client:
            return await client.walk(target, columns, deadline=deadline)
    return asyncio.run(main())


@pytest.mark.integration
@pytest.mark.parametrize("make", [v2c, v3], ids=["v2c", "v3-authpriv"])
def test_get_and_walk_read_the_real_agent(snmpd: Snmpd, make: object) -> None:
    target = make(snmpd)  # type: ignore[operator]
    got = get(target, [SYS_UPTIME, "1.3.6.1.2.1.1.99.0"])
    assert got.result == "ok", got.detail
    assert isinstance(got.values[SYS_UPTIME], int)
    assert got.missing == ["1.3.6.1.2.1.1.99.0"]
    table = walk(target, IF_COLUMNS)
    assert table.result == "ok", table.detail
    assert text(table.rows[(1,)]["name"]) == "lo"
    assert table.rows[(1,)]["high_speed"] == 100
    assert table.rows[(1,)]["oper"] == 1
    assert all(isinstance(row["in_hc"], int) for row in table.rows.values())


@pytest.mark.integration
def test_small_bulk_size_walks_in_many_requests(snmpd: Snmpd) -> None:
    table = walk(v2c(snmpd, max_repetitions=1), IF_COLUMNS)
    full = walk(v2c(snmpd), IF_COLUMNS)
    assert table.result == "ok"
    assert table.requests > full.requests >= 1
    assert set(table.rows) == set(full.rows)


@pytest.mark.integration
def test_missing_columns_are_named(snmpd: Snmpd) -> None:
    table = walk(v2c(snmpd), {**IF_COLUMNS, "nothing": "1.3.6.1.4.1.99999.1.1"})
    assert table.result == "ok"
    assert table.missing == ["nothing"]
    none = walk(v2c(snmpd), {"nothing": "1.3.6.1.4.1.99999.1.1"})
    assert none.result == "unavailable"


@pytest.mark.integration
def test_wrong_community_is_a_timeout(snmpd: Snmpd) -> None:
    # Agents drop v2c requests with an unknown community without a word.
    got = get(v2c(snmpd, community="wrong", timeout=0.3, retries=0), [SYS_UPTIME])
    assert got.result == "timeout"


@pytest.mark.integration
@pytest.mark.parametrize("kw", [{"auth_key": "not-the-key-1"}, {"user": "nobody"},
                                {"priv_key": "not-the-key-2"}],
                         ids=["wrong-auth-key", "unknown-user", "wrong-priv-key"])
def test_v3_credentials_refused_are_auth_failed(snmpd: Snmpd, kw: dict[str, str]) -> None:
    target = v3(snmpd, timeout=0.5, retries=0, **kw)
    got = get(target, [SYS_UPTIME])
    # A wrong privacy key decrypts to garbage the agent cannot parse: it says
    # nothing, so only a timeout is observable there.
    expected = {"timeout", "auth_failed"} if "priv_key" in kw else {"auth_failed"}
    assert got.result in expected, got.detail
    assert walk(target, IF_COLUMNS).result in expected


def test_unresolvable_host_is_unreachable() -> None:
    got = get(Target("no-such-switch.invalid", 161, timeout=0.3, retries=0), [SYS_UPTIME])
    assert got.result == "unreachable"


@pytest.mark.integration
def test_hung_agent_times_out_and_deadline_bounds_the_walk(snmpd: Snmpd) -> None:
    snmpd.pause()
    try:
        got = get(v2c(snmpd, timeout=0.2, retries=1), [SYS_UPTIME])
        assert got.result == "timeout"
        assert 0.3 < got.elapsed_seconds < 2.0
        table = walk(v2c(snmpd, timeout=5, retries=0), IF_COLUMNS, deadline=0.5)
        assert table.result == "timeout"
        assert table.elapsed_seconds < 1.5
    finally:
        snmpd.resume()
    assert get(v2c(snmpd), [SYS_UPTIME]).result == "ok"


@pytest.mark.integration
def test_one_client_keeps_v3_keys_of_the_same_user_apart(snmpd: Snmpd) -> None:
    """Targets share pysnmp engines by credentials; a wrong key must not poison a right one."""
    async def main() -> list[str]:
        async with SnmpClient() as client:
            results = []
            for target in (v3(snmpd, auth_key="not-the-key-1", timeout=0.5, retries=0),
                           v3(snmpd), v2c(snmpd),
                           v3(snmpd, auth_key="not-the-key-1", timeout=0.5, retries=0)):
                results.append((await client.get(target, [SYS_UPTIME])).result)
            return results
    assert asyncio.run(main()) == ["auth_failed", "ok", "ok", "auth_failed"]


@pytest.mark.integration
def test_ipv6_switch_address(tmp_path: Path) -> None:
    with running_snmpd(tmp_path, address="::1") as agent:
        target = Target("::1", agent.port)
        assert get(target, [SYS_UPTIME]).result == "ok"
        assert text(walk(target, IF_COLUMNS).rows[(1,)]["name"]) == "lo"

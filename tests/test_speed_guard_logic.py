"""The speed server's limits as logic: tokens, budgets, deadlines, eviction, its config."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from agent.contract.errors import ConfigErrors
from collector.speedserver import config
from collector.speedserver.guard import Budget, Tokens, Tracker

SECRET = "a-long-secret-token-0123456789"


def test_tokens_name_the_client_and_nothing_else() -> None:
    tokens = Tokens({"s1": SECRET, "shared": "another-secret-token-98765"})
    assert tokens.client(f"Bearer {SECRET}") == "s1"
    assert tokens.client(f"bearer   {SECRET} ") == "s1"
    assert tokens.client(None) == "" and tokens.client("") == ""
    assert tokens.client("Bearer wrong-token-0000000000000") is None
    assert tokens.client(f"Basic {SECRET}") is None
    assert tokens.client("Bearer ") is None


def test_budget_reserves_refunds_and_has_overrides() -> None:
    budget = Budget(100, {"shared": 1000})
    assert budget.reserve("s1", 60) is None
    assert budget.reserve("s1", 60) == 40  # would pass the limit: refused, 40 left
    budget.refund("s1", 50)  # the first request moved only 10
    assert budget.used("s1") == 10
    assert budget.reserve("s1", 90) is None
    assert budget.reserve("s1", 1) == 0
    assert budget.reserve("shared", 900) is None  # its own, larger limit
    assert budget.used("s2") == 0


class FakeSock:
    def __init__(self) -> None:
        self.shut = False

    def shutdown(self, how: int) -> None:
        assert how == socket.SHUT_RDWR
        self.shut = True


def tracker(max_connections: int = 10) -> Tracker:
    return Tracker(max_connections, max_transfers=2, per_client=1, header_seconds=10,
                   min_rate=1000, grace=5)


def test_deadlines_are_absolute() -> None:
    t = tracker()
    slow_head, slow_body, brisk = FakeSock(), FakeSock(), FakeSock()
    heads = t.admit(slow_head, "10.0.0.1")  # type: ignore[arg-type]
    body = t.admit(slow_body, "10.0.0.2")  # type: ignore[arg-type]
    fast = t.admit(brisk, "10.0.0.3")  # type: ignore[arg-type]
    assert heads and body and fast
    t.body(body)
    t.body(fast)
    start = body.since
    body.moved = 10      # a trickle
    fast.moved = 10**9   # a real transfer
    heads.moved = 10**6  # bytes in the header phase buy no time
    t.reap(start + 5)  # within the grace, before the header deadline
    assert not any(s.shut for s in (slow_head, slow_body, brisk))
    t.reap(start + 10.5)
    assert slow_head.shut and heads.killed == "header_deadline"
    assert slow_body.shut and body.killed == "too_slow"
    assert not brisk.shut
    assert t.stats == {"header_deadline": 1, "too_slow": 1}


def test_a_full_house_evicts_the_crowded_address_first() -> None:
    t = tracker(max_connections=4)
    crowd = [FakeSock() for _ in range(3)]
    for sock in crowd:
        assert t.admit(sock, "10.9.9.9")  # type: ignore[arg-type]
    school = FakeSock()
    assert t.admit(school, "10.1.1.1")  # type: ignore[arg-type]
    newcomer = FakeSock()
    assert t.admit(newcomer, "10.1.1.1")  # type: ignore[arg-type]
    # The crowd's oldest went, not the school's waiting connection.
    assert crowd[0].shut and not school.shut and t.open_connections() == 4


def test_a_full_house_of_transfers_refuses_newcomers() -> None:
    t = tracker(max_connections=2)
    socks = [FakeSock(), FakeSock()]
    for sock in socks:
        conn = t.admit(sock, "10.0.0.1")  # type: ignore[arg-type]
        assert conn
        t.body(conn)
    assert t.admit(FakeSock(), "10.0.0.2") is None  # type: ignore[arg-type]
    assert t.stats["refused_full"] == 1 and not any(s.shut for s in socks)


def test_transfer_slots_per_client_and_in_total() -> None:
    t = tracker()
    assert t.start_transfer("s1") == ""
    assert "1 transfers at once" in t.start_transfer("s1")
    assert t.start_transfer("s2") == ""
    assert "limit of 2 transfers" in t.start_transfer("s3")
    t.end_transfer("s1")
    assert t.start_transfer("s3") == ""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "speed-server.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_names_every_problem_without_echoing_secrets(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, f'[server]\nport = 8081\n[tokens]\ns1 = "{SECRET}"\n'
                                      f'[budgets]\ns1 = 20000\n'))
    assert cfg.server.port == 8081 and cfg.tokens == {"s1": SECRET}
    assert cfg.budgets == {"s1": 20000} and cfg.server.daily_budget_mb == 5000
    with pytest.raises(ConfigErrors) as err:
        config.load(write(tmp_path, '[server]\n[tokens]\ns1 = "short-secret"\n'
                                    f's2 = "{SECRET}"\ns3 = "{SECRET}"\n"s 4" = "{SECRET}x"\n'
                                    '[budgets]\nnobody = 5\n'))
    text = "\n".join(str(e) for e in err.value.errors)
    assert ":3: key 'tokens.s1': must be 16-200 characters" in text
    assert ":5: key 'tokens.s3': is the same token as 's2'" in text
    assert "key 'tokens.s 4': names must be letters" in text
    assert ":8: key 'budgets.nobody': names no client in [tokens]" in text
    assert "short-secret" not in text and SECRET not in text
    with pytest.raises(ConfigErrors, match=r":2: key 'server.header_secs': unknown key "
                                           r"\(did you mean 'header_seconds'\?\)"):
        config.load(write(tmp_path, f'[server]\nheader_secs = 5\n[tokens]\ns1 = "{SECRET}"\n'))
    with pytest.raises(ConfigErrors, match="lists no token"):
        config.load(write(tmp_path, "[server]\n"))


def test_the_example_config_loads_once_its_placeholder_is_replaced(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[1] / "configs" / "speed-server.example.toml")
    with pytest.raises(ConfigErrors, match=r"key 'tokens.370102-0001': is the example's "
                                           r"placeholder"):
        config.load(example)
    text = example.read_text(encoding="utf-8")
    cfg = config.load(write(tmp_path, re.sub(r'"replace-with[^"]*"', f'"{SECRET}"', text)))
    assert cfg.tokens == {"370102-0001": SECRET} and cfg.server.max_transfers == 64

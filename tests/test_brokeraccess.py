"""The broker accounts and ACLs broker-access generates, as text (no broker here;
tests/test_broker_identity.py runs them in Mosquitto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.brokeraccess import (
    AccessError,
    collector_acl_text,
    read_registry,
    school_acl_text,
    write_accounts,
)
from tests.deploy_support import write_registry

A, C = "370102-0001", "110101-0003"


def test_school_acl_gives_operators_read_only_and_no_collector_rights(tmp_path: Path) -> None:
    schools = read_registry(write_registry(tmp_path / "schools.csv", [A, C]))
    text = school_acl_text(schools, ["grafana", "alerts"])
    blocks = {b.split("\n")[0]: b.split("\n")[1:] for b in text.split("user ")[1:]}
    assert set(blocks) == {"grafana", "alerts", A, C}  # the collector has no account here
    for name in ("grafana", "alerts"):
        rules = [r for r in blocks[name] if r.startswith("topic")]
        assert rules and all(r.startswith("topic read ") for r in rules)
    assert [r for r in blocks[A] if r.startswith("topic")] == [
        f"topic write schoolnet/v1/37/3701/370102/{A}/#",
        f"topic read schoolnet/receipts/v1/37/3701/370102/{A}"]
    collector = collector_acl_text("collector")
    assert collector.count("user ") == 1 and "user collector" in collector


@pytest.mark.parametrize("collector_user, operators, clash", [
    (A, ["operator"], A),                # a school id equal to the collector's name
    ("collector", [C], C),               # ... or to an operator's
    ("collector", ["collector"], "must differ"),
    ("collector", ["ops#1"], "bad account name"),
])
def test_a_name_shared_by_two_accounts_is_refused(tmp_path: Path, collector_user: str,
                                                  operators: list[str], clash: str) -> None:
    # The school listeners make the username the session's client id: two accounts
    # with one name would share, and take over, one session.
    schools = read_registry(write_registry(tmp_path / "schools.csv", [A, C]))
    out = tmp_path / "out"
    with pytest.raises(AccessError, match=clash.replace("#", r"\#")):
        write_accounts(schools, out, collector_user, operators=operators)
    assert not out.exists()  # refused before anything was written

"""Every malformed registry line is a file:line error, all of them at once;
a reload that breaks the file or drops too many schools keeps the last good one."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from agent.contract.errors import ConfigError, ConfigErrors
from collector.judge.registry import COLUMNS, Registry, load

HEADER = ",".join(COLUMNS) + "\n"
ROW = "{sid},学校,37,山东省,3701,济南市,370102,历下区,primary,{classes},{mbps}\n"


def good(sid: str, classes: str = "10", mbps: str = "1000") -> str:
    return ROW.format(sid=sid, classes=classes, mbps=mbps)


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    return [str(e) for e in (err.errors if isinstance(err, ConfigErrors) else [err])]


@pytest.mark.parametrize(("line", "words"), [
    ("s9,学校,37,山东省,3701,济南市,370102,历下区,primary\n", "has 9 columns, expected 11"),
    (good("s9") + "", None),
    (",学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n", "key 'school_id': is required"),
    ("s9,,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n", "key 'name': is required"),
    (good("s9", classes="ten"), "key 'classes': must be a whole number"),
    (good("s9", classes="5000"), "key 'classes': must be between 0 and 1000"),
    (good("s9", mbps="nan"), "key 'contracted_mbps': must be a finite number"),
    (good("s9", mbps="inf"), "key 'contracted_mbps': must be a finite number"),
    (good("s9", mbps="-5"), "key 'contracted_mbps': must be between 0"),
    ("s9,学校\u2028请登录,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n",
     "key 'name': has a line break or other non-printable character"),
    ("s9,学校\t,37,山东\x07省,3701,济南市,370102,历下区,primary,10,1000\n",
     "key 'province_name': has a line break"),
    ("s9,学校,37,山东省,3701,济南市,370102,历下区,college,10,1000\n",
     "key 'school_type': must be one of"),
    ("s/9,学校,37,山东省,3701,济南市,370102,历下区,primary,10,1000\n",
     "key 'school_id': must be ASCII"),
    (good("s1"), "duplicate school s1"),
])
def test_each_bad_line_names_file_line_and_column(tmp_path: Path, line: str,
                                                  words: str | None) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(HEADER + good("s1") + line + good("s3"), encoding="utf-8")
    if words is None:
        assert sorted(load(path)) == ["s1", "s3", "s9"]
        return
    [error] = errors_of(path)
    assert error.startswith(f"{path}:3: "), error
    assert words in error, error


def test_every_bad_line_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(HEADER + good("s1") + "short,row\n" + good("s2", classes="x")
                    + good("s3") + good("s4", mbps="1e999"), encoding="utf-8")
    errors = errors_of(path)
    assert [e.split(": ", 1)[0] for e in errors] == [f"{path}:3", f"{path}:4", f"{path}:6"]


def test_header_only_empty_and_non_utf8_files(tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")
    assert errors_of(path) == [f"{path}:1: lists no schools (only the header)"]
    path.write_text("", encoding="utf-8")
    assert "header must be school_id,name," in errors_of(path)[0]
    path.write_bytes((HEADER + good("s1")).encode("gbk"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:2: is not UTF-8 text; save it as UTF-8"), error


def bump(path: Path, text: str, step: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + step * 10**9))


def test_reload_keeps_the_last_good_registry(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "schools.csv"
    ten = "".join(good(f"s{i}") for i in range(10))
    path.write_text(HEADER + ten, encoding="utf-8")
    registry = Registry(path, check_every=0.0, max_drop_share=0.2)
    caplog.set_level(logging.ERROR, "collector.judge.registry")
    # The row with 9 of 11 columns: logged with its line, ignored.
    bump(path, HEADER + ten + "s10,学校,37,山东省,3701,济南市,370102,历下区,primary\n", 1)
    assert registry.get("s0") is not None and len(registry.schools) == 10
    assert f"{path}:12: has 9 columns" in caplog.text
    bump(path, HEADER + "\n", 2)  # would drop to zero schools
    assert registry.get("s0") is not None and len(registry.schools) == 10
    assert "lists no schools" in caplog.text
    bump(path, HEADER + "".join(good(f"s{i}") for i in range(7)), 3)  # drops 3 of 10
    assert registry.get("s9") is not None
    assert "would drop 3 of them (more than max_drop_share 20%)" in caplog.text
    bump(path, HEADER + "".join(good(f"s{i}") for i in range(8)) + good("s99"), 4)
    assert registry.get("s99") is not None and registry.get("s9") is None  # 2 of 10: fine


def test_a_bug_in_loading_keeps_the_last_good_registry(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(HEADER + good("s1"), encoding="utf-8")
    registry = Registry(path, check_every=0.0)

    def broken(_path: object) -> None:
        raise TypeError("injected")

    monkeypatch.setattr("collector.judge.registry.load", broken)
    bump(path, HEADER + good("s1") + good("s2"), 1)
    assert registry.get("s1") is not None  # the caller (the pipeline) carries on
    assert "registry not reloaded, keeping 1 schools" in caplog.text

"""Find the line a TOML key was written on.

tomllib returns plain dicts without positions, yet an IT engineer editing a
config on a router needs the line number of a bad key. Table headers and
``key =`` lines are enough for configs people write by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_BARE = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_ASSIGN = re.compile(rf"^\s*(?P<key>{_BARE}(?:\s*\.\s*{_BARE})*)\s*=")
_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|([A-Za-z0-9_\-]+))\s*""")


def split_key(dotted: str) -> tuple[str, ...]:
    """Split a dotted TOML key (``a."b.c".d``) into its parts."""
    parts: list[str] = []
    pos = 0
    while pos < len(dotted):
        m = _PART.match(dotted, pos)
        if not m:
            break
        parts.append(m.group(2) if m.group(2) is not None else m.group(3) or m.group(4) or "")
        pos = m.end()
        if pos < len(dotted) and dotted[pos] == ".":
            pos += 1
    return tuple(parts)


def key_line(text: str, path: Sequence[str | int]) -> int | None:
    """Line (1-based) where ``path`` is assigned or its table opens, or None.

    Integer parts (array indexes) are ignored, so for arrays of tables the
    first matching entry is named, which is the best a line-based scan can do.
    """
    want = tuple(p for p in path if isinstance(p, str))
    table: tuple[str, ...] = ()
    best: int | None = None
    best_depth = -1  # a missing key is best named by its innermost table's header
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = split_key(header.group("name"))
            if table == want:
                return number
            if want[: len(table)] == table and len(table) > best_depth:
                best, best_depth = number, len(table)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            full = table + split_key(assign.group("key"))
            # An inline table (``wan_link = { interval = 5 }``) holds deeper keys.
            if full == want or (len(full) < len(want) and want[: len(full)] == full):
                return number
    return best

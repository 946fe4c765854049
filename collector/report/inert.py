"""Text from the registry made inert for each report format.

The registry already refuses names with control characters, but a report is
where such text meets a spreadsheet, a Markdown renderer or a terminal, so
each format neutralises its cells itself:

* every format drops characters that are not printable text: C0/C1
  controls (ANSI escapes start with ESC), format characters such as the
  bidi overrides U+202A-E and U+2066-9 that reorder what a reader sees,
  line and paragraph separators, surrogates and private-use characters;
* CSV: a cell starting with ``= + - @``, tab or CR (or their full-width
  forms) gets a leading single quote, OWASP's rule against formula
  injection, so a spreadsheet shows it as text;
* Markdown: HTML is escaped and inline Markdown punctuation (``|``
  included) backslash-escaped, so a name can neither add a column nor a
  link, nor run a script;
* JSON: the same characters are written as ``\\uXXXX`` escapes, which keeps
  the data exact while a terminal showing it stays untouched.
"""

from __future__ import annotations

import html
import re
import unicodedata

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Starts that make a spreadsheet read a cell as a formula (full-width forms:
# some office suites fold them to ASCII).
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
# In a table cell only inline markup applies: code spans, emphasis, links
# and images ("[" starts both), GFM strikethrough, and "|" which ends the
# cell. "<" and "&" are handled by html.escape (entities must survive).
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def plain(text: str) -> str:
    """``text`` without the characters that are not printable text."""
    if text.isprintable():
        return text
    return "".join(c for c in text if not _unsafe(c))


def csv_cell(value: object) -> object:
    if not isinstance(value, str):
        return value  # numbers are ours, never a formula
    inert = "'" + value if value[:1] in _FORMULA_START else value
    return plain(inert)


def markdown_cell(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", html.escape(plain(text), quote=False))


def html_text(text: str) -> str:
    return html.escape(plain(text))


def json_safe(text: str) -> str:
    """JSON text with every unsafe character as a \\uXXXX escape (same data)."""
    def escape(char: str) -> str:
        code = ord(char)
        if code > 0xFFFF:  # a private-use plane character: as a surrogate pair
            code -= 0x10000
            return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
        return f"\\u{code:04x}"
    # json.dumps already escapes controls inside strings; a raw newline is indentation.
    return "".join(escape(c) if c != "\n" and _unsafe(c) else c for c in text)

"""Silencing findings: per project, per file pattern and per line.

* ``[tool.webkit.check] ignore = [...]`` and ``per-file-ignores`` (see ``config.py``);
* ``# webkit: ignore[S001]`` in Python and ``{# webkit: ignore[S004] #}`` in templates,
  on the line of the finding or alone on the line just above it. ``ignore`` without
  codes silences every rule on that line; several codes are comma-separated.

Other tools' suppressions of the same finding are honoured on the finding's line (see
:data:`OTHER_TOOLS`): ``# noqa: S608`` (ruff's flake8-bandit codes) and ``# nosec`` /
``# nosec B608`` (bandit). A bare ``# noqa`` is not: it would hide every webkit rule.

Comments are found with the languages' own tokenizers (``tokenize`` and Jinja's
lexer), so a ``# webkit:`` inside a string literal is not a directive.
"""

from __future__ import annotations

import fnmatch
import io
import re
import tokenize
from collections.abc import Iterable
from typing import TYPE_CHECKING

from webkit_cli.check.config import CheckConfig
from webkit_cli.check.findings import Finding

if TYPE_CHECKING:
    from jinja2 import Environment

_DIRECTIVE = re.compile(r"webkit:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)", re.I)
_NOSEC = re.compile(r"#\s*nosec\b(?:[\s:]+(?P<codes>B[0-9]{3}(?:[\s,]+B[0-9]{3})*))?", re.I)

#: webkit code -> the codes other tools give the same finding: ruff's flake8-bandit
#: (``S608``) and bandit's (``B608``). Their suppressions silence webkit's finding too.
OTHER_TOOLS: dict[str, tuple[str, ...]] = {
    "S001": ("S105", "B105"),  # hard-coded password string
    "S002": ("S201", "B201"),  # Flask debug=True
    "S003": ("S608", "B608"),  # SQL built from strings
    "S005": ("S704", "B704"),  # Markup() of a non-literal
    "S006": ("S701", "B701"),  # Jinja2 autoescape=False
    "S009": ("S104", "B104"),  # binding to all interfaces
}
_BY_OTHER_CODE = {other: code for code, others in OTHER_TOOLS.items() for other in others}
_BANDIT_MAPPED = frozenset(
    c for c, others in OTHER_TOOLS.items() if any(o[0] == "B" for o in others)
)

#: line -> codes silenced on it (``None``: every code)
LineSuppressions = dict[int, frozenset[str] | None]


def _directive_codes(comment: str) -> tuple[bool, frozenset[str] | None]:
    match = _DIRECTIVE.search(comment)
    if match is None:
        return False, None
    raw = match.group("codes")
    if raw is None:
        return True, None
    return True, frozenset(c.strip().upper() for c in raw.split(",") if c.strip())


def _add(table: LineSuppressions, line: int, codes: frozenset[str] | None) -> None:
    if line in table and (table[line] is None or codes is None):
        table[line] = None
        return
    previous: frozenset[str] = table.get(line) or frozenset()
    table[line] = previous | codes if codes is not None else None


def _foreign_codes(comment: str) -> frozenset[str]:
    """webkit codes silenced by ``# noqa: S608`` / ``# nosec [B608]`` in ``comment``."""
    codes: set[str] = set()
    match = _NOQA.search(comment)
    if match is not None:
        for other in re.split(r"[\s,]+", match.group("codes").upper()):
            if other in _BY_OTHER_CODE:
                codes.add(_BY_OTHER_CODE[other])
    match = _NOSEC.search(comment)
    if match is not None:
        if match.group("codes") is None:
            codes |= _BANDIT_MAPPED  # a bare nosec silences every bandit check on the line
        else:
            for other in re.split(r"[\s,]+", match.group("codes").upper()):
                if other in _BY_OTHER_CODE:
                    codes.add(_BY_OTHER_CODE[other])
    return frozenset(codes)


def _record(table: LineSuppressions, line: int, own_line: bool, comment: str) -> None:
    foreign = _foreign_codes(comment) if not own_line else frozenset()
    if foreign:
        _add(table, line, foreign)  # same line only, as the other tools read them
    found, codes = _directive_codes(comment)
    if not found:
        return
    _add(table, line, codes)
    if own_line:  # a directive alone on its line covers the next line too
        _add(table, line + 1, codes)


def python_suppressions(source: str) -> LineSuppressions:
    """Directives in the comments of a Python source."""
    table: LineSuppressions = {}
    if not any(word in source for word in ("webkit:", "noqa", "nosec")):
        return table  # the common case costs no tokenizing
    lines = source.splitlines()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                own_line = not lines[row - 1][:col].strip()
                _record(table, row, own_line, tok.string)
    except (tokenize.TokenError, SyntaxError):
        pass  # the syntax error itself is reported; keep what was read before it
    return table


def foreign_suppressions(source: str) -> dict[int, frozenset[str]]:
    """line -> webkit codes that other tools' comments on that line silence (see
    :data:`OTHER_TOOLS`); the rules use it where a finding spans several lines."""
    table: dict[int, frozenset[str]] = {}
    if "noqa" not in source and "nosec" not in source:
        return table
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                codes = _foreign_codes(tok.string)
                if codes:
                    table[tok.start[0]] = codes
    except (tokenize.TokenError, SyntaxError):
        pass
    return table


def template_suppressions(env: Environment, source: str, name: str) -> LineSuppressions:
    """Directives in the ``{# ... #}`` comments of a Jinja template."""
    table: LineSuppressions = {}
    if "webkit:" not in source:
        return table
    lines = source.splitlines()
    begin_line = 0
    try:
        for lineno, token, value in env.lexer.tokeniter(source, name):
            if token == "comment_begin":
                begin_line = lineno
            elif token == "comment":
                text = lines[begin_line - 1].strip() if begin_line else ""
                own_line = text.startswith(env.comment_start_string) and text.endswith(
                    env.comment_end_string
                )
                _record(table, begin_line or lineno, own_line, value)
    except Exception:  # noqa: BLE001 - the lexer raises TemplateSyntaxError subclasses
        pass  # T001 reports the syntax error; keep the directives before it
    return table


def path_matches(pattern: str, rel: str) -> bool:
    """fnmatch a POSIX relative path; ``dir/`` or ``dir`` also matches everything below it."""
    pattern = pattern.strip().removeprefix("./")
    if fnmatch.fnmatchcase(rel, pattern):
        return True
    prefix = pattern.rstrip("/")
    return bool(prefix) and not any(ch in prefix for ch in "*?[") and rel.startswith(prefix + "/")


class Suppressor:
    """Decides whether a finding is silenced by the project config or a comment."""

    def __init__(self, config: CheckConfig) -> None:
        self.config = config
        self.lines: dict[str, LineSuppressions] = {}

    def add_file(self, rel: str, table: LineSuppressions) -> None:
        if table:
            self.lines[rel] = table

    def is_suppressed(self, item: Finding) -> bool:
        if item.code in self.config.ignore:
            return True
        if item.file is None:
            return False
        for pattern, codes in self.config.per_file_ignores:
            if item.code in codes and path_matches(pattern, item.file):
                return True
        table = self.lines.get(item.file)
        if table and item.line is not None and item.line in table:
            silenced = table[item.line]
            return silenced is None or item.code in silenced
        return False

    def filter(self, findings: Iterable[Finding]) -> list[Finding]:
        return [item for item in findings if not self.is_suppressed(item)]

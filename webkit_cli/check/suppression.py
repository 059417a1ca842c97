"""Silencing findings: per project, per file pattern and per line.

* ``[tool.webkit.check] ignore = [...]`` and ``per-file-ignores`` (see ``config.py``);
* ``# webkit: ignore[S001]`` in Python and ``{# webkit: ignore[S004] #}`` in templates,
  on the line of the finding or alone on the line just above it. ``ignore`` without
  codes silences every rule on that line; several codes are comma-separated.

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


def _record(table: LineSuppressions, line: int, own_line: bool, comment: str) -> None:
    found, codes = _directive_codes(comment)
    if not found:
        return
    _add(table, line, codes)
    if own_line:  # a directive alone on its line covers the next line too
        _add(table, line + 1, codes)


def python_suppressions(source: str) -> LineSuppressions:
    """Directives in the comments of a Python source."""
    table: LineSuppressions = {}
    if "webkit:" not in source:  # the common case costs no tokenizing
        return table
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

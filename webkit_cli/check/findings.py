"""The finding model shared by every rule and reporter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webkit_cli.check.rules import RULES, Rule, Severity


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place.

    ``file`` is a POSIX path relative to the project root (``None`` when the problem
    has no file); ``line`` and ``column`` are 1-based (``None`` when unknown).
    """

    file: str | None
    line: int | None
    column: int | None
    code: str
    message: str
    hint: str | None = field(default=None, compare=False)

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def fix_hint(self) -> str:
        return self.hint or self.rule.hint

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file or "", self.line or 0, self.column or 0, self.code)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in ``reporters.py``."""
        return {
            "code": self.code,
            "name": self.rule.name,
            "severity": self.severity.label,
            "message": self.message,
            "hint": self.fix_hint,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


def finding(
    code: str,
    file: str | None,
    line: int | None,
    message: str,
    *,
    column: int | None = None,
    hint: str | None = None,
) -> Finding:
    """Build a finding, checking that ``code`` is a registered rule."""
    if code not in RULES:  # pragma: no cover - programming error
        raise KeyError(f"unregistered rule code {code}")
    return Finding(file=file, line=line, column=column, code=code, message=message, hint=hint)


def count_by_severity(findings: Iterable[Finding]) -> Mapping[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for item in findings:
        counts[item.severity] += 1
    return counts

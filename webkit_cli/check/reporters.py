"""Render a :class:`~webkit_cli.check.runner.CheckReport` as text, JSON, GitHub or SARIF.

JSON schema (``--format json``), version 1::

    {
      "version": 1,
      "tool": {"name": "webkit", "version": "<webkit version>"},
      "root": "<absolute project root>",
      "findings": [
        {"code": "S001", "name": "hardcoded-secret-key", "severity": "error" | "warning",
         "message": "...", "hint": "...",
         "file": "src/app/config.py" | null,   # POSIX, relative to root
         "line": 12 | null, "column": 5 | null}   # 1-based
      ],
      "summary": {"errors": 1, "warnings": 0, "total": 1, "files_checked": 14,
                  "fail_level": "error", "failed": true},
      "notes": ["..."]
    }

Findings are sorted by file, line, column and code. Keys are never removed within a
version; new keys may be added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from webkit_cli.check.findings import Finding, count_by_severity
from webkit_cli.check.rules import RULES, Severity

if TYPE_CHECKING:
    from rich.console import Console

    from webkit_cli.check.runner import CheckReport

JSON_SCHEMA_VERSION = 1
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/webkit-cli/"
_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


#: Where the fix line starts: under the message's code column.
_FIX_INDENT = 2 + 9 + 8


def _normalised(text: str) -> str:
    return " ".join(text.lower().replace("`", "").split()).rstrip(".")


def _says_its_fix(message: str, fix: str) -> bool:
    """True when the message already ends with (or holds) its fix: print it once."""
    return not fix or _normalised(fix) in _normalised(message)


#: What a clean run prints (in bold green on a terminal)
ALL_PASSED = "All checks passed"


def render_text(report: CheckReport, console: Console) -> None:
    """Findings grouped by file, sorted by line, coloured by severity; then a summary."""
    from rich.text import Text

    from webkit_cli._console import hanging

    if not report.findings:
        console.print(f"[bold green]{ALL_PASSED}[/]")
        return
    current: str | None = "\0"
    for item in report.findings:
        if item.file != current:
            if current != "\0":
                console.print()
            current = item.file
            console.print(Text(item.file or "(project)", style="bold underline"))
        where = f"{item.line or '-'}" + (f":{item.column}" if item.column else "")
        head = Text("  ")
        head.append(f"{where:<8} ", style="dim")
        head.append(f"{item.severity.label:<8}", style=_STYLES[item.severity])
        head.append(f"{item.code}  ", style="bold")
        console.print(hanging(console, head, Text(item.message)), soft_wrap=True)
        if not _says_its_fix(item.message, item.fix_hint):
            fix = Text.assemble(" " * _FIX_INDENT, ("fix: ", "dim"))
            body = Text(item.fix_hint, style="dim")
            console.print(hanging(console, fix, body), soft_wrap=True)
    counts = count_by_severity(report.findings)
    parts = [_plural(counts[Severity.ERROR], "error"), _plural(counts[Severity.WARNING], "warning")]
    total = _plural(len(report.findings), "problem")
    style = "bold red" if report.failed else "bold yellow"
    console.print()
    files = _plural(report.files_checked, "file")
    console.print(f"[{style}]Found {total}[/] ({', '.join(parts)}) in {files}.")


def to_json(report: CheckReport) -> dict[str, Any]:
    """The documented JSON document (see the module docstring)."""
    from webkit_cli import __version__

    counts = count_by_severity(report.findings)
    return {
        "version": JSON_SCHEMA_VERSION,
        "tool": {"name": "webkit", "version": __version__},
        "root": str(report.root),
        "findings": [item.to_dict() for item in report.findings],
        "summary": {
            "errors": counts[Severity.ERROR],
            "warnings": counts[Severity.WARNING],
            "total": len(report.findings),
            "files_checked": report.files_checked,
            "fail_level": report.fail_level.label,
            "failed": report.failed,
        },
        "notes": list(report.notes),
    }


def render_json(report: CheckReport) -> str:
    return json.dumps(to_json(report), indent=2) + "\n"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command escaping: %, CR and LF in the message...
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # ...and additionally ':' and ',' inside property values.
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: CheckReport) -> str:
    """One ``::error``/``::warning`` workflow command per finding (annotations on the PR)."""
    lines = []
    for item in report.findings:
        props = []
        if item.file:
            props.append(f"file={_escape_property(item.file)}")
            if item.line:
                props.append(f"line={item.line}")
            if item.column:
                props.append(f"col={item.column}")
        props.append(f"title={_escape_property(f'{item.code} {item.rule.name}')}")
        message = f"{item.message} Fix: {item.fix_hint}"
        lines.append(f"::{item.severity.label} {','.join(props)}::{_escape_data(message)}")
    for note in report.notes:
        lines.append(f"::notice title=webkit check::{_escape_data(note)}")
    if not report.findings:
        lines.append("All checks passed")
    return "\n".join(lines) + "\n"


def _sarif_level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def to_sarif(report: CheckReport) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run; every rule is described, results point at files."""
    from webkit_cli import __version__

    rules = list(RULES.values())
    index = {rule.code: i for i, rule in enumerate(rules)}
    results = []
    for item in report.findings:
        result: dict[str, Any] = {
            "ruleId": item.code,
            "ruleIndex": index[item.code],
            "level": _sarif_level(item.severity),
            "message": {"text": f"{item.message} Fix: {item.fix_hint}"},
        }
        # Code scanning needs a location: findings without a file point at pyproject.toml.
        uri = item.file or "pyproject.toml"
        region: dict[str, int] = {"startLine": item.line or 1}
        if item.column:
            region["startColumn"] = item.column
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }
        ]
        results.append(result)
    notifications = [{"level": "note", "message": {"text": note}} for note in report.notes]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "webkit",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            {
                                "id": rule.code,
                                "name": rule.name,
                                "shortDescription": {"text": rule.summary},
                                "fullDescription": {"text": f"{rule.summary} ({rule.area})"},
                                "help": {"text": rule.hint},
                                "defaultConfiguration": {"level": _sarif_level(rule.severity)},
                                "properties": {"tags": [rule.area]},
                            }
                            for rule in rules
                        ],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.as_uri() + "/"}},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render_sarif(report: CheckReport) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"


#: machine formats: name -> renderer returning the whole document
MACHINE_FORMATS: dict[str, Callable[[CheckReport], str]] = {
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}
FORMATS = ("text", *MACHINE_FORMATS)


def render_rules(console: Console) -> None:
    """``--list-rules``: every rule with code, severity, name and description."""
    from rich.markup import escape
    from rich.table import Table

    if not console.is_terminal:
        # A pipe or a file: full lines, aligned, never folded into an 80-column table.
        rows = [
            (r.code, r.severity.label, r.name, "yes" if r.needs_import else "", r.summary)
            for r in RULES.values()
        ]
        header = ("code", "severity", "name", "needs app", "description")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            console.out("  ".join([*cells, row[4]]).rstrip(), highlight=False)
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("code", "severity", "name", "needs app", "description"):
        table.add_column(column, overflow="fold")
    for rule in RULES.values():
        table.add_row(
            rule.code,
            f"[{_STYLES[rule.severity]}]{rule.severity.label}[/]",
            rule.name,
            "yes" if rule.needs_import else "",
            escape(rule.summary),
        )
    console.print(table)


def rules_json() -> str:
    """``--list-rules --format json``: the rule table for tools and documentation."""
    rules = [
        {
            "code": rule.code,
            "name": rule.name,
            "severity": rule.severity.label,
            "area": rule.area,
            "needs_app": rule.needs_import,
            "description": rule.summary,
            "hint": rule.hint,
        }
        for rule in RULES.values()
    ]
    return json.dumps(rules, indent=2) + "\n"


def finding_line(item: Finding) -> str:
    """``file:line:col: CODE message`` (used in error messages and tests)."""
    where = ":".join(str(p) for p in (item.file or "(project)", item.line, item.column) if p)
    return f"{where}: {item.code} {item.message}"

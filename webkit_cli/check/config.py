"""``[tool.webkit.check]``: project-wide selection, ignores and exclusions.

```toml
[tool.webkit.check]
select = ["ALL"]                 # codes, prefixes ("S") or rule names; default ALL
ignore = ["S004"]                # never reported in this project
fail-level = "error"             # "error" (default) or "warning"
exclude = ["migrations/*"]       # extra paths (fnmatch globs, relative to the root) to skip
jinja-extensions = ["jinja2.ext.i18n"]   # for parsing templates when the app is not imported
csrf-token = "nonce"             # the form field the app's own CSRF check reads (S007/S008)

[tool.webkit.check.per-file-ignores]
"tests/*" = ["S001"]
```

Values of the wrong type are reported as P002 findings (the run goes on with the
defaults), so a typo never silently disables the linter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webkit_cli.check.rules import Severity, expand_codes

KNOWN_KEYS = {
    "select",
    "ignore",
    "fail-level",
    "exclude",
    "per-file-ignores",
    "jinja-extensions",
    "csrf-token",
}


@dataclass(frozen=True)
class CheckConfig:
    """The resolved ``[tool.webkit.check]`` table."""

    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    fail_level: Severity | None = None
    exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    jinja_extensions: tuple[str, ...] = ()
    #: the form field an app's own CSRF protection checks, declared when webkit cannot see it
    csrf_token: str | None = None


@dataclass
class ConfigProblems:
    """Messages about bad values, turned into P002 findings by the project rules."""

    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(message)


def _str_list(table: Mapping[str, Any], key: str, problems: ConfigProblems) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(f"[tool.webkit.check] {key} must be a list of strings")
        return []
    return value


def _codes(values: list[str], where: str, problems: ConfigProblems) -> frozenset[str]:
    codes: set[str] = set()
    for value in values:
        try:
            codes |= expand_codes([value])
        except ValueError as exc:
            problems.add(f"{where}: {exc}")
    return frozenset(codes)


def parse_check_config(webkit_table: Mapping[str, Any]) -> tuple[CheckConfig, ConfigProblems]:
    """Read ``[tool.webkit.check]`` out of the ``[tool.webkit]`` table."""
    problems = ConfigProblems()
    table = webkit_table.get("check", {})
    if not isinstance(table, dict):
        problems.add("[tool.webkit.check] must be a table")
        return CheckConfig(), problems
    for key in sorted(set(table) - KNOWN_KEYS):
        problems.add(
            f"[tool.webkit.check] has an unknown key {key!r} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    select = None
    if "select" in table:
        select = _codes(
            _str_list(table, "select", problems), "[tool.webkit.check] select", problems
        )
    ignore = _codes(_str_list(table, "ignore", problems), "[tool.webkit.check] ignore", problems)
    fail_level = None
    if "fail-level" in table:
        raw = table["fail-level"]
        try:
            if not isinstance(raw, str):
                raise ValueError("must be 'error' or 'warning'")
            fail_level = Severity.parse(raw)
        except ValueError as exc:
            problems.add(f"[tool.webkit.check] fail-level: {exc}")
    exclude = tuple(_str_list(table, "exclude", problems))
    extensions = tuple(_str_list(table, "jinja-extensions", problems))
    csrf_token = table.get("csrf-token")
    if csrf_token is not None and (not isinstance(csrf_token, str) or not csrf_token.strip()):
        problems.add('[tool.webkit.check] csrf-token must be a form field name like "nonce"')
        csrf_token = None
    per_file: list[tuple[str, frozenset[str]]] = []
    raw_pfi = table.get("per-file-ignores", {})
    if not isinstance(raw_pfi, dict):
        problems.add("[tool.webkit.check] per-file-ignores must be a table of pattern = [codes]")
    else:
        for pattern, codes in raw_pfi.items():
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                problems.add(f"[tool.webkit.check.per-file-ignores] {pattern!r} must be a list")
                continue
            where = f"[tool.webkit.check.per-file-ignores] {pattern!r}"
            per_file.append((pattern, _codes(codes, where, problems)))
    config = CheckConfig(
        select=select,
        ignore=ignore,
        fail_level=fail_level,
        exclude=exclude,
        per_file_ignores=tuple(per_file),
        jinja_extensions=extensions,
        csrf_token=csrf_token.strip() if csrf_token else None,
    )
    return config, problems

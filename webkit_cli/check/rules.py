"""The rule catalogue: stable codes, severities, descriptions, fix hints, app use.

This module imports nothing of the check package (every other module imports it), so
the catalogue can be read, listed and validated without loading a single rule.

A code never changes meaning once released (users put them in ``ignore`` lists and
``# webkit: ignore[...]`` comments). Codes are a letter for the area and three digits:
``P`` project, ``R`` routes, ``L`` links, ``T`` templates, ``S`` security, ``H`` hygiene,
``D`` database.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """How bad a finding is; ``--fail-level`` compares against this order."""

    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}: use 'error' or 'warning'") from None


class AppUse(enum.Enum):
    """What a rule needs of the imported app (declared here, once, for every rule)."""

    #: static analysis only
    NONE = "none"
    #: run without the app too, but the app's loader and Jinja extensions decide the result
    #: when it is imported (so ``--select`` never changes what such a rule reports)
    READS = "reads"
    #: meaningless without the app: skipped under ``--no-import`` or when the import fails
    NEEDS = "needs"


@dataclass(frozen=True)
class Rule:
    """One rule: what it finds, how bad it is and how to fix it."""

    code: str
    name: str
    severity: Severity
    summary: str
    hint: str
    app: AppUse = AppUse.NONE

    @property
    def area(self) -> str:
        return AREAS[self.code[0]]

    @property
    def needs_import(self) -> bool:
        """Skipped (not guessed) when the app is not imported."""
        return self.app is AppUse.NEEDS

    @property
    def uses_app(self) -> bool:
        """Its result depends on the app when the app can be imported."""
        return self.app is not AppUse.NONE


AREAS = {
    "P": "project",
    "R": "routes",
    "L": "links",
    "T": "templates",
    "S": "security",
    "H": "hygiene",
    "D": "database",
}

E = Severity.ERROR
W = Severity.WARNING
N = AppUse.NEEDS
R = AppUse.READS

_RULES = [
    # Project
    Rule("P001", "invalid-pyproject", E, "pyproject.toml is not valid TOML.",
         "Fix the TOML syntax at the reported line."),
    Rule("P002", "invalid-webkit-config", E,
         "[tool.webkit] or [tool.webkit.check] has a value of the wrong type or an unknown code.",
         "Correct the value as the message says; `webkit check --list-rules` lists the codes."),
    Rule("P003", "app-not-found", E, "The configured Flask app cannot be located.",
         'Set [tool.webkit] app = "package:create_app" (or --app / WEBKIT_APP) to a real app.',
         app=N),
    Rule("P004", "app-import-failed", E,
         "Importing the app or running its factory in a testing configuration raised.",
         "Fix the error at the reported line; `webkit routes` shows the full traceback.",
         app=N),
    Rule("P005", "python-syntax-error", E, "A Python file does not parse.",
         "Fix the syntax error at the reported line."),
    # Routes (the analysis of `webkit routes`)
    Rule("R001", "duplicate-route", E,
         "Two endpoints register the same rule and method; the second is unreachable.",
         "Remove one of the routes or give it a different URL or method.", app=N),
    Rule("R002", "view-signature", E, "A view cannot accept the variables of its URL rule.",
         "Add a parameter for every <variable> of the rule (or **kwargs) to the view.",
         app=N),
    Rule("R003", "missing-argument", E,
         "A view requires an argument that its URL rule never provides.",
         "Give the parameter a default or add the <variable> to the rule.", app=N),
    Rule("R004", "slash-conflict", W,
         "Two rules differ only by a trailing slash; one of them redirects to the other.",
         "Keep one spelling of the URL.", app=N),
    Rule("R005", "missing-view", E, "A URL rule names an endpoint that has no view function.",
         "Register a view for the endpoint or remove the rule.", app=N),
    # Links
    Rule("L001", "unknown-endpoint", E, "url_for() names an endpoint the app does not have.",
         "Use an existing endpoint; `webkit routes` lists them.", app=N),
    Rule("L002", "missing-url-argument", E,
         "url_for() lacks an argument that every rule of the endpoint requires.",
         "Pass the missing rule variable as a keyword argument.", app=N),
    Rule("L003", "missing-static-file", E,
         "url_for('static', filename=...) names a file that does not exist.",
         "Fix the file name or add the file to the static folder.", app=N),
    # Templates
    Rule("T001", "template-syntax-error", E, "A Jinja template does not parse.",
         "Fix the template syntax at the reported line.", app=R),
    Rule("T002", "template-not-found", E,
         "{% extends %}, {% include %} or {% import %} names a template that does not exist.",
         "Fix the name (relative to a templates folder) or create the template.", app=R),
    Rule("T003", "render-template-not-found", E,
         "render_template() names a template that does not exist.",
         "Fix the name (relative to a templates folder) or create the template.", app=R),
    # Security
    Rule("S001", "hardcoded-secret-key", E, "SECRET_KEY is set to a string literal in code.",
         "Read it from the environment, e.g. os.environ['SECRET_KEY'], with no literal fallback."),
    Rule("S002", "debug-enabled", E,
         "Debug mode is forced on in code that also runs outside development.",
         "Drop debug=True / DEBUG = True; use `webkit run` or FLASK_DEBUG=1 in development."),
    Rule("S003", "sql-string-formatting", E,
         "SQL built with string formatting is passed to execute() or text().",
         "Use bound parameters: execute('... WHERE id = ?', (value,)) or text(':id'); "
         "a table name: identifier_preparer.quote(name)."),
    Rule("S004", "safe-filter", W, "The |safe filter is applied to a non-literal value.",
         "Let autoescaping work, or sanitise the value and mark it safe in Python."),
    Rule("S005", "markup-non-literal", W, "Markup() wraps a value that is not a literal.",
         "Use Markup(...).format(...) or markupsafe.escape() so the value is escaped."),
    Rule("S006", "autoescape-disabled", W, "Autoescaping is turned off.",
         "Remove {% autoescape false %} / autoescape=False; escape per value instead."),
    Rule("S007", "form-missing-csrf", E,
         "A POST form has no CSRF token although the project uses Flask-WTF CSRF protection.",
         "Add {{ form.hidden_tag() }} or <input type=hidden name=csrf_token "
         "value=\"{{ csrf_token() }}\"> inside the form."),
    Rule("S008", "no-csrf-protection", W,
         "A POST form exists but the project has no CSRF protection.",
         "Initialise flask_wtf.csrf.CSRFProtect(app) and add {{ csrf_token() }} to forms."),
    Rule("S009", "bind-all-interfaces", E,
         "app.run(host='0.0.0.0') exposes the development server to the network.",
         "Remove the host argument; serve production traffic with gunicorn."),
    Rule("S010", "env-file-committed", E, "A .env file with local secrets is committed to git.",
         "git rm --cached the file, add it to .gitignore, rotate its secrets; "
         "commit a .env.example without values instead."),
    # Hygiene
    Rule("H001", "conflict-marker", E, "A merge-conflict marker was left in a file.",
         "Resolve the conflict and delete the <<<<<<< / ======= / >>>>>>> lines."),
    Rule("H002", "leftover-patch-file", W, "A .rej/.orig (or merge tool backup) file was left.",
         "Delete the file once the patch or merge is resolved."),
    # Database
    Rule("D001", "missing-migration", E,
         "The models differ from the schema their migrations build (what `alembic check` finds).",
         'Run flask db migrate -m "describe the change", review the new script, '
         "then flask db upgrade.", app=N),
]  # fmt: skip

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}


def expand_codes(selectors: Iterable[str]) -> set[str]:
    """Turn codes, prefixes (``S``, ``S00``), names or ``ALL`` into rule codes.

    Raises ``ValueError`` naming the first selector that matches no rule.
    """
    by_name = {rule.name: rule.code for rule in RULES.values()}
    codes: set[str] = set()
    for raw in selectors:
        selector = raw.strip()
        if not selector:
            continue
        if selector.upper() == "ALL":
            codes.update(RULES)
            continue
        if selector in by_name:
            codes.add(by_name[selector])
            continue
        matched = {code for code in RULES if code.startswith(selector.upper())}
        if not matched:
            raise ValueError(f"unknown rule code {selector!r}")
        codes |= matched
    return codes


def split_codes(values: Iterable[str]) -> list[str]:
    """``("S001,S002", "T")`` -> ``["S001", "S002", "T"]`` (option values may be comma lists)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]

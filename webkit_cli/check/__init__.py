"""``webkit check``: a CI linter for Flask projects.

* :mod:`~webkit_cli.check.rules` — the catalogue (stable codes, severities, hints, app use);
* :mod:`~webkit_cli.check.registry` — :class:`CheckRegistry`, where the checks register;
* :mod:`~webkit_cli.check.context` — the project's files, parsed once, and the app;
* ``project``, ``routes``, ``links``, ``templates``, ``security_python``,
  ``security_templates``, ``csrf``, ``hygiene`` — the checks;
* :mod:`~webkit_cli.check.suppression` and :mod:`~webkit_cli.check.config` — silencing;
* :mod:`~webkit_cli.check.reporters` — text, json, github and sarif output;
* :mod:`~webkit_cli.check.runner` — :func:`run_check`, the API under the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webkit_cli.check.findings import Finding
    from webkit_cli.check.rules import RULES, Rule, Severity
    from webkit_cli.check.runner import CheckReport, run_check

__all__ = ["RULES", "CheckReport", "Finding", "Rule", "Severity", "run_check"]

_HOMES = {
    "Finding": "webkit_cli.check.findings",
    "RULES": "webkit_cli.check.rules",
    "Rule": "webkit_cli.check.rules",
    "Severity": "webkit_cli.check.rules",
    "CheckReport": "webkit_cli.check.runner",
    "run_check": "webkit_cli.check.runner",
}


def __getattr__(name: str) -> Any:
    """Load the public names on first use: the app-import child process imports only the
    modules it needs from this package, not every rule (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)

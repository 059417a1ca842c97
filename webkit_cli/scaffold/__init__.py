"""Project scaffolding: the template model, name validation, rendering and safe writing.

The public entry point is :func:`webkit_cli.scaffold.engine.create_project`.
"""

from __future__ import annotations

from webkit_cli.scaffold.engine import ScaffoldResult, create_project

__all__ = ["ScaffoldResult", "create_project"]

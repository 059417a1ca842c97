"""``webkit update``: bring a generated project up to a newer template version, three-way.

The API is :func:`update_project` (and :func:`plan_update` / :func:`update_check`);
``commands/update.py`` only parses options and prints.
"""

from __future__ import annotations

from webkit_cli.update.core import (
    UpdatePlan,
    UpdateResult,
    plan_update,
    update_check,
    update_project,
)

__all__ = ["UpdatePlan", "UpdateResult", "plan_update", "update_check", "update_project"]

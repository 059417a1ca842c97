"""Database rule (D001): models that differ from the schema their migrations build.

What ``alembic check`` (``flask db check``) answers, without its database: the child that
imported the app applies the migrations to a scratch in-memory SQLite database and
compares the result with the models (:mod:`webkit_cli.check._drift`). The configured
``SQLALCHEMY_DATABASE_URI`` is never opened and nothing is written into the project.

No Alembic, no migrations folder or no Flask-SQLAlchemy models: nothing is reported.
Migrations that SQLite cannot run (PostgreSQL-only types or statements) are not
compared: a note says so, and which revision stopped, rather than a guessed finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from webkit_cli.check.context import CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register

if TYPE_CHECKING:  # the comparison itself runs in the app's process; a cached run needs none
    from webkit_cli.check._drift import DriftReport


def fix_hint(tool: str, summary: str, folder: str) -> str:
    """The commands that write the missing migration, with a message describing it."""
    message = summary.replace('"', "'")
    if tool == "alembic":
        return (
            f'Run alembic revision --autogenerate -m "{message}", review the new script '
            f"in {folder}/versions, then alembic upgrade head."
        )
    return (
        f'Run flask db migrate -m "{message}", review the new script in {folder}/versions, '
        "then flask db upgrade."
    )


def skipped_note(ctx: CheckContext, report: DriftReport) -> str:
    folder = ctx.rel(report.directory) + "/" if report.directory else "the migrations folder"
    where = ""
    if report.file:
        where = ctx.rel(report.file) + (f":{report.line}" if report.line else "") + ": "
    return (
        f"D001 was skipped: the migrations in {folder} could not be applied to a scratch "
        f"SQLite database, so they were not compared with the models ({where}{report.reason})."
    )


@register("D001")
def model_drift(ctx: CheckContext) -> Iterator[Finding]:
    """One finding per table, column, index or constraint the migrations lack or differ on."""
    importer = ctx.app_state.importer
    if importer is None:  # a needs-import check runs only with the app
        return
    report = importer.drift()
    if report is None:
        ctx.notes.append(
            "D001 was skipped: the app's process stopped answering before it compared the "
            f"models with the migrations (it exited, or took over {importer.timeout:g} s, "
            "the --import-timeout)."
        )
        return
    if report.status == "none":
        return
    if report.status == "failed":
        ctx.notes.append(skipped_note(ctx, report))
        return
    folder = ctx.rel(report.directory)
    for difference in report.differences:
        file: str | None = None
        line: int | None = None
        if difference.file is not None:
            file = ctx.rel(difference.file)
            line = difference.line
            if file not in ctx.all_files:  # a model from an installed package
                file, line = None, None
        hint = fix_hint(report.tool, difference.summary, folder)
        yield finding("D001", file, line, difference.message, hint=hint)

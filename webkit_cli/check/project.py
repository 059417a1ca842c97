"""Project rules (P001-P005) and importing the app (in its child) in a testing configuration.

The app is found only through :mod:`webkit_cli.project` (the discovery ``webkit run``
and ``webkit routes`` use). A factory that takes a configuration is called with a
testing one, as a test suite would, so ``webkit check`` in CI needs no ``.env`` and no
production secrets: ``create_app(config=None)`` gets ``{"TESTING": True, "SECRET_KEY":
<random>, "DEBUG": False, "DATABASE_URL": "sqlite://", ...}`` (see :func:`testing_config`);
``create_app(config_name="default")`` gets ``"testing"``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webkit_cli.check.config import ConfigProblems
from webkit_cli.check.context import AppState, CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register
from webkit_cli.errors import ProjectError
from webkit_cli.project import Project, resolve_app_target

if TYPE_CHECKING:
    from webkit_cli.check.appimport import AppImport

_TOML_POSITION = re.compile(r"at line (\d+), column (\d+)")


def testing_config() -> dict[str, object]:
    """What a factory taking a mapping is given, as a test suite would.

    A fresh secret each run (never a literal), and an in-memory SQLite database under the
    two usual keys, so a factory that creates its tables at start-up neither needs a
    database server in CI nor leaves a database file in the project.
    """
    import secrets

    return {
        "TESTING": True,
        "DEBUG": False,
        "SECRET_KEY": secrets.token_hex(16),
        "DATABASE_URL": "sqlite://",
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
    }


def pyproject_finding(path: Path, rel: str, error: ProjectError) -> Finding:
    """P001 for a pyproject.toml that tomllib rejects, at the line it names."""
    message = str(error.format_message())
    match = _TOML_POSITION.search(message)
    line, column = (int(match.group(1)), int(match.group(2))) if match else (None, None)
    cause = error.__cause__
    detail = str(cause).split(" (at line")[0] if cause is not None else message
    return finding("P001", rel, line, f"pyproject.toml is not valid TOML: {detail}", column=column)


def _line_of_key(path: Path | None, table: str, key: str) -> int | None:
    """The line of ``key = ...`` inside ``[table]`` (tomllib keeps no positions)."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    inside = False
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if stripped.startswith("["):
            inside = stripped.strip("[] ") == table
        elif inside and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def config_findings(project: Project, problems: ConfigProblems) -> Iterator[Finding]:
    """P002 for every bad ``[tool.webkit]``/``[tool.webkit.check]`` value."""
    if project.pyproject is None:
        return
    rel = project.pyproject.name
    app = project.config.get("app")
    if app is not None and (not isinstance(app, str) or not app.strip()):
        line = _line_of_key(project.pyproject, "tool.webkit", "app")
        yield finding(
            "P002", rel, line, '[tool.webkit] app must be a string like "package:create_app"'
        )
    check_line = _line_of_key(project.pyproject, "tool.webkit", "check")
    if check_line is None:
        check_line = _header_line(project.pyproject, "tool.webkit.check")
    for message in problems.messages:
        yield finding("P002", rel, check_line, message)


def _header_line(path: Path, table: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for number, text in enumerate(lines, start=1):
        if text.strip().strip("[] ") == table and text.strip().startswith("["):
            return number
    return None


def syntax_findings(ctx: CheckContext, skip: Container[str]) -> Iterator[Finding]:
    """P005 for Python files that do not parse (unless a conflict marker explains it)."""
    for file in ctx.python_files:
        if file.error is None or file.rel in skip:
            continue
        err = file.error
        column = err.offset if err.offset else None
        yield finding("P005", file.rel, err.lineno, f"SyntaxError: {err.msg}", column=column)


# --- importing the app ------------------------------------------------------------------


def _first_param_kind(func: ast.FunctionDef) -> str | None:
    """``"mapping"``/``"name"`` for the first parameter of a factory, ``None`` to call it bare."""
    params = [*func.args.posonlyargs, *func.args.args]
    if not params:
        return None
    first = params[0]
    defaults = func.args.defaults
    n_without = len(params) - len(defaults)
    default = defaults[0] if n_without == 0 and defaults else None
    if n_without > 1:
        return None  # needs more than we can give; let the user name the arguments
    annotation = ast.unparse(first.annotation) if first.annotation is not None else ""
    if isinstance(default, ast.Constant) and isinstance(default.value, str) or annotation == "str":
        return "name"
    if default is None or (isinstance(default, ast.Constant) and default.value is None):
        return "mapping"
    return None  # e.g. config_class=Config: its own default is the right thing


def _factory_file(project: Project, module: str) -> Path | None:
    """The file of ``module`` (dotted, or a path ending in ``.py``) inside the project."""
    if module.endswith(".py"):
        path = project.root / module.removeprefix("./")
        return path if path.is_file() else None
    parts = module.split(".")
    for base in project.source_dirs:
        for path in (
            base.joinpath(*parts).with_suffix(".py"),
            base.joinpath(*parts, "__init__.py"),
        ):
            if path.is_file():
                return path
    return None


def _find_factory(project: Project, module: str, name: str) -> ast.FunctionDef | None:
    """The factory's ``def``, parsed from its one file (before the rest is parsed, so that
    the app import can start at once)."""
    path = _factory_file(project, module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return None  # P005 or P004 says why
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def testing_target(project: Project, target: str) -> str:
    """``pkg:create_app`` -> ``pkg:create_app({...testing config...})`` when it takes one."""
    module, sep, name = target.rpartition(":")
    if not sep or not name.isidentifier():
        return target
    factory = _find_factory(project, module, name)
    if factory is None:
        return target
    kind = _first_param_kind(factory)
    if kind == "mapping":
        return f"{module}:{name}({testing_config()!r})"
    if kind == "name":
        return f"{module}:{name}('testing')"
    return target


def _user_frame(ctx: CheckContext, frames: list[tuple[str, int]]) -> tuple[str | None, int | None]:
    """File and line of the innermost frame that lies in the user's project."""
    for filename, line in reversed(frames):
        rel = ctx.rel(filename)
        if rel in ctx.all_files:  # the project's own files, not its virtualenv
            return rel, line
    return None, None


def _one_line(text: str, limit: int = 300) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1] + "…"


@dataclass
class PendingImport:
    """An app import under way in its child, and where its target was configured."""

    importer: AppImport | None
    target: str | None
    where: tuple[str | None, int | None]
    #: set when no import was started (the target itself is unusable)
    state: AppState | None = None


def start_import(
    project: Project,
    *,
    app_option: str | None,
    dotenv: bool,
    timeout: float,
    child: AppImport | None = None,
) -> PendingImport:
    """Start importing the app in a child process (``child``, from
    :meth:`AppImport.prestart`, when given); :func:`finish_import` collects it."""
    try:
        target = resolve_app_target(project, app_option, dotenv=dotenv).target
    except ProjectError as exc:  # reported as P002 by config_findings
        if child is not None:
            child.close(wait=False)  # told nothing yet: nothing of the user's ran
        state = AppState(status="failed", reason=str(exc.format_message()))
        return PendingImport(None, None, (None, None), state)
    where_file = project.pyproject.name if project.pyproject is not None else None
    where_line = _line_of_key(project.pyproject, "tool.webkit", "app")
    if app_option or target != project.config.get("app"):
        where_file, where_line = None, None  # from --app / WEBKIT_APP: no file to point at
    load_target = testing_target(project, target) if target else None
    from webkit_cli.check.appimport import AppImport

    importer = AppImport.start(
        project, target=load_target, dotenv=dotenv, timeout=timeout, child=child
    )
    return PendingImport(importer, target, (where_file, where_line))


def finish_import(ctx: CheckContext, pending: PendingImport) -> tuple[AppState, list[Finding]]:
    """Wait for the import; failures become P003/P004 findings."""
    if pending.state is not None or pending.importer is None:
        return pending.state or AppState(status="failed"), []
    outcome = pending.importer.outcome()
    target = pending.target
    where_file, where_line = pending.where
    if outcome.status == "loaded":
        return AppState(facts=outcome.facts, status="loaded", importer=pending.importer), []
    if outcome.status == "unavailable":
        reason = 'no app found (set [tool.webkit] app = "package:create_app" or use --app)'
        return AppState(status="unavailable", reason=reason), []
    if outcome.status == "bug":
        detail = _one_line(outcome.message, 200)
        reason = f"webkit failed while importing it ({detail}); please report it"
        return AppState(status="failed", reason=reason), []
    if outcome.status == "locate":
        state = AppState(status="failed", reason="the app could not be located")
        return state, [finding("P003", where_file, where_line, _one_line(outcome.message))]
    file, line = _user_frame(ctx, outcome.frames)
    if file is None:
        file, line = where_file, where_line
    verb = "raised" if outcome.frames else "failed:"
    message = _one_line(
        f"Importing the app {target or '(wsgi.py / app.py)'} {verb} {outcome.message}"
    )
    state = AppState(status="failed", reason="the app could not be imported")
    return state, [finding("P004", file, line, message)]


@register("P005")
def python_syntax(ctx: CheckContext) -> Iterator[Finding]:
    """Python files that do not parse (a file with conflict markers is reported as H001)."""
    from webkit_cli.check.hygiene import conflicted_files

    yield from syntax_findings(ctx, conflicted_files(ctx))

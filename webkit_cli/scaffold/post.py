"""After the files are written: install, git, and what to print (a tree, the next steps)."""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from webkit_cli.errors import ScaffoldError

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping

    from rich.console import Console, RenderableType
    from rich.panel import Panel
    from rich.tree import Tree

    from webkit_cli.scaffold.engine import ScaffoldResult


def install_project(target: Path, console: Console, *, python: str | None = None) -> None:
    """``pip install -e '.[dev]'`` into ``python``'s environment (default: webkit's own).

    The installer's output is shown only if it fails; a spinner runs meanwhile.
    """
    import subprocess

    argv = [python or sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    argv += ["-e", ".[dev]"]
    from rich.text import Text

    # A Text, not markup: rich would take "[dev]" for a style tag and print "'.'".
    spinner = Text(f"Installing {target.name} with its dev extras (pip install -e '.[dev]')")
    with console.status(spinner):
        try:
            proc = subprocess.run(
                argv,
                cwd=target,
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise ScaffoldError(
                f"Could not run pip ({exc}); the project is created: run pip install -e '.[dev]' "
                f"in {target}."
            ) from None
    if proc.returncode != 0:
        console.print(Text(proc.stdout + proc.stderr))
        raise ScaffoldError(
            f"Installing the project failed (pip exit code {proc.returncode}, output above); "
            f"the project is created: fix the problem and run pip install -e '.[dev]' in {target}."
        )


def decide_steps(
    *, install: bool | None, git: bool | None, interactive: bool, updated: bool
) -> tuple[bool, bool]:
    """Resolve ``--install/--no-install`` and ``--git/--no-git`` left unset to their defaults.

    install: on when interactive (someone at a terminal wants a ready project; CI does not).
    git: on when git is installed, unless the folder already had files (--force into an
    existing project must not start a repository or commit the user's files).
    """
    do_install = interactive if install is None else install
    do_git = (not updated and git_available()) if git is None else git
    return do_install, do_git


def git_available() -> bool:
    import shutil

    return shutil.which("git") is not None


def _git(
    target: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import subprocess

    return subprocess.run(
        ["git", *args], cwd=target, capture_output=True, text=True, check=False, env=env
    )


def init_git(target: Path, *, author: str, message: str) -> str | None:
    """``git init`` + an initial commit; returns a reason when skipped or failed, else None."""
    if not git_available():
        return "git is not installed"
    if (target / ".git").exists():
        return "the folder is already a git repository"
    inside = _git(target, "rev-parse", "--is-inside-work-tree")
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return "the folder is inside another git repository"
    env = dict(os.environ)
    # An unconfigured git refuses to commit; fall back to the author answer for this commit only.
    if not _git(target, "config", "--get", "user.name").stdout.strip():
        env.setdefault("GIT_AUTHOR_NAME", author or "webkit")
        env.setdefault("GIT_COMMITTER_NAME", author or "webkit")
    if not _git(target, "config", "--get", "user.email").stdout.strip():
        env.setdefault("GIT_AUTHOR_EMAIL", "webkit@localhost")
        env.setdefault("GIT_COMMITTER_EMAIL", "webkit@localhost")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "--no-verify", "-m", message)):
        proc = _git(target, *args, env=env)
        if proc.returncode != 0:
            return f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip()}"
    return None


def plan_tree(result: ScaffoldResult) -> Tree:
    """A rich tree of what would be written (dry run), marking what --force would do."""
    from rich.tree import Tree

    plan = result.plan
    status: dict[PurePosixPath, str] = {}
    if plan is not None:
        status.update({e.path: "[green]new[/]" for e in plan.add})
        status.update({e.path: "[red]differs (--overwrite replaces)[/]" for e in plan.replace})
        status.update({p: "[dim]unchanged[/]" for p in plan.unchanged})
        status.update({p: "[yellow]kept (skip_if_exists)[/]" for p in plan.kept})
    root = Tree(f"[bold]{result.target}[/]")
    nodes: dict[PurePosixPath, Tree] = {PurePosixPath(): root}
    from rich.markup import escape

    for entry in sorted(result.entries, key=lambda e: e.path.parts):
        parent = nodes.get(entry.path.parent, root)
        label = escape(entry.path.name) + ("/" if entry.is_dir else "")
        if entry.path in status:
            label += f"  {status[entry.path]}"
        node = parent.add(f"[bold blue]{label}[/]" if entry.is_dir else label)
        if entry.is_dir:
            nodes[entry.path] = node
    return root


def dry_run_report(result: ScaffoldResult, *, overwrite: bool) -> list[RenderableType]:
    """What ``--dry-run`` prints: the tree, then what the real run would do."""
    tpl = result.template
    files = sum(not e.is_dir for e in result.entries)
    lines: list[RenderableType] = [
        plan_tree(result),
        f"Dry run: {files} files from template {tpl.name} {tpl.version}; nothing written.",
    ]
    if result.plan is not None and result.plan.replace and not overwrite:
        lines.append(
            f"{len(result.plan.replace)} existing files differ: without --overwrite the "
            "real run stops before writing anything."
        )
    lines += result.recovered
    return lines


def confirmation_summary(result: ScaffoldResult) -> RenderableType:
    """What an interactive run is about to write (from its dry run), asked before writing."""
    from rich.text import Text

    tpl = result.template
    files = sum(not e.is_dir for e in result.entries)
    action = "add files to" if result.updated else "create"
    rows: list[tuple[str, Text]] = [("template", Text(f"{tpl.name} {tpl.version} ({files} files)"))]
    for key, value in result.answers.items():
        if key == "name":
            continue
        if isinstance(value, bool):
            rows.append((key, Text("yes" if value else "no")))
        elif value == "":
            rows.append((key, Text("(none)", style="dim")))
        else:
            rows.append((key, Text(str(value))))
    width = max(len(key) for key, _ in rows)
    out = Text.assemble((f"About to {action} {_where(result.target)}:", "bold"))
    for key, shown in rows:
        out.append(f"\n  {key:<{width}}  ", style="dim")
        out.append_text(shown)
    return out


def _where(target: Path) -> str:
    """``target`` relative to the working directory when that is short, else absolute."""
    try:
        where = os.path.relpath(target)
    except ValueError:  # another drive on Windows
        return str(target)
    return str(target) if where.startswith(".." + os.sep + "..") else where


def summary_line(result: ScaffoldResult, *, overwrite: bool) -> str:
    """The one line that says what a real run did."""
    tpl, target, plan = result.template, result.target, result.plan
    if result.updated and plan is not None:
        return (
            f"Updated {target} from template {tpl.name} {tpl.version}: "
            f"{sum(not e.is_dir for e in plan.add)} added, "
            f"{len(plan.replace) if overwrite else 0} replaced, {len(plan.unchanged)} unchanged, "
            f"{len(plan.kept)} kept."
        )
    return (
        f"Created {target} from template {tpl.name} {tpl.version} ({result.files_written} files)."
    )


#: The project's README's first step: its own virtual environment, activated.
MAKE_VENV = (
    r"python -m venv .venv && .venv\Scripts\activate"
    if os.name == "nt"
    else "python -m venv .venv && . .venv/bin/activate"
)


def shell_has_environment(environ: Mapping[str, str]) -> bool:
    """Whether the shell that ran webkit has a virtual (or conda) environment activated: the
    ``pip`` it runs installs there. Without one it is the system's or the user's (pipx-installed
    webkit included), which Debian and Homebrew refuse or which mixes every project's packages."""
    return bool(environ.get("VIRTUAL_ENV") or environ.get("CONDA_PREFIX"))


def next_steps_panel(
    target: Path, *, installed: bool, api_package: str | None = None, venv_active: bool = True
) -> Panel:
    """The small 'what now' panel printed after a successful run.

    ``api_package``: the project is the built-in ``api`` template's, whose every endpoint but
    ``/``, ``/docs`` and ``/healthz`` needs a key; the panel says how to make one.
    ``venv_active=False`` (see :func:`shell_has_environment`): the install step is preceded by
    making and activating the project's own virtual environment.
    """
    from rich.panel import Panel

    where = _where(target)
    steps = [f"cd {where}"] if where != "." else []
    if not installed:
        if not venv_active:
            steps.append(MAKE_VENV)
        steps.append("pip install -e '.[dev]'")
    # Flask-Migrate in the package (the built-in templates): the app makes no tables itself.
    migrations = sorted(target.glob("src/*/migrations/alembic.ini"))
    if migrations:
        steps.append(f"flask --app {migrations[0].parent.parent.name} db upgrade")
    steps += ["webkit run --reload", "pytest"]
    if api_package:
        flask = f"flask --app {api_package}"
        steps += [
            f"{flask} users create you@example.com",
            f"{flask} keys create --user you@example.com --scope read,write  # an API key",
        ]
    from rich.text import Text

    return Panel(Text("\n".join(steps)), title="Next steps", expand=False, border_style="green")

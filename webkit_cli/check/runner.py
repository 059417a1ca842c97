"""Run the rules: find the project, parse every file once, import the app once, filter.

:func:`run_check` is the keyword-only API under ``webkit check``; it returns a
:class:`CheckReport` and prints nothing.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from webkit_cli.check import project as project_rules
from webkit_cli.check.config import CheckConfig, parse_check_config
from webkit_cli.check.context import (
    AppState,
    CheckContext,
    PythonFile,
    TemplateFile,
    drop_deep_trees,
    git_files,
    load_python_files,
    load_templates,
    walk_project,
)
from webkit_cli.check.filecache import FileCache
from webkit_cli.check.findings import Finding
from webkit_cli.check.registry import Check, CheckRegistry
from webkit_cli.check.registry import registry as default_registry
from webkit_cli.check.rules import RULES, Severity, expand_codes
from webkit_cli.check.suppression import Suppressor
from webkit_cli.commands._options import DEFAULT_IMPORT_TIMEOUT
from webkit_cli.errors import ProjectError
from webkit_cli.project import Project, find_project

if TYPE_CHECKING:
    from webkit_cli.check.appimport import AppImport

#: webkit's rule modules; importing one registers its checks on the default registry, in
#: this order (``project``, already imported, registers P005 last).
RULE_MODULES = (
    "csrf",
    "hygiene",
    "links",
    "migrations",
    "routes",
    "security_python",
    "security_templates",
    "templates",
    "project",
)
#: The rule modules whose checks are all per-file: their findings come from each file's
#: analysis, so a run that takes every file from the cache never imports them (a test
#: holds this list to what the modules register).
PER_FILE_MODULES = frozenset({"security_python", "security_templates"})


def load_rules(*, per_file: bool = True) -> None:
    """Import the rule modules (without ``per_file``, only those a cached run needs)."""
    for name in RULE_MODULES:
        if per_file or name not in PER_FILE_MODULES:
            importlib.import_module(f"webkit_cli.check.{name}")


def default_checks() -> list[Check]:
    """webkit's own checks, in registration order."""
    load_rules()
    return list(default_registry)


@dataclass
class CheckReport:
    """What a run found, after selection and suppression, sorted by file and line."""

    root: Path
    findings: list[Finding]
    fail_level: Severity
    #: things the user should know that are not findings (e.g. skipped import rules)
    notes: list[str] = field(default_factory=list)
    files_checked: int = 0

    @property
    def failed(self) -> bool:
        return any(item.severity >= self.fail_level for item in self.findings)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _find_project(path: Path | None) -> tuple[Project, list[Finding]]:
    """``find_project``, turning a broken pyproject.toml into a finding instead of a crash."""
    try:
        return find_project(path), []
    except (ProjectError, UnicodeDecodeError) as exc:
        begin = (path or Path.cwd()).resolve()
        for directory in (begin, *begin.parents):
            candidate = directory / "pyproject.toml"
            if not candidate.is_file():
                continue
            try:
                with candidate.open("rb") as f:
                    tomllib.load(f)
            except tomllib.TOMLDecodeError:
                assert isinstance(exc, ProjectError)
                rel = "pyproject.toml"
                return Project(root=directory), [
                    project_rules.pyproject_finding(candidate, rel, exc)
                ]
            except UnicodeDecodeError as bad:
                from webkit_cli.check.findings import finding

                line = bad.object[: bad.start].count(b"\n") + 1
                message = (
                    f"pyproject.toml is not valid UTF-8 text (byte 0x{bad.object[bad.start]:02x})"
                )
                return Project(root=directory), [finding("P001", "pyproject.toml", line, message)]
            except OSError:
                break
            if not isinstance(exc, ProjectError):
                raise exc
            # valid TOML, so the error was about [tool.webkit] itself (e.g. not a table)
            message = str(exc.format_message())
            from webkit_cli.check.findings import finding

            return Project(root=directory), [finding("P002", "pyproject.toml", None, message)]
        raise


def _selected_codes(
    config: CheckConfig, select: Iterable[str] | None, ignore: Iterable[str] | None
) -> set[str]:
    codes = expand_codes(select) if select else set(config.select or RULES)
    if ignore:
        codes -= expand_codes(ignore)
    return codes


def _per_file_findings(ctx: CheckContext) -> Iterable[Finding]:
    """The per-file checks' findings, from each file's analysis (cached or just made)."""
    files: list[PythonFile | TemplateFile] = [*ctx.python_files, *ctx.template_files]
    for file in files:
        if file.error is not None:
            continue  # no tree (or dropped as too deep): no rule walks it
        result = ctx.file_results.get(file.rel)
        if result is not None:
            for items in result.findings.values():
                yield from items


def _run_checks(
    ctx: CheckContext,
    checks: Sequence[Check],
    codes: set[str],
    notes: list[str],
    *,
    own: bool = True,
) -> list[Finding]:
    findings: list[Finding] = []
    first_note = len(notes)
    for chk in checks:
        if not chk.codes & codes:
            continue
        if chk.needs_import and ctx.facts is None:
            continue
        if own and chk.per_file:
            continue  # from each file's analysis: _per_file_findings
        try:
            findings.extend(chk.func(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the rest
            if isinstance(exc, RecursionError) and drop_deep_trees(ctx):
                # A tree too deep for the recursive walks (a 500-term concatenation): each
                # such file becomes a P005/T001 finding of its own; start over without it.
                del notes[first_note:]
                return _run_checks(ctx, checks, codes, notes, own=own)
            codes_text = ", ".join(sorted(chk.codes))
            notes.append(
                f"webkit check could not run {codes_text} on this project "
                f"({type(exc).__name__}: {exc}); please report it."
            )
    if own:
        findings.extend(item for item in _per_file_findings(ctx) if item.code in codes)
    return findings


def run_check(
    path: Path | str | None = None,
    *,
    app: str | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fail_level: Severity | None = None,
    no_import: bool = False,
    dotenv: bool = True,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    registry: CheckRegistry | None = None,
    cache: FileCache | None = None,
    pool_min: int | None = None,
    child: AppImport | None = None,
) -> CheckReport:
    """Lint the project at (or above) ``path``.

    ``select``/``ignore`` are codes, prefixes or rule names (``ValueError`` for unknown
    ones); given ``select`` replaces the project's, given ``ignore`` adds to it.
    The app is imported in a child process, given at most ``import_timeout`` seconds,
    while the project is parsed. ``registry`` replaces webkit's own checks (tests build
    their own). ``cache`` holds what each file yields on its own (default: webkit's
    cache folder); ``pool_min`` is the number of files to analyse from which a process
    pool is used (default: the measured break-even). ``child`` is a process from
    :meth:`AppImport.prestart <webkit_cli.check.appimport.AppImport.prestart>` to import
    the app in (closed in any case).
    """
    try:
        project, early = _find_project(Path(path) if path is not None else None)
        config, problems = parse_check_config(project.config)
        codes = _selected_codes(config, select, ignore)
    except BaseException:
        if child is not None:
            child.close(wait=False)  # told nothing yet: nothing of the user's ran
        raise
    level = fail_level or config.fail_level or Severity.ERROR
    ctx = CheckContext(
        project=project,
        config=config,
        cache=cache if cache is not None else FileCache.default(),
        pool_min=pool_min,
    )
    wants_app = not no_import and any(RULES[code].uses_app for code in codes)
    # The child imports the app while this process walks and parses the project.
    pending = None
    if wants_app:
        pending = project_rules.start_import(
            project, app_option=app, dotenv=dotenv, timeout=import_timeout, child=child
        )
    elif child is not None:
        child.close(wait=False)  # told nothing yet: nothing of the user's ran
    # Only now, with the child under way: a run whose files all come from the cache
    # never imports the per-file rules (or Jinja).
    load_rules(per_file=False)
    checks = list(registry if registry is not None else default_registry)
    findings = [*early, *project_rules.config_findings(project, problems)]
    notes: list[str] = []
    try:
        git = git_files(project.root)
        ctx.git_tracked = git[1] if git is not None else None
        ctx.all_files = walk_project(project.root, config, git[0] if git is not None else None)
        load_python_files(ctx)
        if pending is None:
            ctx.app_state = AppState(status="disabled")
        else:
            ctx.app_state, app_findings = project_rules.finish_import(ctx, pending)
            findings += app_findings
            if ctx.app_state.status != "loaded" and any(RULES[c].needs_import for c in codes):
                notes.append(
                    f"Rules that need the app (routes, links) were skipped: {ctx.app_state.reason}."
                )
        load_templates(ctx)
        findings += _run_checks(ctx, checks, codes, notes, own=registry is None)
        notes += [note for note in dict.fromkeys(ctx.notes) if note not in notes]
    finally:
        if pending is not None and pending.importer is not None:
            pending.importer.close()
    ctx.cache.flush(project.root, keep=ctx.all_files)

    suppressor = Suppressor(config)
    every: list[PythonFile | TemplateFile] = [*ctx.python_files, *ctx.template_files]
    for file in every:
        suppressor.add_file(file.rel, ctx.file_results[file.rel].suppressions)
    kept = [f for f in suppressor.filter(findings) if f.code in codes]
    # dict.fromkeys drops duplicates keeping emission order, so ties sort deterministically
    kept = sorted(dict.fromkeys(kept), key=Finding.sort_key)
    return CheckReport(
        root=project.root,
        findings=kept,
        fail_level=level,
        notes=notes,
        files_checked=len(ctx.python_files) + len(ctx.template_files),
    )

"""``create_project``: the keyword-only API under ``webkit new``.

Pipeline (every step before the write is pure): resolve the template -> validate the
names -> answer the questions -> render the entries (recording provenance in
pyproject.toml) -> plan -> write (or, with ``dry_run``, only return the plan).
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from webkit_cli import __version__
from webkit_cli.errors import ScaffoldError, TemplateError
from webkit_cli.scaffold.answers import Asker, collect_answers
from webkit_cli.scaffold.names import resolve_names
from webkit_cli.scaffold.render import (
    Entry,
    Renderer,
    iter_render,
    template_include_dirs,
    toml_string,
    toml_value,
)
from webkit_cli.scaffold.template import Answer, Template, resolve_template
from webkit_cli.scaffold.write import ForcePlan, apply_force, plan_force, write_new

PYPROJECT = PurePosixPath("pyproject.toml")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ScaffoldResult:
    """What ``create_project`` did (or, for a dry run, would do)."""

    def __init__(
        self, *, target: Path, template: Template, answers: dict[str, Answer], dry_run: bool
    ):
        self.target = target
        self.template = template
        self.answers = answers
        self.dry_run = dry_run
        self.entries: list[Entry] = []  # filled for dry runs and --force
        self.files_written = 0
        self.plan: ForcePlan | None = None  # set when rendering into an existing folder
        self.updated = False  # the folder existed and had files in it (--force)
        #: What was undone of an earlier, interrupted run (or, for a dry run, would be).
        self.recovered: list[str] = []


def git_user_name() -> str:
    """git's ``user.name``, or "" when git or the setting is missing."""
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return ""
    try:
        out = subprocess.run(
            [git, "config", "--get", "user.name"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def template_source(template: Template) -> str | None:
    """Where ``webkit update`` finds a user's template again: its folder (None: built in)."""
    from webkit_cli.scaffold.template import builtin_templates_dir

    builtin = builtin_templates_dir()
    root = template.root.resolve()
    if builtin is not None and root.is_relative_to(builtin.resolve()):
        return None
    return str(root)


def provenance_table(
    template: Template, answers: Mapping[str, Answer], source: str | None = None
) -> str:
    """The ``[tool.webkit.template]`` TOML appended to the generated pyproject.toml."""
    lines = [
        "",
        "[tool.webkit.template]",
        "# Where this project came from (written by webkit new; used by later webkit commands).",
        f"name = {toml_value(template.name)}",
        f"version = {toml_value(template.version)}",
        *([f"source = {toml_value(source)}"] if source is not None else []),
        f"webkit_version = {toml_value(__version__)}",
        "",
        "[tool.webkit.template.answers]",
    ]
    lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in answers.items()]
    return "\n".join(lines) + "\n"


def add_provenance(pyproject: bytes, template: Template, answers: Mapping[str, Answer]) -> bytes:
    """Append the provenance table, refusing a template that already defines one."""
    import tomllib

    text = pyproject.decode("utf-8")
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(
            f"Template {template.name!r} renders an invalid pyproject.toml: {exc}."
        ) from None
    webkit_table = parsed.get("tool", {}).get("webkit", {})
    if isinstance(webkit_table, dict) and "template" in webkit_table:
        raise TemplateError(
            f"Template {template.name!r} defines [tool.webkit.template] itself: remove it, "
            "webkit new writes that table."
        )
    if text and not text.endswith("\n"):
        text += "\n"
    result = text + provenance_table(template, answers, template_source(template))
    try:
        tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:  # e.g. tool.webkit written as an inline table
        raise TemplateError(
            f"Template {template.name!r}: cannot add [tool.webkit.template] to its pyproject.toml "
            f"({exc}); write [tool.webkit] as a normal table."
        ) from None
    return result.encode("utf-8")


def _with_provenance(
    entries: Iterable[Entry], template: Template, answers: Mapping[str, Answer]
) -> Iterator[Entry]:
    for entry in entries:
        if entry.path == PYPROJECT and entry.data is not None:
            entry = Entry(entry.path, add_provenance(entry.data, template, answers), entry.mode)
        yield entry


def build_context(
    *,
    template: Template,
    name: str,
    package: str,
    description: str | None,
    author: str | None,
) -> dict[str, Any]:
    """The built-in variables every template sees."""
    return {
        "name": name,
        "package": package,
        # Empty unless given: the template's blurb describes the template, not the
        # user's project, and would land in its README and pyproject.toml.
        "description": "" if description is None else description,
        "author": git_user_name() if author is None else author,
        "year": datetime.date.today().year,
        # os.urandom is what secrets.token_hex uses; importing secrets (hmac, random) costs ~2 ms.
        "secret_key": os.urandom(32).hex(),
        "webkit_version": __version__,
        "template_name": template.name,
        "template_version": template.version,
    }


def check_target(target: Path, *, force: bool) -> str:
    """Refuse a target that is a file, or a non-empty folder without ``force``.

    Returns "new" (nothing there: render beside it and rename into place), "empty" or
    "existing" (an existing folder: written file by file with rollback, so the folder
    itself -- its permissions, a symlink to it, a shell sitting in it -- is kept).
    """
    if target.is_symlink() and not target.exists():
        raise ScaffoldError(f"{target} is a broken symlink: remove it or choose another name.")
    if not target.exists():
        return "new"
    if not target.is_dir():
        raise ScaffoldError(f"{target} exists and is a file: choose another name or --dir.")
    try:
        empty = not any(target.iterdir())
    except PermissionError:
        raise ScaffoldError(
            f"Cannot read {target} (permission denied): choose another --dir."
        ) from None
    if empty:
        return "empty"
    if not force:
        raise ScaffoldError(
            f"{target} already exists and is not empty: choose another name, or add --force "
            "to add the missing files (existing ones are kept)."
        )
    return "existing"


def recover_target(target: Path, *, dry_run: bool = False) -> list[str]:
    """Undo what an interrupted run left for ``target`` (see :mod:`.journal`); for a dry
    run only say that the next real run will."""
    from webkit_cli.scaffold._signals import guarded
    from webkit_cli.scaffold.journal import pending, recover

    if dry_run:
        found = pending(target)
        if not found:
            return []
        return [
            f"An interrupted webkit new left {len(found)} journal(s) for {target}: the next "
            "run without --dry-run undoes that first."
        ]
    with guarded():  # undoing must not be cut short either
        return recover(target)


def create_project(
    *,
    template: Template | str,
    target: Path,
    name: str | None = None,
    package: str | None = None,
    description: str | None = None,
    author: str | None = None,
    data: Mapping[str, str] | None = None,
    force: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
    ask: Asker | None = None,
    cache_dir: Path | None = None,
    notify: Callable[[str], None] | None = None,
) -> ScaffoldResult:
    """Render ``template`` into ``target``; see the module docstring for the pipeline.

    ``name`` defaults to the target folder's name; ``ask`` (a prompt callback) is used
    for template questions not answered in ``data``; without it defaults are used.
    ``cache_dir`` keeps compiled templates between runs (see ``render.cache_root``).
    What an earlier run killed mid-write left for ``target`` is undone first, and each
    sentence saying so is passed to ``notify`` (and kept in ``result.recovered``).
    """
    tpl = resolve_template(template) if isinstance(template, str) else template
    target = Path(target).absolute()
    name, package = resolve_names(target.name if name is None else name, package)
    try:
        recovered = recover_target(target, dry_run=dry_run)
        for message in recovered:
            if notify is not None:
                notify(message)
        state = check_target(target, force=force)
    except OSError as exc:
        raise ScaffoldError(
            f"Cannot use {exc.filename or target} ({exc.strerror or exc}): choose another "
            "name or --dir. Nothing was written."
        ) from None
    renderer = Renderer(cache_dir=cache_dir, files_dirs=template_include_dirs(tpl))
    context = build_context(
        template=tpl, name=name, package=package, description=description, author=author
    )
    questions = collect_answers(tpl, data or {}, context, renderer, ask)
    context.update(questions)
    recorded: dict[str, Answer] = {
        "name": name,
        "package": package,
        "description": context["description"],
        "author": context["author"],
        **questions,
    }
    entries = _with_provenance(iter_render(tpl, context, renderer), tpl, recorded)
    result = ScaffoldResult(target=target, template=tpl, answers=recorded, dry_run=dry_run)
    result.updated = state == "existing"
    result.recovered = recovered
    if dry_run or state != "new":
        result.entries = list(entries)
        if state != "new":
            try:
                result.plan = plan_force(result.entries, target, tpl.skip_if_exists)
            except OSError as exc:  # a symlink loop, a folder that cannot be listed...
                raise ScaffoldError(
                    f"Cannot read {exc.filename or target} ({exc.strerror or exc}): fix it or "
                    "choose another folder. Nothing was written."
                ) from None
            if not dry_run:
                apply_force(result.plan, target, overwrite=overwrite)
                result.files_written = sum(not e.is_dir for e in result.plan.add) + (
                    len(result.plan.replace) if overwrite else 0
                )
        return result
    result.files_written = write_new(entries, target)
    return result

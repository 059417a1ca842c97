"""``plan_update`` / ``apply_update``: the keyword-only API under ``webkit update``.

Pipeline: find the project and its ``[tool.webkit.template]`` -> lay out the recorded
version and the target version of its template -> render both with the recorded answers
(base, theirs) -> read the project's files (ours) -> merge every path three-way -> (dry
run: stop) -> verify the merged tree in a copy -> swap the changed files in atomically.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from webkit_cli import __version__
from webkit_cli.errors import UpdateError
from webkit_cli.scaffold.answers import collect_answers
from webkit_cli.scaffold.engine import build_context, provenance_table
from webkit_cli.scaffold.render import Renderer, iter_render
from webkit_cli.scaffold.template import Answer, Template
from webkit_cli.update.merge import FileChange, LineMerger, Outcome, merge_trees
from webkit_cli.update.releases import TemplateSource, source_for, source_from_spec, version_key

PYPROJECT = PurePosixPath("pyproject.toml")
PROVENANCE_HEADER = "[tool.webkit.template]"
BUILTIN_ANSWERS = ("name", "package", "description", "author")


@dataclass(frozen=True)
class Provenance:
    """What ``webkit new`` recorded: the template, its version and every answer."""

    name: str
    version: str
    answers: Mapping[str, Answer]
    webkit_version: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class ReleaseNote:
    """One version's entry of a template's changelog (``[[changelog]]`` in template.toml)."""

    version: str
    changes: tuple[str, ...] = ()
    security: bool = False


@dataclass
class UpdatePlan:
    """Everything the update would do; nothing is written until :func:`apply_update`."""

    root: Path
    provenance: Provenance
    source: str
    from_version: str
    to_version: str
    answers: dict[str, Answer]
    changes: list[FileChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    releases: list[ReleaseNote] = field(default_factory=list)

    @property
    def conflicts(self) -> list[FileChange]:
        return [c for c in self.changes if c.outcome is Outcome.CONFLICT]

    @property
    def writes(self) -> list[FileChange]:
        return [c for c in self.changes if c.writes]

    @property
    def up_to_date(self) -> bool:
        return not self.writes


def find_generated_project(start: Path) -> Path:
    """The nearest folder at or above ``start`` whose pyproject.toml has [tool.webkit.template]."""
    start = start.resolve()
    if not start.exists():
        raise UpdateError(f"{start} does not exist.")
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UpdateError(f"{pyproject} is not valid TOML: {exc}.") from None
        if isinstance(data.get("tool", {}).get("webkit", {}).get("template"), dict):
            return folder
        if "webkit" in data.get("tool", {}):
            break
    raise UpdateError(
        f"No project made by 'webkit new' at {start}: its pyproject.toml has no "
        "[tool.webkit.template] table (webkit new writes it), so there is no template to "
        "update from."
    )


def read_provenance(root: Path) -> Provenance:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    table = data["tool"]["webkit"]["template"]
    name, version = table.get("name"), table.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise UpdateError(
            f"{root / 'pyproject.toml'}: [tool.webkit.template] needs 'name' and 'version'."
        )
    answers = table.get("answers", {})
    if not isinstance(answers, dict):
        raise UpdateError(
            f"{root / 'pyproject.toml'}: [tool.webkit.template.answers] is not a table."
        )
    source = table.get("source")
    webkit_version = table.get("webkit_version")
    return Provenance(
        name=name,
        version=version,
        answers={k: v for k, v in answers.items() if isinstance(v, str | bool | int)},
        webkit_version=webkit_version if isinstance(webkit_version, str) else None,
        source=source if isinstance(source, str) else None,
    )


def _as_given(value: Answer) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_template(
    template: Template,
    answers: Mapping[str, Answer],
    *,
    webkit_version: str,
    renderer: Renderer,
) -> tuple[dict[str, Answer], dict[PurePosixPath, bytes], dict[PurePosixPath, int]]:
    """Render ``template`` with recorded answers: (the full answers, files, modes).

    Answers to questions the version does not ask are dropped; questions it adds get
    their defaults. pyproject.toml is rendered without the provenance table (the update
    writes the new one itself).
    """
    context = build_context(
        template=template,
        name=str(answers["name"]),
        package=str(answers["package"]),
        description=str(answers.get("description", "")),
        author=str(answers.get("author", "")),
    )
    # The recorded webkit version renders the base exactly as the project got it.
    context["webkit_version"] = webkit_version
    known = {q.name for q in template.questions}
    given = {k: _as_given(v) for k, v in answers.items() if k in known}
    questions = collect_answers(template, given, context, renderer, None)
    context.update(questions)
    full: dict[str, Answer] = {k: context[k] for k in BUILTIN_ANSWERS}
    full.update(questions)
    files: dict[PurePosixPath, bytes] = {}
    modes: dict[PurePosixPath, int] = {}
    for entry in iter_render(template, context, renderer):
        if entry.data is None:
            continue
        files[entry.path] = entry.data
        modes[entry.path] = entry.mode
    return full, files, modes


def strip_provenance(pyproject: bytes) -> bytes:
    """pyproject.toml without its ``[tool.webkit.template]`` tables (and the comment)."""
    lines = pyproject.decode("utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == PROVENANCE_HEADER), None)
    if start is None:
        return pyproject
    end = start + 1
    while end < len(lines):
        stripped = lines[end].strip()
        if stripped.startswith("[") and not stripped.startswith("[tool.webkit.template"):
            break
        end += 1
    # The blank line webkit new puts before the table goes with it.
    while start > 0 and not lines[start - 1].strip():
        start -= 1
    return "".join(lines[:start] + lines[end:]).encode("utf-8")


def with_provenance(
    pyproject: bytes, template: Template, answers: Mapping[str, Answer], source: str | None
) -> bytes:
    text = pyproject.decode("utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + provenance_table(template, answers, source)).encode("utf-8")


def _skipped(path: PurePosixPath, patterns: tuple[str, ...]) -> bool:
    from fnmatch import fnmatch

    text = path.as_posix()
    return any(text == p or text.startswith(p + "/") or fnmatch(text, p) for p in patterns)


def _read_ours(
    root: Path, paths: Iterator[PurePosixPath] | set[PurePosixPath]
) -> dict[PurePosixPath, bytes]:
    ours: dict[PurePosixPath, bytes] = {}
    for rel in paths:
        path = root.joinpath(*rel.parts)
        if path.is_symlink() or not path.is_file():
            continue
        ours[rel] = path.read_bytes()
    return ours


def template_releases(template: Template) -> list[ReleaseNote]:
    """The ``[[changelog]]`` entries of a template.toml (newest version's file knows all)."""
    try:
        data = tomllib.loads((template.root / "template.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    notes = []
    for raw in data.get("changelog", []):
        if not isinstance(raw, dict) or not isinstance(raw.get("version"), str):
            continue
        changes = raw.get("changes", [])
        notes.append(
            ReleaseNote(
                version=raw["version"],
                changes=tuple(str(c) for c in changes) if isinstance(changes, list) else (),
                security=raw.get("security") is True,
            )
        )
    return sorted(notes, key=lambda n: version_key(n.version))


def _source(provenance: Provenance, template_spec: str | None) -> TemplateSource:
    if template_spec is not None:
        return source_from_spec(template_spec)
    return source_for(provenance.name, provenance.source)


def plan_update(
    *,
    project_dir: Path,
    to_version: str | None = None,
    data: Mapping[str, str] | None = None,
    conflict_style: str = "inline",
    template: str | None = None,
    cache_dir: Path | None = None,
) -> UpdatePlan:
    """Work out the update of the project at (or above) ``project_dir``; writes nothing.

    ``cache_dir`` is webkit's cache folder (Jinja's bytecode cache), as ``webkit new`` uses.
    """
    root = find_generated_project(project_dir)
    provenance = read_provenance(root)
    source = _source(provenance, template)
    with ExitStack() as stack:
        close = getattr(source, "close", None)
        if close is not None:
            stack.callback(close)
        target = to_version or source.latest()
        notes: list[str] = []
        if not source.has_history:
            notes.append(
                f"{source.description[0].upper()}{source.description[1:]}: only its current "
                "content is known, so files it and the project both have are compared two-way."
            )
        if version_key(target) < version_key(provenance.version) and to_version is None:
            target = provenance.version
        answers: dict[str, Answer] = dict(provenance.answers)
        missing = [k for k in ("name", "package") if k not in answers]
        if missing:
            raise UpdateError(
                f"{root / 'pyproject.toml'}: [tool.webkit.template.answers] lacks "
                f"{', '.join(missing)}: add them as webkit new wrote them."
            )
        renderer = Renderer(cache_dir=cache_dir)
        merger = LineMerger(
            ours_label="project",
            base_label=f"template {provenance.version}",
            theirs_label=f"template {target}",
        )
        stack.callback(merger.close)
        new_tpl = stack.enter_context(source.checkout(target))
        changed = dict(answers)
        for key, value in (data or {}).items():
            if key in BUILTIN_ANSWERS:
                raise UpdateError(
                    f"-d {key}: the project's {key} cannot be changed by an update; "
                    "rename it by hand."
                )
            if key not in {q.name for q in new_tpl.questions}:
                names = ", ".join(q.name for q in new_tpl.questions) or "none"
                raise UpdateError(
                    f"-d {key}: template {new_tpl.name!r} {target} has no such question; "
                    f"its questions: {names}."
                )
            changed[key] = value
        new_answers, theirs, modes = render_template(
            new_tpl, changed, webkit_version=__version__, renderer=renderer
        )
        if source.has_history:
            old_tpl = stack.enter_context(source.checkout(provenance.version))
            _, base, _ = render_template(
                old_tpl,
                answers,
                webkit_version=provenance.webkit_version or __version__,
                renderer=renderer,
            )
            skip = tuple(old_tpl.skip_if_exists) + tuple(new_tpl.skip_if_exists)
        else:
            base = {}
            skip = tuple(new_tpl.skip_if_exists)
        if PYPROJECT in base:
            base[PYPROJECT] = strip_provenance(base[PYPROJECT])
        if PYPROJECT in theirs:
            theirs[PYPROJECT] = strip_provenance(theirs[PYPROJECT])
        # skip_if_exists files (the .env with the project's secret) belong to the project.
        base = {p: d for p, d in base.items() if not _skipped(p, skip)}
        theirs = {p: d for p, d in theirs.items() if not _skipped(p, skip)}
        ours = _read_ours(root, set(base) | set(theirs))
        if PYPROJECT in ours:
            ours[PYPROJECT] = strip_provenance(ours[PYPROJECT])
        for path, data_ in ours.items():
            modes.setdefault(path, (root.joinpath(*path.parts).stat().st_mode & 0o777))
            del data_
        changes = merge_trees(base, ours, theirs, modes, merger, conflict_style=conflict_style)
        changes = _finish_pyproject(
            changes, root, new_tpl, new_answers, provenance, target, source_spec=template
        )
        for key in sorted(set(answers) - set(new_answers)):
            notes.append(f"Version {target} no longer asks {key!r}: its answer is dropped.")
        for key in sorted(set(new_answers) - set(answers)):
            notes.append(
                f"Version {target} asks {key!r}: answered with its default {new_answers[key]!r}."
            )
        releases = [
            r
            for r in template_releases(new_tpl)
            if version_key(provenance.version) < version_key(r.version) <= version_key(target)
        ]
        return UpdatePlan(
            root=root,
            provenance=provenance,
            source=source.description,
            from_version=provenance.version,
            to_version=target,
            answers=new_answers,
            changes=changes,
            notes=notes,
            releases=releases,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _finish_pyproject(
    changes: list[FileChange],
    root: Path,
    template: Template,
    answers: Mapping[str, Answer],
    provenance: Provenance,
    target: str,
    *,
    source_spec: str | None,
) -> list[FileChange]:
    """Put the new ``[tool.webkit.template]`` table back on the merged pyproject.toml."""
    current_path = root / "pyproject.toml"
    current = current_path.read_bytes()
    source = source_spec or provenance.source
    result: list[FileChange] = []
    seen = False
    for change in changes:
        if change.path != PYPROJECT:
            result.append(change)
            continue
        seen = True
        body = change.data if change.data is not None else strip_provenance(current)
        new = with_provenance(body, template, answers, source)
        outcome = change.outcome
        if new != current and outcome in (Outcome.UNCHANGED, Outcome.KEPT):
            outcome = Outcome.UPDATED
        result.append(
            FileChange(
                PYPROJECT,
                outcome,
                current,
                new if new != current else current,
                change.mode,
                base=change.base,
                theirs=change.theirs,
                note=change.note,
                reject=change.reject,
            )
        )
    if not seen:
        new = with_provenance(strip_provenance(current), template, answers, source)
        if new != current:
            result.append(FileChange(PYPROJECT, Outcome.UPDATED, current, new, 0o644))
    result.sort(key=lambda c: c.path)
    del target
    return result


def update_check(*, project_dir: Path, template: str | None = None) -> dict[str, Any]:
    """For CI: the project's version, the newest one, and whether any in between fixes security."""
    root = find_generated_project(project_dir)
    provenance = read_provenance(root)
    source = _source(provenance, template)
    try:
        latest = source.latest()
        behind = version_key(latest) > version_key(provenance.version)
        security: list[str] = []
        if behind:
            with source.checkout(latest) as tpl:
                security = [
                    r.version
                    for r in template_releases(tpl)
                    if r.security
                    and version_key(provenance.version)
                    < version_key(r.version)
                    <= version_key(latest)
                ]
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    return {
        "project": str(root),
        "template": provenance.name,
        "version": provenance.version,
        "latest": latest,
        "behind": behind,
        "security": security,
    }


@dataclass
class UpdateResult:
    """What :func:`update_project` did."""

    plan: UpdatePlan
    applied: bool = False
    recovered: list[str] = field(default_factory=list)
    verification: Any = None  # verify.Verification, or None when not run
    marked_in_git: bool = False


def update_project(
    *,
    project_dir: Path,
    to_version: str | None = None,
    data: Mapping[str, str] | None = None,
    dry_run: bool = False,
    conflict_style: str = "inline",
    verify: bool = True,
    force: bool = False,
    allow_dirty: bool = False,
    template: str | None = None,
    cache_dir: Path | None = None,
) -> UpdateResult:
    """Update the generated project at ``project_dir``; see the module docstring."""
    from webkit_cli.update import apply as applying
    from webkit_cli.update import verify as verifying

    root = find_generated_project(project_dir)
    recovered = [] if dry_run else applying.recover(root)
    if not dry_run and not allow_dirty:
        dirty = applying.dirty_files(root)
        if dirty:
            shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
            raise UpdateError(
                f"The project has uncommitted changes ({shown}): commit or stash them first, "
                "so the update's changes can be told apart, or pass --allow-dirty."
            )
    plan = plan_update(
        project_dir=root,
        to_version=to_version,
        data=data,
        conflict_style=conflict_style,
        template=template,
        cache_dir=cache_dir,
    )
    result = UpdateResult(plan=plan, recovered=recovered)
    if dry_run or plan.up_to_date:
        return result
    if verify and not plan.conflicts:
        result.verification = verifying.verify(root, plan.changes)
        if not result.verification.ok and not force:
            return result
    applying.apply_changes(root, plan.changes, rej_files=conflict_style == "rej")
    result.applied = True
    if conflict_style == "inline":
        result.marked_in_git = applying.mark_unmerged(root, plan.conflicts)
    return result

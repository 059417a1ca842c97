"""Everything the rules share: the project's files, parsed once, and the app if imported.

Each Python file is read and parsed with :func:`ast.parse` once, each template with
Jinja's ``Environment.parse`` once; every rule walks those trees. That is what keeps
``webkit check`` fast on big projects.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli._paths import TEMPLATE_SUFFIXES, display_path, is_ignored_dir
from webkit_cli.check.config import CheckConfig
from webkit_cli.check.suppression import path_matches

if TYPE_CHECKING:
    from jinja2 import Environment, nodes

    from webkit_cli.project import Project

#: Besides :data:`~webkit_cli._paths.IGNORED_DIRS`: Flask's instance folder holds local
#: configuration and databases, never committed, so never linted.
CHECK_SKIP_DIRS = frozenset({"instance"})
#: Hidden directories are skipped except these (CI workflows can hold conflict markers too).
KEEP_HIDDEN = frozenset({".github"})
#: An ``.svg`` inside a templates folder is served by its loader (inline icons), so it is
#: parsed as a template here although elsewhere it is only an image.
CHECK_TEMPLATE_SUFFIXES = TEMPLATE_SUFFIXES | {".svg"}
#: Larger files are not scanned for conflict markers (generated or vendored data).
MAX_TEXT_BYTES = 1_000_000


@dataclass
class PythonFile:
    """One ``.py`` file: its text, its AST (``None`` when it does not parse)."""

    path: Path
    rel: str
    source: str
    module: str | None
    tree: ast.Module | None = None
    error: SyntaxError | None = None

    @property
    def is_test(self) -> bool:
        """Test code: under a ``tests``/``test`` folder, ``test_*.py``, ``*_test.py``, conftest."""
        parts = self.rel.split("/")
        name = parts[-1]
        return (
            any(part in {"tests", "test", "testing"} for part in parts[:-1])
            or name.startswith("test_")
            or name.endswith("_test.py")
            or name == "conftest.py"
        )


@dataclass
class TemplateFile:
    """One Jinja template: its names (relative to each templates folder) and parsed tree."""

    path: Path
    rel: str
    source: str
    names: tuple[str, ...]
    tree: nodes.Template | None = None
    error: Exception | None = None
    error_line: int | None = None


@dataclass
class AppState:
    """The outcome of importing the app for the rules that need it."""

    app: Any = None
    #: "loaded", "disabled" (--no-import), "unavailable" (no app anywhere) or "failed"
    status: str = "disabled"
    reason: str = ""


@dataclass
class CheckContext:
    """The project as the rules see it."""

    project: Project
    config: CheckConfig
    app_state: AppState = field(default_factory=AppState)
    python_files: list[PythonFile] = field(default_factory=list)
    template_files: list[TemplateFile] = field(default_factory=list)
    #: every file walked (relative POSIX path -> absolute path), for hygiene rules
    all_files: dict[str, Path] = field(default_factory=dict)
    template_dirs: list[Path] = field(default_factory=list)
    jinja_env: Environment | None = None
    #: files in git's index (relative POSIX paths); ``None`` when not in a git work tree
    git_tracked: set[str] | None = None
    #: files with merge-conflict markers -> marker lines (filled by the hygiene rules)
    conflicts: dict[str, list[int]] | None = None

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def app(self) -> Any:
        return self.app_state.app

    def rel(self, path: Path | str) -> str:
        """POSIX path relative to the root (the absolute path when outside it)."""
        return display_path(Path(path).resolve(), self.root)

    def parsed_python(self) -> Iterator[tuple[PythonFile, ast.Module]]:
        for file in self.python_files:
            if file.tree is not None:
                yield file, file.tree

    def parsed_templates(self) -> Iterator[tuple[TemplateFile, nodes.Template]]:
        for file in self.template_files:
            if file.tree is not None:
                yield file, file.tree

    @cached_property
    def template_names(self) -> dict[str, TemplateFile]:
        """Every name a template can be loaded by -> the file."""
        names: dict[str, TemplateFile] = {}
        for file in self.template_files:
            for name in file.names:
                names.setdefault(name, file)
        return names

    @cached_property
    def app_template_names(self) -> frozenset[str]:
        """Names the imported app's loader can find (empty without an app)."""
        if self.app is None:
            return frozenset()
        try:
            return frozenset(self.app.jinja_env.list_templates())
        except Exception:  # noqa: BLE001 - a user's custom loader may not list
            return frozenset()

    def template_exists(self, name: str) -> bool:
        """True when a template of that name exists (or may: see below)."""
        if name in self.template_names or name in self.app_template_names:
            return True
        if self.app is None and "/" in name:
            # Without the app, an installed extension's blueprint templates are invisible
            # ("bootstrap/base.html"): a namespaced name whose folder the project does not
            # have is given the benefit of the doubt rather than reported.
            top = name.split("/", 1)[0]
            return not any((directory / top).is_dir() for directory in self.template_dirs)
        return False


def _is_excluded(rel: str, config: CheckConfig) -> bool:
    return any(path_matches(pattern, rel) for pattern in config.exclude)


def git_files(root: Path) -> tuple[set[str], set[str]] | None:
    """(files git does not ignore, files git tracks) under ``root``; ``None`` outside git.

    Honouring ``.gitignore`` keeps local files out of the lint: Flask's own docs put the
    production ``SECRET_KEY`` in a git-ignored ``instance/config.py``.
    """
    if shutil.which("git") is None:
        return None
    argv = ["git", "-C", str(root), "ls-files", "-z", "-t", "--cached", "--others"]
    try:
        proc = subprocess.run(
            [*argv, "--exclude-standard"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    visible: set[str] = set()
    tracked: set[str] = set()
    for entry in proc.stdout.split(b"\0"):
        if len(entry) < 3:
            continue
        # "-t" prefixes a status letter: "?" for untracked, anything else is in the index
        tag, name = entry[:1], entry[2:].decode("utf-8", "surrogateescape")
        visible.add(name)
        if tag != b"?":
            tracked.add(name)
    if not visible:
        return None  # a project folder git ignores entirely: lint it all the same
    return visible, tracked


def walk_project(
    root: Path, config: CheckConfig, visible: set[str] | None = None
) -> dict[str, Path]:
    """Every file of the project worth linting, by relative POSIX path.

    Skips virtual environments, caches, build output, hidden folders (but ``.github``),
    Flask's ``instance/`` folder, the ``exclude`` globs and, in a git work tree, whatever
    ``.gitignore`` ignores.
    """
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        keep = []
        for name in sorted(dirnames):
            if is_ignored_dir(name) or name in CHECK_SKIP_DIRS:
                continue
            if name.startswith(".") and name not in KEEP_HIDDEN:
                continue
            if (here / name / "pyvenv.cfg").exists():  # any virtual environment
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _is_excluded(rel, config):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if visible is not None and rel not in visible:
                continue
            if not _is_excluded(rel, config):
                files[rel] = here / name
    return files


def module_name(project: Project, path: Path) -> str | None:
    """The dotted module a file is imported as (``src/`` layout first), if any."""
    for base in project.source_dirs:
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            return ".".join(parts)
    return None


def read_text(path: Path) -> str | None:
    """The file as UTF-8 text, or ``None`` for unreadable or binary files."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def load_python_files(ctx: CheckContext) -> None:
    """Read and parse every ``.py`` file once."""
    for rel, path in ctx.all_files.items():
        if not rel.endswith(".py"):
            continue
        source = read_text(path)
        if source is None:
            continue
        file = PythonFile(path=path, rel=rel, source=source, module=module_name(ctx.project, path))
        try:
            file.tree = ast.parse(source, filename=str(path))
        except (SyntaxError, ValueError) as exc:
            file.error = exc if isinstance(exc, SyntaxError) else SyntaxError(str(exc))
        ctx.python_files.append(file)


def _template_dirs(ctx: CheckContext) -> list[Path]:
    """Folders named ``templates`` in the project, plus those the imported app registers."""
    dirs: dict[Path, None] = {}
    for rel in ctx.all_files:
        parts = rel.split("/")[:-1]
        for i, part in enumerate(parts):
            if part == "templates":
                dirs.setdefault(ctx.root.joinpath(*parts[: i + 1]), None)
    for path in _declared_template_folders(ctx):
        dirs.setdefault(path, None)
    app = ctx.app
    if app is not None:
        for owner in [app, *getattr(app, "blueprints", {}).values()]:
            loader = getattr(owner, "jinja_loader", None)
            for search in getattr(loader, "searchpath", None) or []:
                path = Path(search).resolve()
                if path.is_dir() and (path == ctx.root or ctx.root in path.parents):
                    dirs.setdefault(path, None)
    return list(dirs)


def _declared_template_folders(ctx: CheckContext) -> Iterator[Path]:
    """``Flask(..., template_folder="x")`` / ``Blueprint(..., template_folder="x")`` literals.

    Read from the AST so that ``--no-import`` knows a blueprint's own template folder too
    (Flask resolves it relative to the module's folder, as done here).
    """
    for file in ctx.python_files:
        if file.tree is None or "template_folder" not in file.source:
            continue
        for node in ast.walk(file.tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "template_folder" and isinstance(kw.value, ast.Constant):
                    value = kw.value.value
                    if isinstance(value, str) and value:
                        path = (file.path.parent / value).resolve()
                        if path.is_dir() and ctx.root in path.parents:
                            yield path


#: Without the app, templates are parsed with Jinja's bundled extensions that Flask projects
#: commonly enable (Flask-Babel's ``{% trans %}``, ``{% do %}``, ``{% break %}``): a tag the
#: real app lacks is then missed in that degraded mode, rather than a valid one reported.
FALLBACK_EXTENSIONS = ("jinja2.ext.i18n", "jinja2.ext.do", "jinja2.ext.loopcontrols")


def make_jinja_env(ctx: CheckContext) -> Environment:
    """The app's own environment (its extensions parse its templates), else a tolerant one."""
    app = ctx.app
    if app is not None and getattr(app, "jinja_env", None) is not None:
        env: Environment = app.jinja_env
        return env
    from jinja2 import Environment

    extensions = dict.fromkeys([*FALLBACK_EXTENSIONS, *ctx.config.jinja_extensions])
    try:
        return Environment(extensions=list(extensions))
    except (ImportError, AttributeError):  # a misspelt jinja-extensions entry
        return Environment(extensions=list(FALLBACK_EXTENSIONS))


def load_templates(ctx: CheckContext) -> None:
    """Find every template file and parse it once with Jinja's own parser."""
    from jinja2 import TemplateSyntaxError

    ctx.template_dirs = _template_dirs(ctx)
    env = ctx.jinja_env = make_jinja_env(ctx)
    by_path: dict[Path, list[str]] = {}
    for directory in ctx.template_dirs:
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                path = Path(dirpath) / name
                if path.suffix.lower() not in CHECK_TEMPLATE_SUFFIXES:
                    continue
                by_path.setdefault(path, []).append(path.relative_to(directory).as_posix())
    for path in sorted(by_path):
        rel = ctx.rel(path)
        if rel not in ctx.all_files:  # excluded or in a skipped directory
            continue
        source = read_text(path)
        if source is None:
            continue
        file = TemplateFile(path=path, rel=rel, source=source, names=tuple(by_path[path]))
        try:
            file.tree = env.parse(source, name=file.names[0], filename=str(path))
        except TemplateSyntaxError as exc:
            file.error, file.error_line = exc, exc.lineno
        ctx.template_files.append(file)

"""Everything the rules share: the project's files, parsed once, and the app if imported.

Each Python file is read and parsed with :func:`ast.parse` once, each template with
Jinja's ``Environment.parse`` once; every rule walks those trees. That is what keeps
``webkit check`` fast on big projects.
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli._paths import TEMPLATE_SUFFIXES, display_path, is_ignored_dir
from webkit_cli.check.config import CheckConfig
from webkit_cli.check.suppression import path_matches

if TYPE_CHECKING:
    from jinja2 import Environment, nodes

    from webkit_cli.check.appfacts import AppFacts
    from webkit_cli.check.appimport import AppImport
    from webkit_cli.check.filecache import FileCache, FileResult
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


#: A tree not parsed yet (trees are parsed on first use: a cached run needs few of them).
_UNPARSED: Any = object()


@dataclass
class PythonFile:
    """One ``.py`` file: its text, its AST (``None`` when it does not parse).

    ``text`` is ``None`` until :attr:`source` is first read: a run whose results come from
    the cache reads only the files a rule still looks at.
    """

    path: Path
    rel: str
    text: str | None
    module: str | None
    error: SyntaxError | None = None
    _tree: Any = field(default=_UNPARSED, repr=False, compare=False)

    @property
    def source(self) -> str:
        """The text (by PEP 263; ``""`` when it is not text), read on first use."""
        if self.text is None:
            data = read_bytes(self.path)
            self.text = (decode_python(data)[0] if data is not None else None) or ""
        return self.text

    @property
    def tree(self) -> ast.Module | None:
        """The AST, parsed on first use (``None`` when the file does not parse)."""
        if self._tree is _UNPARSED:
            self._tree = None
            if self.error is None:
                self._tree, self.error = _parse_python(self.source, self.path)
        return self._tree  # type: ignore[no-any-return]

    @tree.setter
    def tree(self, value: ast.Module | None) -> None:
        self._tree = value

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
    #: ``None`` until :attr:`source` is first read (as :class:`PythonFile`)
    text: str | None
    names: tuple[str, ...]
    error: Exception | None = None
    error_line: int | None = None
    #: what the environment a tree not parsed yet is parsed with is built from (built
    #: only then: a cached run never imports Jinja's parser)
    env_spec: Any = field(default=None, repr=False, compare=False)
    _tree: Any = field(default=_UNPARSED, repr=False, compare=False)

    @property
    def source(self) -> str:
        """The text (UTF-8, as Flask's loaders read it; ``""`` when it is not), read on
        first use."""
        if self.text is None:
            data = read_bytes(self.path)
            try:
                self.text = data.decode("utf-8") if data is not None else ""
            except UnicodeDecodeError:
                self.text = ""
        return self.text

    @property
    def tree(self) -> nodes.Template | None:
        """The Jinja tree, parsed on first use (``None`` when the template does not parse)."""
        if self._tree is _UNPARSED:
            self._tree = None
            if self.error is None and self.env_spec is not None:
                from webkit_cli.check.filecache import environment

                self._parse(environment(self.env_spec))
        return self._tree  # type: ignore[no-any-return]

    @tree.setter
    def tree(self, value: nodes.Template | None) -> None:
        self._tree = value

    def _parse(self, env: Environment) -> None:
        from jinja2 import TemplateSyntaxError

        try:
            self._tree = env.parse(self.source, name=self.names[0], filename=str(self.path))
        except TemplateSyntaxError as exc:
            self.error, self.error_line = exc, exc.lineno
        except (RecursionError, MemoryError):
            self.error = ValueError("the template is " + too_deep(MAX_DEPTH) + " (or deeper)")


@dataclass
class AppState:
    """The outcome of importing the app (in its child process) for the rules that use it."""

    facts: AppFacts | None = None
    #: "loaded", "disabled" (--no-import), "unavailable" (no app anywhere) or "failed"
    status: str = "disabled"
    reason: str = ""
    #: the live child, for template look-ups through the app's loader while rules run
    importer: AppImport | None = None


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
    #: per-file results (relative path -> what the file yields on its own) and their keys
    file_results: dict[str, FileResult] = field(default_factory=dict)
    file_keys: dict[str, str] = field(default_factory=dict)
    #: template names looked up through the app while a memoised rule ran
    _resolve_log: set[str] | None = field(default=None, repr=False)
    cache: FileCache = field(default_factory=lambda: _memory_cache())
    #: files from which a process pool pays (``None``: the measured default)
    pool_min: int | None = None
    #: what the rules tell the user that is not a finding (e.g. why one could not run)
    notes: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.project.root

    #: template name -> file the app's loader serves it from ("" not a file, None missing)
    resolved_templates: dict[str, str | None] = field(default_factory=dict)

    @property
    def facts(self) -> AppFacts | None:
        """What the imported app says about itself (``None`` without an imported app)."""
        return self.app_state.facts

    def rel(self, path: Path | str) -> str:
        """POSIX path relative to the root (the absolute path when outside it)."""
        return display_path(Path(path).resolve(), self.root)

    def parsed_python(self, *words: str) -> Iterator[tuple[PythonFile, ast.Module]]:
        """Files that parse, with their trees; given ``words``, only the files whose source
        names one of them (a tree is parsed on first use: the others are never parsed)."""
        for file in self.python_files:
            if words and not any(word in file.source for word in words):
                continue
            if file.tree is not None:
                yield file, file.tree

    def parsed_templates(self, *words: str) -> Iterator[tuple[TemplateFile, nodes.Template]]:
        """Templates that parse, as :meth:`parsed_python` (``words`` matched ignoring case)."""
        for file in self.template_files:
            if words:
                lowered = file.source.lower()
                if not any(word in lowered for word in words):
                    continue
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
        """Names the imported app's loader lists (empty without an app)."""
        return frozenset(self.facts.template_names) if self.facts is not None else frozenset()

    def resolve_template(self, name: str) -> str | None:
        """Ask the app's own loader (``get_source``, blueprints included) for ``name``.

        The file it is served from, ``""`` when it exists but not as a file (or the loader
        could not say), ``None`` when the loader does not have it.
        """
        if self._resolve_log is not None:
            self._resolve_log.add(name)
        if name not in self.resolved_templates:
            self._resolve([name])
        return self.resolved_templates[name]

    def _resolve(self, names: list[str]) -> None:
        importer = self.app_state.importer
        answer = importer.resolve(names) if importer is not None else None
        for name in names:
            # no answer (the child died): give the benefit of the doubt, report nothing
            self.resolved_templates[name] = "" if answer is None else answer.get(name, "")

    def memoised(self, name: str, compute: Callable[[], list[Any]]) -> list[Any]:
        """``compute()``, remembered in the project's cache index until a Python file or a
        template changes (its content, names or syntax error), the configuration does, or
        the app's loader answers differently for a template name ``compute`` asked it for.

        For a project-wide rule that reads only those (CSRF: its forms, the templates they
        include, the protection the code shows)."""
        index = self.cache.index(self.root)
        state = self._state(name)
        # one entry with the app and one without: CI runs both, and neither evicts the other
        slot = f"{name} {'app' if self.facts is not None else 'no-app'}"
        stored = index.memo.get(slot)
        if isinstance(stored, tuple) and len(stored) == 3 and stored[0] == state:
            asked = stored[2]
            missing = [n for n in asked if n not in self.resolved_templates]
            if missing:
                self._resolve(missing)
            if all(self.resolved_templates[n] == asked[n] for n in asked):
                return list(stored[1])
        self._resolve_log = set()
        try:
            value = list(compute())
            asked = {n: self.resolved_templates[n] for n in sorted(self._resolve_log)}
        finally:
            self._resolve_log = None
        index.memo[slot] = (state, value, asked)
        index.dirty = True
        return value

    def _state(self, name: str) -> str:
        """A digest of everything :meth:`memoised` values may depend on."""
        import hashlib

        digest = hashlib.sha256(repr((name, self.facts is not None, _stable(self.config))).encode())
        files: list[PythonFile | TemplateFile] = [*self.python_files, *self.template_files]
        for file in files:
            names = file.names if isinstance(file, TemplateFile) else ()
            error = None if file.error is None else (type(file.error).__name__, str(file.error))
            digest.update(repr((file.rel, self.file_keys.get(file.rel), names, error)).encode())
        return digest.hexdigest()

    def template_file(self, name: str) -> TemplateFile | None:
        """The project's file a template name loads, by folder or by the app's loader."""
        file = self.template_names.get(name)
        if file is not None or self.facts is None:
            return file
        served = self.resolve_template(name)
        if served:
            for candidate in self.template_files:
                if str(candidate.path.resolve()) == served:
                    return candidate
        return None

    def template_exists(self, name: str) -> bool:
        """True when a template of that name exists (or may: see below)."""
        if name in self.template_names or name in self.app_template_names:
            return True
        if self.facts is not None:
            return self.resolve_template(name) is not None
        from jinja2 import TemplateNotFound
        from jinja2.loaders import split_template_path

        try:
            pieces = split_template_path(name)
        except TemplateNotFound:
            return False  # ".." or a backslash: Jinja's loaders find nothing
        name = "/".join(pieces)
        if name in self.template_names:
            return True  # "/index.html", "./index.html": Jinja drops empty and "." pieces
        if os.path.splitext(name)[1].lower() not in CHECK_TEMPLATE_SUFFIXES and any(  # noqa: PTH122
            os.path.isfile(os.path.join(directory, *pieces))  # noqa: PTH113, PTH118
            for directory in self.template_dirs
        ):
            return True  # render_template serves any file of the folder ("sql/create.sql")
        if "/" in name:
            # Without the app, an installed extension's blueprint templates are invisible
            # ("bootstrap/base.html"): a namespaced name whose folder the project does not
            # have is given the benefit of the doubt rather than reported.
            top = name.split("/", 1)[0]
            if not any((directory / top).is_dir() for directory in self.template_dirs):
                return True
            # Nor when the folder is named for an extension the code imports (admin/ beside
            # flask_admin): it holds the project's overrides of a few of the extension's
            # templates (templates/admin/index.html, as Flask-Admin's and Flask-Security's
            # docs advise), which extend the others, which only the app's loader has.
            return _extension_folder(top, self.extension_modules)
        return False

    @cached_property
    def extension_modules(self) -> frozenset[str]:
        """The ``flask_*`` packages the project's modules import (``flask_admin``)."""
        modules: set[str] = set()
        for file in self.python_files:
            result = self.file_results.get(file.rel)
            if result is not None:
                if file.error is None:
                    modules.update(result.extracts.get("extension-imports", ()))
            elif "flask_" in file.source and file.tree is not None:
                modules.update(extension_imports(file.tree))
        return frozenset(modules)


def _stable(value: Any) -> Any:
    """``value`` with sets sorted (their order varies from process to process)."""
    if isinstance(value, set | frozenset):
        return sorted((_stable(item) for item in value), key=repr)
    if isinstance(value, tuple | list):
        return [_stable(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return [(key, _stable(getattr(value, key))) for key in value.__dataclass_fields__]
    return value


def _memory_cache() -> FileCache:
    from webkit_cli.check.filecache import FileCache

    return FileCache(None)


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


def read_bytes(path: Path) -> bytes | None:
    """The content of a regular file; ``None`` for anything else (FIFO, device) or on error.

    Opened without blocking and checked with ``fstat`` before reading: a named pipe called
    ``pipe.py`` would otherwise wait forever for a writer.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(path: Path) -> str | None:
    """The file as UTF-8 text, or ``None`` for unreadable or binary files."""
    data = read_bytes(path)
    if data is None or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_python(data: bytes) -> tuple[str | None, SyntaxError | None]:
    """Source text by PEP 263 (the coding cookie, else UTF-8), or why it is not text."""
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"  # no readable cookie: the decoding below says where it breaks
    try:
        text = data.decode(encoding)
    except LookupError as exc:
        return None, SyntaxError(f"unknown encoding: {exc}", (None, 1, None, None))
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start)
        message = f"the file is not valid {exc.encoding} text (byte 0x{data[exc.start]:02x})"
        return None, SyntaxError(message, (None, line, None, None))
    nul = text.find("\x00")
    if nul != -1:
        line = text.count("\n", 0, nul) + 1
        error = SyntaxError("the file contains a NUL byte: it is not Python source")
        error.lineno = line
        return None, error
    return text, None


#: How deep a tree may nest before webkit gives up analysing it: its rules walk trees
#: recursively, two frames per level, within Python's default limit of 1000 frames.
MAX_DEPTH = 200


def tree_depth(root: Any, children: Callable[[Any], Iterable[Any]]) -> int:
    """The nesting depth of a tree, without recursion (the tree may be very deep)."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children(node))
    return deepest


def too_deep(depth: int) -> str:
    return (
        f"nested {depth} levels deep, too deep for webkit check to analyse; "
        "split the expression or block"
    )


def _parse_python(source: str, path: Path) -> tuple[ast.Module | None, SyntaxError | None]:
    try:
        return ast.parse(source, filename=str(path)), None
    except SyntaxError as exc:
        return None, exc
    except ValueError as exc:
        return None, SyntaxError(str(exc))
    except (RecursionError, MemoryError):
        return None, SyntaxError("the code is " + too_deep(MAX_DEPTH) + " (or deeper)")


def python_file_from(path: Path, rel: str, module: str | None, data: bytes) -> PythonFile:
    """A :class:`PythonFile` for ``data``, parsed now (the per-file analysis needs its tree)."""
    source, error = decode_python(data)
    file = PythonFile(path=path, rel=rel, text=source or "", module=module, error=error)
    if source is None:
        file.tree = None
    else:
        _ = file.tree
    return file


def template_file_from(
    path: Path, rel: str, names: tuple[str, ...], data: bytes, env: Environment
) -> TemplateFile:
    """A :class:`TemplateFile` for ``data``, parsed now with ``env``."""
    try:
        source = data.decode("utf-8")  # what Flask's loaders read templates as
    except UnicodeDecodeError as exc:
        file = TemplateFile(path=path, rel=rel, text="", names=names)
        file.error = ValueError(f"the template is not valid UTF-8 (byte 0x{data[exc.start]:02x})")
        file.error_line = _line_at(data, exc.start)
        file.tree = None
        return file
    file = TemplateFile(path=path, rel=rel, text=source, names=names)
    file.tree = None
    file._parse(env)
    return file


def _restore_error(result: FileResult, python: bool) -> Exception | None:
    if result.error is None:
        return None
    message, line, column, plain = result.error
    if python:
        error = SyntaxError(message)
        error.lineno, error.offset = line, column
        return error
    if plain:
        return ValueError(message)
    from jinja2 import TemplateSyntaxError

    return TemplateSyntaxError(message, line or 1)


def load_python_files(ctx: CheckContext) -> None:
    """List every ``.py`` file; what it yields on its own (does it parse, the per-file
    rules' findings) comes from the cache or is computed once. One that is not text or
    does not parse keeps its error (reported as P005) and counts as checked."""
    from webkit_cli.check.filecache import Job, analyse_many, regular_file_signature

    jobs: list[Job] = []
    paths: list[Path] = []
    module_of = _module_namer(ctx.project)
    for rel, path in ctx.all_files.items():
        if not rel.endswith(".py"):
            continue
        sig = regular_file_signature(path)
        if sig is None:
            continue  # not a regular file (a FIFO called pipe.py), or gone
        jobs.append(Job("python", str(path), rel, module_of(path), stat=sig))
        paths.append(path)
    results = analyse_many(
        jobs, ctx.cache, project=ctx.root, pool_min=ctx.pool_min, keys=ctx.file_keys
    )
    for job, path, result in zip(jobs, paths, results, strict=True):
        if result is None:
            continue  # unreadable
        file = PythonFile(path=path, rel=job.rel, text=None, module=job.module)
        ctx.python_files.append(file)
        ctx.file_results[file.rel] = result
        error = _restore_error(result, python=True)
        if error is not None:
            assert isinstance(error, SyntaxError)
            file.error, file.tree = error, None


def _module_namer(project: Project) -> Callable[[Path], str | None]:
    """:func:`module_name` for many files (string prefixes: pathlib costs more than the
    rest of a cached run)."""
    bases = [os.path.join(str(base), "") for base in project.source_dirs]  # noqa: PTH118

    def name(path: Path) -> str | None:
        text = str(path)
        for base in bases:
            if not text.startswith(base):
                continue
            parts = text[len(base) :].split(os.sep)  # noqa: PTH206 - strings are faster
            stem, dot, _suffix = parts[-1].rpartition(".")
            parts[-1] = stem if dot and stem else parts[-1]
            if parts[-1] == "__init__":
                parts.pop()
            if parts and all(part.isidentifier() for part in parts):
                return ".".join(parts)
        return None

    return name


def text_file_results(ctx: CheckContext) -> dict[str, FileResult]:
    """What each walked file that is neither Python nor a template yields on its own (its
    conflict markers), from the cache or read once; larger files than
    :data:`MAX_TEXT_BYTES` and binary files yield nothing."""
    from webkit_cli.check.filecache import Job, analyse_many, regular_file_signature

    known = {f.rel for f in ctx.python_files}
    known.update(f.rel for f in ctx.template_files)
    jobs: list[Job] = []
    for rel, path in ctx.all_files.items():
        if rel in known:
            continue
        sig = regular_file_signature(path)
        if sig is None or sig[0] > MAX_TEXT_BYTES:
            continue
        jobs.append(Job("text", str(path), rel, None, stat=sig))
    results = analyse_many(jobs, ctx.cache, project=ctx.root, pool_min=ctx.pool_min)
    return {job.rel: result for job, result in zip(jobs, results, strict=True) if result}


def drop_deep_trees(ctx: CheckContext) -> bool:
    """Turn every tree nested deeper than :data:`MAX_DEPTH` into its file's error.

    Called only after a rule hit ``RecursionError`` (measuring every tree up front would
    cost every run for a case that real code never has). True if any tree was dropped.
    """
    dropped = False
    for pyfile in ctx.python_files:
        if pyfile.tree is not None:
            depth = tree_depth(pyfile.tree, ast.iter_child_nodes)
            if depth > MAX_DEPTH:
                pyfile.tree, pyfile.error = None, SyntaxError("the code is " + too_deep(depth))
                dropped = True
    for tfile in ctx.template_files:
        if tfile.tree is not None:
            depth = tree_depth(tfile.tree, lambda node: node.iter_child_nodes())
            if depth > MAX_DEPTH:
                tfile.tree, tfile.error = None, ValueError("the template is " + too_deep(depth))
                dropped = True
    return dropped


def _template_dirs(ctx: CheckContext) -> list[Path]:
    """Folders named ``templates`` in the project, plus those the imported app registers."""
    found: dict[str, None] = {}  # relative folders first: a Path per file costs
    for rel in ctx.all_files:
        parts = rel.split("/")[:-1]
        for i, part in enumerate(parts):
            if part == "templates":
                found.setdefault("/".join(parts[: i + 1]), None)
    dirs: dict[Path, None] = {ctx.root.joinpath(*rel.split("/")): None for rel in found}
    for path in _declared_template_folders(ctx):
        dirs.setdefault(path, None)
    if ctx.facts is not None:
        for search in ctx.facts.template_searchpaths:
            path = Path(search)
            if path.is_dir() and (path == ctx.root or ctx.root in path.parents):
                dirs.setdefault(path, None)
    return list(dirs)


def _extension_folder(folder: str, modules: frozenset[str]) -> bool:
    """A template folder named for an imported extension: ``admin`` for ``flask_admin``,
    ``bootstrap5`` for ``flask_bootstrap``, ``flask_user`` for itself."""
    names = {folder, f"flask_{folder}", f"flask_{folder.rstrip('0123456789')}"}
    return any(name in modules for name in names if name.startswith("flask_"))


def extension_imports(tree: ast.Module) -> list[str]:
    """The top-level ``flask_*`` modules a module imports (per-file, kept in the cache)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".", 1)[0] for n in names if n.startswith("flask_"))
    return sorted(found)


def template_folder_literals(tree: ast.Module) -> list[str]:
    """The literal ``template_folder="x"`` arguments of a module's calls (kept in the
    per-file cache)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "template_folder" and isinstance(kw.value, ast.Constant):
                value = kw.value.value
                if isinstance(value, str) and value:
                    found.append(value)
    return found


def _declared_template_folders(ctx: CheckContext) -> Iterator[Path]:
    """``Flask(..., template_folder="x")`` / ``Blueprint(..., template_folder="x")`` literals.

    Read from the AST so that ``--no-import`` knows a blueprint's own template folder too
    (Flask resolves it relative to the module's folder, as done here).
    """
    for file in ctx.python_files:
        result = ctx.file_results.get(file.rel)
        if result is not None:
            values = result.extracts.get("template-folders", ()) if file.error is None else ()
        elif "template_folder" in file.source and file.tree is not None:
            values = template_folder_literals(file.tree)
        else:
            continue
        for value in values:
            path = (file.path.parent / value).resolve()
            if path.is_dir() and ctx.root in path.parents:
                yield path


def make_jinja_env(ctx: CheckContext) -> Environment:
    """An environment that parses templates as the app does: its extensions and syntax.

    With the app imported, what its ``jinja_env`` registers; without, what the code shows
    (:func:`~webkit_cli.check.jinja.declared_extensions`) and ``jinja-extensions``, plus the
    bundled ones Flask projects commonly enable.
    """
    from webkit_cli.check.filecache import environment

    return environment(env_spec(ctx))


def _reparse_in_the_app(ctx: CheckContext) -> None:
    """Templates that fail here because an extension of the app's own code is missing in
    this process: the app's environment (in the child) decides whether they parse."""
    importer = ctx.app_state.importer
    if ctx.facts is None or importer is None:
        return  # (before importing Jinja: a cached run without the app never needs it)
    from webkit_cli.check.jinja import unloadable

    if not unloadable(ctx.facts.jinja_extensions):
        return  # (before importing Jinja: the app's run from the cache needs none either)
    from jinja2 import TemplateSyntaxError

    failed = {
        str(f.path): f for f in ctx.template_files if isinstance(f.error, TemplateSyntaxError)
    }
    if not failed:
        return
    verdicts = importer.parse([(path, f.names[0]) for path, f in failed.items()])
    for path, verdict in (verdicts or {}).items():
        file = failed[path]
        if verdict is None:
            # valid for the app: no T001; the rules that walk trees skip it (no tree here)
            file.error, file.error_line = None, None
        elif verdict[0]:
            file.error = TemplateSyntaxError(verdict[1], verdict[0])
            file.error_line = verdict[0]


def _template_paths(directories: Iterable[Path]) -> dict[str, tuple[str, list[str]]]:
    """Template files under each folder: path -> (its real path, its name in each folder).

    By strings (a folder's real path resolved once, a file's only when it is a link):
    pathlib and resolving each file cost more than the rest of a cached run."""
    found: dict[str, tuple[str, list[str]]] = {}
    for directory in directories:
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            real_dir = os.path.realpath(dirpath)
            prefix = os.path.relpath(dirpath, directory).replace(os.sep, "/")
            for name in filenames:
                if os.path.splitext(name)[1].lower() not in CHECK_TEMPLATE_SUFFIXES:  # noqa: PTH122
                    continue
                path = os.path.join(dirpath, name)  # noqa: PTH118
                if path not in found:
                    link = os.path.islink(path)  # noqa: PTH114
                    real = os.path.realpath(path) if link else os.path.join(real_dir, name)  # noqa: PTH118
                    found[path] = (real, [])
                found[path][1].append(name if prefix == "." else f"{prefix}/{name}")
    return found


def load_templates(ctx: CheckContext) -> None:
    """Find every template file; its syntax and per-file findings come from the cache or
    one parse with Jinja's own parser (with the app's environment)."""
    from webkit_cli.check.filecache import Job, analyse_many, regular_file_signature

    ctx.template_dirs = _template_dirs(ctx)
    spec = env_spec(ctx)
    by_path = _template_paths(ctx.template_dirs)
    jobs: list[Job] = []
    paths: list[Path] = []
    root = os.path.join(str(ctx.root), "")  # noqa: PTH118 - see _template_paths
    # in the order of sorted Paths (by their parts), as ever: the first file of a name wins
    for text in sorted(by_path, key=lambda item: item.split(os.sep)):  # noqa: PTH206
        real, names = by_path[text]
        path = Path(text)
        # display_path, by string: both are absolute and normalised
        rel = real[len(root) :].replace(os.sep, "/") if real.startswith(root) else real
        if rel not in ctx.all_files:  # excluded or in a skipped directory
            continue
        sig = regular_file_signature(path)
        if sig is None:
            continue  # not a regular file, or gone
        jobs.append(Job("template", str(path), rel, None, None, tuple(names), spec, sig))
        paths.append(path)
    results = analyse_many(
        jobs, ctx.cache, project=ctx.root, pool_min=ctx.pool_min, keys=ctx.file_keys
    )
    for job, path, result in zip(jobs, paths, results, strict=True):
        if result is None:
            continue  # unreadable
        file = TemplateFile(path=path, rel=job.rel, text=None, names=job.names, env_spec=spec)
        ctx.template_files.append(file)
        ctx.file_results[file.rel] = result
        error = _restore_error(result, python=False)
        if error is not None:
            file.error, file.tree = error, None
            file.error_line = result.error[1] if result.error else None
    _reparse_in_the_app(ctx)


def env_spec(ctx: CheckContext) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...], bool]:
    """What :func:`make_jinja_env` builds the environment from (a part of the cache key)."""
    from webkit_cli.check.jinja import declared_extensions

    if ctx.facts is not None:
        syntax = tuple(sorted(ctx.facts.jinja_syntax.items()))
        return tuple(ctx.facts.jinja_extensions), syntax, False
    return tuple(declared_extensions(ctx)), (), True

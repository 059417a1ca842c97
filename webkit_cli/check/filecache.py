"""Per-file results of ``webkit check``, computed once per content and cached on disk.

What a file yields on its own — whether it parses (P005/T001), the findings of the
per-file rules (``Check.per_file``), its suppression comments and what the project-wide
rules need of it alone (``FileResult.extracts``) — depends only on its bytes, its path,
the rule set and, for a template, the Jinja environment it is parsed with. That is the
key (:func:`entry_key`), so a cached entry can never give another result than a fresh
analysis: an edited file has another key, a new webkit (or an edited rule module)
another :func:`ruleset_fingerprint`, another set of Jinja extensions another environment.

A project has one index in webkit's cache folder (``WEBKIT_CACHE_DIR``, else XDG):
``index/<project>.pickle`` holds, for each file, its stat signature (size, mtime, ctime,
inode, device) with the key it had, and the result of each key. A warm run reads that
one file and stats each file of the project: a file whose signature is unchanged is not
even read. A signature is trusted only when the file had not been modified for
:data:`RACY_NS` when it was recorded (git's "racily clean" rule: two saves within one
tick of a coarse file-system clock may leave size and times equal); otherwise the file
is read and hashed, as is every file whose signature changed. The index is written to a
temporary file and renamed into place, so a reader (or a concurrent run) sees a whole
index or none; one that does not load is ignored and rebuilt.

Big trees are analysed in a process pool (:func:`analyse_many`): the per-file work is
pure, so the workers return only small results and the parent never pickles a tree.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import stat
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli.check.findings import Finding
from webkit_cli.check.suppression import LineSuppressions

if TYPE_CHECKING:
    from jinja2 import Environment

#: Bumped by hand when the shape of :class:`FileResult` or of the index changes.
FORMAT = 4
#: Below this many files to analyse, a pool costs more than it saves (its start-up and
#: the results sent back). ``benchmarks/bench_check.py`` measures it on a CTFd-sized tree
#: (484 files): 0.61x and 1.55x of the serial time in two runs on a shared 2-core machine,
#: so no gain is proven at that size and the pool starts only above it.
POOL_MIN_FILES = 1000
#: A stat signature recorded less than this long after the file's last modification is
#: not trusted: file-system clocks tick coarsely (a jiffy on Linux, 1-2 s on FAT/HFS+),
#: so a second save in the same tick could leave size and times unchanged.
RACY_NS = 2_000_000_000

#: (size, mtime_ns, ctime_ns, inode, device): what changes when a file's bytes do
Signature = tuple[int, int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


@dataclass
class FileResult:
    """What one file yields on its own."""

    #: P005 (Python) / T001 (template) error: (message, line, column, is_value_error)
    error: tuple[str, int | None, int | None, bool] | None = None
    #: findings of each per-file check (by :func:`check_id`), in the order it emits them
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    suppressions: LineSuppressions = field(default_factory=dict)
    #: what a project-wide rule needs of this file alone (so that a cached run need not
    #: read or parse it), by name; see :func:`_python_extracts` and
    #: :func:`_template_extracts`. A name is absent when the file has nothing of it.
    extracts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One file to analyse (everything a worker needs, and nothing that pickles badly)."""

    kind: str  # "python" or "template"
    path: str
    rel: str
    module: str | None
    #: the file's bytes; ``None`` until needed (a file whose signature is unchanged is
    #: never read)
    data: bytes | None = None
    names: tuple[str, ...] = ()
    #: ``(extensions, syntax items, fallback)`` of the Jinja environment, for templates
    env_spec: tuple[tuple[str, ...], tuple[tuple[str, Any], ...], bool] | None = None
    #: the file's stat signature when it was listed
    stat: Signature | None = None

    @property
    def meta(self) -> str:
        """Everything but the bytes that the result depends on."""
        return repr((self.kind, self.rel, self.module, self.names, self.env_spec))


def _module_bytes(name: str) -> bytes:
    """The source of a top-level module, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        return Path(origin).read_bytes() if origin else b""
    except (ImportError, OSError, ValueError):
        return b""


@cache
def ruleset_fingerprint() -> str:
    """webkit's version and check code (every module of this package and the path rules
    it uses), Python's and Jinja's versions: a change to any of them changes what a rule
    may report. (Jinja is fingerprinted by its ``__init__``, which holds its version,
    without importing it: a warm run never needs Jinja.)"""
    import webkit_cli

    digest = hashlib.sha256(f"{FORMAT}|{webkit_cli.__version__}|{sys.version}".encode())
    digest.update(_module_bytes("jinja2"))
    package = Path(__file__).parent
    for module in [*sorted(package.glob("*.py")), package.parent / "_paths.py"]:
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def entry_key(job: Job, data: bytes) -> str:
    digest = hashlib.sha256(ruleset_fingerprint().encode())
    digest.update(job.meta.encode())
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


@dataclass
class _Entry:
    signature: Signature
    #: when the signature was taken (``time.time_ns()``)
    recorded: int
    key: str

    @property
    def trusted(self) -> bool:
        return self.recorded - self.signature[1] >= RACY_NS


@dataclass
class ProjectIndex:
    """One project's entries: (file, meta) -> signature and key, key -> result."""

    path: Path | None
    fingerprint: str
    files: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    results: dict[str, FileResult] = field(default_factory=dict)
    #: what a project-wide rule computed from the whole project: name -> (the state of
    #: the project it was computed from, its value, the app's answers it relied on)
    memo: dict[str, tuple[str, Any, dict[str, Any]]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: Path | None) -> ProjectIndex:
        fingerprint = ruleset_fingerprint()
        if path is not None:
            try:
                data = pickle.loads(path.read_bytes())
            except Exception:  # noqa: BLE001 - missing, truncated or foreign: rebuild
                data = None
            if (
                isinstance(data, dict)
                and data.get("format") == FORMAT
                and data.get("fingerprint") == fingerprint
                and isinstance(data.get("files"), dict)
                and isinstance(data.get("results"), dict)
                and isinstance(data.get("memo"), dict)
            ):
                return cls(path, fingerprint, data["files"], data["results"], data["memo"])
        return cls(path, fingerprint)

    def result(self, key: str) -> FileResult | None:
        found = self.results.get(key)
        if isinstance(found, FileResult) and _well_formed(found):
            return found
        return None

    def prune(self, keep: Collection[str]) -> None:
        """Drop the files no longer listed (``keep``: those the project has)."""
        if not self.dirty:
            return
        self.files = {name: entry for name, entry in self.files.items() if name[0] in keep}
        used = {entry.key for entry in self.files.values() if isinstance(entry, _Entry)}
        self.results = {key: value for key, value in self.results.items() if key in used}

    def save(self) -> None:
        """Write the index, if anything changed."""
        if not self.dirty:
            return
        self.dirty = False
        if self.path is None:
            return
        payload = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "files": self.files,
            "results": self.results,
            "memo": self.memo,
        }
        from webkit_cli.check.runmemo import dump_atomically

        dump_atomically(self.path, payload)


class FileCache:
    """Project indexes on disk under ``root``, kept in memory for a long-lived process
    (``webkit check --watch``). ``root=None`` keeps them in memory only."""

    def __init__(self, root: Path | None, *, defer_writes: bool = False) -> None:
        self.root = root
        #: leave the writing to :meth:`write` (``--watch`` prints first, then writes)
        self.defer_writes = defer_writes
        self.indexes: dict[Path, ProjectIndex] = {}
        #: files whose result came from the cache / had to be analysed
        self.hits = 0
        self.misses = 0
        #: files read (and hashed) because their signature was not trusted
        self.reads = 0

    @classmethod
    def default(
        cls, environ: Mapping[str, str] | None = None, *, defer_writes: bool = False
    ) -> FileCache:
        from webkit_cli._paths import cache_root

        root = cache_root(os.environ if environ is None else environ) / "check"
        return cls(root, defer_writes=defer_writes)

    def index(self, project: Path) -> ProjectIndex:
        """The index of the project at ``project`` (loaded on first use)."""
        found = self.indexes.get(project)
        if found is None or found.fingerprint != ruleset_fingerprint():
            path = None
            if self.root is not None:
                name = hashlib.sha256(os.fsencode(project)).hexdigest()[:32]
                path = self.root / "index" / f"{name}.pickle"
            found = self.indexes[project] = ProjectIndex.load(path)
        return found

    def flush(self, project: Path, keep: Collection[str]) -> None:
        """Write the project's index (unless writes are deferred); ``keep``: the files the
        project still has."""
        found = self.indexes.get(project)
        if found is not None:
            found.prune(keep)
            if not self.defer_writes:
                found.save()

    def write(self) -> None:
        """Write every index that changed."""
        for index in self.indexes.values():
            index.save()


def _well_formed(result: FileResult) -> bool:
    return (
        isinstance(result.findings, dict)
        and all(
            isinstance(items, list) and all(isinstance(item, Finding) for item in items)
            for items in result.findings.values()
        )
        and isinstance(result.suppressions, dict)
        and isinstance(result.extracts, dict)
        and (result.error is None or isinstance(result.error, tuple))
    )


def regular_file_signature(path: str | Path) -> Signature | None:
    """The signature of a regular file; ``None`` for anything else or on error."""
    try:
        st = os.stat(path)  # noqa: PTH116 - a Path per file costs more than the stat
    except (OSError, ValueError):
        return None
    return signature(st) if stat.S_ISREG(st.st_mode) else None


# --- the analysis (runs in this process or in a pool worker) ----------------------------


def analyse(job: Job) -> FileResult:
    """Parse one file and run the per-file checks on it (a ``text`` file: look for
    conflict markers)."""
    from webkit_cli.check import context

    if job.kind == "python":
        return _analyse_python(job, context)
    if job.kind == "text":
        return _analyse_text(job)
    return _analyse_template(job, context)


def _per_file_checks() -> list[Any]:
    from webkit_cli.check.runner import default_checks

    return [chk for chk in default_checks() if chk.per_file]


def check_id(chk: Any) -> str:
    """A check's name in a cache entry."""
    return f"{chk.func.__module__}.{chk.func.__qualname__}"


def _one_file_context(job: Job) -> Any:
    from webkit_cli.check.config import CheckConfig
    from webkit_cli.check.context import CheckContext
    from webkit_cli.project import Project

    return CheckContext(project=Project(root=Path(job.path).parent), config=CheckConfig())


def _run_per_file(job: Job, ctx: Any, file: Any, result: FileResult, context: Any) -> None:
    for chk in _per_file_checks():
        try:
            result.findings[check_id(chk)] = list(chk.func(ctx))
        except RecursionError:
            # As a full run does: a tree too deep for the recursive walks becomes the
            # file's own error (P005/T001) and no rule reports anything else in it.
            children = (
                ast.iter_child_nodes if job.kind == "python" else lambda n: n.iter_child_nodes()
            )
            depth = context.tree_depth(file.tree, children)
            what = "code" if job.kind == "python" else "template"
            result.error = (f"the {what} is {context.too_deep(depth)}", None, None, True)
            result.findings.clear()
            return


def _conflicts(result: FileResult, text: str) -> None:
    from webkit_cli.check.hygiene import conflict_lines

    lines = conflict_lines(text)
    if lines:
        result.extracts["H001"] = lines


def _python_extracts(file: Any) -> dict[str, Any]:
    """What the project-wide rules need of a module that parses, each only when its
    source names what the rule looks for (as the rules' own fast paths do)."""
    extracts: dict[str, Any] = {}
    source, tree = file.source, file.tree
    if "_template" in source:
        from webkit_cli.check.templates import render_refs

        extracts["T003"] = render_refs(tree)
    if "url_for" in source:
        from webkit_cli.check.links import python_calls

        extracts["L001"] = list(python_calls(file, tree))
    from webkit_cli.check.jinja import EXTENSION_WORDS, module_extensions

    if not file.is_test and any(word in source for word in EXTENSION_WORDS):
        extracts["jinja-extensions"] = module_extensions(tree)
    if "template_folder" in source:
        from webkit_cli.check.context import template_folder_literals

        extracts["template-folders"] = template_folder_literals(tree)
    if "flask_" in source:
        from webkit_cli.check.context import extension_imports

        extracts["extension-imports"] = extension_imports(tree)
    return extracts


def _template_extracts(file: Any) -> dict[str, Any]:
    from webkit_cli.check.csrf import forms_locally_protected
    from webkit_cli.check.templates import template_refs

    lowered = file.source.lower()
    extracts: dict[str, Any] = {"T002": template_refs(file.tree)}
    # True: S007/S008 have nothing to say of it (no form, or each renders its token)
    extracts["S007"] = "<form" not in lowered or forms_locally_protected(file.tree)
    if "url_for" in lowered:
        from webkit_cli.check.links import template_calls

        extracts["L001"] = list(template_calls(file, file.tree))
    return extracts


def _analyse_python(job: Job, context: Any) -> FileResult:
    from webkit_cli.check.suppression import python_suppressions

    assert job.data is not None
    file = context.python_file_from(Path(job.path), job.rel, job.module, job.data)
    result = FileResult()
    if file.source:
        result.suppressions = python_suppressions(file.source)
        _conflicts(result, file.source)
    if file.tree is not None:
        ctx = _one_file_context(job)
        ctx.python_files = [file]
        _run_per_file(job, ctx, file, result, context)
        if result.error is not None:
            return result
        result.extracts.update(_python_extracts(file))
    if file.error is not None:
        err = file.error
        result.error = (str(err.msg), err.lineno, err.offset or None, False)
    return result


def _analyse_template(job: Job, context: Any) -> FileResult:
    from webkit_cli.check.suppression import template_suppressions

    assert job.env_spec is not None and job.data is not None
    env = environment(job.env_spec)
    file = context.template_file_from(Path(job.path), job.rel, job.names, job.data, env)
    result = FileResult()
    _conflicts(result, file.source)
    if file.error is None:
        result.suppressions = template_suppressions(env, file.source, file.names[0])
        ctx = _one_file_context(job)
        ctx.template_files = [file]
        ctx.jinja_env = env
        _run_per_file(job, ctx, file, result, context)
        if result.error is None and file.tree is not None:
            result.extracts.update(_template_extracts(file))
        return result
    message = getattr(file.error, "message", None) or str(file.error)
    result.error = (message, file.error_line, None, isinstance(file.error, ValueError))
    if file.source:
        result.suppressions = template_suppressions(env, file.source, file.names[0])
    return result


def _analyse_text(job: Job) -> FileResult:
    """Any other file of the project: only its conflict markers (H001), when it is text."""
    assert job.data is not None
    result = FileResult()
    if b"\x00" not in job.data[:8192]:
        try:
            text = job.data.decode("utf-8")
        except UnicodeDecodeError:
            return result
        _conflicts(result, text)
    return result


_ENVIRONMENTS: dict[Any, Environment] = {}


def environment(spec: Any) -> Environment:
    """One environment per spec and process (building one imports its extensions)."""
    from webkit_cli.check.jinja import build_environment

    if spec not in _ENVIRONMENTS:
        extensions, syntax, fallback = spec
        _ENVIRONMENTS[spec] = build_environment(extensions, dict(syntax), fallback=fallback)
    return _ENVIRONMENTS[spec]


def analyse_many(
    jobs: Sequence[Job],
    cache: FileCache,
    *,
    project: Path,
    pool_min: int | None = None,
    keys: dict[str, str] | None = None,
) -> list[FileResult | None]:
    """The result of every job, in order (``None`` for a file that cannot be read): from
    the project's index when the file's signature is unchanged (the file is not read),
    else by its content's key, else analysed (in a pool when there are many) and stored.
    ``keys`` receives each file's key (relative path -> key)."""
    keys = {} if keys is None else keys
    from webkit_cli.check.context import read_bytes

    index = cache.index(project)
    results: list[FileResult | None] = [None] * len(jobs)
    todo: list[tuple[int, Job, str, int]] = []
    for i, job in enumerate(jobs):
        name = (job.rel, job.meta)
        entry = index.files.get(name)
        if isinstance(entry, _Entry) and entry.signature == job.stat and entry.trusted:
            found = index.result(entry.key)
            if found is not None:
                cache.hits += 1
                results[i] = found
                keys[job.rel] = entry.key
                continue
        recorded = time.time_ns()  # before the read: a save after it is never trusted
        data = job.data if job.data is not None else read_bytes(Path(job.path))
        cache.reads += 1
        if data is None:
            continue  # not a regular file any more, or unreadable
        key = keys[job.rel] = entry_key(job, data)
        found = index.result(key)
        if job.stat is not None:
            # The signature was taken before the read: if the file changes after it, the
            # next run sees another signature and reads it again.
            index.files[name] = _Entry(job.stat, recorded, key)
            index.dirty = True
        if found is not None:
            cache.hits += 1
            results[i] = found
        else:
            cache.misses += 1
            todo.append((i, replace(job, data=data), key, recorded))
    threshold = POOL_MIN_FILES if pool_min is None else pool_min
    workers = min(os.cpu_count() or 1, 8)
    fresh: Iterable[FileResult]
    pending = [job for _, job, _, _ in todo]
    if len(todo) >= threshold and workers > 1:
        fresh = _pooled(pending, workers)
    else:
        fresh = (analyse(job) for job in pending)
    for (i, _, key, _), result in zip(todo, fresh, strict=True):
        index.results[key] = result
        index.dirty = True
        results[i] = result
    return results


def _pooled(jobs: list[Job], workers: int) -> list[FileResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported rules instead of importing them again
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    chunk = max(1, len(jobs) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(analyse, jobs, chunksize=chunk))

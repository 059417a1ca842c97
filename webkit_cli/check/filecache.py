"""Per-file results of ``webkit check``, computed once per content and cached on disk.

What a file yields on its own — whether it parses (P005/T001), the findings of the
per-file rules (``Check.per_file``) and its suppression comments — depends only on its
bytes, its path, the rule set and, for a template, the Jinja environment it is parsed
with. That is the key (:func:`entry_key`), so a cached entry can never give another
result than a fresh analysis: an edited file has another key, a new webkit (or an edited
rule module) another :func:`ruleset_fingerprint`, another set of Jinja extensions
another environment key.

Entries live in webkit's cache folder (``WEBKIT_CACHE_DIR``, else XDG), one pickle per
key, written to a temporary file and renamed into place so a reader (or a concurrent
run) sees a whole entry or none. An entry that does not load as a :class:`FileResult`
is ignored and recomputed.

Big trees are analysed in a process pool (:func:`analyse_many`): the per-file work is
pure, so the workers return only small results and the parent never pickles a tree.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli.check.findings import Finding
from webkit_cli.check.suppression import LineSuppressions

if TYPE_CHECKING:
    from jinja2 import Environment

#: Bumped by hand when the shape of :class:`FileResult` changes.
FORMAT = 3
#: Below this many files to analyse, a pool costs more than it saves (its start-up and
#: the results sent back). ``benchmarks/bench_check.py`` measures it on a CTFd-sized tree
#: (484 files): 0.61x and 1.55x of the serial time in two runs on a shared 2-core machine,
#: so no gain is proven at that size and the pool starts only above it.
POOL_MIN_FILES = 1000


@dataclass
class FileResult:
    """What one file yields on its own."""

    #: P005 (Python) / T001 (template) error: (message, line, column, is_value_error)
    error: tuple[str, int | None, int | None, bool] | None = None
    #: findings of each per-file check (by :func:`check_id`), in the order it emits them
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    suppressions: LineSuppressions = field(default_factory=dict)
    #: what a project-wide rule needs of this file alone, by rule code (so that a cached
    #: run need not parse it): ``"T002"`` -> :func:`~webkit_cli.check.templates.template_refs`,
    #: ``"S007"`` -> :func:`~webkit_cli.check.csrf.forms_locally_protected`, ``"T003"`` ->
    #: :func:`~webkit_cli.check.templates.render_refs`
    extracts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One file to analyse (everything a worker needs, and nothing that pickles badly)."""

    kind: str  # "python" or "template"
    path: str
    rel: str
    module: str | None
    data: bytes
    names: tuple[str, ...] = ()
    #: ``(extensions, syntax items, fallback)`` of the Jinja environment, for templates
    env_spec: tuple[tuple[str, ...], tuple[tuple[str, Any], ...], bool] | None = None


@cache
def ruleset_fingerprint() -> str:
    """webkit's check code (every module of this package), Python's and Jinja's versions:
    a change to any of them changes what a rule may report."""
    import jinja2

    digest = hashlib.sha256(f"{FORMAT}|{sys.version}|{jinja2.__version__}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def entry_key(job: Job) -> str:
    digest = hashlib.sha256(ruleset_fingerprint().encode())
    digest.update(repr((job.kind, job.rel, job.module, job.names, job.env_spec)).encode())
    digest.update(b"\0")
    digest.update(job.data)
    return digest.hexdigest()


class FileCache:
    """Entries on disk under ``root``, with a memory layer for a long-lived process
    (``webkit check --watch``). ``root=None`` keeps entries in memory only."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.memory: dict[str, FileResult] = {}
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> FileCache:
        from webkit_cli.scaffold.render import cache_root

        return cls(cache_root(os.environ if environ is None else environ) / "check")

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key[2:]}.pickle"

    def get(self, key: str) -> FileResult | None:
        found = self.memory.get(key)
        if found is None and self.root is not None:
            try:
                loaded = pickle.loads(self._path(key).read_bytes())
            except Exception:  # noqa: BLE001 - missing, truncated or foreign: recompute
                loaded = None
            if isinstance(loaded, FileResult) and _well_formed(loaded):
                found = self.memory[key] = loaded
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, result: FileResult) -> None:
        self.memory[key] = result
        if self.root is None:
            return
        target = self._path(key)
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as stream:
                pickle.dump(result, stream, protocol=pickle.HIGHEST_PROTOCOL)
            Path(tmp).replace(target)  # atomic: a concurrent reader sees all or nothing
            tmp = None
        except OSError:
            pass  # a read-only or full cache folder only costs speed
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


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


# --- the analysis (runs in this process or in a pool worker) ----------------------------


def analyse(job: Job) -> FileResult:
    """Parse one file and run the per-file checks on it."""
    from webkit_cli.check import context

    if job.kind == "python":
        return _analyse_python(job, context)
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


def _analyse_python(job: Job, context: Any) -> FileResult:
    from webkit_cli.check.suppression import python_suppressions

    file = context.python_file_from(Path(job.path), job.rel, job.module, job.data)
    result = FileResult()
    if file.source:
        result.suppressions = python_suppressions(file.source)
    if file.tree is not None:
        ctx = _one_file_context(job)
        ctx.python_files = [file]
        _run_per_file(job, ctx, file, result, context)
        if result.error is not None:
            return result
        if "_template" in file.source:
            from webkit_cli.check.templates import render_refs

            result.extracts["T003"] = render_refs(file.tree)
    if file.error is not None:
        err = file.error
        result.error = (str(err.msg), err.lineno, err.offset or None, False)
    return result


def _analyse_template(job: Job, context: Any) -> FileResult:
    from webkit_cli.check.suppression import template_suppressions

    assert job.env_spec is not None
    env = environment(job.env_spec)
    file = context.template_file_from(Path(job.path), job.rel, job.names, job.data, env)
    result = FileResult()
    if file.error is None:
        result.suppressions = template_suppressions(env, file.source, file.names[0])
        ctx = _one_file_context(job)
        ctx.template_files = [file]
        ctx.jinja_env = env
        _run_per_file(job, ctx, file, result, context)
        if result.error is None and file.tree is not None:
            from webkit_cli.check.csrf import forms_locally_protected
            from webkit_cli.check.templates import template_refs

            result.extracts["T002"] = template_refs(file.tree)
            if "<form" in file.source.lower():
                result.extracts["S007"] = forms_locally_protected(file.tree)
        return result
    message = getattr(file.error, "message", None) or str(file.error)
    result.error = (message, file.error_line, None, isinstance(file.error, ValueError))
    if file.source:
        result.suppressions = template_suppressions(env, file.source, file.names[0])
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
    jobs: Sequence[Job], cache: FileCache, *, pool_min: int | None = None
) -> list[FileResult]:
    """The result of every job, in order: from ``cache``, else analysed (in a pool when
    there are many) and stored."""
    keys = [entry_key(job) for job in jobs]
    results: list[FileResult | None] = [cache.get(key) for key in keys]
    todo = [i for i, result in enumerate(results) if result is None]
    threshold = POOL_MIN_FILES if pool_min is None else pool_min
    workers = min(os.cpu_count() or 1, 8)
    fresh: Iterable[FileResult]
    if len(todo) >= threshold and workers > 1:
        fresh = _pooled([jobs[i] for i in todo], workers)
    else:
        fresh = (analyse(jobs[i]) for i in todo)
    for i, result in zip(todo, fresh, strict=True):
        cache.put(keys[i], result)
        results[i] = result
    return [result for result in results if result is not None]


def _pooled(jobs: list[Job], workers: int) -> list[FileResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported rules instead of importing them again
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    chunk = max(1, len(jobs) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(analyse, jobs, chunksize=chunk))

"""Render a template's ``files/`` tree: paths first, then contents, one entry at a time.

``iter_render`` is a generator so the writer can stream entries into the staging
folder (and a Ctrl-C lands between two files), while ``--dry-run`` and ``--force``
simply collect the entries into a list first.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

# cache_root moved to _paths (the linter needs it without importing the scaffolder); new
# and update still import it from here
from webkit_cli._paths import CACHE_ENV as CACHE_ENV
from webkit_cli._paths import (
    IGNORED_FILE_NAMES,
    IGNORED_FILE_SUFFIXES,
    VCS_AND_CACHE_DIRS,
)
from webkit_cli._paths import cache_root as cache_root
from webkit_cli.errors import TemplateError

if TYPE_CHECKING:
    import jinja2

    from webkit_cli.scaffold.template import Template

JINJA_SUFFIX = ".jinja"


class Entry(NamedTuple):
    """One output path: a file with its bytes and permission bits, or a directory."""

    path: PurePosixPath  # relative to the target, already checked to stay inside it
    data: bytes | None = None  # None for a directory
    mode: int = 0o644

    @property
    def is_dir(self) -> bool:
        return self.data is None


def make_environment(files_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """The sandboxed Jinja environment for templates (not HTML: no autoescaping).

    ``{% include %}`` and ``{% import %}`` load from ``files_dirs`` (the template's own
    ``files/``), nowhere else.
    """
    import jinja2

    from webkit_cli.scaffold.sandbox import FilesLoader, TemplateSandbox

    # It renders Python, TOML, Markdown and .env files: HTML escaping would corrupt them.
    env = TemplateSandbox(  # webkit: ignore[S006]
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
        loader=FilesLoader(files_dirs) if files_dirs else None,
    )
    env.filters["toml"] = toml_value
    return env


def toml_value(value: object) -> str:
    """The ``toml`` filter: a TOML literal, e.g. ``description = {{ description | toml }}``.

    A JSON string is also a valid TOML basic string (same escapes), so quotes and
    backslashes in an answer cannot break the generated pyproject.toml.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return toml_string(str(value))


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


#: Bumped when the sandbox changes the code Jinja generates: code compiled for another
#: environment (the unsandboxed one of webkit <= 0.x) must never be loaded.
_SANDBOX_TAG = "sandbox1"


def _bytecode_cache_dir(root: Path) -> Path | None:
    """The folder for Jinja's compiled templates under ``root``, created if needed; None if
    that fails.

    A folder that exists but is read-only (say a cache baked into an image) is still read;
    writing to it fails softly (see :func:`make_bytecode_cache`).

    One folder per Jinja version, Python bytecode format (``cpython-311``) and sandbox:
    marshalled code only loads in the interpreter that wrote it, and another Jinja or
    sandbox compiles differently, so neither ever reads the other's files.
    """
    import jinja2

    try:
        folder = root / f"jinja-{jinja2.__version__}-{sys.implementation.cache_tag}-{_SANDBOX_TAG}"
        # 0o700 as Jinja's own default cache: code loaded from here is executed.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    # The cached code is executed: never trust a folder that someone else could write to
    # (a WEBKIT_CACHE_DIR under /tmp, say), as Jinja's own default cache folder does.
    if hasattr(os, "geteuid") and (
        info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        return None
    return folder


def make_bytecode_cache(folder: Path) -> jinja2.BytecodeCache:
    """Jinja's file-system bytecode cache in ``folder``, failing soft: a cache file that
    cannot be read is a miss and one that cannot be written is skipped, never an error."""
    import contextlib

    import jinja2

    class SoftFileSystemBytecodeCache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except OSError:
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            # Read-only or full disk: the next run compiles again.
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    return SoftFileSystemBytecodeCache(str(folder), "%s.jinja-cache")


class RenderError(Exception):
    """A template error from :meth:`Renderer.render_text` (its message is Jinja's)."""


def describe_error(exc: BaseException) -> str:
    """A template's failure in words: Jinja's message, or what Python raised and why."""
    import jinja2

    if isinstance(exc, jinja2.TemplateError) and exc.message:
        return exc.message.rstrip(".")
    if isinstance(exc, RecursionError):
        return "it is nested too deeply (RecursionError): flatten its blocks"
    if isinstance(exc, MemoryError):
        return "it needs more memory than webkit allows a template (MemoryError)"
    detail = str(exc).rstrip(".")
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class Renderer:
    """One sandboxed Jinja environment per run, imported and created for the first template.

    Template files are compiled once per machine when ``cache_dir`` is given: the compiled
    code is kept in Jinja's bytecode cache there (see :func:`cache_root`), keyed by the
    file's path and checked against a checksum of its source, so an edited template is
    compiled again. Short strings (path segments, question defaults) are compiled once per
    run. ``files_dirs`` are where ``{% include %}`` finds its files.
    """

    def __init__(self, *, cache_dir: Path | None = None, files_dirs: Sequence[Path] = ()) -> None:
        self._env: jinja2.Environment | None = None
        self._strings: dict[str, jinja2.Template] = {}
        self.cache_dir = cache_dir
        self.files_dirs = tuple(files_dirs)

    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:
            env = make_environment(self.files_dirs)
            folder = None if self.cache_dir is None else _bytecode_cache_dir(self.cache_dir)
            if folder is not None:  # else compile every time, as without a cache
                env.bytecode_cache = make_bytecode_cache(folder)
            self._env = env
        return self._env

    def use_files(self, files_dirs: Sequence[Path]) -> None:
        """Serve ``{% include %}`` from ``files_dirs`` (set before the first render)."""
        if tuple(files_dirs) != self.files_dirs:
            self.files_dirs = tuple(files_dirs)
            if self._env is not None:
                from webkit_cli.scaffold.sandbox import FilesLoader

                self._env.loader = FilesLoader(self.files_dirs)

    def _template(self, source: str, filename: str | None) -> jinja2.Template:
        env = self.env
        cache = env.bytecode_cache
        if filename is None:
            template = self._strings.get(source)
            if template is None:
                template = self._strings[source] = env.from_string(source)
            return template
        if cache is None:
            code = env.compile(source, name=filename, filename=filename)
        else:
            # What Jinja's loaders do: the bucket is keyed by name and file, and holds no
            # code when the source's checksum changed.
            bucket = cache.get_bucket(env, filename, filename, source)
            if bucket.code is None:
                bucket.code = env.compile(source, name=filename, filename=filename)
                cache.set_bucket(bucket)
            code = bucket.code
        return env.template_class.from_code(env, code, env.make_globals(None))

    def render(
        self, source: str, context: Mapping[str, Any], *, filename: str | None = None
    ) -> str:
        """Render ``source`` (the text of ``filename``, when given, which makes it cached)
        in the sandbox, within its bounds; exceptions propagate (callers add the file name)."""
        from webkit_cli.scaffold.sandbox import memory_bound, render_bounded

        if filename is None:  # a path segment or a default: the operator checks suffice
            return render_bounded(self._template(source, None), dict(context))
        with memory_bound():
            return render_bounded(self._template(source, filename), dict(context))

    def render_text(self, source: str, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, but any failure becomes RenderError (no Jinja import needed
        by the caller to catch it)."""
        try:
            return self.render(source, context)
        except Exception as exc:  # a template is code: whatever it raises is its error
            raise RenderError(describe_error(exc)) from None


def _template_line(
    tb: TracebackType | None, filename: str, roots: Sequence[Path]
) -> tuple[str, int] | None:
    """The innermost template file and line in a traceback that Jinja rewrote to point at
    the templates (``filename`` itself, or a file it included from ``roots``)."""
    found = None
    prefixes = tuple(str(r) + os.sep for r in roots)
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == filename or (prefixes and name.startswith(prefixes)):
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _render_segment(
    renderer: Renderer, segment: str, context: Mapping[str, Any], where: str
) -> str:
    if "{" not in segment:
        return segment
    try:
        return renderer.render_text(segment, context)
    except RenderError as exc:
        raise TemplateError(
            f"{where}: the path segment {segment!r} does not render: {exc}."
        ) from None


def _check_segment(rendered: str, original: str, where: str) -> None:
    """A rendered segment must be one plain name: no separator, no '..', nothing absolute."""
    if rendered in {".", ".."} or "/" in rendered or "\\" in rendered or "\x00" in rendered:
        raise TemplateError(
            f"{where}: the path segment {original!r} renders to {rendered!r}, which would write "
            "outside the target folder; fix the template or the answer."
        )


def render_file(renderer: Renderer, source: Path, context: Mapping[str, Any]) -> bytes:
    """Render one ``.jinja`` file; every failure is a TemplateError naming file and line."""
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TemplateError(
            f"{source} is not UTF-8 text: drop its .jinja suffix to copy it as is."
        ) from None
    filename = str(source)
    import jinja2

    try:
        return renderer.render(text, context, filename=filename).encode("utf-8")
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename if exc.filename and exc.filename != filename else source
        raise TemplateError(f"{where}:{exc.lineno}: Jinja syntax error: {exc.message}.") from None
    except Exception as exc:  # a template is code: whatever it raises is its error
        found = _template_line(exc.__traceback__, filename, renderer.files_dirs)
        at = f"{found[0]}:{found[1]}" if found else str(source)
        if isinstance(exc, jinja2.exceptions.SecurityError) and not isinstance(exc, _limit_error()):
            why = (
                f"the sandbox refused it ({str(exc).rstrip('.')}); templates cannot reach "
                "Python internals"
            )
        else:
            why = describe_error(exc)
        raise TemplateError(f"{at}: {why}.") from None


def _limit_error() -> type[Exception]:
    from webkit_cli.scaffold.sandbox import LimitError

    return LimitError


def template_files_dirs(template: Template) -> list[Path]:
    """The folders whose files make the output, in order; a path an earlier one renders
    shadows the same path from a later one. A template with a base (``extends``) lists its
    own ``files/`` first, then its base's, as ``Template.files_dirs``."""
    dirs = getattr(template, "files_dirs", None)
    return list(dirs) if dirs else [template.files_dir]


def template_include_dirs(template: Template) -> list[Path]:
    """The folders ``{% include %}`` and ``{% import %}`` search, in order: each layer's
    ``partials/`` (never written to the project) and ``files/``, the template's own first
    (``Template.include_dirs``); a template without partials searches its files' layers."""
    dirs = getattr(template, "include_dirs", None)
    return list(dirs) if dirs is not None else template_files_dirs(template)


def _listing(src_dir: Path) -> list[os.DirEntry[str]]:
    with os.scandir(src_dir) as it:
        return sorted(
            (
                e
                for e in it
                if not (
                    e.name in IGNORED_FILE_NAMES
                    or e.name.endswith(IGNORED_FILE_SUFFIXES)
                    or (e.name in VCS_AND_CACHE_DIRS and e.is_dir())
                )
            ),
            key=lambda e: e.name,
        )


def iter_render(
    template: Template, context: Mapping[str, Any], renderer: Renderer | None = None
) -> Iterator[Entry]:
    """Yield every directory and file the template produces, parents before children.

    The template's ``files/`` and its bases' (``template.files_dirs``, own first) are walked
    as one tree: a folder merges the folders of that output path, and a file comes from the
    first layer that renders that output path. ``{% include %}`` searches them in the same
    order, after each layer's ``partials/``.
    """
    layers = template_files_dirs(template)
    includes = template_include_dirs(template)
    if renderer is None:
        renderer = Renderer(files_dirs=includes)
    else:
        renderer.use_files(includes)
    private = getattr(template, "private", ())
    real_roots = [layer.resolve() for layer in layers]
    # (source dirs with their layer index, rendered relative output dir)
    stack: list[tuple[list[tuple[int, Path]], PurePosixPath]] = [
        ([(i, layer) for i, layer in enumerate(layers) if layer.is_dir()], PurePosixPath())
    ]
    seen: dict[PurePosixPath, tuple[int, str]] = {}
    while stack:
        src_dirs, out_dir = stack.pop()
        children: list[tuple[int, os.DirEntry[str]]] = []
        for layer, src_dir in src_dirs:
            try:
                children += [(layer, e) for e in _listing(src_dir)]
            except OSError as exc:
                raise TemplateError(f"Cannot read {src_dir} ({exc.strerror or exc}).") from None
        children.sort(key=lambda c: (c[1].name, c[0]))
        subdirs: dict[PurePosixPath, list[tuple[int, Path]]] = {}
        files: list[tuple[PurePosixPath, int, os.DirEntry[str], bool, str]] = []
        for layer, child in children:
            source = Path(child.path)
            files_dir = layers[layer]
            rel_source = source.relative_to(files_dir).as_posix()
            where = f"{files_dir.parent.name}/{files_dir.name}/{rel_source}"
            is_link = child.is_symlink()
            if is_link:
                target = source.resolve()
                if not target.is_relative_to(real_roots[layer]):
                    raise TemplateError(
                        f"{where} is a symlink to {target}, outside the template's files/ folder; "
                        "replace it with a real file."
                    )
                if target.is_dir():
                    raise TemplateError(f"{where} is a symlink to a folder: make it a real folder.")
            name = child.name
            is_dir = child.is_dir(follow_symlinks=False)
            is_jinja = not is_dir and name.endswith(JINJA_SUFFIX)
            if is_jinja:
                name = name[: -len(JINJA_SUFFIX)]
            rendered = _render_segment(renderer, name, context, where)
            if not rendered:
                continue  # a segment that renders empty drops the file or folder
            _check_segment(rendered, child.name, where)
            out = out_dir / rendered
            if out in seen:
                first_layer, first_where = seen[out]
                if first_layer == layer:
                    raise TemplateError(
                        f"{where} and {first_where} both render to {out}: rename one of them."
                    )
                if layer > first_layer:  # overridden by a nearer layer, or merged below
                    if is_dir and out in subdirs:
                        subdirs[out].append((layer, source))
                    continue
                # A nearer layer whose source name sorts after the base's: it wins.
                farther = subdirs.pop(out, [])
                files = [f for f in files if f[0] != out]
            else:
                farther = []
            seen[out] = (layer, where)
            if is_dir:
                subdirs[out] = [(layer, source), *farther]
            else:
                files.append((out, layer, child, is_jinja, where))
        for out, _layer, child, is_jinja, where in files:
            source = Path(child.path)
            try:
                mode = stat.S_IMODE(child.stat().st_mode)
                data = render_file(renderer, source, context) if is_jinja else source.read_bytes()
            except OSError as exc:
                raise TemplateError(f"Cannot read {where} ({exc.strerror or exc}).") from None
            if out.as_posix() in private:
                mode &= 0o700  # it holds a secret: the owner's alone
            yield Entry(out, data, mode)
        # Depth-first, in name order: push in reverse so the smallest name pops first.
        for out, sources in reversed(subdirs.items()):
            yield Entry(out)
            stack.append((sources, out))

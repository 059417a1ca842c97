"""Render a template's ``files/`` tree: paths first, then contents, one entry at a time.

``iter_render`` is a generator so the writer can stream entries into the staging
folder (and a Ctrl-C lands between two files), while ``--dry-run`` and ``--force``
simply collect the entries into a list first.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from webkit_cli.errors import TemplateError

if TYPE_CHECKING:
    import jinja2

    from webkit_cli.scaffold.template import Template

JINJA_SUFFIX = ".jinja"
#: Never part of a template's output: caches and VCS/OS debris in the template folder.
IGNORED_NAMES = frozenset({"__pycache__", ".git", ".hg", ".svn", ".DS_Store", "Thumbs.db"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


class Entry(NamedTuple):
    """One output path: a file with its bytes and permission bits, or a directory."""

    path: PurePosixPath  # relative to the target, already checked to stay inside it
    data: bytes | None = None  # None for a directory
    mode: int = 0o644

    @property
    def is_dir(self) -> bool:
        return self.data is None


def make_environment() -> jinja2.Environment:
    """The Jinja environment for webkit's own variables (not HTML: no autoescaping)."""
    import jinja2

    # It renders Python, TOML, Markdown and .env files: HTML escaping would corrupt them.
    env = jinja2.Environment(  # webkit: ignore[S006]
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
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


CACHE_ENV = "WEBKIT_CACHE_DIR"


def cache_root() -> Path:
    """webkit's cache folder: ``$WEBKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/webkit``, else
    ``~/.cache/webkit`` (the XDG default)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "webkit"


def _bytecode_cache_dir() -> Path | None:
    """The folder for Jinja's compiled templates, created if needed; None if that fails.

    A folder that exists but is read-only (say a cache baked into an image) is still read;
    writing to it fails softly (see :func:`make_bytecode_cache`).

    One folder per Jinja version and Python bytecode format (``cpython-311``): marshalled
    code only loads in the interpreter that wrote it, and another Jinja may compile
    differently, so neither ever reads the other's files.
    """
    import jinja2

    try:
        folder = cache_root() / f"jinja-{jinja2.__version__}-{sys.implementation.cache_tag}"
        # 0o700 as Jinja's own default cache: code loaded from here is executed.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
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
    """A Jinja error from :meth:`Renderer.render_text` (its message is Jinja's)."""


class Renderer:
    """One Jinja environment per run, imported and created for the first template.

    Template files are compiled once per machine: the compiled code is kept in Jinja's
    bytecode cache (see :func:`cache_root`), keyed by the file's path and checked against
    a checksum of its source, so an edited template is compiled again. Short strings
    (path segments, question defaults) are compiled once per run.
    """

    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None
        self._strings: dict[str, jinja2.Template] = {}

    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:
            env = make_environment()
            folder = _bytecode_cache_dir()
            if folder is not None:  # else compile every time, as without a cache
                env.bytecode_cache = make_bytecode_cache(folder)
            self._env = env
        return self._env

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
        """Render ``source`` (the text of ``filename``, when given, which makes it cached);
        Jinja's exceptions propagate (callers add the file name)."""
        return self._template(source, filename).render(context)

    def render_text(self, source: str, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, but a Jinja error becomes RenderError (no Jinja import needed
        by the caller to catch it)."""
        import jinja2

        try:
            return self.render(source, context)
        except jinja2.TemplateError as exc:
            raise RenderError(str(exc)) from None


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The line of ``filename`` in a traceback that Jinja rewrote to point at the template."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


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
    """Render one ``.jinja`` file; errors name the template file and line."""
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
        raise TemplateError(f"{source}:{exc.lineno}: Jinja syntax error: {exc.message}.") from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc.__traceback__, filename)
        at = f"{source}:{line}" if line else str(source)
        raise TemplateError(f"{at}: {exc.message or exc}.") from None


def iter_render(
    template: Template, context: Mapping[str, Any], renderer: Renderer | None = None
) -> Iterator[Entry]:
    """Yield every directory and file the template produces, parents before children.

    The template's ``files/`` and its bases' (``template.files_dirs``, own first) are walked
    as one tree: a folder merges the folders of that output path, and a file comes from the
    first layer that renders that output path.
    """
    renderer = renderer or Renderer()
    layers = template.files_dirs
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
            with os.scandir(src_dir) as it:
                children += [
                    (layer, e)
                    for e in it
                    if e.name not in IGNORED_NAMES and not e.name.endswith(IGNORED_SUFFIXES)
                ]
        children.sort(key=lambda c: (c[1].name, c[0]))
        subdirs: dict[PurePosixPath, list[tuple[int, Path]]] = {}
        files: list[tuple[PurePosixPath, int, os.DirEntry[str], bool]] = []
        for layer, child in children:
            source = Path(child.path)
            files_dir = layers[layer]
            rel_source = source.relative_to(files_dir).as_posix()
            where = f"{files_dir.parent.name}/files/{rel_source}"
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
            is_jinja = not child.is_dir() and name.endswith(JINJA_SUFFIX)
            if is_jinja:
                name = name[: -len(JINJA_SUFFIX)]
            rendered = _render_segment(renderer, name, context, where)
            if not rendered:
                continue  # a segment that renders empty drops the file or folder
            _check_segment(rendered, child.name, where)
            out = out_dir / rendered
            is_dir = child.is_dir(follow_symlinks=False)
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
                files.append((out, layer, child, is_jinja))
        for out, _layer, child, is_jinja in files:
            source = Path(child.path)
            mode = stat.S_IMODE(child.stat().st_mode)
            if out.as_posix() in template.private:
                mode &= 0o700  # it holds a secret: the owner's alone
            data = render_file(renderer, source, context) if is_jinja else source.read_bytes()
            yield Entry(out, data, mode)
        # Depth-first, in name order: push in reverse so the smallest name pops first.
        for out, sources in reversed(subdirs.items()):
            yield Entry(out)
            stack.append((sources, out))

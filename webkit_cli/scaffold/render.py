"""Render a template's ``files/`` tree: paths first, then contents, one entry at a time.

``iter_render`` is a generator so the writer can stream entries into the staging
folder (and a Ctrl-C lands between two files), while ``--dry-run`` and ``--force``
simply collect the entries into a list first.
"""

from __future__ import annotations

import os
import re
import stat
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


def _tojson(value: object) -> str:
    """Jinja's built-in ``tojson`` filter, byte for byte (sorted keys, HTML-safe escapes)."""
    import json

    text = json.dumps(value, sort_keys=True)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


_SIMPLE_FILTERS = {"toml": toml_value, "tojson": _tojson}
# The subset of Jinja that render_simple handles: {{ var }}, {{ var | toml/tojson }},
# {% if [not] var %} / {% else %} / {% endif %}, each with optional "-" whitespace control.
_SIMPLE_TOKEN = re.compile(
    r"\{\{(-?) *([A-Za-z_][A-Za-z0-9_]*) *(?:\| *(toml|tojson) *)?(-?)\}\}"
    r"|\{%(-?) *(?:if +(not +)?([A-Za-z_][A-Za-z0-9_]*)|(else)|(endif)) *(-?)%\}"
)
_JINJA_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "not", "if"})


def render_simple(source: str, context: Mapping[str, Any]) -> str | None:
    """Render ``source`` without Jinja when it uses only a small subset, else None.

    Most template files only say ``{{ package }}`` (and a pyproject.toml an
    ``{% if author %}``); compiling each through Jinja costs ~3 ms and importing Jinja
    ~10 ms, a fifth of ``webkit new``'s run time on the site template. Anything else --
    a comment, a loop, an expression, a filter other than toml/tojson, an undefined
    variable, an unbalanced if -- returns None and goes through Jinja, which also produces
    the error messages. Output is identical to Jinja's, whitespace control included
    (``{%-`` strips all whitespace before the tag, ``-%}`` all whitespace after it, as
    Jinja's lexer does); a test compares both on every built-in template file.
    """
    if "{#" in source:
        return None
    if "{{" not in source and "{%" not in source:
        return source
    tokens = list(_SIMPLE_TOKEN.finditer(source))
    if len(tokens) != source.count("{{") + source.count("{%"):
        return None
    # Lexing: the data between tags, with "-" whitespace control applied.
    data: list[str] = []
    pos = 0
    strip_next = False
    for m in tokens:
        text = source[pos : m.start()]
        if strip_next:
            text = text.lstrip()
        if m.group(1) == "-" or m.group(5) == "-":
            text = text.rstrip()
        data.append(text)
        strip_next = m.group(4) == "-" or m.group(10) == "-"
        pos = m.end()
    tail = source[pos:]
    data.append(tail.lstrip() if strip_next else tail)
    # Evaluation: a stack of (outer branch active, condition, in the else part) per if.
    out: list[str] = [data[0]]
    stack: list[tuple[bool, bool, bool]] = []
    active = True
    for m, text in zip(tokens, data[1:], strict=True):
        var = m.group(2) or m.group(7)
        if var is not None and (var not in context or var in _JINJA_NAMES):
            return None  # undefined (Jinja raises with a line number) or a literal
        if m.group(2) is not None:
            if active:
                value = context[var]
                filter_name = m.group(3)
                out.append(_SIMPLE_FILTERS[filter_name](value) if filter_name else str(value))
        elif m.group(7) is not None:
            condition = bool(context[var]) != bool(m.group(6))
            stack.append((active, condition, False))
            active = active and condition
        elif m.group(8) is not None:
            if not stack or stack[-1][2]:
                return None  # an else outside an if, or a second else: Jinja's error
            outer, condition, _ = stack[-1]
            stack[-1] = (outer, condition, True)
            active = outer and not condition
        else:
            if not stack:
                return None
            active = stack.pop()[0]
        if active:
            out.append(text)
    if stack:
        return None
    return "".join(out)


class RenderError(Exception):
    """A Jinja error from :meth:`Renderer.render_text` (its message is Jinja's)."""


class Renderer:
    """Renders template strings; Jinja is imported only for the first non-trivial one."""

    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None

    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:
            self._env = make_environment()
        return self._env

    def render(
        self, source: str, context: Mapping[str, Any], *, filename: str | None = None
    ) -> str:
        """Render ``source``; Jinja's exceptions propagate (callers add the file name)."""
        fast = render_simple(source, context)
        if fast is not None:
            return fast
        env = self.env
        code = env.compile(source, name=filename, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        return template.render(context)

    def render_text(self, source: str, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, but a Jinja error becomes RenderError (no Jinja import needed
        by the caller to catch it)."""
        fast = render_simple(source, context)
        if fast is not None:
            return fast
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
    fast = render_simple(text, context)
    if fast is not None:
        return fast.encode("utf-8")
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
    """Yield every directory and file the template produces, parents before children."""
    renderer = renderer or Renderer()
    files_dir = template.files_dir
    real_root = files_dir.resolve()
    # (source dir, rendered relative output dir)
    stack: list[tuple[Path, PurePosixPath]] = [(files_dir, PurePosixPath())]
    seen: dict[PurePosixPath, str] = {}
    while stack:
        src_dir, out_dir = stack.pop()
        with os.scandir(src_dir) as it:
            children = sorted(
                (
                    e
                    for e in it
                    if e.name not in IGNORED_NAMES and not e.name.endswith(IGNORED_SUFFIXES)
                ),
                key=lambda e: e.name,
            )
        subdirs: list[tuple[Path, PurePosixPath]] = []
        for child in children:
            source = Path(child.path)
            rel_source = source.relative_to(files_dir).as_posix()
            where = f"{template.root.name}/files/{rel_source}"
            is_link = child.is_symlink()
            if is_link:
                target = source.resolve()
                if not target.is_relative_to(real_root):
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
            if out in seen:
                raise TemplateError(
                    f"{where} and {seen[out]} both render to {out}: rename one of them."
                )
            seen[out] = where
            if child.is_dir(follow_symlinks=False):
                subdirs.append((source, out))
                continue
            mode = stat.S_IMODE(child.stat().st_mode)
            data = render_file(renderer, source, context) if is_jinja else source.read_bytes()
            yield Entry(out, data, mode)
        # Depth-first, in name order: push in reverse so the smallest name pops first.
        for source, out in reversed(subdirs):
            yield Entry(out)
            stack.append((source, out))

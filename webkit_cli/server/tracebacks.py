"""Tracebacks as the user reads them: their code first, the framework's dispatch folded.

A request's exception reaches the view that raised it through webkit's WSGI layers,
Werkzeug's server and Flask's dispatch, and often an extension's wrapper of that dispatch
(Flask-DebugToolbar's, a monitoring middleware's): frames above the first line the user
wrote, which say nothing about their bug. The request log, the terminal and the error page
start at the first frame outside webkit, Werkzeug, Flask, the installed libraries and the
standard library, and say how many frames they folded above it ("3 framework frames")
instead of hiding them. Frames *below* the user's (``render_template`` -> Jinja) stay: the
user called them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

#: The packages whose outermost frames are folded.
FRAMEWORKS = ("webkit_cli", "werkzeug", "flask")
FRAMEWORK_NAMES = "webkit, Werkzeug, Flask"


@functools.cache
def _framework_dirs() -> tuple[str, ...]:
    dirs: set[str] = set()
    for name in FRAMEWORKS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            # Code objects carry the path the module was found by, maybe not resolved.
            dirs.add(str(Path(location)) + os.sep)
            dirs.add(str(Path(location).resolve()) + os.sep)
    return tuple(sorted(dirs))


def is_framework_file(filename: str) -> bool:
    return filename.startswith(_framework_dirs())


_STDLIB = str(Path(traceback.__file__).parent) + os.sep
_INSTALLED = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")


def is_library_file(filename: str) -> bool:
    """An installed package's file (site-packages) or the standard library's."""
    return (
        _INSTALLED.search(filename) is not None
        or filename.startswith("<frozen ")
        or filename.startswith(_STDLIB)
    )


def framework_prefix(filenames: Sequence[str]) -> int:
    """How many outermost frames (of ``filenames``, outermost first) to fold: those of
    webkit, Werkzeug, Flask and the libraries, up to the first of the user's.

    None when no frame is the user's: an error of the framework or a library itself keeps
    its frames, or there would be nothing left to read.
    """
    count = 0
    for filename in filenames:
        if not (is_framework_file(filename) or is_library_file(filename)):
            break
        count += 1
    return count if count < len(filenames) else 0


def fold_note(count: int, filenames: Sequence[str] = ()) -> str:
    """``[3 framework frames folded: webkit, Werkzeug, Flask]``; with the folded frames'
    ``filenames``, the libraries among them are named too (``..., flask_debugtoolbar]``)."""
    frames = "frame" if count == 1 else "frames"
    libraries = [
        name
        for name in dict.fromkeys(_library_name(filename) for filename in filenames)
        if name is not None
    ]
    if not libraries:
        return f"[{count} framework {frames} folded: {FRAMEWORK_NAMES}]"
    names = ", ".join([FRAMEWORK_NAMES, *libraries])
    return f"[{count} framework and library {frames} folded: {names}]"


def _library_name(filename: str) -> str | None:
    """The top-level name of a library frame's package (``flask_debugtoolbar``), or
    ``None`` for webkit's, Werkzeug's and Flask's frames."""
    if is_framework_file(filename):
        return None
    if filename.startswith("<frozen ") or filename.startswith(_STDLIB):
        return "the standard library"
    found = _INSTALLED.search(filename)
    if found is None:
        return None
    return found.group(1).removesuffix(".py")


class _FoldedStack(traceback.StackSummary):
    """The frames after the fold, printed after one line that says what was folded."""

    folded: Sequence[str] = ()

    def format(self, *args: Any, **kwargs: Any) -> list[str]:
        note = fold_note(len(self.folded), self.folded)
        return [f"  {note}\n", *super().format(*args, **kwargs)]


def _fold(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    filenames = [frame.filename for frame in te.stack]
    count = framework_prefix(filenames)
    if count:
        stack = _FoldedStack(te.stack[count:])
        stack.folded = filenames[:count]
        te.stack = stack
    for other in (te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or ())):
        if other is not None:
            _fold(other, seen)


def format_exception(exc: BaseException) -> str:
    """``traceback.format_exception(exc)`` with each stack's framework prefix folded."""
    te = traceback.TracebackException.from_exception(exc)
    _fold(te, set())
    return "".join(te.format())


def rich_traceback(exc: BaseException, **options: Any) -> RenderableType:
    """rich's traceback of ``exc`` (``options`` go to ``rich.traceback.Traceback``), the
    framework prefix of each stack folded into one line above it."""
    from rich.console import Group
    from rich.text import Text
    from rich.traceback import Traceback

    trace = Traceback.extract(type(exc), exc, exc.__traceback__, show_locals=False)
    folded: list[str] = []
    for stack in trace.stacks:
        filenames = [frame.filename for frame in stack.frames]
        count = framework_prefix(filenames)
        stack.frames = stack.frames[count:]
        folded += filenames[:count]
    rendered = Traceback(trace, **options)
    if not folded:
        return rendered
    return Group(Text(fold_note(len(folded), folded), style="dim"), rendered)

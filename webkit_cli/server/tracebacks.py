"""Tracebacks as the user reads them: their code first, the framework's dispatch folded.

A request's exception reaches the view that raised it through webkit's WSGI layers,
Werkzeug's server and Flask's dispatch: frames above the first line the user wrote,
which say nothing about their bug. The request log, the terminal and the error page
start at the first frame outside webkit, Werkzeug and Flask, and say how many frames
they folded above it ("3 framework frames") instead of hiding them. Frames of those
packages *below* the user's (``render_template`` -> Jinja) stay: the user called them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
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


def framework_prefix(filenames: Sequence[str]) -> int:
    """How many outermost frames (of ``filenames``, outermost first) to fold.

    None when every frame is the framework's: an error of the framework itself keeps
    its frames, or there would be nothing left to read.
    """
    count = 0
    for filename in filenames:
        if not is_framework_file(filename):
            break
        count += 1
    return count if count < len(filenames) else 0


def fold_note(count: int) -> str:
    """``[3 framework frames folded: webkit, Werkzeug, Flask]``"""
    frames = "frame" if count == 1 else "frames"
    return f"[{count} framework {frames} folded: {FRAMEWORK_NAMES}]"


class _FoldedStack(traceback.StackSummary):
    """The frames after the fold, printed after one line that says what was folded."""

    folded = 0

    def format(self, *args: Any, **kwargs: Any) -> list[str]:
        return [f"  {fold_note(self.folded)}\n", *super().format(*args, **kwargs)]


def _fold(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    count = framework_prefix([frame.filename for frame in te.stack])
    if count:
        stack = _FoldedStack(te.stack[count:])
        stack.folded = count
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
    folded = 0
    for stack in trace.stacks:
        count = framework_prefix([frame.filename for frame in stack.frames])
        stack.frames = stack.frames[count:]
        folded += count
    rendered = Traceback(trace, **options)
    if not folded:
        return rendered
    return Group(Text(fold_note(folded), style="dim"), rendered)

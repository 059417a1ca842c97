"""The Jinja sandbox every template is rendered in, and the bounds on what one render makes.

A template is somebody else's code: ``webkit new -t ./downloaded-template`` must not let
it reach Python (``''.__class__.__mro__``), read files outside its own ``files/``, or take
the machine down with ``'x' * 10**10``. Jinja's ``SandboxedEnvironment`` refuses private
attributes and unsafe callables; on top of it this module

* intercepts ``*``, ``**``, ``+`` and ``%`` so no single operation builds a string, list or
  integer above the bounds below (checked *before* the allocation);
* wraps the filters and ``str`` methods that pad or repeat (``center``, ``indent``,
  ``ljust``, ``zfill``...) the same way;
* gives ``{% include %}``/``{% import %}`` a loader that serves only files inside the
  template's ``files/`` folders;
* on Linux, caps the address space while a template renders (:func:`memory_bound`), the
  backstop for what the checks above cannot see (a long ``~`` chain, say), so the worst a
  template can do is fail with one error line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.sandbox
from jinja2.exceptions import SecurityError

if TYPE_CHECKING:
    from jinja2.runtime import Context

#: The largest string, list or bytes one operation may build, and one file's output: a
#: generated source file is kilobytes; 16 MiB leaves room for data files.
MAX_SIZE = 16 * 1024 * 1024
#: The largest integer one operation may build (a few hundred thousand digits).
MAX_INT_BITS = 1 << 20
#: Address space a render may add on top of what the process already uses (Linux only).
MEMORY_HEADROOM = 1 << 30


class LimitError(SecurityError):
    """A render went over one of the bounds above."""


def _check_size(n: int) -> None:
    if n > MAX_SIZE:
        raise LimitError(
            f"the template builds a value of {n:,} items, above webkit's limit of {MAX_SIZE:,}"
        )


def _size(value: object) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before Python allocates it."""
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and _is_int(n):
                _check_size(size * max(n, 0))
        if _is_int(left) and _is_int(right):
            _check_bits(abs(left).bit_length() + abs(right).bit_length())
    elif operator == "**":
        if _is_int(left) and _is_int(right) and right > 0:
            _check_bits(max(abs(left).bit_length() - 1, 1) * right)
    elif operator == "+":
        a, b = _size(left), _size(right)
        if a is not None and b is not None:
            _check_size(a + b)
    elif operator == "%" and isinstance(left, str):
        # printf-style widths ('%999999999d' % 1, '%*d' % (n, 1)) pad like ljust.
        _check_widths(left)
        for arg in right if isinstance(right, tuple) else (right,):
            if _is_int(arg) and "*" in left:
                _check_size(arg)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitError(
            f"the template builds an integer of about {bits:,} bits, above webkit's limit"
        )


def _check_widths(fmt: str) -> None:
    import re

    for match in re.finditer(r"\d{8,}", fmt):
        _check_size(int(match.group()))


#: str methods whose integer arguments set the size of the result.
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
#: Filters that take a width or a count: every integer argument is bounded.
_SIZED_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice", "format")


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if _is_int(arg):
                _check_size(arg)
            elif isinstance(arg, str) and func.__name__.startswith("do_format"):
                _check_widths(arg)
        result = func(*args, **kwargs)
        size = _size(result)
        if size is not None:
            _check_size(size)
        return result

    return wrapper


class BoundedNamespace(jinja2.utils.Namespace):
    """``namespace()`` whose attributes may not grow past the bounds (a doubling loop)."""

    def __setitem__(self, name: str, value: Any) -> None:
        size = _size(value)
        if size is not None:
            _check_size(size)
        super().__setitem__(name, value)


class FilesLoader(jinja2.FileSystemLoader):
    """``{% include "partials/nav.html" %}``: names relative to the template's ``files/``.

    Jinja's loader already refuses ``..``; this one also refuses a symlink that leads out
    of the folders, as the file walk does.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        super().__init__([str(r) for r in roots], followlinks=False)
        self._real_roots = [r.resolve() for r in roots]

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(root) for root in self._real_roots):
            raise SecurityError(
                f"{template!r} leads to {real}, outside the template's files/ folder"
            )
        return source, filename, uptodate


class TemplateSandbox(jinja2.sandbox.SandboxedEnvironment):
    """The environment every template file, path segment and question default renders in."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in _SIZED_FILTERS:
            self.filters[name] = _bounded_filter(self.filters[name])
        self.filters["join"] = _bounded_filter(self.filters["join"])
        self.filters["replace"] = _bounded_replace
        self.globals["namespace"] = BoundedNamespace
        self.globals["lipsum"] = _bounded_lipsum

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        name = getattr(obj, "__name__", None)
        # str.format reaches here wrapped by the sandbox (functools.update_wrapper).
        owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
        if isinstance(owner, str) and name in ("format", "format_map"):
            _check_widths(owner)
            for arg in (*args, *kwargs.values()):
                if _is_int(arg):
                    _check_size(arg)
        elif isinstance(owner, str | bytes):
            if name in _PADDING_METHODS:
                for arg in args:
                    if _is_int(arg):
                        _check_size(arg)
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            elif name == "join" and args:
                args = (_checked_join_items(owner, args[0]), *args[1:])
        return super().call(context, obj, *args, **kwargs)


def _check_replace(text: str | bytes, old: object, new: object) -> None:
    if isinstance(old, str | bytes) and isinstance(new, str | bytes):
        count = text.count(old) if type(old) is type(text) else 0  # type: ignore[arg-type]
        if not old:
            count = len(text) + 1
        _check_size(len(text) + count * max(len(new) - len(old), 0))


def _checked_join_items(sep: str | bytes, items: object) -> object:
    values = list(items) if not isinstance(items, list | tuple) else items  # type: ignore[call-overload]
    _check_size(sum(_size(v) or 0 for v in values) + len(sep) * len(values))
    return values


def _bounded_replace(
    eval_ctx: jinja2.nodes.EvalContext, s: str, old: str, new: str, count: int | None = None
) -> str:
    from jinja2.filters import do_replace

    _check_replace(str(s), str(old), str(new))
    return do_replace(eval_ctx, s, old, new, count)


_bounded_replace.jinja_pass_arg = jinja2.utils._PassArg.eval_context  # type: ignore[attr-defined]


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja's ``lipsum()``, whose word count (``n`` paragraphs of up to ``max`` words) is
    bounded like any other value: ``lipsum(10**6)`` would run for minutes."""
    from jinja2.utils import generate_lorem_ipsum

    if _is_int(n) and _is_int(max):
        _check_size(n * max * 8)  # about 8 characters a word
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def render_bounded(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render like ``template.render`` but stop once the output passes :data:`MAX_SIZE`."""
    parts: list[str] = []
    total = 0
    for chunk in template.generate(context):
        total += len(chunk)
        if total > MAX_SIZE:
            raise LimitError(f"the output passes webkit's limit of {MAX_SIZE:,} characters")
        parts.append(chunk)
    return "".join(parts)


def _address_space() -> int | None:
    """This process's virtual size in bytes (Linux), else None."""
    try:
        pages = int(Path("/proc/self/statm").read_bytes().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def memory_bound() -> Iterator[None]:
    """Cap the address space while a template renders, so a runaway one raises MemoryError
    instead of being killed by the kernel's OOM killer (and taking the clean-up with it)."""
    try:
        import resource
    except ImportError:  # not POSIX: the explicit checks above are all there is
        yield
        return
    used = _address_space()
    if used is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield  # already bounded tighter by the user (ulimit -v)
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

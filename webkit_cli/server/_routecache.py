"""URL builders compiled once per run, shared by its workers through the run's folder.

Each time a rule is added to a map, werkzeug writes two builder functions for it (an
``ast`` tree, then ``compile()``): on a reload that is most of what a factory costs
once the project's modules are imported. Measured on CTFd (169 rules, a second
``create_app()`` in one process, load average 8): 350-430 ms, 120-140 ms with this
cache. A builder depends only on the rule's parsed parts (``Rule._trace``), the names
of its defaults, whether unknown arguments are appended and (werkzeug 2) the map's
charset, so one compiled for those inputs serves any rule with the same inputs.

A rule with a default for one of its own variables bakes the converter's output in:
it is compiled as werkzeug does, never cached. The cache file lives in the run's
private folder (``ServerConfig.cache_dir``, mode 0700) and is read only from there.
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: In the run's folder.
FILE_NAME = "url-builders.marshal"

Key = tuple[Any, ...]
Entry = tuple[types.CodeType, "tuple[Any, ...] | None"]

_cache: dict[Key, Entry] = {}
_added = False
_original: Callable[..., Any] | None = None
_version = ""
#: (inode, mtime, size) of the file last read, in this process or the one it was forked
#: from (the layer loads it once): a worker does not read an unchanged file again.
_loaded: tuple[int, int, int] | None = None


def _werkzeug_version() -> str:
    from webkit_cli.server.worker import werkzeug_version

    return werkzeug_version()


def install(cache_dir: str | None) -> bool:
    """Serve werkzeug's URL builders from the cache (loaded from ``cache_dir``); ``False``
    when this werkzeug does not build them the way the cache knows."""
    global _original, _version
    from werkzeug.routing import Rule

    builder = getattr(Rule, "_compile_builder", None)
    if builder is None or not hasattr(Rule, "compile"):
        return False
    if getattr(builder, "__webkit_cached__", False):
        _load(cache_dir)
        return True
    _original = builder
    _version = _werkzeug_version()

    def compile_builder(self: Any, append_unknown: bool = True) -> Any:
        return _builder(self, append_unknown)

    compile_builder.__webkit_cached__ = True  # type: ignore[attr-defined]
    compile_builder.__doc__ = builder.__doc__
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
    _load(cache_dir)
    return True


def _key(rule: Any, append_unknown: bool) -> Key | None:
    # Called for every rule of every reload: kept cheap (the trace is (bool, str) pairs).
    trace = tuple(rule._trace)
    defaults = rule.defaults
    if defaults:
        if any(dynamic and data in defaults for dynamic, data in trace):
            return None  # the converter's output for the default is baked in
        names: tuple[Any, ...] = tuple(defaults)
    else:
        names = ()
    return (rule.rule, trace, names, append_unknown, getattr(rule.map, "charset", None))


def _builder(rule: Any, append_unknown: bool) -> Any:
    global _added
    assert _original is not None
    try:
        key = _key(rule, append_unknown)
        entry = _cache.get(key) if key is not None else None
    except Exception:  # noqa: BLE001 - a rule shaped differently: werkzeug's own way
        key = entry = None
    if key is None:
        return _original(rule, append_unknown)
    if entry is not None:
        code, defaults = entry
        return types.FunctionType(code, {"__builtins__": builtins}, code.co_name, defaults)
    function = _original(rule, append_unknown)
    if (
        isinstance(function, types.FunctionType)
        and function.__closure__ is None
        and not function.__kwdefaults__
    ):
        _cache[key] = (function.__code__, function.__defaults__)
        _added = True
    return function


def _path(cache_dir: str) -> Path:
    return Path(cache_dir) / FILE_NAME


def _load(cache_dir: str | None) -> None:
    global _loaded
    if not cache_dir:
        return
    path = _path(cache_dir)
    try:
        info = path.stat()
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp == _loaded:
            return  # read already (a file is replaced, never rewritten in place)
        version, entries = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return  # none yet, or unreadable: compiled as werkzeug does
    if version != _version or not isinstance(entries, dict):
        return  # written by a werkzeug that has since been upgraded
    for key, entry in entries.items():
        _cache.setdefault(key, entry)
    _loaded = stamp


def save(cache_dir: str | None) -> None:
    """Write what this process compiled, for the next workers (atomically: they may be
    reading it)."""
    global _added
    if not cache_dir or not _added:
        return
    _added = False
    _load(cache_dir)  # another worker's entries too
    try:
        data = marshal.dumps((_version, dict(_cache)))
    except ValueError:  # a part marshal cannot write: nothing is shared
        return
    with contextlib.suppress(OSError):
        fd, temp = tempfile.mkstemp(dir=cache_dir, prefix=".url-builders-")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            Path(temp).replace(_path(cache_dir))
        except OSError:
            Path(temp).unlink(missing_ok=True)

"""Facts about a project's files that the watcher, the linter and the renderer share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: Version control, tool caches and editor settings: never part of a project's source, so
#: never watched, linted or copied out of a template.
VCS_AND_CACHE_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".direnv",
        ".idea",
        ".vscode",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".eggs",
    }
)

#: Installed environments and build output inside a project: not its source either, but a
#: template may legitimately ship a folder of such a name, so the renderer keeps them.
ENVIRONMENT_AND_BUILD_DIRS = frozenset(
    {"venv", ".venv", "site-packages", "node_modules", "build", "dist", "htmlcov"}
)

#: Folders that hold no source of the project: the watcher and the linter skip them.
IGNORED_DIRS = VCS_AND_CACHE_DIRS | ENVIRONMENT_AND_BUILD_DIRS

#: Files that are never a template's content (operating-system litter, bytecode).
IGNORED_FILE_NAMES = frozenset({".DS_Store", "Thumbs.db"})
IGNORED_FILE_SUFFIXES = (".pyc", ".pyo")

#: Suffixes of Jinja templates as Flask projects name them (``.txt``/``.xml`` for mail and
#: feeds); ``.svg`` is a template only when a loader serves it, which the linter checks.
TEMPLATE_SUFFIXES = frozenset({".html", ".htm", ".jinja", ".jinja2", ".j2", ".xml", ".txt"})


def is_ignored_dir(name: str) -> bool:
    """True for a folder name that holds no project source (``*.egg-info`` included)."""
    return name in IGNORED_DIRS or name.endswith(".egg-info")


def display_path(path: Path | str, root: Path | str | None) -> str:
    """``path`` as POSIX relative to ``root`` when it lies inside, else as given (absolute)."""
    p = Path(path)
    if root is not None:
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            pass
    return p.as_posix()


CACHE_ENV = "WEBKIT_CACHE_DIR"


def cache_root(environ: Mapping[str, str]) -> Path:
    """webkit's cache folder: ``$WEBKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/webkit``, else
    ``~/.cache/webkit`` (the XDG default). Resolved once, by the command."""
    override = environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "webkit"


def drop_stale_bytecode(paths: tuple[Path, ...]) -> None:
    """Delete the cached bytecode of changed ``.py`` files before a worker imports them.

    A ``.pyc`` is trusted when the source's mtime *in whole seconds* and size match: two
    saves within one second that keep the size (``v1`` -> ``v2``) would load the first
    save's bytecode. Reloads are fast enough for that to happen, so the cache goes.
    """
    import contextlib
    import importlib.util

    for path in paths:
        if path.suffix != ".py":
            continue
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)

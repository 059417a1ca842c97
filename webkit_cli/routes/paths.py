"""How source files are shown: relative to the project, else to their ``sys.path`` entry."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from webkit_cli._paths import display_path


class PathDisplay:
    """Show source files relative to the project root, or else to their ``sys.path`` entry
    (``flask/app.py`` rather than a long site-packages path); cached per file."""

    def __init__(self, root: Path | str | None) -> None:
        self.root = os.path.abspath(root) if root is not None else None  # noqa: PTH100
        self._cache: dict[str, str] = {}
        self._uris: dict[str, str] = {}
        self._in_project: dict[str, str] = {}
        entries = {os.path.abspath(p) for p in sys.path if p}  # noqa: PTH100
        self._entries = sorted(entries, key=len, reverse=True)

    def relative(self, filename: str) -> str:
        """The path to show for ``filename`` (POSIX separators)."""
        cached = self._cache.get(filename)
        if cached is not None:
            return cached
        shown = filename
        inside = self.root is not None and filename.startswith(self.root + os.sep)
        # Installed code in a virtual environment inside the project is shown as installed
        # code elsewhere is (``flask/app.py``), not by its long path under the project.
        installed = inside and not {"site-packages", "dist-packages"}.isdisjoint(
            Path(filename[len(self.root or "") + 1 :]).parts
        )
        if inside and not installed:
            shown = filename[len(self.root or "") + 1 :]
        else:
            for entry in self._entries:
                if filename.startswith(entry + os.sep):
                    shown = filename[len(entry) + 1 :]
                    break
        shown = shown.replace(os.sep, "/")
        self._cache[filename] = shown
        return shown

    def in_project(self, filename: str) -> str:
        """Relative to the project root when inside it, else absolute: the JSON ``file``."""
        shown = self._in_project.get(filename)
        if shown is None:
            shown = self._in_project[filename] = display_path(filename, self.root)
        return shown

    def uri(self, filename: str) -> str:
        uri = self._uris.get(filename)
        if uri is None:
            uri = self._uris[filename] = Path(filename).as_uri()
        return uri

"""Which modules the warm process may import, and which it must never hold.

The warm process imports the project's *third-party* imports once, so each worker only
imports the project itself. Two questions, answered here without importing anything:

* discovery: the absolute imports the project's files make at import time (parsed,
  never executed; a function's body runs when called, maybe never, so its imports are
  not taken), minus the project's own names;
* ownership (:class:`ProjectCode`): is a module the project's own code - a file inside
  the project, in a package installed in editable mode, or a name of its own packages?
  Such a module in the warm process would be forked into every worker, which would then
  serve the code as it was when the warm process started.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

#: Project files parsed for imports; a bigger project still gets the base modules.
SCAN_LIMIT = 400
#: Folders whose imports are not the app's (a test runner, a docs builder).
UNSCANNED_DIRS = frozenset({"tests", "test", "docs"})


# -- discovery --------------------------------------------------------------------------


def own_top_level_names(source_dirs: Iterable[Path]) -> set[str]:
    """Module and package names the project itself provides (never warmed)."""
    names: set[str] = set()
    for directory in source_dirs:
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").exists():
                names.add(entry.name)
            elif entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)  # namespace packages
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported.

    Module and class bodies, ``if``/``try``/``with``/loops at those levels: yes. A
    function's body: no (it may never run, and an import there is often deferred on
    purpose because it is slow). ``if TYPE_CHECKING:``: only its ``else``.
    """
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.orelse:
                yield from import_time_imports(ast.Module(body=[statement], type_ignores=[]))
        elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
            yield from import_time_imports(child)


def imported_names(files: Iterable[Path]) -> set[str]:
    """Dotted names of the absolute imports ``files`` make at import time.

    ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (``c`` may be a submodule; when it
    is not, importing it fails harmlessly): ``import sqlalchemy`` alone leaves
    ``sqlalchemy.orm`` - most of the import time - to every worker.
    """
    names: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError, RecursionError):
            continue  # a broken file is the worker's business
        for node in import_time_imports(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module:
                names.add(node.module)
                names.update(
                    f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"
                )
    return {name for name in names if not name.startswith("__future__")}


def project_python_files(root: Path) -> list[Path]:
    """The project's ``.py`` files whose imports the app may make (at most ``SCAN_LIMIT``)."""
    from webkit_cli.server.watch import ProjectFilter

    filt = ProjectFilter(root)
    recursive, _ = filt.watch_roots()
    files = list(root.glob("*.py"))
    for directory in recursive:
        if directory.name in UNSCANNED_DIRS:
            continue
        for path in directory.rglob("*.py"):
            if not filt.is_ignored(path):
                files.append(path)
            if len(files) >= SCAN_LIMIT:
                return files
    return files


#: Folders inside a project (or an editable install's source folder) that hold installed
#: code, not the project's: a virtual environment made in the project (``python -m venv
#: .venv``, as Flask's tutorial does) puts every third-party package under the project root.
INSTALLED_CODE_DIRS = frozenset({"site-packages", "dist-packages"})


def is_source_under(location: str, folder: Path) -> bool:
    """True for a file under ``folder`` that is its own source, not installed code in it."""
    try:
        rel = Path(location).relative_to(folder)
    except ValueError:
        return False
    return not (INSTALLED_CODE_DIRS & set(rel.parts))


def is_project_path(location: str, root: Path) -> bool:
    """True for a file of the project itself; a virtual environment inside it does not count."""
    return is_source_under(location, root)


def is_skipped(name: str, skip: Iterable[str]) -> bool:
    """True when ``name`` is one of ``skip`` or inside one of them (``a.b`` is inside ``a``)."""
    return any(name == s or name.startswith(s + ".") for s in skip)


# -- ownership --------------------------------------------------------------------------


def editable_dirs(path: list[str] | None = None) -> list[Path]:
    """Source folders of the packages installed in editable mode (``pip install -e``),
    as their ``direct_url.json`` records them (PEP 610), in ``path`` (``sys.path``).

    Their code is the user's to edit, wherever it lies. webkit's own folder is left out:
    its serving code is what the warm process is for, and it never reloads. (Read with
    ``os.scandir``: ``importlib.metadata`` would parse every distribution, ~10x slower,
    on the way to the first worker.)
    """
    from urllib.parse import unquote, urlparse

    own = Path(__file__).resolve().parent.parent
    found: list[Path] = []
    for entry in sys.path if path is None else path:
        try:
            listing = [e.path for e in os.scandir(entry or ".") if e.name.endswith(".dist-info")]
        except OSError:
            continue
        for dist_info in listing:
            try:
                data = json.loads(Path(dist_info, "direct_url.json").read_bytes())
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict) or not (data.get("dir_info") or {}).get("editable"):
                continue
            url = urlparse(str(data.get("url", "")))
            if url.scheme != "file":
                continue
            folder = Path(unquote(url.path)).resolve()
            if folder == own or folder in own.parents or folder in found:
                continue
            found.append(folder)
    return found


def module_locations(module: ModuleType) -> list[str]:
    """The files and folders a module was loaded from (read from its ``__dict__`` only:
    ``getattr`` could run a lazy module's ``__getattr__``)."""
    namespace = getattr(module, "__dict__", None)
    if not isinstance(namespace, dict):
        return []
    locations = []
    file = namespace.get("__file__")
    if isinstance(file, str):
        locations.append(file)
    path = namespace.get("__path__")
    if path is not None:
        with contextlib.suppress(Exception):  # an exotic loader's path object
            locations.extend(p for p in list(path) if isinstance(p, str))
    return locations


class ProjectCode:
    """Answers "is this the project's own code?" for module names and loaded modules."""

    def __init__(
        self, root: Path, source_dirs: Iterable[Path], editable: Iterable[Path] | None = None
    ) -> None:
        self.root = root
        self.own = own_top_level_names(source_dirs)
        self.editable = list(editable_dirs() if editable is None else editable)

    def owns_location(self, location: str) -> bool:
        if is_project_path(location, self.root):
            return True
        # An editable install of the project itself (``pip install -e .`` with the venv in
        # the project) has the project root as its source folder: its venv is not source.
        return any(is_source_under(location, folder) for folder in self.editable)

    def owns_module(self, name: str, module: ModuleType | None) -> bool:
        """True when the loaded module ``name`` is the project's own code.

        Where it was loaded from decides; a module with no file (made by an import hook)
        is the project's when its name is one of the project's. (A name alone does not
        decide: a project's ``email/`` templates folder must not claim the standard
        library's ``email``.)
        """
        if module is None:
            return False  # a ``sys.modules[name] = None`` import blocker: no code at all
        locations = module_locations(module)
        if locations:
            return any(self.owns_location(location) for location in locations)
        return name.split(".")[0] in self.own

    def is_third_party(self, name: str) -> bool:
        """True when top-level module ``name`` resolves outside the project's own code."""
        if name in self.own:
            return False
        if name in sys.modules:
            return not self.owns_module(name, sys.modules[name])
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        locations = [spec.origin or "", *(spec.submodule_search_locations or [])]
        return not any(self.owns_location(location) for location in locations if location)

    def loaded(self, names: Iterable[str] | None = None) -> list[str]:
        """Which of ``names`` (default: every module in ``sys.modules``) are project code."""
        modules = sys.modules
        candidates = list(modules) if names is None else names
        return sorted(n for n in candidates if self.owns_module(n, modules.get(n)))


def third_party_imports(
    root: Path, source_dirs: Iterable[Path], project: ProjectCode | None = None
) -> list[str]:
    """The project's import-time imports that resolve outside the project: safe to warm."""
    source_dirs = list(source_dirs)
    project = project or ProjectCode(root, source_dirs)
    names = imported_names(project_python_files(root))
    allowed = {top: project.is_third_party(top) for top in sorted({n.split(".")[0] for n in names})}
    return [n for n in sorted(names) if allowed.get(n.split(".")[0]) and n not in sys.modules]

"""Find the project, read ``[tool.webkit]``, load ``.env`` and import the app lazily.

Shared by ``webkit run``, ``webkit routes`` and ``webkit check``. The lookup order
for the app is DESIGN.md's: ``--app``, then ``WEBKIT_APP``, then
``[tool.webkit].app``, then Flask's conventions (``wsgi.py`` / ``app.py`` in the
project root, exposing ``app`` / ``application`` / ``create_app`` / ``make_app``).

Nothing here imports Flask at module level: the app is imported when
:meth:`ProjectContext.load_app` is first called.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import tomllib
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webkit_cli.errors import AppImportError, NoAppError, ProjectError

APP_ENV_VAR = "WEBKIT_APP"
CONVENTIONAL_MODULES = ("wsgi", "app")
CONVENTIONAL_NAMES = ("app", "application")
CONVENTIONAL_FACTORIES = ("create_app", "make_app")


@dataclass(frozen=True)
class Project:
    """A project root and its ``[tool.webkit]`` table.

    ``pyproject`` is ``None`` when no ``pyproject.toml`` with ``[tool.webkit]`` was
    found; ``root`` is then the directory the search started from.
    """

    root: Path
    pyproject: Path | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_webkit_project(self) -> bool:
        return self.pyproject is not None

    @property
    def source_dirs(self) -> list[Path]:
        """Directories that hold the project's importable code (``src/`` layout first)."""
        dirs = []
        src = self.root / "src"
        if src.is_dir():
            dirs.append(src)
        dirs.append(self.root)
        return dirs


def read_pyproject(path: Path) -> dict[str, Any]:
    """Parse a pyproject.toml, turning a syntax error into a one-line ProjectError."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{path} is not valid TOML: {exc}. Fix the file and try again.") from exc
    except OSError as exc:
        raise ProjectError(f"Cannot read {path}: {exc.strerror}.") from exc


def find_project(start: Path | str | None = None) -> Project:
    """Walk up from ``start`` (default: the working directory) to a webkit project.

    A webkit project is a directory whose ``pyproject.toml`` has a ``[tool.webkit]``
    table. When there is none, the start directory is used as a plain Flask project.
    """
    begin = Path(start).resolve() if start is not None else Path.cwd()
    if start is not None and not begin.is_dir():
        raise ProjectError(f"Project directory {start} does not exist. Check --project.")
    for directory in (begin, *begin.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            data = read_pyproject(candidate)
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "webkit" in tool:
                config = tool["webkit"]
                if not isinstance(config, dict):
                    raise ProjectError(f"[tool.webkit] in {candidate} must be a table.")
                project_table = data.get("project", {})
                return Project(
                    root=directory,
                    pyproject=candidate,
                    config=config,
                    metadata=project_table if isinstance(project_table, dict) else {},
                )
    return Project(root=begin)


def load_dotenv_files(root: Path) -> list[Path]:
    """Load ``.env`` (and ``.flaskenv``) from ``root`` without overriding set variables."""
    loaded: list[Path] = []
    candidates = [root / ".env", root / ".flaskenv"]
    existing = [p for p in candidates if p.is_file()]
    if not existing:
        return loaded
    from dotenv import load_dotenv

    for path in existing:
        load_dotenv(path, override=False, encoding="utf-8")
        loaded.append(path)
    return loaded


def resolve_app_target(
    project: Project, app_option: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The app import string, or ``None`` to fall back to Flask's conventions."""
    env = os.environ if environ is None else environ
    if app_option:
        return app_option
    if env.get(APP_ENV_VAR):
        return env[APP_ENV_VAR]
    configured = project.config.get("app")
    if configured is not None:
        if not isinstance(configured, str) or not configured.strip():
            raise ProjectError(
                f"[tool.webkit].app in {project.pyproject} must be a string "
                'like "package:create_app".'
            )
        return configured
    return None


def _prepare_sys_path(project: Project) -> None:
    for directory in reversed(project.source_dirs):
        path = str(directory)
        if path not in sys.path:
            sys.path.insert(0, path)


def _split_target(target: str) -> tuple[str, str | None]:
    # "C:\\path\\app.py:app" keeps its drive letter; split on the last colon only
    # when what follows looks like an attribute or a call.
    head, paren, call = target.partition("(")
    module, sep, attr = head.rpartition(":")
    if not sep or not module or os.sep in attr or "/" in attr:
        return target, None
    return module, attr + paren + call


def _module_name_from_path(project: Project, module: str) -> str:
    """Turn ``path/to/app.py`` into an importable module name, adding its folder to sys.path."""
    if not (module.endswith(".py") or os.sep in module or "/" in module):
        return module
    path = (project.root / module).resolve()
    if path.is_dir():
        path = path / "__init__.py"
    if not path.exists():
        raise NoAppError(f"File {module} does not exist. Check --app.")
    if path.name == "__init__.py":
        path = path.parent
    parts = [path.stem if path.suffix == ".py" else path.name]
    parent = path.parent
    while (parent / "__init__.py").exists():
        parts.append(parent.name)
        parent = parent.parent
    if str(parent) not in sys.path:
        sys.path.insert(0, str(parent))
    return ".".join(reversed(parts))


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        # Only a failure to find the named module itself is a "wrong target";
        # an ImportError raised inside the user's module is their bug.
        if _raised_at_import_site(exc) and getattr(exc, "name", None) in _prefixes(name):
            raise NoAppError(
                f"Could not import '{name}': no such module. Use --app 'module:name' "
                "or set [tool.webkit].app in pyproject.toml."
            ) from exc
        raise AppImportError(f"Importing '{name}' failed in your code (above).", exc) from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, SystemExit):
            raise
        raise AppImportError(f"Importing '{name}' failed in your code (above).", exc) from exc


def _prefixes(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def _raised_at_import_site(exc: BaseException) -> bool:
    """True when the traceback holds no frame of the user's own files."""
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = frame.filename
        if filename.startswith("<frozen") or "importlib" in filename:
            continue
        if filename == __file__:
            continue
        return False
    return True


def _looks_like_app(obj: Any) -> bool:
    return hasattr(obj, "url_map") and (hasattr(obj, "wsgi_app") or callable(obj))


def _call_factory(factory: Any, name: str, args: list[Any] | None = None) -> Any:
    try:
        return factory(*(args or []))
    except TypeError as exc:
        if _raised_at_import_site(exc) and args is None:
            try:
                sig = inspect.signature(factory)
            except (TypeError, ValueError):  # pragma: no cover - builtins
                sig = None
            if sig is not None and any(
                p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                for p in sig.parameters.values()
            ):
                raise NoAppError(
                    f"The factory '{name}' needs arguments. Give them in the import string, "
                    f"e.g. --app 'module:{name}(\"dev\")'."
                ) from exc
        raise AppImportError(f"Calling '{name}' failed in your code (above).", exc) from exc
    except Exception as exc:
        raise AppImportError(f"Calling '{name}' failed in your code (above).", exc) from exc


def _parse_call(attr: str) -> tuple[str, list[Any] | None]:
    """``create_app`` -> (name, None); ``create_app("dev")`` -> (name, ["dev"])."""
    try:
        expr = ast.parse(attr.strip(), mode="eval").body
    except SyntaxError as exc:
        raise NoAppError(
            f"Failed to parse {attr!r} as an attribute name or function call."
        ) from exc
    if isinstance(expr, ast.Name):
        return expr.id, None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and not expr.keywords:
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
        except ValueError as exc:
            raise NoAppError(f"Arguments of {attr!r} must be Python literals.") from exc
        return expr.func.id, args
    raise NoAppError(f"Failed to parse {attr!r} as an attribute name or function call.")


def _find_app_in_module(module: Any, module_name: str) -> Any:
    for name in CONVENTIONAL_NAMES:
        obj = getattr(module, name, None)
        if obj is not None and _looks_like_app(obj):
            return obj
    apps = [v for v in vars(module).values() if _looks_like_app(v) and not inspect.isclass(v)]
    if len(apps) == 1:
        return apps[0]
    if len(apps) > 1:
        raise NoAppError(
            f"Found several apps in '{module_name}'. Use --app '{module_name}:name' to pick one."
        )
    for name in CONVENTIONAL_FACTORIES:
        factory = getattr(module, name, None)
        if inspect.isfunction(factory):
            app = _call_factory(factory, name)
            if _looks_like_app(app):
                return app
            raise NoAppError(f"'{module_name}:{name}' did not return a Flask app.")
    raise NoAppError(
        f"No Flask app or factory found in '{module_name}'. Use --app '{module_name}:name' "
        "to name it (an app, or a factory such as create_app)."
    )


def import_app(target: str, project: Project) -> Any:
    """Import ``module[:name]``, ``module:factory(args)`` or ``path/app.py[:name]``."""
    _prepare_sys_path(project)
    module_part, attr = _split_target(target)
    module_name = _module_name_from_path(project, module_part)
    module = _import_module(module_name)
    if attr is None:
        return _find_app_in_module(module, module_name)
    name, args = _parse_call(attr)
    try:
        obj = getattr(module, name)
    except AttributeError as exc:
        raise NoAppError(
            f"Module '{module_name}' has no attribute '{name}'. "
            "Use --app 'module:name' to name the app or its factory."
        ) from exc
    if args is not None or (inspect.isfunction(obj) and not _looks_like_app(obj)):
        obj = _call_factory(obj, name, args)
    if not _looks_like_app(obj):
        raise NoAppError(
            f"'{target}' is not a Flask app (it has no url_map). "
            "Point --app at an app instance or a factory that returns one."
        )
    return obj


def locate_conventional_app(project: Project) -> Any:
    """Flask's conventions: ``wsgi.py`` then ``app.py`` in the project root."""
    for module in CONVENTIONAL_MODULES:
        if (project.root / f"{module}.py").is_file():
            return import_app(module, project)
    raise NoAppError(
        "Could not locate a Flask app. Use --app 'module:name', set WEBKIT_APP, "
        'add [tool.webkit] app = "package:create_app" to pyproject.toml, '
        "or create wsgi.py / app.py in the project root."
    )


@dataclass
class ProjectContext:
    """What a command needs to reach the user's app; the app is imported once, on demand.

    The same role as Flask's ``ScriptInfo``: build it from the CLI options, pass it
    down, call :meth:`load_app` only when the app is really needed.
    """

    project: Project
    app_target: str | None = None
    dotenv: bool = True
    _app: Any = field(default=None, init=False, repr=False)
    _env_loaded: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_options(
        cls,
        *,
        project_dir: Path | str | None = None,
        app: str | None = None,
        dotenv: bool = True,
    ) -> ProjectContext:
        project = find_project(project_dir)
        if dotenv:
            load_dotenv_files(project.root)
        target = resolve_app_target(project, app)
        ctx = cls(project=project, app_target=target, dotenv=dotenv)
        ctx._env_loaded = True
        return ctx

    @property
    def app_description(self) -> str:
        return self.app_target or "(Flask conventions: wsgi.py / app.py)"

    def load_app(self) -> Any:
        """Import the app (and call its factory) once; later calls return the same object."""
        if self._app is None:
            if self.dotenv and not self._env_loaded:
                load_dotenv_files(self.project.root)
                self._env_loaded = True
            if self.app_target:
                self._app = import_app(self.app_target, self.project)
            else:
                _prepare_sys_path(self.project)
                self._app = locate_conventional_app(self.project)
        return self._app

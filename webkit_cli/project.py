"""Find the project, read ``[tool.webkit]``, load ``.env`` and import the app lazily.

Shared by ``webkit run``, ``webkit routes`` and ``webkit check``. The lookup order
for the app is Flask's, with webkit's two places in it: ``--app``, ``WEBKIT_APP``,
``FLASK_APP`` (each from the environment, ``.env`` or ``.flaskenv``),
``[tool.webkit].app``, then Flask's conventions (``wsgi.py`` / ``app.py`` in the
project root, exposing ``app`` / ``application`` / ``create_app`` / ``make_app``).
Every ``--app`` form Flask accepts works (see :func:`import_app`), and looking for the
app never evaluates an attribute of the user's objects (a werkzeug proxy would raise).

Nothing here imports Flask at module level: the app is imported when
:meth:`ProjectContext.load_app` is first called.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import re
import signal
import sys
import threading
import time
import tomllib
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from webkit_cli.errors import AppImportError, NoAppError, ProjectError

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
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"{path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "TOML files must be UTF-8. Save it as UTF-8 and try again."
        ) from exc
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


#: The dotenv files Flask loads, in Flask's precedence: ``.env`` wins over ``.flaskenv``.
DOTENV_FILES = (".env", ".flaskenv")


def load_dotenv_files(root: Path) -> list[Path]:
    """Load ``.env`` and ``.flaskenv`` from ``root`` without overriding set variables."""
    loaded: list[Path] = []
    existing = [root / name for name in DOTENV_FILES if (root / name).is_file()]
    if not existing:
        return loaded
    from dotenv import load_dotenv

    for path in existing:
        with _readable_dotenv(path):
            load_dotenv(path, override=False, encoding="utf-8")
        loaded.append(path)
    return loaded


@contextlib.contextmanager
def _readable_dotenv(path: Path) -> Iterator[None]:
    """A ``.env`` that is not UTF-8 is one Error line, not a UnicodeDecodeError traceback."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"{path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}). "
            "Save it as UTF-8 and try again."
        ) from exc


@dataclass(frozen=True)
class EnvSetting:
    """A variable's value and where it was set: ``"environment"``, ``".env"`` or ``".flaskenv"``."""

    name: str
    value: str
    origin: str

    def describe(self) -> str:
        return self.name if self.origin == "environment" else f"{self.name} in {self.origin}"


def lookup_setting(
    project: Project,
    name: str,
    environ: Mapping[str, str] | None = None,
    *,
    dotenv: bool = True,
) -> EnvSetting | None:
    """``name`` from the environment, else from ``.env``, else from ``.flaskenv``.

    The files are read, not loaded: this answers "where did the value come from" even
    before (or without) :func:`load_dotenv_files`.
    """
    env = os.environ if environ is None else environ
    if env.get(name):
        return EnvSetting(name, env[name], "environment")
    if not dotenv:
        return None
    for filename in DOTENV_FILES:
        path = project.root / filename
        if not path.is_file():
            continue
        from dotenv import dotenv_values

        with _readable_dotenv(path):
            value = dotenv_values(path, encoding="utf-8").get(name)
        if value:
            return EnvSetting(name, value, filename)
    return None


class AppSource(Enum):
    """Where the app's import string came from, in the order it is looked for."""

    OPTION = "--app"
    WEBKIT_APP = "WEBKIT_APP"
    FLASK_APP = "FLASK_APP"
    PYPROJECT = "[tool.webkit] in pyproject.toml"
    CONVENTION = "Flask's conventions (wsgi.py / app.py)"


@dataclass(frozen=True)
class AppTarget:
    """The app's import string (``None``: Flask's conventions) and where it came from."""

    target: str | None
    source: AppSource
    #: for WEBKIT_APP / FLASK_APP: the environment, ``.env`` or ``.flaskenv``
    setting: EnvSetting | None = None

    @property
    def origin(self) -> str:
        """``--app``, ``FLASK_APP in .flaskenv``, ``[tool.webkit] in pyproject.toml``..."""
        return self.setting.describe() if self.setting is not None else self.source.value

    def describe(self) -> str:
        """For the banner: ``microblog.py (from FLASK_APP in .flaskenv)``."""
        if self.target is None:
            return "found by Flask's conventions (wsgi.py / app.py)"
        return f"{self.target} (from {self.origin})"


def resolve_app_target(
    project: Project,
    app_option: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    dotenv: bool = True,
) -> AppTarget:
    """Which app to import, in Flask's order plus webkit's own two places.

    ``--app``, ``WEBKIT_APP``, ``FLASK_APP`` (each variable from the environment, then
    ``.env``, then ``.flaskenv``), ``[tool.webkit].app``, then Flask's conventions.
    """
    if app_option:
        return AppTarget(app_option, AppSource.OPTION)
    for name, source in (("WEBKIT_APP", AppSource.WEBKIT_APP), ("FLASK_APP", AppSource.FLASK_APP)):
        setting = lookup_setting(project, name, environ, dotenv=dotenv)
        if setting is not None:
            return AppTarget(setting.value, source, setting)
    configured = project.config.get("app")
    if configured is not None:
        if not isinstance(configured, str) or not configured.strip():
            raise ProjectError(
                f"[tool.webkit].app in {project.pyproject} must be a string "
                'like "package:create_app".'
            )
        return AppTarget(configured, AppSource.PYPROJECT)
    return AppTarget(None, AppSource.CONVENTION)


def flask_debug(
    project: Project, environ: Mapping[str, str] | None = None, *, dotenv: bool = True
) -> EnvSetting | None:
    """``FLASK_DEBUG`` as Flask will read it in the app (environment, ``.env``, ``.flaskenv``).

    Without it, Flask before 2.3 turns debug on for ``FLASK_ENV=development`` (Bluelog's
    ``.flaskenv``): then that setting, which decides.
    """
    setting = lookup_setting(project, "FLASK_DEBUG", environ, dotenv=dotenv)
    if setting is not None:
        return setting
    # Flask's version only when FLASK_ENV is set: importlib.metadata scans site-packages
    # (~5 ms of every start otherwise).
    env = lookup_setting(project, "FLASK_ENV", environ, dotenv=dotenv)
    return env if env is not None and _flask_reads_flask_env() else None


def _flask_reads_flask_env() -> bool:
    """True for an installed Flask older than 2.3, whose ``get_debug_flag`` falls back on
    ``FLASK_ENV``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(part) for part in version("flask").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) < (2, 3)


def is_flask_debug_on(setting: EnvSetting | None) -> bool:
    """Flask's own reading of the setting (``flask.helpers.get_debug_flag``)."""
    if setting is None:
        return False
    if setting.name == "FLASK_ENV":
        return setting.value == "development"
    return setting.value.lower() not in ("0", "false", "no")


def prepare_sys_path(project: Project) -> None:
    """Put the project's source folders (``src/`` first) at the front of ``sys.path``.

    The one place that does it: the app import here, the warm process and the workers.
    """
    for directory in reversed(project.source_dirs):
        path = str(directory)
        if path not in sys.path:
            sys.path.insert(0, path)


def _split_target(target: str) -> tuple[str, str | None]:
    """``module:name`` -> (module, name), as Flask splits it.

    Flask splits on the first colon not followed by a slash or backslash, so
    ``C:/path/app.py:app`` keeps its drive letter.
    """
    parts = re.split(r":(?![\\/])", target, maxsplit=1)
    if len(parts) == 1:
        return target, None
    return parts[0], parts[1]


def _module_name_from_path(project: Project, module: str) -> str:
    """Turn ``path/to/app.py`` into an importable module name, adding its folder to sys.path.

    Flask's ``prepare_import``, relative to the project root instead of the working
    directory (the two are the same unless ``--project`` is given).
    """
    if not (module.endswith(".py") or os.sep in module or "/" in module):
        return module
    path = (project.root / module).resolve()
    if path.is_dir():
        path = path / "__init__.py"
    if not path.exists():
        raise NoAppError(f"File {module} does not exist.")
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


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        # Only a failure to find the named module itself is a "wrong target";
        # an ImportError raised inside the user's module is their bug.
        if _raised_at_import_site(exc) and getattr(exc, "name", None) in _prefixes(name):
            raise NoAppError(f"Could not import '{name}': no such module.") from exc
        raise AppImportError(f"Importing '{name}' failed in your code (above).", exc) from exc
    except (KeyboardInterrupt, ImportTimeout):
        raise
    except BaseException as exc:
        # SystemExit included: an app that calls sys.exit() at import is a bug of the app.
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


_MISSING = object()


class ImportTimeout(BaseException):
    """Raised inside the user's import when it runs past the limit (a BaseException, so that
    the user's ``except Exception`` does not swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`ImportTimeout` after ``seconds`` (SIGALRM).

    Only in the main thread of a platform with ``setitimer``; elsewhere there is no limit.
    A signal interrupts ``time.sleep``, a blocking socket read and a Python loop alike,
    and the traceback then shows the user's line that hung.
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _expired(signum: int, frame: object) -> None:
        raise ImportTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, _expired)
    started = time.monotonic()
    # An alarm already armed (pytest-timeout's, a caller's) is put back afterwards.
    earlier, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:
            left = earlier - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _static_attr(obj: object, name: str) -> object:
    """``obj.name`` without running any code of ``obj``: no property, no ``__getattr__``.

    A werkzeug ``LocalProxy`` (``flask.request``, ``current_app``) resolves every
    attribute access, and raises "Working outside of request context" when there is
    none; any module that imports one would otherwise crash the search for its app.
    """
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        return _MISSING


def _is_class(obj: object) -> bool:
    # type(obj), not isinstance(obj, type): isinstance reads obj.__class__, which a proxy
    # resolves (and a broken proxy raises).
    return issubclass(type(obj), type)


def _is_function(obj: object) -> bool:
    return type(obj) is FunctionType


def _looks_like_app(obj: object) -> bool:
    """A Flask app (or anything shaped like one), judged without evaluating ``obj``."""
    if _is_class(obj):
        return False
    flask = sys.modules.get("flask")
    flask_class = getattr(flask, "Flask", None) if flask is not None else None
    if isinstance(flask_class, type) and issubclass(type(obj), flask_class):
        return True
    return _static_attr(obj, "url_map") is not _MISSING and (
        _static_attr(obj, "wsgi_app") is not _MISSING or callable(obj)
    )


def _called_with_wrong_args(factory: Any, exc: BaseException) -> bool:
    """True when the ``TypeError`` came from the call itself, not from inside the factory.

    Flask's ``_called_with_wrong_args``: the factory's own frame is in the traceback
    only when the call got as far as running it.
    """
    code = getattr(factory, "__code__", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return False
        tb = tb.tb_next
    return True


def _call_factory(
    factory: Any,
    label: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Call the user's factory; ``label`` is how to name it (``module:create_app``)."""
    module, _, name = label.rpartition(":")
    try:
        return factory(*(args or []), **(kwargs or {}))
    except TypeError as exc:
        if _called_with_wrong_args(factory, exc):
            if args is None and kwargs is None:
                raise NoAppError(
                    f"The factory '{label}' needs arguments. Give them in the import string, "
                    f"e.g. --app '{module}:{name}(\"dev\")'."
                ) from exc
            raise NoAppError(
                f"The factory '{label}' could not be called with the arguments given: {exc}."
            ) from exc
        raise AppImportError(f"Calling '{name}' failed in your code (above).", exc) from exc
    except (KeyboardInterrupt, ImportTimeout):
        raise
    except BaseException as exc:
        raise AppImportError(f"Calling '{name}' failed in your code (above).", exc) from exc


def _parse_call(attr: str) -> tuple[str, list[Any] | None, dict[str, Any] | None]:
    """``create_app`` -> (name, None, None); ``create_app("dev", debug=True)`` -> its args.

    Flask's ``find_app_by_string``: arguments must be Python literals.
    """
    try:
        expr = ast.parse(attr.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppError(
            f"Failed to parse {attr!r} as an attribute name or function call."
        ) from None
    if isinstance(expr, ast.Name):
        return expr.id, None, None
    if isinstance(expr, ast.Call):
        if not isinstance(expr.func, ast.Name):
            raise NoAppError(f"Function reference must be a simple name: {attr!r}.")
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
            kwargs = {
                kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords if kw.arg is not None
            }
        except ValueError:
            raise NoAppError(f"Failed to parse arguments as literal values: {attr!r}.") from None
        return expr.func.id, args, kwargs
    raise NoAppError(f"Failed to parse {attr!r} as an attribute name or function call.")


def _find_app_in_module(module: ModuleType, module_name: str) -> Any:
    """Flask's ``find_best_app``: ``app``/``application``, the only app, then a factory."""
    for name in CONVENTIONAL_NAMES:
        obj = getattr(module, name, None)
        if obj is not None and _looks_like_app(obj):
            return obj
    apps = [v for v in list(vars(module).values()) if _looks_like_app(v)]
    if len(apps) == 1:
        return apps[0]
    if len(apps) > 1:
        raise NoAppError(
            f"Found several apps in '{module_name}'. Use --app '{module_name}:name' to pick one."
        )
    for name in CONVENTIONAL_FACTORIES:
        factory = getattr(module, name, None)
        if _is_function(factory):
            app = _call_factory(factory, f"{module_name}:{name}")
            if _looks_like_app(app):
                return app
            raise NoAppError(f"'{module_name}:{name}' did not return a Flask app.")
    raise NoAppError(
        f"No Flask app or factory found in '{module_name}'. Use --app '{module_name}:name' "
        "to name it (an app, or a factory such as create_app)."
    )


def import_app(target: str, project: Project) -> Any:
    """Import any form Flask's ``--app`` accepts.

    ``module``, ``module:name``, ``module:factory()``, ``module:factory(args)`` (literal
    arguments, keywords too), ``path/to/file.py`` and ``path/to/file.py:name``.
    """
    prepare_sys_path(project)
    module_part, attr = _split_target(target)
    module_name = _module_name_from_path(project, module_part)
    module = _import_module(module_name)
    if attr is None:
        return _find_app_in_module(module, module_name)
    name, args, kwargs = _parse_call(attr)
    obj = getattr(module, name, _MISSING)
    if obj is _MISSING:
        raise NoAppError(
            f"Module '{module_name}' has no attribute '{name}'. "
            "Use --app 'module:name' to name the app or its factory."
        )
    if args is not None or (_is_function(obj) and not _looks_like_app(obj)):
        obj = _call_factory(obj, f"{module_name}:{name}", args, kwargs)
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
        "Could not locate a Flask app. Use --app 'module:name', set WEBKIT_APP or FLASK_APP, "
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
    #: where ``app_target`` came from (``None`` when the caller set ``app_target`` itself)
    app_source: AppTarget | None = None
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
        # Resolved before .env is loaded, so that the origin of the value is still known.
        resolved = resolve_app_target(project, app, dotenv=dotenv)
        if dotenv:
            load_dotenv_files(project.root)
        ctx = cls(project=project, app_target=resolved.target, dotenv=dotenv, app_source=resolved)
        ctx._env_loaded = True
        return ctx

    def load_app(self, *, timeout: float | None = None) -> Any:
        """Import the app (and call its factory) once; later calls return the same object.

        ``timeout``: seconds the import may take before it is interrupted, which raises
        :class:`~webkit_cli.errors.AppImportError` with the traceback of where it hung.
        """
        if self._app is None:
            if self.dotenv and not self._env_loaded:
                load_dotenv_files(self.project.root)
                self._env_loaded = True
            try:
                with _time_limit(timeout):
                    if self.app_target:
                        self._app = import_app(self.app_target, self.project)
                    else:
                        self._app = locate_conventional_app(self.project)
            except ImportTimeout as exc:
                what = self.app_target or "the app (wsgi.py / app.py)"
                raise AppImportError(
                    f"Importing {what} did not finish in {timeout:g} s; the traceback above "
                    "shows where it was. Make the import faster (no network or sleeps at import "
                    "time), or raise --import-timeout.",
                    exc,
                ) from None
            except NoAppError as exc:
                if self.app_source is None or self.app_source.target is None:
                    raise
                origin = self.app_source.origin
                raise NoAppError(
                    f"{exc.format_message()} (The app is named by {origin}: fix it there.)"
                ) from exc.__cause__
        return self._app

"""``webkit shell``: a Python shell with the app context pushed and the project's models.

The models are found by parsing the project's modules (:func:`find_models`, never
executing them), the way the warm process finds imports, then imported by name. Nothing
heavy is imported before the app: rich is never imported here, and IPython / ptpython only
when the prompt is about to start, so ``webkit shell -c 'pass'`` costs a Python start-up,
click, the app's own import and nothing else.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webkit_cli._paths import is_ignored_dir

#: Project files parsed for models; a bigger project still gets the app and ``db``.
SCAN_LIMIT = 400
#: Folders whose classes are not the app's models.
UNSCANNED_DIRS = frozenset({"tests", "test", "docs", "migrations"})
#: Base-class spellings that make a class a model without a project-defined base:
#: Flask-SQLAlchemy's ``db.Model`` and SQLAlchemy 2's ``DeclarativeBase`` family.
MODEL_BASE_ATTRS = frozenset({"Model"})
DECLARATIVE_BASES = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta", "MappedAsDataclass"})
#: Calls whose result is a declarative base (``Base = declarative_base()``).
BASE_FACTORIES = frozenset({"declarative_base", "as_declarative"})

INTERFACES = ("auto", "ipython", "ptpython", "python")


@dataclass(frozen=True)
class ModelRef:
    """A class found by parsing: where it lives and what it subclasses."""

    module: str
    name: str
    path: Path
    bases: tuple[str, ...]


@dataclass
class ShellNamespace:
    """What the shell starts with, and what it says about it."""

    names: dict[str, Any]
    imported: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Close the session the shell opened, if it opened one."""
        for value in self.names.values():
            if isinstance(value, LazySession):
                value.close()

    def summary(self) -> str:
        """One line: what was imported (and, on the next lines, what was not)."""
        lines = [f"Imported: {', '.join(self.imported) if self.imported else '(nothing)'}"]
        lines += [f"Not imported: {item}" for item in self.collisions + self.failures]
        return "\n".join(lines)


# -- discovery (parsing only) ------------------------------------------------------------


def project_modules(source_dirs: Iterable[Path]) -> Iterator[tuple[str, Path]]:
    """``(dotted module name, path)`` of the project's importable ``.py`` files.

    Top-level modules of each source directory and regular packages (with
    ``__init__.py``) below it; ``src/`` seen from the project root is its own source dir.
    """
    count = 0
    for base in source_dirs:
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d.isidentifier()
                and not is_ignored_dir(d)
                and d not in UNSCANNED_DIRS
                and not (here == base and d == "src")
                and (here / d / "__init__.py").is_file()
            )
            parts = here.relative_to(base).parts
            for filename in sorted(filenames):
                stem = filename[:-3]
                if not filename.endswith(".py") or not stem.isidentifier():
                    continue
                dotted = [*parts] if stem == "__init__" else [*parts, stem]
                if not dotted:
                    continue
                yield ".".join(dotted), here / filename
                count += 1
                if count >= SCAN_LIMIT:
                    return


def _base_name(node: ast.expr) -> str:
    """``db.Model`` -> ``db.Model``, ``Base`` -> ``Base``, ``Generic[T]`` -> ``Generic``."""
    if isinstance(node, ast.Subscript):
        return _base_name(node.value)
    if isinstance(node, ast.Attribute):
        inner = _base_name(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


#: path -> (its stat stamp, module name, classes, declarative-base names). A process
#: that forks shells (``webkit run``'s layer) fills it once: each shell then parses only
#: the files that changed since. (Parsing 165 modules costs about 40 ms.)
_parsed: dict[str, tuple[tuple[int, int, int], str, list[ModelRef], set[str]]] = {}
#: A file changed this recently may change again within its mtime's clock tick: not cached.
_SETTLED_NS = 1_000_000_000


def parse_classes(module: str, path: Path) -> tuple[list[ModelRef], set[str]]:
    """Top-level classes of one file, and names bound to ``declarative_base()`` there."""
    key = str(path)
    try:
        info = path.stat()
    except OSError:
        return [], set()
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    cached = _parsed.get(key)
    if cached is not None and cached[0] == stamp and cached[1] == module:
        return list(cached[2]), set(cached[3])
    classes, factory_bases = _parse_classes(module, path)
    if time.time_ns() - stamp[0] > _SETTLED_NS:
        _parsed[key] = (stamp, module, classes, factory_bases)
    return list(classes), set(factory_bases)


def _parse_classes(module: str, path: Path) -> tuple[list[ModelRef], set[str]]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError, RecursionError):
        return [], set()  # a broken file is the app import's business
    classes: list[ModelRef] = []
    factory_bases: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = tuple(b for b in (_base_name(base) for base in node.bases) if b)
            classes.append(ModelRef(module, node.name, path, bases))
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _base_name(node.value.func).rsplit(".", 1)[-1] in BASE_FACTORIES
        ):
            factory_bases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return classes, factory_bases


def find_models(source_dirs: Iterable[Path]) -> list[ModelRef]:
    """Classes of the project that subclass ``db.Model`` or a declarative base.

    A declarative base the project defines itself (``class Base(DeclarativeBase)``,
    ``Base = declarative_base()``) is not a model; its subclasses are, and so are their
    subclasses (``class Admin(User)``), matched by the base's last name segment.
    """
    classes: list[ModelRef] = []
    bases: set[str] = set()
    for module, path in project_modules(source_dirs):
        found, factory_bases = parse_classes(module, path)
        classes.extend(found)
        bases |= factory_bases
    for ref in classes:
        if any(b.rsplit(".", 1)[-1] in DECLARATIVE_BASES for b in ref.bases):
            bases.add(ref.name)
    models: dict[tuple[str, str], ModelRef] = {}
    changed = True
    while changed:  # subclasses of models are models: a fixed point, few rounds
        changed = False
        model_names = {name for _, name in models}
        for ref in classes:
            key = (ref.module, ref.name)
            if key in models or ref.name in bases:
                continue
            for base in ref.bases:
                last = base.rsplit(".", 1)[-1]
                is_db_model = "." in base and last in MODEL_BASE_ATTRS
                if is_db_model or last in bases or last in model_names:
                    models[key] = ref
                    changed = True
                    break
    # Shallow modules first: on a name taken twice, shop.models.User wins over
    # shop.legacy.tables.User, which is then reported.
    return sorted(models.values(), key=lambda r: (r.module.count("."), r.module, r.name))


# -- the namespace -----------------------------------------------------------------------


def build_namespace(app: Any, models: Iterable[ModelRef]) -> ShellNamespace:
    """Flask's shell context (``app``, ``g`` and the app's processors), ``db`` and models.

    Call with the app context pushed: a model module may need it at import.
    """
    names: dict[str, Any] = dict(app.make_shell_context())
    shell = ShellNamespace(names)
    shell.imported.append("app")
    # A shell context processor's names are the user's choice: listed, and never replaced.
    shell.imported += sorted(k for k in names if k not in {"app", "g"})
    extensions = getattr(app, "extensions", None) or {}
    db = extensions.get("sqlalchemy")
    if db is not None and hasattr(db, "session"):  # Flask-SQLAlchemy: db and its scoped session
        _add(shell, "db", db, "the app's db")
        _add(shell, "session", db.session, "the app's db.session")
    elif callable(getattr(extensions.get("database"), "session", None)):
        # webkit's api template: app.extensions["database"].session() makes a session,
        # which connects; made on first use so `webkit shell -c 'pass'` touches no database.
        database = extensions["database"]
        _add(shell, "db", database, "the app's database")
        _add(shell, "session", LazySession(database.session), "a session of the app's database")
    origin: dict[str, str] = {key: "Flask's shell context" for key in names}
    for ref in models:
        where = f"{ref.module}.{ref.name}"
        try:
            obj = getattr(importlib.import_module(ref.module), ref.name)
        except Exception as exc:  # the user's module: say which, keep the shell
            shell.failures.append(f"{where} ({type(exc).__name__}: {exc})")
            continue
        if ref.name in shell.names and shell.names[ref.name] is not obj:
            taken_by = origin.get(ref.name, "another name")
            shell.collisions.append(f"{where} (the name {ref.name!r} is {taken_by})")
            continue
        if ref.name not in shell.names:
            shell.names[ref.name] = obj
            shell.imported.append(ref.name)
            origin[ref.name] = where
    return shell


class LazySession:
    """A session made on first attribute access, then that session's attributes."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._session: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._factory()
        return getattr(self._session, name)

    def __repr__(self) -> str:
        state = "not opened yet" if self._session is None else repr(self._session)
        return f"<session of the app's database: {state}>"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _add(shell: ShellNamespace, key: str, value: Any, label: str) -> None:
    if key in shell.names:
        if shell.names[key] is not value:
            shell.collisions.append(f"{label} (the name {key!r} is already in the shell context)")
        return
    shell.names[key] = value
    shell.imported.append(key)


# -- running -----------------------------------------------------------------------------


def start(
    *,
    project_dir: str | None,
    app: str | None,
    import_timeout: float,
    code: str | None,
    interface: str,
    served_by: str = "",
) -> int:
    """Import the app, push its context, build the namespace and run ``code`` or the
    prompt (``interface``, already picked); the exit code.

    The same in ``webkit shell``'s own process and in a shell forked by ``webkit run``
    (``served_by``: its warm process or layer, said in the banner).
    """
    from webkit_cli.project import ProjectContext

    context = ProjectContext.from_options(project_dir=project_dir, app=app)
    flask_app = context.load_app(timeout=import_timeout)
    with flask_app.app_context():
        models = find_models(context.project.source_dirs)
        namespace = build_namespace(flask_app, models)
        try:
            if code is not None:
                if namespace.collisions or namespace.failures:
                    print(namespace.summary(), file=sys.stderr)
                return run_command(code, namespace.names)
            where = f", forked from webkit run's {SERVED_BY[served_by]}" if served_by else ""
            banner = (
                f"Python {sys.version.split()[0]} on {sys.platform}; "
                f"app {flask_app.import_name!r}, app context pushed{where}.\n"
                f"{namespace.summary()}"
            )
            interact(namespace.names, banner, interface)
            return 0
        finally:
            namespace.close()


#: How the banner names the process a forked shell came from.
SERVED_BY = {"warm": "warm process", "layer": "layer (the unchanged modules imported)"}


def run_command(code: str, names: dict[str, Any]) -> int:
    """Run ``code`` as ``python -c`` would, in ``names``; 1 with the traceback on error."""
    try:
        compiled = compile(code, "<webkit shell -c>", "exec")
    except SyntaxError:
        traceback.print_exc(limit=0)
        return 1
    try:
        exec(compiled, names)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        # Drop this frame: the user's code is what raised.
        etype, value, tb = sys.exc_info()
        traceback.print_exception(etype, value, tb.tb_next if tb else None)
        return 1
    return 0


def pick_interface(choice: str) -> str:
    """``auto``: IPython, then ptpython, then the standard library's ``code``."""
    import importlib.util

    modules = {"ipython": "IPython", "ptpython": "ptpython"}
    if choice in modules:
        if importlib.util.find_spec(modules[choice]) is None:
            from webkit_cli.errors import WebkitError

            raise WebkitError(
                f"--interface {choice}: {modules[choice]} is not installed here "
                f"(pip install {choice}), or use --interface python."
            )
        return choice
    if choice != "auto":
        return choice
    for name, module in modules.items():
        if importlib.util.find_spec(module) is not None:
            return name
    return "python"


def interact(names: dict[str, Any], banner: str, interface: str) -> None:
    """Start the interactive prompt with ``names``."""
    # Optional, untyped dependencies: imported by name, only now.
    if interface == "ipython":
        print(banner, file=sys.stderr)
        importlib.import_module("IPython").start_ipython(argv=[], user_ns=names)
        return
    if interface == "ptpython":
        print(banner, file=sys.stderr)
        importlib.import_module("ptpython.repl").embed(globals=names, locals=names)
        return
    import code

    _enable_completion(names)
    startup = os.environ.get("PYTHONSTARTUP")
    if startup and Path(startup).is_file():
        # As `python` does: the user's start-up file runs in the shell's namespace.
        exec(compile(Path(startup).read_text(), startup, "exec"), names)
    code.interact(banner=banner, local=names, exitmsg="")


def _enable_completion(names: Mapping[str, Any]) -> None:
    try:
        import readline
        import rlcompleter
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    readline.set_completer(rlcompleter.Completer(dict(names)).complete)
    readline.parse_and_bind("tab: complete")

"""Warm ``python -m pytest`` and ``flask`` processes for the many runs of the template tests.

:class:`tests.templates.conftest.WarmForks` starts this file as ``python -c SOURCE MODE`` and
sends it one JSON line per run. For each, it forks; the child runs the request and exits with
its code, which this process answers as ``{"returncode": n}``. Then it imports here what the
run loaded from outside the project, so that the next fork starts with it.

``pytest`` (one process for any project): ``{"args": [...], "cwd": dir, "env": {...},
"stdout": path, "stderr": path, "failed": path}``; the child becomes what ``python -m pytest
ARGS`` started in ``cwd`` with exactly that environment would be (its working folder,
``os.environ``, ``sys.argv``, and ``sys.path`` with ``cwd`` first, then ``PYTHONPATH``), with
stdin empty and stdout and stderr in the two files, and runs ``pytest.main(args)``. The node id
of each failed test is appended to ``failed`` as its report comes in: what a mutation test
asks, on record even when the run's end goes wrong.

``flask`` (one process for any project): ``{"argv": [...], "cwd": dir, "env": {...},
"script": dir, "stdin": path, "stdout": path, "stderr": path}``; the child becomes what
``flask ARGV`` started in ``cwd`` with exactly that environment would be - its working folder,
``os.environ``, ``sys.argv`` and ``sys.path`` (``script`` first: the folder of the ``flask``
script, or ``cwd`` for ``python -m flask``; then ``PYTHONPATH``, made absolute as Python makes
it) - and runs ``flask.cli.main()`` with the three files as its standard streams.

Why: a run of one test takes about 1 s of CPU, of which 0.1-0.3 s is the test, and a flask
command about 1 s, nearly all of it Python importing pytest and its plugins, Flask,
SQLAlchemy, Alembic and the extensions, and Flask scanning the installed packages for their
commands. Each fork starts with those loaded. A project's own modules (``src/``, ``tests/``)
are never imported here (only modules of the interpreter and its environment are: ``LIBRARIES``), so
each run reads them (and its ``.env``) afresh from disk, edits and mutations included, and two
projects with modules of the same name (every project has a ``tests`` package) never meet.

Standard library only (and pytest or Flask, imported as a run would): it runs in the
interpreter of the generated project's tests.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.metadata
import json
import os
import sys
import sysconfig
import tempfile
import traceback
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

#: Where the modules a run may leave imported here live: the interpreter's and the
#: environment's (never a project's).
LIBRARIES = tuple(
    str(Path(sysconfig.get_paths()[name]).resolve()) + os.sep
    for name in ("stdlib", "platstdlib", "purelib", "platlib")
)

#: The interpreter's own ``sys.path``, without ``-c``'s ``""`` (the working folder).
BASE_PATH = sys.path[1:]

Request = dict[str, object]


def _loaded_modules(keep: Callable[[str], bool], skip: set[str], before: set[str]) -> list[str]:
    """The modules loaded since ``before`` whose file ``keep`` accepts, in the order they
    loaded; none whose top-level package is in ``skip``."""
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name in before or not file or name == "__main__" or name.split(".")[0] in skip:
            continue
        if keep(str(Path(file).resolve())):
            names.append(name)
    return names


def _list_modules(
    path: Path, keep: Callable[[str], bool], skip: set[str], before: set[str]
) -> None:
    path.write_text("\n".join(_loaded_modules(keep, skip, before)))


def _warm_up(names: list[str]) -> None:
    """Import ``names`` here, quietly; one that fails to import is left to the runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)


def _redirect(paths: list[tuple[object, int]]) -> None:
    """Open each path on its standard stream's descriptor (0 read, 1 and 2 write)."""
    for path, target in paths:
        flags = os.O_RDONLY if target == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(str(path), flags)
        os.dup2(fd, target)
        os.close(fd)


def _child(run: Callable[[], int], listing: Callable[[], object]) -> None:
    """In the forked child: ``run()``, then ``listing()`` (the modules it loaded), then exit
    with its code, as the real command would have exited."""
    code = 1  # what Python exits with on an uncaught exception
    try:
        code = run()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    except BaseException:
        # E.g. an unraisable exception (an unclosed file) found by pytest's last gc.collect(),
        # raised from pytest.main(): ``python -m pytest`` prints it and exits with 1.
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            listing()
        # os._exit() flushes nothing. pytest's terminal reporter writes to the original
        # sys.stdout; an exception from a pytest_unconfigure hook (e.g. an unraisable
        # ResourceWarning found by its last gc.collect()) skips the capture plugin's clean-up,
        # which leaves sys.stdout replaced and the summary in the original's buffer.
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(BaseException):
                if stream is not None:
                    stream.flush()
        os._exit(code)


def _serve(run: Callable[[Request], int], keep: Callable[[str], bool], skip: set[str]) -> None:
    """Answer each request line on stdin: fork, ``run(request)`` in the child, reply with its
    exit code. The modules the child loaded whose file ``keep`` accepts (``skip``: top-level
    names left out) are imported here after it."""
    modules = Path(tempfile.gettempdir(), f".warm-fork-modules-{os.getpid()}")
    replies = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        # What is loaded by now stays out of the collections of each run (pytest runs
        # gc.collect() at exit): a full collection of a big inherited heap costs 0.2 s.
        gc.freeze()
        for stream in (replies, sys.stderr):
            stream.flush()
        before = set(sys.modules)
        pid = os.fork()
        if pid == 0:
            _child(partial(run, request), partial(_list_modules, modules, keep, skip, before))
        _, status = os.waitpid(pid, 0)
        if modules.exists():
            _warm_up(modules.read_text().splitlines())
            modules.unlink()
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


# --- pytest ------------------------------------------------------------------------------------


def _rewritten_plugin_packages() -> set[str]:
    """Top-level names of the distributions that hold pytest plugins (``pytest11``).

    pytest rewrites the asserts of those packages when it starts, and warns when one is
    already imported: they are left for each run to import.
    """
    return {
        file.parts[0].removesuffix(".py")
        for dist in importlib.metadata.distributions()
        if any(entry_point.group == "pytest11" for entry_point in dist.entry_points)
        for file in dist.files or []
    }


def _load_plugins() -> None:
    """Import pytest and its plugins here, as a run does: through pytest's assertion rewriter.

    A plugin imported that way is one pytest accepts as already rewritten; loading them
    (anyio's alone imports asyncio's event loops) and rewriting them is half of what a fresh
    run spends before its first test. No ``conftest.py`` is read: that is the project's.
    """
    import pytest

    with (
        tempfile.TemporaryDirectory() as empty,
        Path(os.devnull).open("w") as devnull,
        contextlib.redirect_stdout(devnull),
    ):
        # An empty folder, no configuration file: nothing of the project is read.
        pytest.main(["-c", os.devnull, "--noconftest", "-p", "no:cacheprovider", "--co", empty])


class _FailedTests:
    """A pytest plugin: appends the node id of each failed test to a file, as it fails."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def pytest_runtest_logreport(self, report: object) -> None:
        if getattr(report, "failed", False):
            with self.path.open("a") as record:
                record.write(f"{getattr(report, 'nodeid', '')}\n")


def _become(request: Request, first: str) -> dict[str, str]:
    """Take the request's working folder and exact environment, and the ``sys.path`` a process
    started there would have: ``first``, then ``PYTHONPATH`` (absolute), then the
    interpreter's own. Returns the environment."""
    cwd = str(request["cwd"])
    os.chdir(cwd)
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}  # type: ignore[call-overload]
    os.environ.clear()
    os.environ.update(env)
    pythonpath = env.get("PYTHONPATH", "").split(os.pathsep)
    extra = [str(Path(cwd, entry)) for entry in pythonpath if entry]
    sys.path[:] = [first, *extra, *BASE_PATH]
    return env


def serve_pytest() -> None:
    skip = _rewritten_plugin_packages()
    _load_plugins()

    def run(request: Request) -> int:
        _redirect([(os.devnull, 0), (request["stdout"], 1), (request["stderr"], 2)])
        _become(request, str(request["cwd"]))  # ``python -m`` puts its folder first
        import pytest

        args = [str(arg) for arg in request["args"]]  # type: ignore[attr-defined]
        sys.argv = [sys.argv[0], *args]
        return int(pytest.main(args, plugins=[_FailedTests(str(request["failed"]))]))

    # Each project's tests may load more of the libraries (a database driver, coverage's
    # reporters); pytest's plugin packages are left to each run (see above).
    _serve(run, lambda file: file.startswith(LIBRARIES), skip)


# --- flask -------------------------------------------------------------------------------------


def serve_flask() -> None:
    from flask.cli import cli

    cli._load_plugin_commands()  # the entry points `flask` scans on every start

    def run(request: Request) -> int:
        _redirect([(request[key], fd) for fd, key in enumerate(("stdin", "stdout", "stderr"))])
        _become(request, str(request["script"]))
        sys.argv = ["flask", *(str(arg) for arg in request["argv"])]  # type: ignore[attr-defined]
        from flask.cli import main

        main()
        return 0

    # Each command may load more of the libraries (Alembic's commands, a database driver).
    _serve(run, lambda file: file.startswith(LIBRARIES), set())


if __name__ == "__main__":
    {"pytest": serve_pytest, "flask": serve_flask}[sys.argv[1]]()

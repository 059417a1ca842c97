"""A warm ``python -m pytest`` for many runs of one generated project's tests.

:class:`tests.templates.conftest.WarmPytest` starts this file as ``python -c SOURCE`` in the
project folder and sends it one JSON line per run: ``{"args": [...], "stdout": path,
"stderr": path, "failed": path}``. For each, it forks; the child runs ``pytest.main(args)``
as ``python -m pytest args`` would (the project folder first on ``sys.path``, stdin empty,
stdout and stderr in the two files) and exits with pytest's code, which this process answers as
``{"returncode": n}``. The node id of each failed test is appended to ``failed`` as its report
comes in: what a mutation test asks, on record even when the run's end goes wrong.

Why: a run of one test takes about 1 s of CPU, of which 0.1-0.3 s is the test; the rest is
starting Python and importing pytest, its plugins, Flask and SQLAlchemy. The parent imports
those once - every module the first run loaded from outside the project - and each fork
starts with them loaded. The project's own modules (``src/``, ``tests/``) are never imported
here, so each run reads them afresh from disk, mutations included.

Standard library only: it runs in the interpreter of the generated project's tests.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.metadata
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

ROOT = Path.cwd()


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


def _external_modules(skip: set[str]) -> list[str]:
    """The loaded modules that live outside the project folder, in the order they loaded."""
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name == "__main__" or name.split(".")[0] in skip:
            continue
        if Path(file).resolve().is_relative_to(ROOT):
            continue
        names.append(name)
    return names


def _warm_up(names: list[str]) -> None:
    """Import ``names`` here, quietly; one that fails to import is left to the runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)


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


def _run(request: dict[str, str | list[str]], modules: Path | None, skip: set[str]) -> None:
    """In the forked child: run pytest with the request's arguments, then exit.

    ``modules``: where to list the modules the run loaded from outside the project.
    """
    code = 1  # what Python exits with on an uncaught exception, as ``python -m pytest`` does
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        stdout = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        stderr = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        import pytest

        args = [str(arg) for arg in request["args"]]
        sys.argv = [sys.argv[0], *args]
        code = int(pytest.main(args, plugins=[_FailedTests(str(request["failed"]))]))
        if modules is not None:
            modules.write_text("\n".join(_external_modules(skip)))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    except BaseException:
        # E.g. an unraisable exception (an unclosed file) found by pytest's last gc.collect(),
        # raised from pytest.main(): ``python -m pytest`` prints it and exits with 1.
        traceback.print_exc()
    finally:
        # os._exit() flushes nothing. pytest's terminal reporter writes to the original
        # sys.stdout; an exception from a pytest_unconfigure hook (e.g. an unraisable
        # ResourceWarning found by its last gc.collect()) skips the capture plugin's clean-up,
        # which leaves sys.stdout replaced and the summary in the original's buffer.
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(BaseException):
                if stream is not None:
                    stream.flush()
        os._exit(code)


def main() -> None:
    sys.path[0] = str(ROOT)  # what ``python -m pytest`` puts first
    skip = _rewritten_plugin_packages()
    modules: Path | None = ROOT.parent / f".{ROOT.name}-warm-modules-{os.getpid()}"
    _load_plugins()
    replies = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        # What is loaded by now stays out of the collections of each run's pytest (it runs
        # gc.collect() at exit): a full collection of a big inherited heap costs 0.2 s.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _run(request, modules, skip)
        _, status = os.waitpid(pid, 0)
        if modules is not None and modules.exists():  # the first run that got that far
            _warm_up(modules.read_text().splitlines())
            modules.unlink()
            modules = None
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()

"""A warm ``flask`` command line for the many ``flask --app <package> ...`` runs of the tests.

:class:`tests.templates.conftest.WarmFlask` starts this file as ``python -c SOURCE`` and sends
it one JSON line per command: ``{"argv": [...], "cwd": dir, "env": {...}, "script": dir,
"stdin": path, "stdout": path, "stderr": path}``. For each, it forks; the child becomes what
``flask ARGS`` started in ``cwd`` with exactly that environment would be - its working folder,
``os.environ``, ``sys.argv`` and ``sys.path`` (``script`` first: the folder of the ``flask``
script, or ``cwd`` for ``python -m flask``; then ``PYTHONPATH``, made absolute as Python
makes it) - runs ``flask.cli.main()`` with the three files as its standard streams and exits
with the command's code, which this process answers as ``{"returncode": n}``.

Why: such a command takes about 1 s of CPU, nearly all of it Python importing Flask,
SQLAlchemy, Alembic and the extensions of a generated project, and Flask scanning the
installed packages for their commands. This process imports those once: Flask's command
group with its plugin commands at the start, then after each command every module the command
loaded from the standard library and ``site-packages``. A project's own modules are never
imported here: each command reads them (and its ``.env``) from disk, edits included.

Standard library and Flask only: it runs in the interpreter of the generated projects.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import sys
import sysconfig
import traceback
import warnings
from pathlib import Path

#: Where the modules this process may import live: the interpreter's and the environment's.
LIBRARIES = tuple(
    str(Path(sysconfig.get_paths()[name]).resolve()) + os.sep
    for name in ("stdlib", "platstdlib", "purelib", "platlib")
)


def _library_modules() -> list[str]:
    """The loaded modules of the standard library and ``site-packages``, in load order."""
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and name != "__main__" and str(Path(file).resolve()).startswith(LIBRARIES):
            names.append(name)
    return names


def _warm_up(names: list[str]) -> None:
    """Import ``names`` here, quietly; one that fails to import is left to the commands."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)


def _run(request: dict[str, object], base_path: list[str], modules: Path) -> None:
    """In the forked child: become ``flask ARGV`` as the request says, run it, then exit."""
    code = 1  # what Python exits with on an uncaught exception
    try:
        for key, target in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
            flags = os.O_RDONLY if target == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            fd = os.open(str(request[key]), flags)
            os.dup2(fd, target)
            os.close(fd)
        cwd = str(request["cwd"])
        os.chdir(cwd)
        env = {str(k): str(v) for k, v in dict(request["env"]).items()}  # type: ignore[call-overload]
        os.environ.clear()
        os.environ.update(env)
        pythonpath = env.get("PYTHONPATH", "").split(os.pathsep)
        extra = [str(Path(cwd, entry)) for entry in pythonpath if entry]
        sys.path[:] = [str(request["script"]), *extra, *base_path]
        argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
        sys.argv = ["flask", *argv]
        from flask.cli import main

        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            modules.write_text("\n".join(_library_modules()))
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def main() -> None:
    base_path = [entry for entry in sys.path[1:]]  # without -c's '' (the working folder)
    from flask.cli import cli

    cli._load_plugin_commands()  # entry points: what `flask` scans on every start
    modules = Path(os.environ.get("TMPDIR", "/tmp"), f".warm-flask-modules-{os.getpid()}")
    replies = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        gc.freeze()  # what is loaded stays out of the child's collections
        replies.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run(request, base_path, modules)
        _, status = os.waitpid(pid, 0)
        if modules.exists():
            _warm_up(modules.read_text().splitlines())
            modules.unlink()
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()

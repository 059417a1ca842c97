"""The warm parent of the check tests' app-import children (run by ``_warm.py``, not imported).

It is started as ``python -P -c <this file's text> <socket fd>``, exactly as webkit starts
its own child (``-P``, ``-c``), loads what the child's ``_preload`` loads (plus the
libraries the test projects import), then forks one child per request. A forked child
sets the caller's environment and folder, takes the caller's pipes as its stdout, stderr
and protocol, and runs :func:`webkit_cli.check._child.main` as the spawned child does.
It reports each child's exit status on a pipe of its own, once it has reaped the child.
"""

import array
import contextlib
import json
import os
import select
import socket
import sys
import traceback

#: Libraries the test projects' apps import, loaded once here instead of once per child.
EXTRAS = (
    "flask_wtf.csrf",
    "flask_sqlalchemy",
    "flask_migrate",
    "sqlalchemy.dialects.sqlite",
    "alembic.autogenerate",
    "alembic.config",
    "alembic.runtime.environment",
    "alembic.script",
    "webkit_cli.check._drift",
)


def _preload() -> None:
    import importlib
    import importlib.util

    from webkit_cli.check._child import _preload as webkit_preload

    webkit_preload()
    for name in EXTRAS:
        try:
            if importlib.util.find_spec(name.partition(".")[0]) is not None:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - then the child imports it itself, as ever
            pass


def _child(spec, fds, others):
    """In the forked child: become what ``AppImport.prestart`` spawns, then run it."""
    requests, replies, output, status = fds
    for fd in others:
        os.close(fd)
    os.close(status)
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    for fd in (null, output):
        os.close(fd)
    os.environ.clear()
    os.environ.update(spec["env"])
    # a folder removed since: a spawned child would start in it all the same
    with contextlib.suppress(OSError):
        os.chdir(spec["cwd"])
    sys.argv = ["-c", str(requests), str(replies)]
    from webkit_cli.check._child import main

    # __main__ as webkit's ``-c`` leaves it (the app may look): its two names, not ours
    system = sys
    namespace = vars(system.modules["__main__"])
    for name in [n for n in namespace if not n.startswith("__")]:
        del namespace[name]
    namespace.update(__doc__=None, sys=system, main=main)
    main(system.argv)  # ends with os._exit


def serve(control):
    children = {}  # pidfd -> (pid, status fd)
    while True:
        ready, _, _ = select.select([control, *children], [], [])
        for fd in ready:
            if fd in children:
                pid, status = children.pop(fd)
                _, code = os.waitpid(pid, 0)
                os.write(status, str(os.waitstatus_to_exitcode(code)).encode())
                os.close(status)
                os.close(fd)
                continue
            fds = array.array("i")
            data, ancillary, _, _ = control.recvmsg(1 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
            if not data:
                return  # the tests are done
            for _level, _type, payload in ancillary:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            spec = json.loads(data)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                end = os._exit  # _child empties this module's namespace
                try:
                    control.close()
                    others = [n for item in children.items() for n in (item[0], item[1][1])]
                    _child(spec, list(fds), others)
                except BaseException:
                    traceback.print_exc()  # before main: a bug of this harness, shown
                finally:
                    end(70)
            for n in fds[:3]:
                os.close(n)
            children[os.pidfd_open(pid)] = (pid, fds[3])
            control.send(str(pid).encode())


_preload()
serve(socket.socket(fileno=int(sys.argv[1])))

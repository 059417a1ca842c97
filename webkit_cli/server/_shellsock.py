"""``webkit shell`` served by a running ``webkit run``: the socket, and both of its ends.

A shell that imports Flask, the project's libraries and the project costs what ``flask
shell`` costs. ``webkit run``'s warm process has the libraries imported already, and its
layer (``_layer``) the project's unchanged modules too: a shell forked from one of them
only imports what is missing and calls the factory.

* Each of them (the warm process once it is warm and clean, a layer once it is built)
  listens on a Unix socket in this user's private runtime folder (``0700``, owned by the
  user, refused otherwise), named for the project's path and the listening process:
  ``<key>.<role>.<pid>.sock``. It closes and removes it when it is retired.
* ``webkit shell`` (``_shellclient.serve_in_run``) connects, layer first, checks that the server
  is the same user, and sends its stdin, stdout and stderr (``SCM_RIGHTS``) with its
  argv, environment, working directory and options. The server checks the peer
  (``SO_PEERCRED``: the same user, or it refuses), that it is still current (not tainted
  by the project's own code, no package installed since it warmed; a layer: none of the
  files it holds changed, no module file added or removed next to them) and forks the
  shell, which says ``started``. The client says ``go``; the shell runs with the app
  context as :func:`webkit_cli.shell.start` makes it, from a fresh factory call.
* The shell is in a session of its own (a background ``webkit run`` in the same terminal
  must not stop it with SIGTTIN). So the terminal's Ctrl-C reaches the client, which
  passes it on (``{"signal": 2}``, as for a resized window); the shell's watchdog thread
  raises it in the shell, whose running statement gets the KeyboardInterrupt. Ctrl-Z
  stops both. When the client goes, the watchdog ends the shell; when the shell ends, it
  says its exit status, and so does the server that reaps it (a shell killed by a signal
  says nothing); the client exits with the first it reads.
* Anything else (no run, a run killed with SIGKILL that left its socket, a refusal, an
  error before ``started``) and ``serve_in_run`` returns without a status: the command
  imports everything itself, as before.

The client (``_shellclient``) imports this module before it knows whether it must import
the app, so nothing here imports more than click already has: no dataclasses, and no
``socket`` at module level (the server's side imports it where it needs it).
"""

from __future__ import annotations

import _socket
import contextlib
import json
import os
import signal
import stat
import struct
import sys
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

PROTOCOL = 1
#: Largest message: the header carries the environment.
MAX_MESSAGE = 1 << 18
SUFFIX = ".sock"
#: Roles, in the order the client tries them: a layer is the faster.
ROLES = ("layer", "warm")
#: Seconds a server waits for a connected client's header; a client for the server's
#: answer (the warm process may be busy importing for a moment).
HEADER_TIMEOUT = 2.0
ANSWER_TIMEOUT = 30.0
#: A file modified less than this before a layer started building may have been read
#: before or after the change: such a layer serves no shell. File times come from the
#: kernel's coarse clock, a few ms (ticks) behind ``time.time_ns()``: 50 ms is far beyond
#: that. A time in whole seconds may come from a filesystem that keeps no more (ext3,
#: FAT, some network mounts): one second for it. (One second for every file made a layer
#: built within a second of a save, e.g. at the start of a run, refuse every shell; it
#: stays until a file it holds changes.)
MTIME_SLACK_NS = 50_000_000
COARSE_MTIME_SLACK_NS = 1_000_000_000
#: Signals the client passes on to the shell.
FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGWINCH", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


def supported() -> bool:
    return (
        hasattr(os, "fork")
        and hasattr(_socket.socket, "sendmsg")
        and hasattr(_socket, "SO_PEERCRED")
        and hasattr(_socket, "SOCK_SEQPACKET")
        and hasattr(_socket, "SCM_RIGHTS")
    )


# -- where the sockets are -----------------------------------------------------------


def runtime_dir(*, create: bool) -> Path | None:
    """This user's private folder for the sockets: ``$XDG_RUNTIME_DIR/webkit``, else
    ``$TMPDIR/webkit-<uid>``; ``None`` when it is not safely ours (another owner, open to
    others, a symlink), then nothing listens and nothing connects."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_absolute():
        path = Path(xdg) / "webkit"
    else:
        path = Path(os.environ.get("TMPDIR") or "/tmp") / f"webkit-{os.getuid()}"  # noqa: S108
    if create:
        with contextlib.suppress(FileExistsError, OSError):
            path.mkdir(mode=0o700)
    return path if is_private_dir(path) else None


def is_private_dir(path: Path) -> bool:
    """A real folder (not a symlink) of this user that nobody else may enter."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    )


def project_key(root: Path | str) -> str:
    """The project's part of the socket names: its real path, hashed (paths are long).

    Not a cryptographic hash (hashlib costs the client its OpenSSL import): two projects
    with one key only cost a refusal, since the server checks the path itself.
    """
    path = os.fsencode(os.path.realpath(root))
    return f"{zlib.crc32(path):08x}{zlib.adler32(path):08x}"


def project_root(start: str | None) -> str | None:
    """The project root as :func:`webkit_cli.project.find_project` finds it (the nearest
    ``pyproject.toml`` with ``[tool.webkit]``, else the start folder), without importing
    that module; ``None`` when a ``pyproject.toml`` is unreadable (the command says why)."""
    import tomllib

    begin = os.path.realpath(start) if start else os.getcwd()  # noqa: PTH109
    directory = begin
    while True:
        candidate = os.path.join(directory, "pyproject.toml")  # noqa: PTH118 - plain strings
        if os.path.isfile(candidate):  # noqa: PTH113
            try:
                with open(candidate, "rb") as f:  # noqa: PTH123
                    tool = tomllib.load(f).get("tool")
            except (OSError, ValueError):
                return None
            if isinstance(tool, dict) and "webkit" in tool:
                return directory
        parent = os.path.dirname(directory)  # noqa: PTH120
        if parent == directory:
            return begin
        directory = parent


def socket_path(directory: Path, root: Path | str, role: str, pid: int) -> Path:
    return directory / f"{project_key(root)}.{role}.{pid}{SUFFIX}"


def candidates(directory: Path, root: Path | str) -> list[tuple[str, int, Path]]:
    """``(role, pid, path)`` of the sockets of ``root``'s runs, layers first."""
    key = project_key(root)
    found = []
    try:
        with os.scandir(directory) as entries:
            names = [e.name for e in entries]
    except OSError:
        return []
    for name in names:
        parts = name.split(".")
        if len(parts) != 4 or parts[0] != key or "." + parts[3] != SUFFIX:
            continue
        role, pid = parts[1], parts[2]
        if role in ROLES and pid.isdigit():
            found.append((role, int(pid), directory / name))
    found.sort(key=lambda c: (ROLES.index(c[0]), -c[1]))
    return found


def remove_stale(directory: Path) -> list[str]:
    """Remove the sockets (of any project) whose process is gone; their names."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            parts = entry.name.split(".")
            if len(parts) >= 4 and parts[2].isdigit() and not alive(int(parts[2])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)  # noqa: PTH108
                    removed.append(entry.name)
    return removed


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process has the pid now: not ours to judge
    return True


# -- the peer ------------------------------------------------------------------------


def peer_credentials(sock: _socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end (``SO_PEERCRED``)."""
    size = struct.calcsize("3i")
    data = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, size)
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


def check_peer(sock: _socket.socket, uid: int | None = None) -> str | None:
    """Why the peer may not use this shell (``None``: it may): not ``uid`` (this user).

    The runtime folder keeps other users out already; the kernel's word on who connected
    is checked anyway, since the shell is given the run's whole environment.
    """
    expected = os.getuid() if uid is None else uid
    try:
        _, peer_uid, _ = peer_credentials(sock)
    except OSError as exc:
        return f"cannot tell who connected ({exc.strerror})"
    if peer_uid != expected:
        return f"connected by user {peer_uid}, not {expected}"
    return None


def send_message(sock: _socket.socket, **message: Any) -> bool:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        return False
    return True


def recv_message(sock: _socket.socket) -> dict[str, Any] | None:
    """One message, or ``None`` at end of file (or on a broken one)."""
    try:
        data = sock.recv(MAX_MESSAGE)
    except OSError:
        return None
    if not data:
        return None
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


# -- freshness of a layer ------------------------------------------------------------

FileStamp = tuple[int, int, int]


def _stamp(path: str) -> FileStamp | None:
    try:
        info = os.stat(path)  # noqa: PTH116 - hundreds of paths, as strings
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def _module_entries(directory: str) -> frozenset[str] | None:
    """What an import may find in ``directory``: its ``.py`` files and packages."""
    try:
        with os.scandir(directory) as entries:
            return frozenset(
                e.name
                for e in entries
                if (e.name.endswith(".py") and e.name[:-3].isidentifier())
                or (e.name.isidentifier() and e.name != "__pycache__" and e.is_dir())
            )
    except OSError:
        return None


def _mtime_slack(mtime_ns: int) -> int:
    return COARSE_MTIME_SLACK_NS if mtime_ns % 1_000_000_000 == 0 else MTIME_SLACK_NS


class Snapshot:
    """The files a layer holds as it read them, and the module folders next to them."""

    def __init__(self) -> None:
        self.files: dict[str, FileStamp | None] = {}
        self.folders: dict[str, frozenset[str] | None] = {}
        #: why it can never serve ("" when it can, as long as nothing changes)
        self.unsure = ""

    @classmethod
    def take(cls, files: Iterable[str], folders: Iterable[str], since_ns: int) -> Snapshot:
        """Stamp ``files`` (read by a build that started at ``since_ns``) and list
        ``folders``."""
        snapshot = cls()
        for path in files:
            stamp = _stamp(path)
            snapshot.files[path] = stamp
            if stamp is not None and stamp[0] >= since_ns - _mtime_slack(stamp[0]):
                # Changed around the build: it may hold the old or the new version.
                snapshot.unsure = f"{path} changed while the layer was built"
        for folder in folders:
            snapshot.folders[folder] = _module_entries(folder)
        return snapshot

    def changed(self) -> str | None:
        """What changed since the snapshot (``None``: nothing)."""
        if self.unsure:
            return self.unsure
        for path, stamp in self.files.items():
            if _stamp(path) != stamp:
                return f"{path} changed"
        for folder, entries in self.folders.items():
            if _module_entries(folder) != entries:
                return f"a module was added to or removed from {folder}"
        return None


def layer_snapshot(
    files: Iterable[str], roots: Iterable[Path], since_ns: int, *, watched: Iterable[Path] = ()
) -> Snapshot:
    """The snapshot of a layer whose modules and data files are ``files``: those in the
    ``watched`` folders (what the run reloads for; ``roots`` when empty), the folders of
    its ``.py`` files and the project's source folders (``roots``)."""
    roots = list(roots)
    within = tuple(os.path.realpath(p) + os.sep for p in (watched or roots))
    # Not the bytecode: any import may rewrite it, and its source is in the list.
    files = [f for f in files if f.startswith(within) and not f.endswith(".pyc")]
    folders = {os.path.dirname(f) for f in files if f.endswith(".py")}  # noqa: PTH120
    folders |= {os.path.realpath(r) for r in roots}
    return Snapshot.take(files, sorted(folders), since_ns)


# -- the server (in the warm process and in a layer) ---------------------------------


class Request:
    """A shell asked for, with the client's descriptors (to be handed to the child)."""

    def __init__(self, conn: socket.socket, header: dict[str, Any], fds: list[int]) -> None:
        self.conn = conn
        self.header = header
        self.fds = fds

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def refuse(self, reason: str) -> None:
        send_message(self.conn, event="refused", reason=reason)
        self.close_fds()
        self.conn.close()


class ShellServer:
    """The listening socket of one warm process or layer, and the shells it forked.

    The owner's loop selects on :meth:`fileno`, calls :meth:`accept` when it is readable,
    forks for each request it returns (the child calls :func:`run_child`), reports the
    pid with :meth:`started`, and passes each reaped pid to :meth:`reaped`.
    """

    def __init__(self, path: Path, root: Path, snapshot: Snapshot | None = None) -> None:
        self.path = path
        self.root = root
        self.snapshot = snapshot
        import socket

        self.sessions: dict[int, socket.socket] = {}
        self.stale = ""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Bound and listening under another name, then renamed: a client that finds the
        # name and is refused knows the socket is stale (its process is gone).
        making = path.with_name(path.name + ".new")
        try:
            with contextlib.suppress(FileNotFoundError):
                making.unlink()  # a socket of a dead process that had our pid
            self.sock.bind(os.fspath(making))
            making.chmod(0o600)
            self.sock.listen(8)
            self.sock.setblocking(False)
            making.rename(path)
            self.inode = path.stat().st_ino
        except OSError:
            self.sock.close()
            with contextlib.suppress(OSError):
                making.unlink()
            raise

    @classmethod
    def listen(cls, root: Path, role: str, snapshot: Snapshot | None = None) -> ShellServer | None:
        """A server for ``root`` in the runtime folder, or ``None`` when it cannot be.

        What every shell does first is done here, once: importing webkit's shell, and in
        a layer (which holds the project's modules as they are) parsing them for models.
        """
        if not supported():
            return None
        from webkit_cli import shell

        if role == "layer":
            with contextlib.suppress(Exception):
                sources = [root / "src", root] if (root / "src").is_dir() else [root]
                shell.find_models(sources)
        directory = runtime_dir(create=True)
        if directory is None:
            return None
        path = socket_path(directory, root, role, os.getpid())
        if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes (".new" included)
            return None
        remove_stale(directory)
        try:
            return cls(path, root, snapshot)
        except OSError:
            return None

    @property
    def listening(self) -> bool:
        return self.sock.fileno() >= 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self, unfit: str | None = None) -> Request | None:
        """The next request, checked: ``None`` when it was refused (or went away).

        ``unfit``: the owner's reason not to serve any shell now.
        """
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return None
        conn.setblocking(True)
        refusal = check_peer(conn)
        if refusal is not None:
            send_message(conn, event="refused", reason=refusal)
            conn.close()
            return None
        conn.settimeout(HEADER_TIMEOUT)
        import socket

        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
        except OSError:
            conn.close()
            return None
        conn.settimeout(None)
        request = Request(conn, {}, list(fds))
        try:
            header = json.loads(data) if data else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or len(request.fds) != 3:
            request.refuse("a malformed request")
            return None
        request.header = header
        reason = unfit or self._unfit(header)
        if reason:
            request.refuse(reason)
            return None
        return request

    def _unfit(self, header: dict[str, Any]) -> str | None:
        if header.get("protocol") != PROTOCOL:
            return "another version of webkit"
        # The same environment (a `python3 -m webkit_cli` run serves the `webkit` script).
        python = os.path.realpath(sys.executable)
        if header.get("prefix") != sys.prefix or header.get("executable") != python:
            return f"webkit run uses another Python ({sys.executable})"
        if header.get("root") != os.path.realpath(self.root):
            return "another project"
        if self.snapshot is not None:
            self.stale = self.stale or self.snapshot.changed() or ""
            if self.stale:
                return "stale"
        return None

    def started(self, pid: int, request: Request) -> None:
        """The shell ``pid`` was forked for ``request``: tell the client."""
        request.close_fds()
        self.sessions[pid] = request.conn
        send_message(request.conn, event="started", pid=pid)

    def reaped(self, pid: int, status: int) -> bool:
        """``pid`` exited: ``True`` when it was a shell (its client is told its status)."""
        conn = self.sessions.pop(pid, None)
        if conn is None:
            return False
        code = os.waitstatus_to_exitcode(status)
        send_message(conn, event="exit", code=128 - code if code < 0 else code)
        conn.close()
        return True

    def close(self) -> None:
        """Stop listening and remove the socket; the shells running go on (and their
        clients are still told their status)."""
        if not self.listening:
            return
        with contextlib.suppress(OSError):
            # Only ours: a new process with the same pid may have bound the path since.
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()
        self.sock.close()

    def close_in_child(self, keep: socket.socket | None = None) -> None:
        """In a forked child: drop the descriptors (the socket file stays: the parent's)."""
        self.sock.close()
        for conn in self.sessions.values():
            if conn is not keep:
                conn.close()
        self.sessions = {}


# -- the child ------------------------------------------------------------------------


def _reopen_stdio(header: dict[str, Any]) -> None:
    """New ``sys.std*`` on descriptors 0-2 (the client's now), buffered as Python would."""
    encodings = header.get("encodings") or {}
    streams = []
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        encoding, errors = (encodings.get(name) or [None, None])[:2]
        tty = os.isatty(fd)
        stream = open(  # noqa: SIM115 - they are the process's streams until it exits
            fd,
            mode,
            encoding=encoding or "utf-8",
            errors=errors or ("backslashreplace" if fd == 2 else "strict"),
            closefd=False,
            buffering=1 if mode == "w" and (tty or fd == 2) else -1,
        )
        streams.append(stream)
    sys.stdin, sys.stdout, sys.stderr = streams


def _watchdog(conn: socket.socket) -> None:
    """Signals the client passes on are raised here; the client gone ends the shell."""
    while True:
        message = recv_message(conn)
        if message is None:
            os._exit(1)  # nobody reads its output any more: nothing else to do
        sig = message.get("signal")
        if isinstance(sig, int) and sig in FORWARDED:
            os.kill(os.getpid(), sig)


def run_child(request: Request) -> int:
    """The forked shell: take the client's terminal, wait for ``go``, run, return the code."""
    import atexit

    header = request.header
    with contextlib.suppress(OSError):
        os.setsid()
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
        os.close(fd)
    request.fds = []
    _reopen_stdio(header)
    for name in ("SIGTERM", "SIGCHLD", "SIGHUP", "SIGQUIT", "SIGWINCH", "SIGTSTP", "SIGTTIN"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    env = header.get("env")
    if isinstance(env, dict):
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
    with contextlib.suppress(OSError):
        os.chdir(str(header.get("cwd")))
    sys.argv = [str(a) for a in header.get("argv") or ["webkit"]]
    # The server's own exit handlers are not the shell's; the user's code may add some.
    atexit._clear()
    if recv_message(request.conn) != {"go": True}:
        return 1  # the client gave up before we started
    threading.Thread(target=_watchdog, args=(request.conn,), daemon=True).start()
    import importlib

    # The server's finders may have listed the project's folders before a save.
    importlib.invalidate_caches()
    import click

    from webkit_cli import shell

    options = header.get("options") or {}
    try:
        code = shell.start(
            project_dir=options.get("project_dir"),
            app=options.get("app"),
            import_timeout=float(options.get("import_timeout") or 20.0),
            code=options.get("code"),
            interface=str(options.get("interface") or "python"),
            served_by=str(header.get("role") or ""),
        )
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except SystemExit as exc:  # exit() at the prompt, as in the shell's own process
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:  # noqa: BLE001 - webkit's own: reported as the CLI does
        from webkit_cli.errors import BUG_EXIT_CODE, report_bug

        report_bug(exc)
        code = BUG_EXIT_CODE
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # Said by the shell itself too: the run may be gone (killed) and nobody reaps it.
    send_message(request.conn, event="exit", code=code)
    return code

"""The supervisor: bind the socket once, start workers, watch, reload, stop everything.

It owns one loop, as uvicorn's reloaders do: ``startup → for each event: react →
shutdown``. Events arrive on one queue from small threads (the file watcher, one reader
per worker control channel, the warm process's reader) and from signal handlers, so
all decisions are taken by one thread, in order.

A reload never closes the socket. When a ``.py`` file changes the current worker is
paused (it stops accepting but finishes what it is serving), a new worker is forked
from the warm process and imports the project; once it is ready it is told to accept
and the old one to drain and exit. Meanwhile connections wait in the kernel's backlog:
none is refused, and none is served by the old code after the change was seen.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli.errors import WebkitError
from webkit_cli.server.config import ServerConfig

if TYPE_CHECKING:
    from rich.console import Console

    from webkit_cli.server._warm import WarmProcess
    from webkit_cli.server.watch import ChangeBatch, ProjectWatcher

#: How many following ports to try when the default port is taken.
PORT_ATTEMPTS = 10
#: A worker that crashes this soon after the previous crash waits before being restarted.
CRASH_BACKOFF = 1.0
#: Seconds of importing after which a new worker is reported as slow.
SLOW_IMPORT = 5.0


# -- the socket -----------------------------------------------------------------------


def find_port_holder(port: int) -> str | None:
    """``"python3 (pid 123)"`` for the process listening on ``port``, from /proc (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if str(fd.readlink()) in targets:
                    cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                    name = " ".join(p.decode(errors="replace") for p in cmdline if p)[:80]
                    return f"{name or '?'} (pid {proc.name})"
        except OSError:
            continue
    return None


def _bind_one(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Rebinding right after a restart must not fail on connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_socket(config: ServerConfig) -> tuple[socket.socket, str | None]:
    """Bind the listening socket; returns it and a note when another port was chosen."""
    explicit = config.port_explicit or config.port == 0
    ports = [config.port] if explicit else list(range(config.port, config.port + PORT_ATTEMPTS))
    for port in ports:
        try:
            sock = _bind_one(config.host, port)
        except socket.gaierror as exc:
            raise WebkitError(
                f"Cannot resolve host {config.host!r} ({exc.strerror}). "
                "Use an IP address such as 127.0.0.1 or 0.0.0.0."
            ) from exc
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                if explicit:
                    holder = find_port_holder(port)
                    by = f" by {holder}" if holder else ""
                    raise WebkitError(
                        f"Port {port} is already in use{by}. Stop that process or choose "
                        "another port with --port (--port 0 picks a free one)."
                    ) from exc
                continue
            if exc.errno == errno.EACCES:
                raise WebkitError(
                    f"Permission denied to listen on port {port}: ports below 1024 need "
                    "root. Use a port such as 8000."
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise WebkitError(
                    f"Cannot listen on {config.host}: it is not an address of this machine. "
                    "Use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)."
                ) from exc
            raise WebkitError(f"Cannot listen on {config.host}:{port}: {exc.strerror}.") from exc
        note = None
        if port != config.port:
            note = f"Port {config.port} is in use; serving on port {port} instead."
        return sock, note
    first, last = ports[0], ports[-1]
    raise WebkitError(
        f"Ports {first}-{last} are all in use. Choose a free port with --port (0 picks one)."
    )


# -- workers --------------------------------------------------------------------------


@dataclass(eq=False)
class WorkerHandle:
    """The supervisor's view of one worker process."""

    number: int
    generation: str
    sock: socket.socket
    started: float
    trigger: ChangeBatch | None = None
    proc: subprocess.Popen[bytes] | None = None
    warm: WarmProcess | None = None
    pid: int | None = None
    state: str = "starting"  # starting -> ready -> stopping -> dead
    status: str = ""
    kill_at: float | None = None
    crash: bool = False
    report: str | None = None
    slow_at: float = 0.0  # when a still-importing worker gets a warning (monotonic)
    slow_warned: bool = False

    def __post_init__(self) -> None:
        self.slow_at = time.monotonic() + SLOW_IMPORT

    def send(self, **message: Any) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall((json.dumps(message) + "\n").encode())

    def kill(self) -> None:
        if self.state == "dead":
            return
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def exit_code(self) -> int | None:
        if self.proc is not None:
            try:
                return self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                return None
        if self.warm is not None and self.pid is not None:
            return self.warm.exit_code(self.pid, 0.2)
        return None


class Supervisor:
    """Owns the socket, the warm process, the workers and the watcher."""

    def __init__(
        self,
        config: ServerConfig,
        sock: socket.socket,
        console: Console,
        *,
        root: Path,
        watcher: ProjectWatcher | None = None,
    ) -> None:
        self.config = config
        self.sock = sock
        self.console = console
        self.root = root
        self.watcher = watcher
        # SimpleQueue: its put() is reentrant, so the signal handler may call it any time.
        self.events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.workers: list[WorkerHandle] = []
        self.current: WorkerHandle | None = None
        self.pending: WorkerHandle | None = None
        self.warm: WarmProcess | None = None
        self.old_warm: list[WarmProcess] = []
        # Without reloads there is one worker (and one after a crash): no warm process needed.
        self.use_warm = config.warm and config.reload
        self.counter = 0
        self.last_crash = 0.0
        self.respawn_at: float | None = None
        self.exit_code = 0
        self._stopping = False
        self.pin_shown = False
        self.ever_ready = False

    # -- start-up ---------------------------------------------------------------------

    def start_warm(self) -> None:
        from webkit_cli.server._warm import WarmProcess, fork_supported

        if not (self.use_warm and fork_supported()):
            self.use_warm = False
            return
        self.warm = WarmProcess(self.config, self.sock.fileno(), self._on_warm)

    def _on_warm(self, warm: WarmProcess, message: dict[str, Any] | None) -> None:
        self.events.put(("warm", warm, message))

    def launch(
        self, trigger: ChangeBatch | None, *, crash: bool = False, report: str | None = None
    ) -> WorkerHandle:
        """Start a worker (forked when possible); it accepts only when told to.

        With ``report`` the worker does not import the app: it answers every request with
        that explanation (the previous worker died while importing it).
        """
        self.counter += 1
        generation = f"{os.getpid()}-{self.counter}"
        ours, theirs = socket.socketpair()
        handle = WorkerHandle(
            number=self.counter,
            generation=generation,
            sock=ours,
            started=time.perf_counter(),
            trigger=trigger,
            crash=crash,
            report=report,
        )
        try:
            if self.use_warm and self.warm is not None and self.warm.ok:
                if self.warm.stale:
                    self._rebuild_warm()
                assert self.warm is not None
                if self.warm.fork(generation, theirs.fileno(), report):
                    handle.warm = self.warm
            if handle.warm is None:
                handle.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "webkit_cli.server.worker",
                        self.config.to_json(),
                        str(self.sock.fileno()),
                        str(theirs.fileno()),
                        generation,
                        *([report] if report else []),
                    ],
                    pass_fds=(self.sock.fileno(), theirs.fileno()),
                )
                handle.pid = handle.proc.pid
        finally:
            theirs.close()
        self.workers.append(handle)
        threading.Thread(
            target=self._read_worker, args=(handle,), name="webkit-worker", daemon=True
        ).start()
        return handle

    def _rebuild_warm(self) -> None:
        from webkit_cli.server._warm import WarmProcess

        if self.warm is not None:
            self.warm.retire()
            self.old_warm.append(self.warm)
        self.warm = WarmProcess(self.config, self.sock.fileno(), self._on_warm)

    def _read_worker(self, handle: WorkerHandle) -> None:
        try:
            with handle.sock.makefile("rb") as stream:
                for line in stream:
                    with contextlib.suppress(ValueError):
                        self.events.put(("worker", handle, json.loads(line)))
        except OSError:
            pass  # reset by a killed worker: the same as end of file
        finally:
            self.events.put(("exit", handle))

    # -- the loop ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping:
            # A second Ctrl-C: do not wait for anything.
            self._kill_everything()
            os._exit(130)
        self._stopping = True
        self.events.put(("signal", signum))

    def run(self) -> int:
        """Serve until Ctrl-C / SIGTERM or a fatal start-up error; returns the exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start_warm()
            if self.watcher is not None:
                self.watcher.on_batch = lambda batch: self.events.put(("batch", batch))
                self.watcher.on_error = lambda message: self.events.put(("watch-error", message))
                self.watcher.start()
                # A save made once the first page answers must not fall before the watch.
                # (The warm process imports meanwhile: this costs the start-up nothing.)
                self.watcher.ready.wait(5)
            self.pending = self.launch(None)
            while True:
                try:
                    event = self.events.get(timeout=self._next_timeout())
                except queue.Empty:
                    self._on_timer()
                    continue
                if event[0] == "signal" or not self._dispatch(event):
                    break
                self._on_timer()  # a busy queue must not postpone the deadlines
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _next_timeout(self) -> float | None:
        deadlines = [w.kill_at for w in self.workers if w.kill_at is not None and w.state != "dead"]
        if self.pending is not None and not self.pending.slow_warned:
            deadlines.append(self.pending.slow_at)
        if self.respawn_at is not None:
            deadlines.append(self.respawn_at)
        if not deadlines:
            return None  # idle: block without waking up
        return max(0.0, min(deadlines) - time.monotonic())

    def _on_timer(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.kill_at is not None and worker.kill_at <= now and worker.state != "dead":
                worker.kill_at = None
                worker.kill()
        pending = self.pending
        if pending is not None and not pending.slow_warned and pending.slow_at <= now:
            pending.slow_warned = True
            self._slow_import(pending)
        if self.respawn_at is not None and self.respawn_at <= now:
            self.respawn_at = None
            if self.pending is None:
                self.pending = self.launch(None, crash=True)

    def _dispatch(self, event: tuple[Any, ...]) -> bool:
        """Handle one event; ``False`` ends the loop."""
        kind = event[0]
        if kind == "batch":
            self.on_changes(event[1])
        elif kind == "worker":
            return self.on_worker_message(event[1], event[2])
        elif kind == "exit":
            self.on_worker_exit(event[1])
        elif kind == "warm":
            self.on_warm_message(event[1], event[2])
        elif kind == "watch-error":
            from webkit_cli._console import print_warning

            print_warning(event[1])
        return True

    # -- reacting -----------------------------------------------------------------------

    def on_changes(self, batch: ChangeBatch) -> None:
        if batch.action in ("css", "reload"):
            target = self.current
            if target is not None:
                paths = [self._rel(p) for p in batch.paths]
                target.send(cmd="notify", kind=batch.action, paths=paths)
            if not self.config.live_reload:
                return  # Jinja picks the template up on the next request; nothing to say
            self._print_reload(batch, batch.action, None)
            return
        if batch.action == "full" and self.use_warm and self.warm is not None:
            self._rebuild_warm()
        self._replace_worker(batch)

    def _replace_worker(self, batch: ChangeBatch | None, *, crash: bool = False) -> None:
        if self.pending is not None:
            # It may have read the files before this change: start over. It never accepted.
            if batch is not None and self.pending.trigger is not None:
                merged = tuple(dict.fromkeys(self.pending.trigger.paths + batch.paths))
                batch = type(batch)(paths=merged, action=max_action(batch, self.pending.trigger))
            self._discard(self.pending)
            self.pending = None
        if self.current is not None and self.current.state == "ready":
            # Stop serving the old code now; connections wait in the backlog meanwhile.
            self.current.send(cmd="pause")
        if batch is not None:
            drop_stale_bytecode(batch.paths)
        self.pending = self.launch(batch, crash=crash)

    def _slow_import(self, worker: WorkerHandle) -> None:
        """A new worker still importing after a while: say so, and keep answering meanwhile."""
        from webkit_cli._console import print_warning

        serving = self.current is not None and self.current.state == "ready"
        print_warning(
            f"The app has been importing for {SLOW_IMPORT:.0f} s (a loop or a blocking call at "
            "import time?). "
            + (
                "The previous version answers meanwhile. "
                if serving
                else "Requests wait until it is done. "
            )
            + "Save a fix to start over."
        )
        if serving and self.current is not None:
            self.current.send(cmd="resume")

    def _discard(self, worker: WorkerHandle) -> None:
        worker.state = "stopping"
        worker.kill()
        # Before its pid is known (a fork in flight), end of file on its channel stops it.
        with contextlib.suppress(OSError):
            worker.sock.shutdown(socket.SHUT_RDWR)

    def on_worker_message(self, worker: WorkerHandle, message: dict[str, Any]) -> bool:
        event = message.get("event")
        if event == "started":
            worker.pid = int(message["pid"])
        elif event == "refused" and worker is self.pending:
            # An import in the warm process started threads: a fork could deadlock.
            self._give_up_warm(
                f"A module imported by the warm process started {message.get('threads', '?')} "
                "threads, so forking is unsafe; spawning workers instead (slower reloads)."
            )
        elif event == "ready" and worker is self.pending:
            return self._on_ready(worker, message)
        return True

    def _on_ready(self, worker: WorkerHandle, message: dict[str, Any]) -> bool:
        status = str(message.get("status", "ok"))
        elapsed = time.perf_counter() - worker.started
        if worker.trigger is not None:
            elapsed = max(elapsed, _since_saved(worker.trigger.paths))
        if status == "noapp":
            from webkit_cli._console import print_error

            print_error(str(message.get("message", "No Flask app found.")))
            if not self.ever_ready:
                # A wrong --app at start is a usage mistake, not a bug to live-reload away.
                self.exit_code = 1
                return False
        self.ever_ready = True
        self.pending = None
        worker.state = "ready"
        worker.status = status
        worker.send(cmd="resume")
        learned = message.get("learned")
        if worker.warm is not None and worker.warm is self.warm and isinstance(learned, list):
            worker.warm.learn([str(name) for name in learned])
        old, self.current = self.current, worker
        if old is not None and old.state != "dead":
            old.state = "stopping"
            # No "reload" event from the old worker: closing its event streams makes each
            # page reconnect, meet the new worker's generation and reload from it.
            old.send(cmd="stop", grace=self.config.reload_grace)
            old.kill_at = time.monotonic() + self.config.reload_grace + 0.5
        pin = message.get("pin")
        if pin and not self.pin_shown:
            self.pin_shown = True
            self.console.print(f"Debugger PIN: [bold]{pin}[/] (unlocks the console on error pages)")
        if worker.trigger is not None:
            self._print_reload(worker.trigger, worker.trigger.action, elapsed, status=status)
        elif worker.crash:
            self.console.print(
                f"[dim]{time.strftime('%H:%M:%S')}[/] [cyan]↻[/] worker restarted after a crash"
            )
        return True

    def on_worker_exit(self, worker: WorkerHandle) -> None:
        was = worker.state
        worker.state = "dead"
        worker.kill_at = None
        worker.sock.close()
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        if was == "stopping" or self._stopping:
            if worker.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(1.0)
            return
        if worker is self.pending and worker.warm is not None and worker.pid is None:
            # The warm process never forked it (it died under the request).
            self._give_up_warm("The warm process could not start a worker; spawning instead.")
            return
        code = worker.exit_code()
        how = _describe_exit(code)
        from webkit_cli._console import print_warning

        if worker is self.pending:
            self.pending = None
            if self.current is not None and self.current.state == "ready":
                print_warning(
                    f"The new worker {how} while importing the app; still serving the previous "
                    "version. Save a fix to try again."
                )
                self.current.send(cmd="resume")
                return
            if worker.report is None:
                # Nothing serves, and importing again would die again: serve the reason.
                reason = (
                    f"The worker process {how} while importing the app (os._exit(), a crash "
                    "in a C extension or a signal). Save a fix and the server reloads."
                )
                print_warning(reason)
                self.pending = self.launch(worker.trigger, report=reason)
                return
        elif worker is self.current:
            self.current = None
        print_warning(f"The worker {how}; starting a new one.")
        now = time.monotonic()
        if now - self.last_crash < CRASH_BACKOFF:
            self.respawn_at = now + CRASH_BACKOFF
        else:
            self.pending = self.launch(None, crash=True)
        self.last_crash = now

    def on_warm_message(self, warm: WarmProcess, message: dict[str, Any] | None) -> None:
        if message is None:  # the zygote exited
            if warm in self.old_warm:
                self.old_warm.remove(warm)
            with contextlib.suppress(subprocess.TimeoutExpired):
                warm.proc.wait(1.0)
            warm.sock.close()
            if warm is self.warm and not self._stopping:
                self.warm = None
                self._give_up_warm("The warm process exited; new workers will be spawned instead.")
            return

    def _give_up_warm(self, warning: str) -> None:
        """Spawn workers from now on; a worker the warm process did not fork is spawned."""
        from webkit_cli._console import print_warning

        print_warning(warning)
        warm, self.warm, self.use_warm = self.warm, None, False
        if warm is not None:
            # Not killed: the worker serving now may be its child. It exits after it.
            warm.retire()
            self.old_warm.append(warm)
        pending = self.pending
        if pending is not None and pending.warm is not None and pending.pid is None:
            pending.state = "stopping"  # never forked: its end of file is expected
            with contextlib.suppress(OSError):
                pending.sock.shutdown(socket.SHUT_RDWR)
            self.pending = self.launch(pending.trigger, crash=pending.crash, report=pending.report)

    # -- output -------------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _print_reload(
        self, batch: ChangeBatch, action: str, elapsed: float | None, *, status: str = "ok"
    ) -> None:
        from webkit_cli.server.banner import reload_line

        self.console.print(
            reload_line(batch.describe(self.root), action, elapsed, status=status),
            soft_wrap=True,
            highlight=False,
        )

    # -- shutdown -----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the watcher, the workers and the warm processes: all of it within a second."""
        self._stopping = True
        if self.watcher is not None:
            self.watcher.stop()
        deadline = time.monotonic() + self.config.shutdown_grace + 0.2
        for worker in self.workers:
            if worker.state in ("starting",):
                self._discard(worker)
            else:
                worker.send(cmd="stop", grace=self.config.shutdown_grace)
        while any(w.state != "dead" for w in self.workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                break
            if event[0] == "exit":
                self.on_worker_exit(event[1])
        for worker in list(self.workers):
            worker.kill()
            if worker.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(0.2)
            worker.sock.close()
        for warm in [self.warm, *self.old_warm]:
            if warm is not None:
                warm.terminate(0.2)
        self.warm = None
        self.old_warm = []
        self.sock.close()

    def _kill_everything(self) -> None:
        for worker in self.workers:
            worker.kill()
        for warm in [self.warm, *self.old_warm]:
            if warm is not None:
                with contextlib.suppress(ProcessLookupError):
                    warm.proc.kill()


def drop_stale_bytecode(paths: tuple[Path, ...]) -> None:
    """Delete the cached bytecode of changed ``.py`` files before a worker imports them.

    A ``.pyc`` is trusted when the source's mtime *in whole seconds* and size match: two
    saves within one second that keep the size (``v1`` -> ``v2``) would load the first
    save's bytecode. Reloads are fast enough for that to happen, so the cache goes.
    """
    import importlib.util

    for path in paths:
        if path.suffix != ".py":
            continue
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


def _since_saved(paths: tuple[Path, ...]) -> float:
    """Seconds since the newest of ``paths`` was written: the reload time the user sees."""
    mtimes = []
    for path in paths:
        with contextlib.suppress(OSError):
            mtimes.append(path.stat().st_mtime)
    if not mtimes:
        return 0.0
    since = time.time() - max(mtimes)
    return since if 0 <= since < 60 else 0.0


def max_action(a: ChangeBatch, b: ChangeBatch) -> str:
    from webkit_cli.server.watch import ACTIONS

    return ACTIONS[max(ACTIONS.index(a.action), ACTIONS.index(b.action))]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"

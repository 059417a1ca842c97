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
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from webkit_cli._paths import display_path, drop_stale_bytecode
from webkit_cli.server._process import INTERNAL_ERROR_EXIT, spawn_module
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.events import (
    Event,
    FilesChanged,
    Stop,
    WarmGone,
    WarmSaid,
    WatchFailed,
    WorkerGone,
    WorkerSaid,
)
from webkit_cli.server.handles import SLOW_IMPORT, WorkerHandle, WorkerState, describe_exit
from webkit_cli.server.watch import PAGE_ACTIONS, Action, ChangeBatch, ProjectWatcher

if TYPE_CHECKING:
    from rich.console import Console

    from webkit_cli.server._layer import LayerProcess
    from webkit_cli.server._warm import ForkServer, WarmProcess

#: A worker that crashes this soon after the previous crash waits before being restarted.
CRASH_BACKOFF = 1.0
#: The run's private folder, in the temporary directory: ``webkit-run-<pid>-<random>``.
CACHE_PREFIX = "webkit-run-"
#: Signals that stop the server: Ctrl-C, kill, a closed terminal, Ctrl-\\.
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


class Supervisor:
    """Owns the socket, the warm process, the workers and the watcher."""

    def __init__(
        self, config: ServerConfig, sock: socket.socket, console: Console, *, root: Path
    ) -> None:
        self.config = config
        self.sock = sock
        self.console = console
        self.root = root
        # SimpleQueue: its put() is reentrant, so the signal handler may call it any time.
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.watcher: ProjectWatcher | None = None
        if config.reload:
            self.watcher = ProjectWatcher(
                root,
                extra=[Path(p) for p in config.watch],
                exclude=config.exclude,
                poll=config.poll,
                on_batch=lambda batch: self.events.put(FilesChanged(batch)),
                on_error=lambda message: self.events.put(WatchFailed(message)),
            )
        self.workers: list[WorkerHandle] = []
        self.current: WorkerHandle | None = None
        self.pending: WorkerHandle | None = None
        self.warm: WarmProcess | None = None
        self.old_warm: list[WarmProcess] = []
        #: third-party imports that bring in the project's own modules: left to the workers
        self.warm_skip: set[str] = set()
        # Without reloads there is one worker (and one after a crash): no warm process needed.
        self.use_warm = config.warm and config.reload
        #: the layer (``_layer``): forked from the warm process, it also holds the project's
        #: modules that did not change; built after the first change, rebuilt as needed
        self.use_layer = self.use_warm and config.layer
        self.layer: LayerProcess | None = None
        self.old_layers: list[LayerProcess] = []
        #: files whose modules the next layer leaves out: those that changed, and theirs
        self.layer_exclude: set[str] = set()
        #: the modules the last full worker imported, in order: what a layer imports
        self.layer_candidates: list[str] | None = None
        self.layer_wanted = False
        self.layer_rounds = 0
        #: data files a layer saw read at import time: their change needs a new worker
        self.read_at_import: set[str] = set()
        #: the ``.py`` files saved during this run, and the standby (``_standby``) forked
        #: from the layer that runs the factory up to the first of them ahead of a save
        self.saved_modules: set[str] = set()
        self.standby: WorkerHandle | None = None
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
        self.warm = WarmProcess(self.config, self.sock.fileno(), self._on_warm, skip=self.warm_skip)

    def _on_warm(self, warm: ForkServer, message: dict[str, Any] | None) -> None:
        self.events.put(WarmGone(warm) if message is None else WarmSaid(warm, message))

    def launch(
        self,
        trigger: ChangeBatch | None,
        *,
        crash: bool = False,
        report: str | None = None,
        layer: LayerProcess | None = None,
        standby: list[str] | None = None,
    ) -> WorkerHandle:
        """Start a worker (forked when possible: from ``layer`` when given); it accepts
        only when told to.

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
            if layer is not None and layer.fork(generation, theirs.fileno(), report, standby):
                handle.warm = layer
            elif standby is not None:
                pass  # only ever forked from a layer
            elif self.use_warm and self.warm is not None and self.warm.ok:
                if self.warm.stale:
                    self._rebuild_warm()
                assert self.warm is not None
                if self.warm.fork(generation, theirs.fileno(), report):
                    handle.warm = self.warm
            if handle.warm is None:
                handle.proc = spawn_module(
                    "webkit_cli.server.worker",
                    self.config,
                    (self.sock.fileno(), theirs.fileno()),
                    generation,
                    *([report] if report else []),
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
        self._drop_layer(rebuild=True)
        self.warm = WarmProcess(self.config, self.sock.fileno(), self._on_warm, skip=self.warm_skip)

    def _read_worker(self, handle: WorkerHandle) -> None:
        try:
            with handle.sock.makefile("rb") as stream:
                for line in stream:
                    with contextlib.suppress(ValueError):
                        message = json.loads(line)
                        if isinstance(message, dict):
                            self.events.put(WorkerSaid(handle, message))
        except OSError:
            pass  # reset by a killed worker: the same as end of file
        finally:
            self.events.put(WorkerGone(handle))

    # -- the loop ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping:
            # A second Ctrl-C: do not wait for anything.
            self._kill_everything()
            os._exit(130)
        self._stopping = True
        self.events.put(Stop(signum))

    def run(self) -> int:
        """Serve until a stop signal or a fatal start-up error; returns the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            # Private to this run: the workers share compiled templates through it. Made
            # once the signals are ours, so no way of stopping can leave it behind.
            remove_abandoned_caches()
            cache_dir = tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-")
            self.config = replace(self.config, cache_dir=cache_dir)
            self.start_warm()
            if self.watcher is not None:
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
                if not self._dispatch(event):
                    break
                self._on_timer()  # a busy queue must not postpone the deadlines
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _next_timeout(self) -> float | None:
        deadlines = [
            w.kill_at
            for w in self.workers
            if w.kill_at is not None and w.state is not WorkerState.DEAD
        ]
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
            if (
                worker.kill_at is not None
                and worker.kill_at <= now
                and worker.state is not WorkerState.DEAD
            ):
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

    def _dispatch(self, event: Event) -> bool:
        """Handle one event; ``False`` ends the loop."""
        match event:
            case FilesChanged(batch):
                self.on_changes(batch)
            case WorkerSaid(worker, message):
                return self.on_worker_message(worker, message)
            case WorkerGone(worker):
                self.on_worker_exit(worker)
            case WarmSaid(warm, message):
                self.on_warm_message(warm, message)
            case WarmGone(warm):
                self.on_warm_exit(warm)
            case WatchFailed(message):
                from webkit_cli._console import print_warning

                print_warning(message)
            case Stop(signum):
                self._end_the_interrupted_line(signum)
                return False
        return True

    def _end_the_interrupted_line(self, signum: int) -> None:
        """Ctrl-C at a terminal echoes ``^C`` with no newline after it; webkit then exits 0
        (a clean stop), so the shell adds none either and its prompt would start right after
        ``^C``: end that line first. Elsewhere (a pipe, a log) nothing is written."""
        if signum == signal.SIGINT and self.console.is_terminal:
            self.console.print()

    # -- reacting -----------------------------------------------------------------------

    def on_changes(self, batch: ChangeBatch) -> None:
        if batch.action in PAGE_ACTIONS and self._read_at_import(batch):
            # A file read while importing (not a page Jinja re-reads): the code that read it
            # runs again, in a worker of the warm process, and the layer is rebuilt.
            batch = ChangeBatch(paths=batch.paths, action=Action.WORKER)
        if batch.action in PAGE_ACTIONS:
            target = self.current
            if target is not None:
                paths = [display_path(p, self.root) for p in batch.paths]
                target.send(cmd="notify", kind=batch.action.label, paths=paths)
            if not self.config.live_reload:
                return  # Jinja picks the template up on the next request; nothing to say
            self._print_reload(batch, batch.action.label, None)
            return
        if batch.action is Action.FULL and self.use_warm and self.warm is not None:
            self._rebuild_warm()
        self._replace_worker(batch)

    def _replace_worker(self, batch: ChangeBatch | None, *, crash: bool = False) -> None:
        if self.pending is not None:
            # It may have read the files before this change: start over. It never accepted.
            if batch is not None and self.pending.trigger is not None:
                batch = self.pending.trigger.merged(batch)
            self._discard(self.pending)
            self.pending = None
        if self.current is not None and self.current.state is WorkerState.READY:
            # Stop serving the old code now; connections wait in the backlog meanwhile.
            # Nothing below waits for the old worker: stuck, it is killed once the new
            # one is ready (the send does not block, the new worker comes from the warm
            # process or a spawn).
            self.current.send(cmd="pause")
        if batch is not None:
            drop_stale_bytecode(batch.paths)
            from webkit_cli.server._layer import real

            self.saved_modules.update(real(p) for p in batch.paths if p.suffix == ".py")
        layer = self._layer_for(batch)
        standby = self._take_standby(batch, layer, crash=crash)
        if standby is not None:
            standby.trigger = batch
            standby.started = time.perf_counter()
            standby.slow_at = time.monotonic() + SLOW_IMPORT
            standby.slow_warned = False
            standby.waits_for = None  # a worker like any other from now on
            self.pending = standby
            standby.send(cmd="go")
            return
        self.pending = self.launch(batch, crash=crash, layer=layer)

    # -- the standby --------------------------------------------------------------------

    def _start_standby(self) -> None:
        """Fork a standby from the layer, for the next save of a module saved before."""
        layer = self.layer
        if (
            self.standby is not None
            or self.pending is not None
            or self._stopping
            or layer is None
            or not layer.ready
        ):
            return
        # Only modules the layer leaves out: any other change is not the layer's to serve.
        waits_for = sorted(self.saved_modules & layer.exclude)
        if not waits_for:
            return
        handle = self.launch(None, layer=layer, standby=waits_for)
        if handle.warm is not layer:  # the layer is gone: it was spawned or forked elsewhere
            self._discard(handle)
            return
        handle.waits_for = frozenset(waits_for)
        handle.slow_warned = True  # it waits on purpose
        self.standby = handle

    def _take_standby(
        self, batch: ChangeBatch | None, layer: LayerProcess | None, *, crash: bool
    ) -> WorkerHandle | None:
        """The standby, when the layer's rule lets it serve ``batch`` (else it is killed):
        every changed file is one it waits before, and none is a file it read or lies in
        a folder it listed."""
        standby, self.standby = self.standby, None
        if standby is None:
            return None
        from webkit_cli.server._layer import real

        paths = [real(p) for p in batch.paths] if batch is not None else []
        if (
            batch is not None
            and not crash
            and layer is not None
            and standby.warm is layer
            and standby.waiting
            and standby.state is WorkerState.STARTING
            and standby.waits_for is not None
            and all(p in standby.waits_for for p in paths)
            and not any(p in standby.read or str(Path(p).parent) in standby.listed for p in paths)
        ):
            return standby
        self._discard(standby)
        return None

    # -- the layer ----------------------------------------------------------------------

    def _read_at_import(self, batch: ChangeBatch) -> bool:
        """True when a file of ``batch`` was read while importing the project (as a layer
        saw it): a page to the watcher, but the code that read it must run again."""
        if self.layer is not None and self.layer.holds(batch.paths):
            return True
        if not self.read_at_import:
            return False
        from webkit_cli.server._layer import real

        return any(real(p) in self.read_at_import for p in batch.paths)

    def _layer_for(self, batch: ChangeBatch | None) -> LayerProcess | None:
        """The layer that may serve ``batch``, or ``None``: then the warm process does, and
        the next layer leaves the changed modules out (built once that worker is ready)."""
        if batch is None or not self.use_layer:
            return None
        layer = self.layer
        if layer is not None and layer.can_serve(batch.paths):
            return layer
        from webkit_cli.server._layer import real

        if layer is not None and not layer.ready:
            # Still importing: kept (dropping it would restart its imports at every save,
            # and on a big project none would ever finish). Whether it holds a file that
            # changed meanwhile is known once it is ready: then it goes (``_on_layer_message``).
            if not layer.leaves_out(batch.paths):
                layer.changed.update(real(p) for p in batch.paths)
            self.layer_exclude.update(real(p) for p in batch.paths if p.suffix == ".py")
            return None

        if layer is not None:
            self.layer_exclude.update(layer.left_out_for(batch.paths))
        else:
            self.layer_exclude.update(real(p) for p in batch.paths if p.suffix == ".py")
        self._drop_layer()
        self.layer_wanted = True
        self.layer_rounds = 0
        return None

    def _drop_layer(self, *, rebuild: bool = False) -> None:
        """Retire the layer (it exits once its workers have); ``rebuild``: build another
        after the next full worker."""
        layer, self.layer = self.layer, None
        if self.standby is not None:
            self._discard(self.standby)
            self.standby = None
        if layer is not None:
            layer.retire()
            self.old_layers.append(layer)
            if rebuild:
                self.layer_wanted = True

    def _build_layer(self) -> None:
        from webkit_cli.server._layer import LayerProcess

        warm = self.warm
        if (
            not self.use_layer
            or warm is None
            or not warm.ok
            or warm.tainted
            or self.layer_candidates is None
        ):
            return
        self._drop_layer()
        self.layer_wanted = False
        self.layer = LayerProcess(warm, self.layer_exclude, self.layer_candidates, self._on_warm)

    def _on_layer_message(self, layer: LayerProcess, message: dict[str, Any]) -> None:
        if message.get("event") != "layer" or layer is not self.layer:
            return
        if message.get("ok") and message.get("threads") == 1:
            layer.took(message)
            self.read_at_import.update(layer.readers)
            self.layer_rounds = 0
            changed = [Path(p) for p in layer.changed]
            if layer.holds(changed):
                # It imported a file that changed while it did: it may hold either version.
                self.layer_exclude.update(layer.left_out_for(changed))
                self._drop_layer()
                self._build_layer()
                return
            self._start_standby()
            return
        self._drop_layer()
        if message.get("ok"):
            from webkit_cli._console import print_warning

            self.use_layer = False
            print_warning(
                f"Importing the project started {message.get('threads', '?')} threads, so "
                "forking a layer of it is unsafe; each reload imports the whole project."
            )
            return
        # A module needed one left out (or failed): leave it out too, and try again.
        more = [str(p) for p in message.get("exclude", [])]
        self.layer_exclude.update(more)
        self.layer_rounds += 1
        from webkit_cli.server._layer import MAX_ROUNDS

        if more and self.layer_rounds < MAX_ROUNDS:
            self._build_layer()

    def _slow_import(self, worker: WorkerHandle) -> None:
        """A new worker still importing after a while: say so, and keep answering meanwhile."""
        from webkit_cli._console import print_warning

        serving = self.current is not None and self.current.state is WorkerState.READY
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
        worker.state = WorkerState.STOPPING
        worker.kill()
        # Before its pid is known (a fork in flight), end of file on its channel stops it.
        with contextlib.suppress(OSError):
            worker.sock.shutdown(socket.SHUT_RDWR)

    def on_worker_message(self, worker: WorkerHandle, message: dict[str, Any]) -> bool:
        event = message.get("event")
        if event == "started":
            worker.pid = int(message["pid"])
        elif event == "standby" and worker is self.standby:
            worker.waiting = True
            worker.read = frozenset(str(p) for p in message.get("read", []))
            worker.listed = frozenset(str(p) for p in message.get("listed", []))
        elif worker.waits_for is not None and worker is not self.pending:
            # A standby that finished the factory without waiting (or an error in it):
            # of no use; the next reload starts another.
            if worker is self.standby:
                self.standby = None
            self._discard(worker)
        elif event == "refused" and message.get("reason") == "tainted":
            # The warm process holds project modules: a fresh one forks the worker.
            tainting = message.get("tainting")
            self._on_tainted(worker.warm, tainting if isinstance(tainting, dict) else {})
            if worker is self.pending:
                self._relaunch_unforked()
        elif event == "refused" and worker.warm is not None and worker.warm is not self.warm:
            # A retired zygote or a layer that cannot fork: the warm process forks it.
            if worker.warm is self.layer:
                self._drop_layer()
            if worker is self.pending:
                self._relaunch_unforked()
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
        worker.state = WorkerState.READY
        worker.status = status
        worker.send(cmd="resume")
        learned = message.get("learned")
        if self.warm is not None and worker.warm is self.warm and isinstance(learned, list):
            self.warm.learn([str(name) for name in learned])
            if status == "ok" and worker.report is None:
                # A full import: the order and the modules the next layer imports.
                self.layer_candidates = [str(name) for name in learned]
                if self.layer_wanted or self.layer is None:
                    # Also before the first change: that layer serves no change of a module
                    # it holds, but finding what cannot be layered (a module that imports
                    # only inside the app) takes a round or two, done before the first save.
                    self._build_layer()
        old, self.current = self.current, worker
        if old is not None and old.state is not WorkerState.DEAD:
            old.state = WorkerState.STOPPING
            # No "reload" event from the old worker: closing its event streams makes each
            # page reconnect, meet the new worker's generation and reload from it.
            old.send(cmd="stop", grace=self.config.reload_grace)
            old.kill_at = time.monotonic() + self.config.reload_grace + 0.5
        pin = message.get("pin")
        if pin and not self.pin_shown:
            self.pin_shown = True
            self.console.print(f"Debugger PIN: [bold]{pin}[/] (unlocks the console on error pages)")
        if worker.trigger is not None:
            action = worker.trigger.action.label
            self._print_reload(worker.trigger, action, elapsed, status=status)
        elif worker.crash:
            self.console.print(
                f"[dim]{time.strftime('%H:%M:%S')}[/] [cyan]↻[/] worker restarted after a crash"
            )
        self._start_standby()
        return True

    def on_worker_exit(self, worker: WorkerHandle) -> None:
        was = worker.state
        worker.state = WorkerState.DEAD
        worker.kill_at = None
        worker.sock.close()
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        if worker is self.standby:
            self.standby = None  # gone before a save: a worker is forked as before
            return
        if was is WorkerState.STOPPING or self._stopping:
            if worker.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(1.0)
            return
        if (
            worker is self.pending
            and worker.warm is not None
            and worker.pid is None
            and worker.warm is not self.warm
        ):
            # A layer (or a retired zygote) gone under the request: the warm process forks it.
            if worker.warm is self.layer:
                self._drop_layer()
            self._relaunch_unforked()
            return
        if worker is self.pending and worker.warm is not None and worker.pid is None:
            # The warm process never forked it (it died under the request).
            self._give_up_warm("The warm process could not start a worker; spawning instead.")
            return
        code = worker.exit_code()
        how = describe_exit(code)
        from webkit_cli._console import print_warning

        if worker is self.pending:
            self.pending = None
            if self.current is not None and self.current.state is WorkerState.READY:
                print_warning(
                    f"The new worker {how} while importing the app; still serving the previous "
                    "version. Save a fix to try again."
                )
                self.current.send(cmd="resume")
                return
            if worker.report is None:
                # Nothing serves, and importing again would die again: serve the reason.
                if code == INTERNAL_ERROR_EXIT:
                    reason = (
                        f"The worker process {how} while loading the app. "
                        "Save a change and the server tries again."
                    )
                else:
                    reason = (
                        f"The worker process {how} while importing the app (os._exit(), a "
                        "crash in a C extension or a signal). Save a fix and the server reloads."
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

    def on_warm_message(self, warm: ForkServer, message: dict[str, Any]) -> None:
        from webkit_cli.server._layer import LayerProcess

        if isinstance(warm, LayerProcess):
            self._on_layer_message(warm, message)
            return
        tainting = message.get("tainting")
        if message.get("event") in ("warm", "learned") and tainting and isinstance(tainting, dict):
            self._on_tainted(warm, tainting)

    def on_warm_exit(self, warm: ForkServer) -> None:
        from webkit_cli.server._layer import LayerProcess

        if isinstance(warm, LayerProcess):
            layer = warm
            if layer in self.old_layers:
                self.old_layers.remove(layer)
            if layer is self.layer:
                self.layer = None  # it crashed while importing: no new one before a change
            layer.sock.close()
            return
        warm = cast("WarmProcess", warm)
        if warm in self.old_warm:
            self.old_warm.remove(warm)
        with contextlib.suppress(subprocess.TimeoutExpired):
            warm.proc.wait(1.0)
        warm.sock.close()
        if warm is self.warm and not self._stopping:
            self.warm = None
            self._give_up_warm("The warm process exited; new workers will be spawned instead.")

    def _on_tainted(self, warm: ForkServer | None, tainting: dict[str, Any]) -> None:
        """A warm process imported the project's own modules: it must fork no more.

        The imports that brought them in are left to the workers from now on (said once),
        and a fresh warm process takes over; a worker it was asked for is asked again.
        """
        from webkit_cli.server._layer import LayerProcess

        if warm is None or isinstance(warm, LayerProcess):
            return  # a layer never imports third-party modules of its own: never tainted
        warm = cast("WarmProcess", warm)
        if warm.tainted:
            return  # already replaced (the refusal and the report both say it)
        warm.tainted = True
        culprits = sorted(name for name in tainting if name)
        if not culprits:
            # Project modules that no import of ours brought in: no warm process is clean.
            if warm is self.warm:
                self._give_up_warm(
                    "The warm process found the project's own modules loaded before it "
                    "imported anything (a .pth file or sitecustomize?); spawning workers "
                    "instead, so each imports the project fresh."
                )
            return
        from webkit_cli._console import print_warning

        modules = sorted({str(m) for name in culprits for m in tainting.get(name) or ()})
        shown = ", ".join(modules[:3]) + (
            f" (+{len(modules) - 3} more)" if len(modules) > 3 else ""
        )
        names = ", ".join(culprits)
        print_warning(
            f"Importing {names} imports the project's own modules ({shown}): the warm process "
            "leaves it to each worker, so every reload imports it with fresh project code."
        )
        self.warm_skip.update(culprits)
        if warm is self.warm:
            self._rebuild_warm()
            self._relaunch_unforked()

    def _relaunch_unforked(self) -> None:
        """Ask again for the pending worker that a retired warm process did not fork."""
        pending = self.pending
        if (
            pending is not None
            and pending.warm is not None
            and pending.warm is not self.warm
            and pending.pid is None
        ):
            pending.state = WorkerState.STOPPING  # never forked: its end of file is expected
            with contextlib.suppress(OSError):
                pending.sock.shutdown(socket.SHUT_RDWR)
            self.pending = self.launch(pending.trigger, crash=pending.crash, report=pending.report)

    def _give_up_warm(self, warning: str) -> None:
        """Spawn workers from now on; a worker the warm process did not fork is spawned."""
        from webkit_cli._console import print_warning

        print_warning(warning)
        warm, self.warm, self.use_warm = self.warm, None, False
        self.use_layer = False
        self._drop_layer()
        if warm is not None:
            # Not killed: the worker serving now may be its child. It exits after it.
            warm.retire()
            self.old_warm.append(warm)
        self._relaunch_unforked()

    # -- output -------------------------------------------------------------------------

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
            if worker.state is WorkerState.STARTING:
                self._discard(worker)
            else:
                worker.send(cmd="stop", grace=self.config.shutdown_grace)
        while any(w.state is not WorkerState.DEAD for w in self.workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(event, WorkerGone):
                self.on_worker_exit(event.worker)
        for worker in list(self.workers):
            worker.kill()
            if worker.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(0.2)
            worker.sock.close()
        # Layers first: the zygote, stopped, would stop them, but with less time.
        for layer in [self.layer, *self.old_layers]:
            if layer is not None:
                layer.terminate()
        for warm in [self.warm, *self.old_warm]:
            if warm is not None:
                warm.terminate(0.2)
        self.layer = None
        self.old_layers = []
        self.warm = None
        self.old_warm = []
        self.sock.close()
        self._remove_cache()

    def _kill_everything(self) -> None:
        for worker in self.workers:
            worker.kill()
        for layer in [self.layer, *self.old_layers]:
            if layer is not None:
                layer.kill()
        for warm in [self.warm, *self.old_warm]:
            if warm is not None:
                with contextlib.suppress(ProcessLookupError):
                    warm.proc.kill()
        self._remove_cache()

    def _remove_cache(self) -> None:
        if self.config.cache_dir:
            shutil.rmtree(self.config.cache_dir, ignore_errors=True)


def remove_abandoned_caches(tmpdir: str | None = None) -> list[str]:
    """Remove the folders of runs whose supervisor is gone (killed with SIGKILL, which
    leaves no chance to clean up); returns their names.

    Only this user's, and only when the pid in the name is no live process: a live one
    (even another program that reuses the pid) keeps its folder.
    """
    removed: list[str] = []
    directory = tmpdir or tempfile.gettempdir()
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(CACHE_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        pid_text = entry.name[len(CACHE_PREFIX) :].split("-", 1)[0]
        try:
            if not pid_text.isdigit() or int(pid_text) <= 0:
                continue
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        except OSError:  # alive (another user's: EPERM), or unreadable: keep it
            continue
    return removed


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

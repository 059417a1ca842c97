"""Import the app in a child process with a timeout, while the static rules run.

An import may sleep, wait on a database, raise ``KeyboardInterrupt``, call
``os._exit()``, recurse a million frames deep or leave threads behind; none of that may
stop ``webkit check`` from reporting the rest. So :meth:`AppImport.start` spawns
:mod:`webkit_cli.check._child` at once and returns; the runner parses the project
meanwhile and collects the :class:`ImportOutcome` when a rule needs it, waiting at most
``timeout`` seconds. The child then answers template look-ups through the app's loader
(:meth:`AppImport.resolve`) until :meth:`AppImport.close`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from webkit_cli.check.appfacts import AppFacts
from webkit_cli.commands._options import DEFAULT_IMPORT_TIMEOUT

if TYPE_CHECKING:
    from webkit_cli.check._drift import DriftReport
    from webkit_cli.project import Project


_CHILD = "import sys; from webkit_cli.check._child import main; main(sys.argv)"

#: How long the child may take to start Python and webkit before the import's own timeout
#: begins: start-up is not the app's time, and a loaded CI machine can take seconds.
STARTUP_TIMEOUT = 60.0


@dataclass
class ImportOutcome:
    """What became of the import: ``facts`` when it worked, else why not."""

    #: "loaded", "unavailable" (no app anywhere), "locate" (P003), "import" (P004) or
    #: "bug" (webkit itself failed while looking for the app: a note, not a finding)
    status: str
    facts: AppFacts | None = None
    message: str = ""
    #: (file, line) of the innermost frames of the failure, innermost last
    frames: list[tuple[str, int]] = field(default_factory=list)


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"ended the process with exit status {returncode}"


class AppImport:
    """The child process importing the app (one per ``webkit check`` run)."""

    def __init__(
        self, proc: subprocess.Popen[bytes], requests: IO[str], replies: IO[str], timeout: float
    ) -> None:
        self.proc = proc
        self.timeout = timeout
        self._requests = requests
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._outcome: ImportOutcome | None = None
        self._threads = [
            threading.Thread(target=self._read, args=(replies,), daemon=True),
            threading.Thread(target=self._relay_output, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(
        cls,
        project: Project,
        *,
        target: str | None,
        dotenv: bool,
        timeout: float = DEFAULT_IMPORT_TIMEOUT,
        child: AppImport | None = None,
    ) -> AppImport:
        """Have a child import ``target`` (``None``: Flask's conventions) at once: ``child``
        when given (one from :meth:`prestart`), else a new one."""
        importer = child if child is not None and child.proc.poll() is None else cls.prestart()
        if child is not None and importer is not child:
            child.close(wait=False)
        importer.timeout = timeout
        spec = json.dumps(
            {
                "root": str(project.root),
                "pyproject": str(project.pyproject) if project.pyproject else None,
                "config": dict(project.config),
                "metadata": dict(project.metadata),
                "target": target,
                "dotenv": dotenv,
            },
            default=str,  # TOML dates: nothing the import reads
        )
        try:
            importer._requests.write(spec + "\n")
            importer._requests.flush()
        except OSError:
            pass  # the child is gone: outcome() says how it ended
        return importer

    @classmethod
    def prestart(cls) -> AppImport:
        """Spawn a child that loads Python, webkit and Flask, then waits for what to import
        (:meth:`start`): started before the project is even found, its start-up runs
        beside the parent's."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            proc = subprocess.Popen(
                # -P: the current folder is not put first on sys.path; the project's own
                # folders are added by the import itself, as in every other command.
                [sys.executable, "-P", "-c", _CHILD, str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # its own process group: whatever the app spawns is stopped with it
                start_new_session=True,
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        requests = os.fdopen(request_write, "w", encoding="utf-8")
        replies = os.fdopen(reply_read, "r", encoding="utf-8")
        return cls(proc, requests, replies, DEFAULT_IMPORT_TIMEOUT)

    def _read(self, replies: IO[str]) -> None:
        with replies:
            for line in replies:
                try:
                    self._replies.put(json.loads(line))
                except ValueError:
                    break
        self._replies.put(None)

    def _relay_output(self) -> None:
        """The app's prints go to stderr: stdout may be a JSON or SARIF document."""
        stream = self.proc.stdout
        assert stream is not None
        with stream:
            while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                sys.stderr.write(chunk.decode("utf-8", "replace"))
                sys.stderr.flush()

    def _next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next reply; ``None`` on a timeout or when the child is gone (then reaped)."""
        try:
            message = self._replies.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            return None
        if message is None:  # end of the pipe: the child exited (or closed it) - reap it
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        return message

    def outcome(self) -> ImportOutcome:
        """Wait for the import's result (at most the timeout, counted from the moment the
        child has started); the same object afterwards."""
        if self._outcome is not None:
            return self._outcome
        message = self._next(STARTUP_TIMEOUT)
        started = message is not None and message["type"] == "started"
        if started:
            message = self._next()  # the import's own time starts now
        if message is None:
            timed_out = self.proc.poll() is None
            self.close(wait=not timed_out)
            if timed_out and not started:
                text = f"could not start: Python did not load webkit within {STARTUP_TIMEOUT:g} s"
            elif timed_out:
                text = (
                    f"did not finish within {self.timeout:g} s (--import-timeout); "
                    "it may wait for a server, a lock or input"
                )
            else:
                text = _exit_reason(self.proc.returncode)
            self._outcome = ImportOutcome(status="import", message=text)
        elif message["type"] == "facts":
            self._outcome = ImportOutcome(
                status="loaded", facts=AppFacts.from_json(message["facts"])
            )
        else:
            self._outcome = ImportOutcome(
                status=message["kind"] if message["kind"] != "read" else "import",
                message=message["message"],
                frames=[(str(f), int(n)) for f, n in message["frames"]],
            )
            self.close()
        return self._outcome

    def _ask(self, request: dict[str, Any], answer: str) -> Any:
        """Send ``request``; the ``answer`` field of the reply, ``None`` if none came."""
        if self.outcome().status != "loaded" or self.proc.poll() is not None:
            return None
        try:
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        except OSError:
            return None
        reply = self._next()
        if reply is None or answer not in reply:
            self.close(wait=False)
            return None
        return reply[answer]

    def resolve(self, names: list[str]) -> dict[str, str | None] | None:
        """name -> file (``""`` if not a file, ``None`` if missing) through the app's loader;
        ``None`` when the child cannot answer (then nothing is known)."""
        found: dict[str, str | None] | None = self._ask(
            {"type": "resolve", "names": names}, "found"
        )
        return found

    def parse(self, templates: list[tuple[str, str]]) -> dict[str, tuple[int, str] | None] | None:
        """(file, name) -> ``None`` when the app's own environment parses the template, else
        (line, message) of its syntax error; ``None`` when the child cannot answer."""
        errors = self._ask({"type": "parse", "templates": templates}, "errors")
        if errors is None:
            return None
        return {path: (int(e[0]), str(e[1])) if e else None for path, e in errors.items()}

    def drift(self) -> DriftReport | None:
        """The models compared with the migrations (:mod:`._drift`), in the app's process;
        ``None`` when the child cannot answer."""
        data = self._ask({"type": "drift"}, "drift")
        if data is None:
            return None
        from webkit_cli.check._drift import DriftReport

        return DriftReport.from_json(data)

    def close(self, *, wait: bool = True) -> None:
        """End the child (and anything it started); idempotent.

        With ``wait`` the child first gets a moment to exit by itself (it does as soon as
        its request pipe closes); a child stuck in the import is killed at once.
        """
        with contextlib.suppress(OSError):
            self._requests.close()
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=2)

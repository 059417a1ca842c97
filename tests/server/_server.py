"""``webkit run`` on a small test app, on the suite's one server harness (``tests/_harness``)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests._harness import ServerProcess, http_get, wait_until

WEBKIT = [sys.executable, "-m", "webkit_cli"]
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")


class Server(ServerProcess):
    """A running ``webkit run`` (``--port 0``) with its output captured beside ``cwd``.

    :meth:`stop` sends SIGINT (Ctrl+C) to the supervisor alone: it must end the rest.
    """

    STOP_SIGNAL = signal.SIGINT

    def __init__(
        self,
        cwd: Path,
        args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        wait: bool = True,
        any_port: bool = True,
    ) -> None:
        self.cwd = cwd
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
        # An empty value unsets (e.g. PYTHONDONTWRITEBYTECODE, which any value turns on).
        full_env = {k: v for k, v in full_env.items() if v != "" or k not in (env or {})}
        args = list(args)
        if any_port and not any(a.startswith("--port") for a in args):
            args += ["--port", "0"]
        super().__init__([*WEBKIT, "run", *args], cwd=cwd, env=full_env, log_dir=cwd.parent)
        self.port = 0
        if wait:
            try:
                self.port = self.wait_for_url()
                self.wait_until_serving()
            except BaseException:
                self.abandon()
                raise

    def wait_for_url(self, timeout: float = 20.0) -> int:
        return int(self.wait_for_match(URL_RE, timeout).group(1))

    def wait_until_serving(self, timeout: float = 20.0) -> None:
        """The URL is printed before the first worker has imported the app: wait for it.

        (A file written before then would be imported as is, with no reload to see.)
        """

        def answers() -> bool:
            try:
                http_get(self.port, "/", timeout=timeout)
            except OSError:
                return False
            return True

        wait_until(answers, timeout, lambda: f"no answer on port {self.port}:\n{self.stderr}")

    # -- HTTP -------------------------------------------------------------------------

    def get(self, path: str = "/", **kwargs: object) -> tuple[int, dict[str, str], str]:
        return http_get(self.port, path, **kwargs)  # type: ignore[arg-type]

    def wait_for_body(
        self, path: str, predicate: Callable[[str], object], timeout: float = 15.0
    ) -> str:
        """Poll ``path`` until ``predicate(body)`` holds; returns the body."""
        last = [""]

        def body_holds() -> bool:
            last[0] = self.get(path)[2]
            return bool(predicate(last[0]))

        wait_until(body_holds, timeout, lambda: f"last body of {path}: {last[0]!r}\n{self.stderr}")
        return last[0]

    # -- processes --------------------------------------------------------------------

    def warm_pids(self) -> list[int]:
        """The warm processes: children of the supervisor running ``_warm``.

        (Workers forked from it inherit its command line, but their parent is the warm
        process itself.)
        """
        pids = []
        for pid in self.children(self.proc.pid):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"webkit_cli.server._warm" in cmdline:
                    pids.append(pid)
        return pids

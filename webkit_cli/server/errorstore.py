"""The failed requests of a run, kept for a short time: their traceback page (linked
from the live-reload overlay) and the request itself ("Retry this request").

Entries live in the run's private folder (``ServerConfig.cache_dir``, made 0700 by the
supervisor and removed when the run ends), one file each, named by a random id: the
next worker, forked after the fix was saved, finds what the failed one stored. Without
that folder (a worker built in a test) they live in this process's memory. Entries older
than :data:`TTL` seconds are dropped; at most :data:`KEEP` are kept.

:class:`ErrorRoutes` serves ``/__webkit/error/ID`` (the stored page) and
``POST /__webkit/retry/ID`` (replays the stored request against this worker's app). A
replay needs the run's token (``editor.run_token``, in the page's form: another site
cannot read it, so cannot forge the POST) and the address the request came from.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

from webkit_cli.server.editor import run_token

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from webkit_cli.server.hosts import HostPolicy

TTL: Final = 600.0
KEEP: Final = 50
ERROR_PREFIX: Final = "/__webkit/error/"
RETRY_PREFIX: Final = "/__webkit/retry/"
#: The header that tells the live-reload overlay where the traceback page is.
ERROR_HEADER: Final = "X-Webkit-Error"
SUMMARY_HEADER: Final = "X-Webkit-Error-Summary"
#: environ key of the replayed request's environ, on the retry request's
REPLAY_KEY: Final = "webkit.replay"
_ID: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: Request headers a replay carries over from the failed request.
_REPLAYED: Final = ("CONTENT_TYPE", "HTTP_COOKIE", "HTTP_ACCEPT", "HTTP_X_REQUESTED_WITH")


class ErrorStore:
    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self._memory: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return secrets.token_urlsafe(18)

    def put(self, kind: str, entry_id: str, data: bytes) -> None:
        name = f"{kind}-{entry_id}"
        if self.folder is None:
            with self._lock:
                self._memory[name] = (time.time(), data)
                self._prune_memory()
            return
        with contextlib.suppress(OSError):
            self._prune_folder()
            fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)

    def get(self, kind: str, entry_id: str) -> bytes | None:
        if not _ID.fullmatch(entry_id):
            return None
        name = f"{kind}-{entry_id}"
        if self.folder is None:
            with self._lock:
                found = self._memory.get(name)
            return found[1] if found and time.time() - found[0] < TTL else None
        path = self.folder / name
        try:
            if time.time() - path.stat().st_mtime >= TTL:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def _prune_memory(self) -> None:
        now = time.time()
        for name, (stamp, _) in list(self._memory.items()):
            if now - stamp >= TTL:
                del self._memory[name]
        while len(self._memory) > KEEP * 2:
            del self._memory[next(iter(self._memory))]

    def _prune_folder(self) -> None:
        assert self.folder is not None
        entries = []
        for path in self.folder.iterdir():
            if path.name.startswith(("page-", "request-")):
                with contextlib.suppress(OSError):
                    entries.append((path.stat().st_mtime, path))
        entries.sort()
        now = time.time()
        for index, (stamp, path) in enumerate(entries):
            if now - stamp >= TTL or index < len(entries) - KEEP * 2:
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- requests -------------------------------------------------------------------------

    def put_request(self, entry_id: str, environ: WSGIEnvironment, body: bytes | None) -> None:
        record = {
            "method": environ.get("REQUEST_METHOD", "GET"),
            "path": environ.get("PATH_INFO", "/"),
            "script_name": environ.get("SCRIPT_NAME", ""),
            "query": environ.get("QUERY_STRING", ""),
            "remote_addr": environ.get("REMOTE_ADDR", ""),
            "headers": {key: environ[key] for key in _REPLAYED if environ.get(key)},
            "body": base64.b64encode(body or b"").decode(),
            # A body too large to keep (or streamed): replaying without it would lie.
            "incomplete": body is None
            and (
                str(environ.get("CONTENT_LENGTH") or "0") not in ("", "0")
                or bool(environ.get("HTTP_TRANSFER_ENCODING"))
            ),
        }
        self.put("request", entry_id, json.dumps(record).encode())

    def get_request(self, entry_id: str) -> dict[str, Any] | None:
        data = self.get("request", entry_id)
        if data is None:
            return None
        try:
            record = json.loads(data)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None


def _plain(start_response: StartResponse, status: str, message: str) -> list[bytes]:
    body = message.encode() + b"\n"
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


class ErrorRoutes:
    """``/__webkit/error/ID`` and ``POST /__webkit/retry/ID`` in front of ``app``."""

    def __init__(
        self, app: WSGIApplication, store: ErrorStore, *, guard: HostPolicy | None = None
    ) -> None:
        from webkit_cli.server.hosts import HostCheck

        self.app = app
        self.store = store
        self.routes: WSGIApplication = self._routes
        if guard is not None:
            self.routes = HostCheck(self._routes, guard)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith((ERROR_PREFIX, RETRY_PREFIX)):
            return self.routes(environ, start_response)
        return self.app(environ, start_response)

    def _routes(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith(ERROR_PREFIX):
            return self._page(path.removeprefix(ERROR_PREFIX), environ, start_response)
        if path.startswith(RETRY_PREFIX):
            return self._retry(path.removeprefix(RETRY_PREFIX), environ, start_response)
        return self.app(environ, start_response)

    def _page(
        self, entry_id: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        data = self.store.get("page", entry_id)
        if data is None:
            return _plain(
                start_response, "404 Not Found", "This traceback is gone (kept 10 minutes)."
            )
        record = json.loads(data)
        body = str(record["html"]).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", str(record["csp"])),
            ],
        )
        return [body]

    def _retry(
        self, entry_id: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "405 Method Not Allowed", "Retry is a POST.")
        length = str(environ.get("CONTENT_LENGTH") or "0")
        raw = environ["wsgi.input"].read(min(int(length), 4096) if length.isdigit() else 0)
        token = (parse_qs(raw.decode("latin-1")).get("token") or [""])[0]
        if not secrets.compare_digest(token.encode(), run_token().encode()):
            return _plain(start_response, "403 Forbidden", "Wrong or missing token.")
        record = self.store.get_request(entry_id)
        if record is None:
            return _plain(
                start_response, "404 Not Found", "This request is gone (kept 10 minutes)."
            )
        if record.get("remote_addr") != environ.get("REMOTE_ADDR"):
            return _plain(start_response, "403 Forbidden", "Only the client that sent it.")
        if record.get("incomplete"):
            return _plain(
                start_response,
                "409 Conflict",
                "Its body was too large to keep (over 1 MiB) or streamed: send it again.",
            )
        body = base64.b64decode(str(record.get("body", "")))
        replay = {
            key: value
            for key, value in environ.items()
            if not key.startswith("HTTP_") and key not in ("CONTENT_TYPE", "CONTENT_LENGTH")
        }
        # The browser's own headers stay (Host, User-Agent); the request's come back.
        replay.update({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        replay.pop("HTTP_COOKIE", None)
        replay.update(
            REQUEST_METHOD=str(record["method"]),
            SCRIPT_NAME=str(record.get("script_name", "")),
            PATH_INFO=str(record["path"]),
            QUERY_STRING=str(record.get("query", "")),
            CONTENT_LENGTH=str(len(body)),
        )
        replay.update({str(k): str(v) for k, v in dict(record.get("headers", {})).items()})
        replay["wsgi.input"] = io.BytesIO(body)
        # The request log reports the replayed request, not webkit's own URL.
        environ[REPLAY_KEY] = replay
        return self.app(replay, start_response)

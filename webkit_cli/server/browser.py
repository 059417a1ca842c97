"""``webkit run --open``: open the browser once the first worker answers.

The supervisor's thread asks the server for a webkit URL (never logged, never the
user's app) until something answers, then hands the URL to :mod:`webbrowser` (which
honours ``BROWSER``). Opening earlier would show the browser a refused connection.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
import time
import webbrowser
from typing import Final
from urllib.parse import urlsplit

#: The URL asked: under /__webkit/, which the request log leaves out.
PROBE_PATH: Final = "/__webkit/ping"
#: How long to wait for the first worker (an app's import may take a while).
WAIT: Final = 120.0


def _answers(host: str, port: int, *, tls: bool) -> bool:
    conn: http.client.HTTPConnection
    if tls:
        # Only whether a worker answers matters here, not who it is.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=5, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("HEAD", PROBE_PATH)
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _open_when_answering(url: str, port: int, tls: bool, stop: threading.Event) -> None:
    host = urlsplit(url).hostname or "127.0.0.1"
    deadline = time.monotonic() + WAIT
    while not stop.is_set() and time.monotonic() < deadline:
        if _answers(host, port, tls=tls):
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)
            return
        stop.wait(0.05)


def open_when_answering(url: str, port: int, *, tls: bool = False) -> threading.Event:
    """Start the thread; setting the returned event gives up (on shutdown)."""
    stop = threading.Event()
    threading.Thread(
        target=_open_when_answering,
        args=(url, port, tls, stop),
        name="webkit-open",
        daemon=True,
    ).start()
    return stop

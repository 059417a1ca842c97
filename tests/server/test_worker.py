"""Worker pieces that need no process: traceback trimming, connection tracking."""

from __future__ import annotations

import importlib
import socket
import sys
import time
import traceback
from pathlib import Path

import pytest

from webkit_cli.server.worker import ConnectionTracker, trim_traceback


def test_trim_traceback_keeps_only_the_users_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "userpkg_trim.py").write_text(
        "import math\n\ndef f():\n    raise ValueError('boom')\n\nf()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("userpkg_trim")
    except ValueError as exc:
        error = exc
    else:  # pragma: no cover
        raise AssertionError("no error")
    finally:
        sys.modules.pop("userpkg_trim", None)
    before = [f.filename for f in traceback.extract_tb(error.__traceback__)]
    assert any("importlib" in name or name.startswith("<frozen") for name in before)
    trim_traceback(error)
    after = traceback.extract_tb(error.__traceback__)
    assert [Path(f.filename).name for f in after] == [
        "test_worker.py",
        "userpkg_trim.py",
        "userpkg_trim.py",
    ]
    assert [f.name for f in after][-2:] == ["<module>", "f"]


def test_trim_traceback_of_a_syntax_error_leaves_the_error_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "userpkg_syntax.py").write_text("def broken(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SyntaxError) as info:
        importlib.import_module("userpkg_syntax")
    trim_traceback(info.value)
    names = [f.filename for f in traceback.extract_tb(info.value.__traceback__)]
    assert all("importlib" not in n and not n.startswith("<frozen") for n in names)
    assert info.value.filename is not None and info.value.filename.endswith("userpkg_syntax.py")


def test_drain_closes_idle_connections_and_waits_for_busy_ones() -> None:
    tracker = ConnectionTracker()
    idle_a, idle_b = socket.socketpair()
    busy_a, busy_b = socket.socketpair()
    try:
        tracker.opened(idle_a)
        tracker.opened(busy_a)
        assert tracker.start_request(busy_a)
        # A busy connection past the deadline: drain reports it unfinished.
        assert not tracker.drain(time.monotonic() + 0.05)
        assert idle_b.recv(1) == b""  # the idle one was shut down: its peer sees EOF
        # A request line that arrives on a connection drain closed is refused.
        assert not tracker.start_request(idle_a)
        tracker.end_request(busy_a)
        assert tracker.drain(time.monotonic() + 0.05)
    finally:
        for s in (idle_a, idle_b, busy_a, busy_b):
            s.close()


def test_a_connection_accepted_just_before_the_drain_is_served_not_cut() -> None:
    """Its request line may still be on the way: cutting it would fail a request."""
    import threading

    tracker = ConnectionTracker()
    conn, peer = socket.socketpair()
    try:
        tracker.opened(conn)

        def request_arrives() -> None:
            time.sleep(0.05)
            assert tracker.start_request(conn)
            time.sleep(0.05)
            tracker.end_request(conn)

        thread = threading.Thread(target=request_arrives)
        thread.start()
        assert tracker.drain(time.monotonic() + 2)
        thread.join()
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(1)  # never shut down by the drain
    finally:
        conn.close()
        peer.close()

"""Worker pieces that need no process: connection tracking."""

from __future__ import annotations

import socket
import time

import pytest

from webkit_cli.server.worker import ConnectionTracker


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

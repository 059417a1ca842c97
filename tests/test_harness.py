"""The server harness itself: a wait that times out fails, leftovers are found and killed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests._harness import ServerProcess, group_members, wait_until

# A "server" whose child outlives it: stopping the leader alone leaves the child behind.
LEAVES_A_CHILD = """\
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("http://127.0.0.1:1234/", flush=True)
time.sleep(60)
"""


def test_wait_until_returns_the_first_true_value() -> None:
    answers = iter([0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), 5, "never") == "ready"


def test_wait_until_fails_with_the_message_when_time_runs_out() -> None:
    calls = []

    def never() -> bool:
        calls.append(1)
        return False

    with pytest.raises(AssertionError, match=r"still waiting after 0.1 s: the output: nothing"):
        wait_until(never, 0.1, lambda: "the output: nothing")
    assert len(calls) >= 2  # polled, and asked once more at the deadline


def test_a_server_that_exits_before_printing_fails_the_wait(tmp_path: Path) -> None:
    server = ServerProcess(
        [sys.executable, "-c", "print('oops', flush=True)"],
        cwd=tmp_path,
        env={},
        log_dir=tmp_path,
        merge_output=True,
    )
    with pytest.raises(AssertionError, match=r"exited early:\n.*\noops"):
        server.wait_for_match(re.compile(r"http://\S+"), timeout=20)
    server.close()
    assert list(tmp_path.iterdir()) == []  # the capture file is gone


def test_a_process_left_in_the_group_is_found_and_killed(tmp_path: Path) -> None:
    server = ServerProcess(
        [sys.executable, "-c", LEAVES_A_CHILD],
        cwd=tmp_path,
        env={},
        log_dir=tmp_path,
        merge_output=True,
    )
    try:
        server.wait_for_match(re.compile(r"http://127\.0\.0\.1:(\d+)/"), timeout=20)
        (child,) = server.children(server.pgid)
        assert sorted(server.members()) == sorted([server.pgid, child])
        server.stop()
        with pytest.raises(AssertionError, match=rf"processes left behind: \[{child}\]"):
            server.assert_nothing_left(timeout=0.2)
        wait_until(lambda: not group_members(server.pgid), 5, "the leftover was not killed")
    finally:
        server.kill()
    server.close()

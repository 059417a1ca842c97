"""The supervisor's decisions, fed one event at a time: no process is started.

``launch`` is replaced by a fake that hands out workers on socket pairs, so each test
reads what the supervisor told a worker and sees which workers it asked for.
"""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from webkit_cli.server.config import ServerConfig
from webkit_cli.server.events import FilesChanged, Stop, WarmSaid, WorkerGone, WorkerSaid
from webkit_cli.server.handles import WorkerHandle, WorkerState
from webkit_cli.server.supervisor import CRASH_BACKOFF, Supervisor
from webkit_cli.server.watch import Action, ChangeBatch


class FakeWarm:
    """Stands in for a WarmProcess: only what the supervisor reads and calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tainted = False
        self.ok = True
        self.retired = False

    def retire(self) -> None:
        self.retired = True


class Harness:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.output = io.StringIO()
        console = Console(file=self.output, width=200, color_system=None)
        self.listen = socket.socket()
        self.sup = Supervisor(ServerConfig(warm=False), self.listen, console, root=root)
        self.launched: list[WorkerHandle] = []
        self.peers: dict[int, socket.socket] = {}
        monkeypatch.setattr(self.sup, "launch", self.launch)

    def launch(
        self,
        trigger: ChangeBatch | None,
        *,
        crash: bool = False,
        report: str | None = None,
        layer: object = None,
    ) -> WorkerHandle:
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        handle = WorkerHandle(
            number=len(self.launched) + 1,
            generation=f"test-{len(self.launched) + 1}",
            sock=ours,
            started=time.perf_counter(),
            trigger=trigger,
            crash=crash,
            report=report,
        )
        handle.warm = self.sup.warm  # type: ignore[assignment]
        self.peers[handle.number] = theirs
        self.sup.workers.append(handle)
        self.launched.append(handle)
        return handle

    def told(self, worker: WorkerHandle) -> list[str]:
        """The commands the supervisor sent ``worker`` so far."""
        try:
            data = self.peers[worker.number].recv(65536)
        except BlockingIOError:
            return []
        return [json.loads(line)["cmd"] for line in data.splitlines()]

    def ready(self, worker: WorkerHandle) -> None:
        assert self.sup._dispatch(WorkerSaid(worker, {"event": "ready", "status": "ok"}))

    def close(self) -> None:
        for worker in self.launched:
            worker.sock.close()
        for peer in self.peers.values():
            peer.close()
        self.listen.close()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    h = Harness(tmp_path, monkeypatch)
    yield h
    h.close()


def batch(root: Path, *names: str, action: Action) -> ChangeBatch:
    return ChangeBatch(paths=tuple(root / name for name in names), action=action)


def test_a_change_while_a_worker_is_importing_starts_over_with_both_changes(
    harness: Harness, tmp_path: Path
) -> None:
    sup = harness.sup
    first = sup.pending = harness.launch(None)
    harness.ready(first)
    assert sup.current is first and harness.told(first) == ["resume"]

    assert sup._dispatch(FilesChanged(batch(tmp_path, "app.py", action=Action.WORKER)))
    second = sup.pending
    assert second is not None and second is not first
    assert harness.told(first) == ["pause"]  # the old code stops accepting at once

    # Saved again before the new worker is ready: it may have read the old files.
    assert sup._dispatch(FilesChanged(batch(tmp_path, ".env", "app.py", action=Action.FULL)))
    third = sup.pending
    assert third is not None and third is not second
    assert second.state is WorkerState.STOPPING
    assert third.trigger is not None
    assert third.trigger.paths == (tmp_path / "app.py", tmp_path / ".env")
    assert third.trigger.action is Action.FULL  # the stronger of the two

    # The discarded worker's exit is expected: nothing is restarted for it.
    assert sup._dispatch(WorkerGone(second))
    assert len(harness.launched) == 3

    harness.ready(third)
    assert sup.current is third
    assert first.state is WorkerState.STOPPING and first.kill_at is not None
    assert harness.told(first) == ["pause", "stop"]  # paused again by the second save
    assert "app.py, .env changed · restarted" in harness.output.getvalue()


def test_a_second_crash_within_the_backoff_waits_before_restarting(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = harness.sup
    first = sup.pending = harness.launch(None)
    harness.ready(first)

    assert sup._dispatch(WorkerGone(first))  # crashed while serving: restarted at once
    second = sup.pending
    assert second is not None and second.crash and sup.respawn_at is None
    harness.ready(second)
    assert "worker restarted after a crash" in harness.output.getvalue()

    assert sup._dispatch(WorkerGone(second))  # again, right away: no restart loop
    assert sup.pending is None and sup.current is None
    assert len(harness.launched) == 2
    assert sup.respawn_at is not None
    assert sup._next_timeout() == pytest.approx(CRASH_BACKOFF, abs=0.2)

    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + CRASH_BACKOFF + 0.01)
    sup._on_timer()
    third = sup.pending
    assert third is not None and third.crash and len(harness.launched) == 3
    assert sup.respawn_at is None


def test_a_warm_process_holding_project_code_is_replaced_and_said_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sup = harness.sup
    tainted, fresh = FakeWarm("tainted"), FakeWarm("fresh")
    sup.warm = tainted  # type: ignore[assignment]
    rebuilt: list[set[str]] = []

    def rebuild() -> None:
        rebuilt.append(set(sup.warm_skip))
        sup.warm = fresh  # type: ignore[assignment]

    monkeypatch.setattr(sup, "_rebuild_warm", rebuild)
    pending = sup.pending = harness.launch(None)
    tainting: dict[str, Any] = {"shop_plugin": ["shop", "shop.views"]}

    # The refusal on the worker's channel and the warm process's report: either first.
    refusal = {"event": "refused", "reason": "tainted", "tainting": tainting}
    assert sup._dispatch(WorkerSaid(pending, refusal))
    assert sup._dispatch(WarmSaid(tainted, {"event": "warm", "tainting": tainting}))  # type: ignore[arg-type]

    assert rebuilt == [{"shop_plugin"}]  # one new warm process, told to leave the plugin alone
    assert pending.state is WorkerState.STOPPING  # never forked
    assert sup.pending is not None and sup.pending is not pending
    assert sup.pending.warm is fresh  # asked of the fresh warm process
    warnings = capsys.readouterr().err
    assert warnings.count("Importing shop_plugin imports the project's own modules") == 1
    assert "shop.views" in warnings


def test_a_stop_signal_ends_the_loop(harness: Harness) -> None:
    import signal

    assert harness.sup._dispatch(Stop(signal.SIGHUP)) is False


def test_a_worker_that_reads_nothing_never_blocks_the_supervisor(harness: Harness) -> None:
    """Sends never wait: a stuck worker's full channel makes it useless, not the supervisor."""
    worker = harness.launch(None)
    worker.pid = 2**22 + 12345  # no such process: kill() finds nobody
    message = "x" * 4096
    sent = 0
    deadline = time.monotonic() + 10
    while worker.send(cmd="notify", kind="reload", paths=[message]):
        sent += 1
        assert time.monotonic() < deadline
    assert sent > 0


def building_layer(exclude: list[Path]) -> Any:
    """A layer still importing (never ready), told to leave ``exclude`` out."""
    from webkit_cli.server._layer import LayerProcess, real

    layer = object.__new__(LayerProcess)
    layer.sock, layer.peer = socket.socketpair()
    layer.exclude = frozenset(real(p) for p in exclude)
    layer.ready = False
    layer.files = frozenset()
    layer.readers = {}
    layer.changed = set()
    layer.modules = []
    return layer


def test_a_layer_still_importing_is_kept_and_dropped_once_ready_if_it_holds_a_change(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webkit_cli.server._layer import real

    sup = harness.sup
    sup.use_layer = True
    views, models = tmp_path / "views.py", tmp_path / "models.py"
    for path in (views, models):
        path.write_text("")
    layer = sup.layer = building_layer([views])
    try:
        # Saved again while it imports: the warm process serves it, the layer stays.
        assert sup._layer_for(batch(tmp_path, "views.py", action=Action.WORKER)) is None
        assert sup.layer is layer and not sup.layer_wanted
        # A file it may hold: it stays too, and the next layer leaves that file out.
        assert sup._layer_for(batch(tmp_path, "models.py", action=Action.WORKER)) is None
        assert sup.layer is layer and real(models) in sup.layer_exclude
        # Ready, holding the models (imported before or after the save?): it goes, and
        # the next one is built at once, without them.
        built: list[set[str]] = []
        monkeypatch.setattr(sup, "_build_layer", lambda: built.append(set(sup.layer_exclude)))
        message = {"event": "layer", "ok": True, "threads": 1, "pid": 1, "files": [real(models)]}
        sup._on_layer_message(layer, message)
        assert sup.layer is None and layer in sup.old_layers
        assert built and real(models) in built[0]
        assert layer.peer.recv(10) == b""  # retired: told by end of file
    finally:
        layer.sock.close()
        layer.peer.close()


def test_the_first_layer_is_built_once_the_first_worker_is_ready(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = harness.sup
    sup.use_layer = True
    warm = FakeWarm("zygote")
    learned: list[list[str]] = []
    warm.learn = learned.append  # type: ignore[attr-defined]
    sup.warm = warm  # type: ignore[assignment]
    built: list[list[str]] = []
    monkeypatch.setattr(sup, "_build_layer", lambda: built.append(list(sup.layer_candidates or [])))
    first = sup.pending = harness.launch(None)
    message = {"event": "ready", "status": "ok", "learned": ["shop", "shop.views"]}
    assert sup._dispatch(WorkerSaid(first, message))
    # Before any change: what cannot be layered is found while nobody waits for it.
    assert built == [["shop", "shop.views"]]
    assert learned == [["shop", "shop.views"]]

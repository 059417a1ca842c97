"""The Linux watch (``_inotify``): what a burst of events reports, and that an idle watch
sleeps in the kernel instead of waking at every step."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build_file_tree
from webkit_cli.server import _inotify
from webkit_cli.server.watch import Action, ProjectWatcher

pytestmark = pytest.mark.skipif(not _inotify.available(), reason="inotify is Linux's")


@pytest.fixture
def bursts(tmp_path: Path) -> Iterator[tuple[Path, queue.Queue[Any]]]:
    """Bursts of ``_inotify.watch`` on ``tmp_path/d``, read by a thread; stopped at the end."""
    folder = tmp_path / "d"
    folder.mkdir()
    found: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    started = threading.Event()

    def run() -> None:
        for burst in _inotify.watch(
            [folder], step_ms=20, debounce_ms=300, stopped=stop.is_set, started=started.set
        ):
            found.put(burst)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    yield folder, found
    stop.set()
    thread.join(5)


def test_a_save_is_one_burst(bursts: tuple[Path, queue.Queue[Any]]) -> None:
    folder, found = bursts
    (folder / "app.py").write_text("X = 1\n")
    changes, lost = found.get(timeout=5)
    assert not lost
    assert ("added", str(folder / "app.py")) in changes


def test_an_editors_rename_dance_is_reported_in_one_burst(
    bursts: tuple[Path, queue.Queue[Any]],
) -> None:
    folder, found = bursts
    target = folder / "views.py"
    temp = folder / ".views.py.tmp"
    temp.write_text("A = 2\n")
    temp.replace(target)
    changes, _ = found.get(timeout=5)
    assert ("added", str(target)) in changes  # moved in
    assert ("deleted", str(temp)) in changes  # moved away within the same burst
    with pytest.raises(queue.Empty):
        found.get(timeout=0.2)


def test_an_idle_watch_sleeps_until_an_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between bursts the only timeout is the long look at the stop flag, never the step."""
    timeouts: list[float | None] = []
    real_select = _inotify.select.select

    def select(r: Any, w: Any, x: Any, timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return real_select(r, w, x, timeout)

    monkeypatch.setattr(_inotify.select, "select", select)
    calls = iter(range(1))
    stopped = lambda: next(calls, None) is None  # noqa: E731 - one look, then stop
    assert (
        list(
            _inotify.watch(
                [tmp_path], step_ms=5, debounce_ms=300, stopped=stopped, started=lambda: None
            )
        )
        == []
    )
    assert timeouts and all(t is not None and t >= 1.0 for t in timeouts)


def test_a_new_cache_folder_does_not_restart_the_watch(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "p", {"app.py": "X = 1\n", "pkg/__init__.py": ""})
    watcher = ProjectWatcher(root, on_batch=lambda b: None, on_error=lambda m: None)
    batches = watcher._batches(watcher.directories())
    found: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=lambda: [found.put(b) for b in batches], daemon=True).start()
    try:
        assert watcher.ready.wait(5)
        (root / "pkg" / "__pycache__").mkdir()
        (root / "pkg" / "mod.py").write_text("")
        changed, folders_changed = found.get(timeout=5)
        assert changed == {root / "pkg" / "mod.py"}
        assert not folders_changed
        (root / "pkg" / "sub").mkdir()
        changed, folders_changed = found.get(timeout=5)
        assert folders_changed  # a real new folder: watched from now on
    finally:
        watcher.stop()


def test_the_project_watcher_uses_it_and_reports_a_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[object] = []
    real_watch = _inotify.watch

    def watch(*args: Any, **kwargs: Any) -> Any:
        used.append(args)
        return real_watch(*args, **kwargs)

    monkeypatch.setattr(_inotify, "watch", watch)
    root = build_file_tree(tmp_path / "p", {"app.py": "X = 1\n"})
    batches: queue.Queue[Any] = queue.Queue()
    watcher = ProjectWatcher(root, on_batch=batches.put, on_error=batches.put)
    watcher.start()
    try:
        assert watcher.ready.wait(5)
        (root / "app.py").write_text("X = 2\n")
        batch = batches.get(timeout=5)
        assert getattr(batch, "action", None) is Action.WORKER
        assert batch.paths == (root / "app.py",)
    finally:
        watcher.stop()
    assert used


def test_a_file_is_settled_once_closed_after_writing(tmp_path: Path) -> None:
    notify = _inotify.Inotify()
    try:
        notify.add(tmp_path)
        with (tmp_path / "views.py").open("w") as stream:
            stream.write("A = 1\n")
            stream.flush()
            notify.read()
            assert not notify.settled()  # still open: maybe half-written
        notify.read()
        assert notify.settled()
        notify.forget()
        (tmp_path / "pkg").mkdir()  # a new folder: its files are yet to come
        notify.read()
        assert not notify.settled()
    finally:
        notify.close()


def test_a_file_is_being_written_until_closed_but_a_new_link_is_not(tmp_path: Path) -> None:
    """A symlink or a hard link gets no close event: its burst must not wait for one."""
    (tmp_path / "base.html").write_text("<p>\n")
    notify = _inotify.Inotify()
    try:
        notify.add(tmp_path)
        with (tmp_path / "page.html").open("w") as stream:
            notify.read()
            assert notify.writing(lambda path: True)  # created, still open
            stream.write("<p>\n")
            stream.flush()
            notify.read()
            assert notify.writing(lambda path: True)  # written, still open
            assert not notify.writing(lambda path: not path.endswith("page.html"))
        notify.read()
        assert not notify.writing(lambda path: True)  # closed
        for link in (os.symlink, os.link):
            notify.forget()
            link(tmp_path / "base.html", tmp_path / f"{link.__name__}.html")
            notify.read()
            assert notify.last, link  # the link's creation was seen ...
            assert not notify.writing(lambda path: True), link  # ... and is complete
    finally:
        notify.close()


def test_a_burst_of_closed_files_ends_after_the_settled_step(tmp_path: Path) -> None:
    """With a step of 10 s, only the settled step can end the burst of a plain save."""
    found: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    started = threading.Event()

    def run() -> None:
        for burst in _inotify.watch(
            [tmp_path],
            step_ms=10_000,
            debounce_ms=20_000,
            stopped=stop.is_set,
            started=started.set,
            settled_ms=1,
        ):
            found.put(burst)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert started.wait(5)
        (tmp_path / "views.py").write_text("A = 2\n")
        changes, _ = found.get(timeout=5)
        assert ("added", str(tmp_path / "views.py")) in changes
    finally:
        stop.set()
        thread.join(15)

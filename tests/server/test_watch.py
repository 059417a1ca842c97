"""What is watched, what is ignored, and what each change asks for."""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli._paths import display_path
from webkit_cli.server.watch import (
    Action,
    ChangeBatch,
    ProjectFilter,
    ProjectWatcher,
    classify,
    classify_batch,
    watch_error_message,
)

ROOT = Path("/proj")


@pytest.mark.parametrize(
    ("rel", "action"),
    [
        ("app.py", "worker"),
        ("src/mysite/views.py", "worker"),
        ("src/mysite/templates/index.html", "reload"),
        ("src/mysite/templates/emails/welcome.txt", "reload"),
        ("src/mysite/templates/base.jinja", "reload"),
        ("src/mysite/static/site.css", "css"),
        ("src/mysite/static/app.js", "reload"),
        ("src/mysite/static/img/logo.png", "reload"),
        (".env", "full"),
        (".flaskenv", "full"),
        ("pyproject.toml", "full"),
        ("config/settings.toml", "worker"),
        ("data/seed.json", "worker"),
        ("README.md", None),
        ("notes.txt", None),
    ],
)
def test_classify(rel: str, action: str | None) -> None:
    result = classify(ROOT / rel, ROOT)
    assert (None if result is None else result.label) == action


def test_a_batch_merge_is_the_max_of_the_actions() -> None:
    assert max(Action.CSS, Action.FULL, Action.RELOAD) is Action.FULL
    a = classify_batch([ROOT / "a.py", ROOT / "static/s.css"], ROOT)
    b = classify_batch([ROOT / ".env", ROOT / "a.py"], ROOT)
    assert a is not None and b is not None
    merged = a.merged(b)
    assert merged.action is Action.FULL
    assert merged.paths == (ROOT / "a.py", ROOT / "static/s.css", ROOT / ".env")


def test_batch_takes_the_strongest_action_and_drops_irrelevant_files() -> None:
    batch = classify_batch([ROOT / "static/a.css", ROOT / "templates/x.html", ROOT / "x.md"], ROOT)
    assert batch is not None
    assert batch.action is Action.RELOAD
    assert batch.paths == (ROOT / "static/a.css", ROOT / "templates/x.html")
    assert classify_batch([ROOT / "static/a.css"], ROOT).action is Action.CSS  # type: ignore[union-attr]
    assert classify_batch([ROOT / "a.py", ROOT / ".env"], ROOT).action is Action.FULL  # type: ignore[union-attr]
    assert classify_batch([ROOT / "README.md"], ROOT) is None


def test_describe_names_files_relative_to_the_root() -> None:
    paths = [ROOT / f"m{i}.py" for i in range(5)]
    batch = classify_batch(paths, ROOT)
    assert batch is not None
    assert batch.describe(ROOT) == "m0.py, m1.py, m2.py (+2 more)"


@pytest.mark.parametrize(
    "rel",
    [
        ".git/index",
        ".venv/lib/python3.11/site-packages/flask/app.py",
        "venv/bin/activate",
        "node_modules/x/index.js",
        "src/pkg/__pycache__/views.cpython-311.pyc",
        "instance/app.sqlite",
        "instance/app.sqlite3-journal",
        "app.db",
        "app.db-journal",
        "app.db-wal",
        "views.py~",
        ".views.py.swp",
        ".#views.py",
        "#views.py#",
        "4913",
        "templates/.page.html.swn",  # a third vim on the file
        "templates/page.html___jb_tmp___",
        "static/site.css___jb_old___",
        "templates/sedAbC123",
        "static/.goutputstream-X1Y2Z3",
        "templates/.page.html.Ab12Cd",
        "templates/.page.html.x1_y2z3q",
        "src/pkg.egg-info/PKG-INFO",
        "src/pkg/__pycache__",  # the folder itself: creating it is no reason to re-watch
        "node_modules",
        "build/lib/pkg/app.py",
        "dist/pkg-1.0.tar.gz",
        "src/pkg/build/x.py",
        "static/node_modules/x/index.js",
    ],
)
def test_default_excludes(rel: str) -> None:
    assert ProjectFilter(ROOT).is_ignored(ROOT / rel)


@pytest.mark.parametrize(
    "rel",
    [
        "app.py",
        "src/pkg/templates/a.html",
        ".env",
        "pyproject.toml",
        # Near the editors' temporary names, but real files.
        "static/sedans.js",
        "seeds.py",
        "static/movie.swf",
        "templates/.env.docker",
        # Front-end build output the app serves (webpack, Vite, Tailwind).
        "my_app/static/build/main_css.bundle.css",
        "static/dist/output.css",
        "static/build",
    ],
)
def test_project_files_are_watched(rel: str) -> None:
    assert not ProjectFilter(ROOT).is_ignored(ROOT / rel)


def test_user_excludes_match_files_and_folders() -> None:
    filt = ProjectFilter(ROOT, exclude=["data/*", "*.generated.py", "scratch"])
    assert filt.is_ignored(ROOT / "data" / "big.json")
    assert filt.is_ignored(ROOT / "src" / "x.generated.py")
    assert filt.is_ignored(ROOT / "scratch" / "try.py")
    assert not filt.is_ignored(ROOT / "src" / "x.py")


def test_watch_roots_skip_virtual_environments_under_any_name(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {
            "app.py": "",
            "src/pkg/__init__.py": "",
            "env-311/pyvenv.cfg": "home = /usr/bin\n",
            "env-311/lib/site.py": "",
            ".venv/pyvenv.cfg": "",
            "node_modules/x.js": "",
            "extra/data.json": "",
        },
    )
    filt = ProjectFilter(root)
    recursive, flat = filt.watch_roots()
    assert recursive == [root / "extra", root / "src"]
    assert flat == [root]
    assert filt.is_ignored(root / "env-311" / "lib" / "site.py")


def test_inotify_limit_is_reported_with_the_fix() -> None:
    message = watch_error_message(OSError(28, "OS file watch limit reached"))
    assert "fs.inotify.max_user_watches" in message
    assert "--poll" in message


def test_every_project_folder_is_watched_but_no_venv(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {
            "app.py": "",
            "src/pkg/templates/a.html": "",
            "src/pkg/__pycache__/x.pyc": "",
            "env/pyvenv.cfg": "",
            "env/lib/x.py": "",
            "src/pkg/inner-venv/pyvenv.cfg": "",
        },
    )
    extra = build_file_tree(tmp_path / "shared", {"lib.cfg": ""})
    watcher = ProjectWatcher(
        root, extra=[extra / "lib.cfg"], on_batch=lambda b: None, on_error=lambda m: None
    )
    assert watcher.directories() == [
        root,
        root / "src",
        root / "src" / "pkg",
        root / "src" / "pkg" / "templates",
        extra / "lib.cfg",
    ]
    # A change to an explicitly watched file always matters.
    batch = classify_batch([extra / "lib.cfg"], root, [extra / "lib.cfg"])
    assert batch is not None and batch.action is Action.WORKER


def test_polling_sees_two_saves_within_the_same_second(tmp_path: Path) -> None:
    """Same size, same second: a poller that compares whole-second mtimes misses the second."""
    import queue

    root = build_file_tree(tmp_path / "p", {"app.py": "X = 1\n"})
    batches: queue.Queue[object] = queue.Queue()
    watcher = ProjectWatcher(root, poll=True, on_batch=batches.put, on_error=batches.put)
    watcher.POLL_INTERVAL = 0.05
    watcher.start()
    try:
        assert watcher.ready.wait(5)  # the first snapshot is taken: later saves count
        for value in (2, 3):
            (root / "app.py").write_text(f"X = {value}\n")
            batch = batches.get(timeout=5)
            assert getattr(batch, "action", None) is Action.WORKER
    finally:
        watcher.stop()


def test_a_watch_that_cannot_be_set_up_is_reported_and_polling_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import queue

    root = build_file_tree(tmp_path / "p", {"app.py": "X = 1\n"})
    events: queue.Queue[object] = queue.Queue()
    watcher = ProjectWatcher(root, on_batch=events.put, on_error=events.put)

    def no_inotify(paths: object) -> object:
        raise OSError(28, "OS file watch limit reached")

    monkeypatch.setattr(watcher, "_batches", no_inotify)
    watcher.POLL_INTERVAL = 0.05
    watcher.start()
    try:
        message = events.get(timeout=5)
        assert isinstance(message, str)
        assert "fs.inotify.max_user_watches" in message and "polling" in message
        assert watcher.ready.wait(5)  # polling has its first snapshot
        (root / "app.py").write_text("X = 2\n")
        batch = events.get(timeout=5)
        assert getattr(batch, "action", None) is Action.WORKER
    finally:
        watcher.stop()


def test_pages_saved_without_edits_are_not_changes(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {"templates/a.html": "<p>a</p>", "static/s.css": "p{}", "app.py": "X = 1\n"},
    )
    watcher = ProjectWatcher(root, on_batch=lambda b: None, on_error=lambda m: None)
    watcher._remember_pages()
    page, css, code = root / "templates/a.html", root / "static/s.css", root / "app.py"
    # Saved as is (or touched): nothing to refresh. Python files always count.
    assert watcher.real_changes([page, css, code]) == {code}
    page.write_text("<p>b</p>")
    assert watcher.real_changes([page, css]) == {page}
    assert watcher.real_changes([page]) == set()  # the same content again
    new = root / "templates" / "new.html"
    new.write_text("x")
    assert watcher.real_changes([new]) == {new}  # never seen: a change
    new.unlink()
    assert watcher.real_changes([new]) == {new}  # deleted: a change


def test_saves_made_while_the_watch_is_rebuilt_are_caught_up(tmp_path: Path) -> None:
    import queue
    import time

    root = build_file_tree(tmp_path / "p", {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    batches: queue.Queue[object] = queue.Queue()
    watcher = ProjectWatcher(root, on_batch=batches.put, on_error=batches.put)
    watcher.CATCH_UP_DELAY = 0.05
    before = watcher.snapshot()
    (root / "a.py").write_text("A = 2\n")  # during the rebuild: nobody watches
    time.sleep(0.02)
    watcher._watch_started_ns = time.time_ns()  # the new watch is up
    time.sleep(0.02)
    (root / "b.py").write_text("B = 2\n")  # after: the new watch reports it, not the catch-up
    watcher._catch_up_later(before)
    batch = batches.get(timeout=5)
    assert getattr(batch, "paths", None) == (root / "a.py",)


def test_without_inotify_watchfiles_reports_a_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch of other platforms (and of a system without inotify)."""
    import queue

    from webkit_cli.server import _inotify

    monkeypatch.setattr(_inotify, "available", lambda: False)
    monkeypatch.setattr(
        _inotify,
        "watch",
        lambda *a, **k: pytest.fail("inotify used"),  # type: ignore[misc]
    )
    root = build_file_tree(tmp_path / "p", {"app.py": "X = 1\n"})
    batches: queue.Queue[object] = queue.Queue()
    watcher = ProjectWatcher(root, on_batch=batches.put, on_error=batches.put)
    watcher.start()
    try:
        assert watcher.ready.wait(5)
        # watchfiles sets its watch up once its generator runs: save until it is seen.
        batch = None
        for n in range(2, 30):
            (root / "app.py").write_text(f"X = {n}\n")
            try:
                batch = batches.get(timeout=1)
                break
            except queue.Empty:
                continue
        assert getattr(batch, "action", None) is Action.WORKER
        assert getattr(batch, "paths", None) == (root / "app.py",)
    finally:
        watcher.stop()


# -- real editors' saves, on a real watcher -------------------------------------------------

#: What one step of a save leaves in the watcher's raw events: (kind, path).
Event = tuple[str, Path]
#: A save: performs its file operations in the editor's order and yields after each point
#: where a batch of events may end, with an event the step caused.
Save = Callable[[Path, str], Iterator[Event]]


class WatchedProject:
    """A real :class:`ProjectWatcher` on ``root``, with the bursts of events it handled.

    :meth:`settle` waits until the watcher has handled the bursts holding some events (and
    so reported their batches, if any): a save paused there is split across two batches.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.batches: queue.Queue[ChangeBatch] = queue.Queue()
        self.errors: list[str] = []
        self.watcher = ProjectWatcher(root, on_batch=self.batches.put, on_error=self.errors.append)
        self._handled: queue.Queue[set[tuple[str, str]]] = queue.Queue()
        changes = self.watcher._changes

        def recorded(paths: list[Path]) -> Iterator[tuple[set[tuple[str, str]], bool]]:
            for burst in changes(paths):
                try:
                    yield burst
                finally:  # asked for the next burst (or closed): this one is handled
                    self._handled.put(burst[0])

        monkeypatch.setattr(self.watcher, "_changes", recorded)

    def settle(self, *events: Event) -> None:
        waiting = {(kind, str(path)) for kind, path in events}
        while waiting:
            waiting -= self._handled.get(timeout=10)

    def save(self, steps: Iterator[Event], *, split: bool) -> None:
        """Run a save; ``split``: end a batch at each of its pauses."""
        last = None
        for last in steps:
            if split:
                self.settle(last)
        assert last is not None
        if not split:
            self.settle(last)

    def actions(self) -> list[tuple[str, list[str]]]:
        """The batches reported so far: (action, paths relative to the root)."""
        found = []
        while not self.batches.empty():
            batch = self.batches.get()
            found.append((batch.action.label, [display_path(p, self.root) for p in batch.paths]))
        assert self.errors == []
        return found


@contextlib.contextmanager
def watching(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WatchedProject]:
    project = WatchedProject(root, monkeypatch)
    project.watcher.start()
    try:
        assert project.watcher.ready.wait(5)
        yield project
    finally:
        project.watcher.stop()


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WatchedProject]:
    root = build_file_tree(
        tmp_path / "p",
        {"app.py": "X = 1\n", "templates/page.html": "<p>1</p>", "static/site.css": "p {}"},
    )
    with watching(root, monkeypatch) as project:
        yield project


def vim_save(path: Path, text: str) -> Iterator[Event]:
    """vim, ``backupcopy=auto`` with ``writebackup``: probe, move away, write, drop backup."""
    probe = path.with_name("4913")
    probe.write_text("")
    probe.unlink()
    backup = path.with_name(path.name + "~")
    path.rename(backup)
    yield ("added", backup)
    path.write_text(text)
    path.chmod(0o644)
    backup.unlink()
    yield ("deleted", backup)


def emacs_save(path: Path, text: str) -> Iterator[Event]:
    """emacs: lock symlink (to nowhere) and autosave while editing; on the first save the
    file becomes ``file~`` and the new one is written; autosave and lock go."""
    autosave = path.with_name(f"#{path.name}#")
    lock = path.with_name(f".#{path.name}")
    lock.symlink_to("user@host.4242:1700000000")
    autosave.write_text(text)
    yield ("added", autosave)
    backup = path.with_name(path.name + "~")
    path.rename(backup)
    yield ("added", backup)
    path.write_text(text)
    autosave.unlink()
    lock.unlink()
    yield ("deleted", lock)


def jetbrains_save(path: Path, text: str) -> Iterator[Event]:
    """JetBrains "safe write": write a temporary, move the file away, move the temporary in."""
    tmp = path.with_name(path.name + "___jb_tmp___")
    old = path.with_name(path.name + "___jb_old___")
    tmp.write_text(text)
    yield ("added", tmp)
    path.rename(old)
    yield ("added", old)
    tmp.rename(path)
    old.unlink()
    yield ("deleted", old)


def renamed_over(name: str) -> Save:
    """A writer that fills a temporary called ``name`` (``{}``: the file's name) beside the
    file and renames it over the file."""

    def save(path: Path, text: str) -> Iterator[Event]:
        tmp = path.with_name(name.format(path.name))
        tmp.write_text(text)
        tmp.chmod(0o644)
        yield ("added", tmp)
        tmp.replace(path)
        yield ("added", path)

    return save


SAVES = {
    "vim": vim_save,
    "emacs": emacs_save,
    "jetbrains": jetbrains_save,
    "sed -i": renamed_over("sedAbC123"),
    "gedit": renamed_over(".goutputstream-X1Y2Z3"),
    "atomic .tmp": renamed_over("{}.tmp"),
    "atomic .file.XXXXXX": renamed_over(".{}.Ab12Cd"),
}


@pytest.mark.parametrize("split", [False, True], ids=["one batch", "split"])
@pytest.mark.parametrize("editor", SAVES)
@pytest.mark.parametrize(
    ("rel", "action"),
    [("templates/page.html", "reload"), ("static/site.css", "css"), ("app.py", "worker")],
)
def test_an_editors_save_is_one_change_of_the_real_file(
    watched: WatchedProject, editor: str, rel: str, action: str, split: bool
) -> None:
    """Each save is its file's own action, once: a ``.css`` saved through a temporary is
    still swapped in place. Split: a batch ends at each pause of the save (a temporary
    written in one batch and renamed in the next; the file moved away, then written)."""
    text = "X = 2\n" if rel.endswith(".py") else f"new {editor}"
    watched.save(SAVES[editor](watched.root / rel, text), split=split)
    assert watched.actions() == [(action, [rel])]


def vim_session(swap_file: Path) -> Iterator[Event]:
    """vim opens a file, edits it (swap writes), checks the swap folder (``.swx``) and quits
    without saving: only its swap files change."""
    swap_file.write_bytes(b"b0VIM 9.0")
    yield ("added", swap_file)
    probe = swap_file.with_suffix(".swx")
    probe.write_bytes(b"")
    probe.unlink()
    with swap_file.open("ab") as swap_write:
        swap_write.write(b"\0" * 4096)
    swap_file.unlink()
    yield ("deleted", swap_file)


@pytest.mark.parametrize("where", ["templates", "static", "."])
@pytest.mark.parametrize("swap", [".swp", ".swn"])
def test_vim_swap_files_alone_are_no_change(watched: WatchedProject, where: str, swap: str) -> None:
    """``.swn``: two other vims hold ``.swp`` and ``.swo``."""
    watched.save(vim_session(watched.root / where / f".page.html{swap}"), split=True)
    assert watched.actions() == []


@pytest.mark.parametrize(
    ("rel", "action"),
    [("templates/page.html", "reload"), ("static/site.css", "css"), ("app.py", "worker")],
)
def test_a_file_still_open_after_a_write_is_one_change_once_closed(
    watched: WatchedProject, rel: str, action: str
) -> None:
    """vim writes the file, syncs it to disk and only then closes it; an editor may write a
    big file in parts: a pause while the file is open is not the end of the save."""
    import time

    path = watched.root / rel
    text = f"# {'x' * 200}\nX = 2\n"
    with path.open("w") as out:
        out.write(text[:100])
        out.flush()
        time.sleep(0.05)  # the sync to disk: a batch of events would end here
        out.write(text[100:])
    after = watched.root / "after.tmp"  # ignored: a point in the events after the save
    after.write_text("")
    watched.settle(("added", after))
    assert watched.actions() == [(action, [rel])]


def test_git_checkout_of_a_branch_is_one_batch_of_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    root = build_file_tree(
        tmp_path / "p",
        {"app.py": "X = 1\n", "templates/page.html": "<p>1</p>", "static/site.css": "p {}"},
    )
    changed = ["app.py", "static/site.css", "templates/page.html"]

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=root,
            check=True,
            capture_output=True,
            env={"HOME": str(tmp_path), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1"},
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    git("checkout", "-q", "-b", "other")
    for rel in changed:
        (root / rel).write_text(f"# other {rel}\n")
    git("commit", "-q", "-am", "two")
    git("checkout", "-q", "main")
    with watching(root, monkeypatch) as watched:
        git("checkout", "-q", "other")
        watched.settle(*(("added", root / rel) for rel in changed))
        actions = watched.actions()
    # One batch as a rule; a busy machine may cut git's writes in two, never a file twice.
    assert max(action for action, _ in actions) == "worker"  # "worker" > "reload" > "css"
    assert sorted(rel for _, paths in actions for rel in paths) == changed


def test_a_file_moved_away_for_good_is_a_change_once_it_stays_away(
    watched: WatchedProject,
) -> None:
    """A save's file comes back at once; a deleted one is reported after the grace."""
    (watched.root / "templates" / "page.html").unlink()
    batch = watched.batches.get(timeout=10)
    assert (batch.action, batch.paths) == (Action.RELOAD, (watched.root / "templates/page.html",))
    # A rename beside a change that matters: both at once.
    (watched.root / "app.py").rename(watched.root / "main.py")
    batch = watched.batches.get(timeout=10)
    assert (batch.action, batch.paths) == (
        Action.WORKER,
        (watched.root / "app.py", watched.root / "main.py"),
    )
    assert watched.actions() == []


E2E_APP = """\
from flask import Flask, render_template

app = Flask(__name__)


@app.route("/page")
def page():
    return render_template("page.html")
"""


@pytest.mark.slow
def test_webkit_run_refreshes_once_per_editor_save_and_never_for_a_swap_file(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    """A real ``webkit run --reload``: each save of the template is one ``reload`` event
    (none while the file is moved away), vim's swap files none. After each, a stylesheet
    save is the marker: its ``css`` event must be the next one."""
    import time

    from tests.server.test_livereload import sse

    project = build_file_tree(
        tmp_path / "site",
        {"app.py": E2E_APP, "templates/page.html": "<p>v1</p>", "static/site.css": "p {}"},
    )
    page, css = project / "templates" / "page.html", project / "static" / "site.css"
    server = serve(project, "--reload")
    with sse(server.port) as reader:
        assert b"event: hello\n" in reader.next_message()

        def next_event_is(kind: bytes, name: bytes) -> None:
            event = reader.next_message()
            assert event.startswith(b"event: " + kind + b"\n") and name in event, event

        steps: list[Iterator[Event]] = [
            vim_save(page, "<p>vim</p>"),
            jetbrains_save(page, "<p>jetbrains</p>"),
            vim_session(project / "templates" / ".page.html.swp"),
            vim_session(project / "templates" / ".page.html.swn"),
        ]
        for n, save in enumerate(steps):
            for _ in save:
                # The editor's pace (a sync to disk): a batch of events ends here.
                time.sleep(0.05)
            if n < 2:
                next_event_is(b"reload", b"page.html")
                assert server.get("/page")[2].startswith(("<p>vim</p>", "<p>jetbrains</p>")[n])
            css.write_text(f"p {{ order: {n} }}")
            next_event_is(b"css", b"site.css")

"""The real ``webkit run`` in a subprocess: reloads, errors, crashes, full restarts.

Each test starts the server on ``--port 0``, reads the URL from its output, talks HTTP
on 127.0.0.1, stops it and checks (``Server.close``) that no process of its group -
supervisor, warm process, workers - is left. Nothing here asserts a duration.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import Server

pytestmark = pytest.mark.slow

APP = """\
import os
from pathlib import Path

from flask import Flask, render_template

# Each import of this module by a worker is recorded: the warm process must never import it.
with open(Path(__file__).with_name("imports.log"), "a") as log:
    log.write(f"{os.getpid()}\\n")

app = Flask(__name__)
VERSION = "v1"


@app.route("/")
def index():
    return f"{VERSION} pid={os.getpid()} greeting={os.environ.get('GREETING', '-')}"


@app.route("/page")
def page():
    return render_template("page.html")


@app.route("/crash")
def crash():
    os._exit(3)
"""


def write(path: Path, text: str) -> None:
    """Write like an editor: the new content appears at once."""
    tmp = path.with_name(path.name + ".webkit-test-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "site",
        {
            "app.py": APP,
            "templates/page.html": "<html><body><p>first</p></body></html>",
            "static/site.css": "body { color: black }",
            ".env": "GREETING=hello\n",
        },
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(cwd: Path, *args: str, **kwargs: object) -> Server:
        server = Server(cwd, args, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def pid_of(body: str) -> int:
    return int(body.split("pid=")[1].split()[0])


def test_py_change_serves_new_code_from_a_new_worker(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    body = server.wait_for_body("/", lambda b: b.startswith("v1"))
    first_pid = pid_of(body)
    assert "Reload" in server.stderr and "warm process" in server.stderr

    write(project / "app.py", APP.replace('"v1"', '"v2"'))
    body = server.wait_for_body("/", lambda b: b.startswith("v2"))
    assert pid_of(body) != first_pid
    server.wait_for_output("app.py changed · reloaded in")

    # The project was imported by the two workers only, never by the warm process.
    importers = [int(line) for line in (project / "imports.log").read_text().split()]
    assert importers == [first_pid, pid_of(body)]
    assert set(importers).isdisjoint(server.warm_pids())
    # The banner is printed once, not on each reload.
    assert server.stderr.count("webkit run") == 1


def test_template_change_refreshes_without_a_new_worker(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    _, _, body = server.get("/page")
    assert "first" in body
    pid = pid_of(server.get("/")[2])

    write(project / "templates" / "page.html", "<html><body><p>second</p></body></html>")
    server.wait_for_body("/page", lambda b: "second" in b)
    server.wait_for_output("templates/page.html changed · browser refreshed")
    assert pid_of(server.get("/")[2]) == pid

    # Saved again without edits: no refresh ("only on real changes").
    write(project / "templates" / "page.html", "<html><body><p>second</p></body></html>")
    write(project / "static" / "site.css", "body { color: red }")
    server.wait_for_output("static/site.css changed · stylesheet swapped")
    assert pid_of(server.get("/")[2]) == pid
    assert server.stderr.count("page.html") == 1


def test_syntax_error_at_start_and_later_keeps_serving_and_recovers(
    project: Path, serve: Callable[..., Server]
) -> None:
    (project / "app.py").write_text(APP + "\ndef broken(:\n", encoding="utf-8")
    server = serve(project)

    status, headers, body = server.get("/")
    assert status == 500
    assert "text/html" in headers["content-type"]
    assert "SyntaxError" in body
    status, headers, body = server.get("/", headers={"Accept": "application/json"})
    assert status == 500 and "application/json" in headers["content-type"]
    assert "SyntaxError" in server.stderr  # the user's traceback, in the terminal
    assert server.stderr.count("def broken(:") == 1  # ... once, not per request
    assert "importlib" not in server.stderr and "webkit_cli" not in server.stderr  # theirs only

    write(project / "app.py", APP)
    server.wait_for_body("/", lambda b: b.startswith("v1"))

    # Broken again later: still listening, error page, then fixed again.
    write(project / "app.py", APP.replace("import os", "import os\nimport no_such_module_x"))
    server.wait_for_output("import failed")
    status, _, body = server.get("/")
    assert status == 500 and "no_such_module_x" in body
    write(project / "app.py", APP.replace('"v1"', '"v3"'))
    server.wait_for_body("/", lambda b: b.startswith("v3"))


def test_crashed_worker_is_replaced(project: Path, serve: Callable[..., Server]) -> None:
    server = serve(project)
    pid = pid_of(server.get("/")[2])
    with pytest.raises(OSError):  # the worker dies mid-request: the connection drops
        server.get("/crash")
    server.wait_for_output("exited with code 3; starting a new one")
    body = server.wait_for_body("/", lambda b: b.startswith("v1"))
    assert pid_of(body) != pid


def test_dotenv_change_restarts_the_warm_process(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    assert "greeting=hello" in server.get("/")[2]
    warm_before = server.warm_pids()
    assert len(warm_before) == 1

    write(project / ".env", "GREETING=bonjour\n")
    server.wait_for_body("/", lambda b: "greeting=bonjour" in b)
    server.wait_for_output(".env changed · restarted")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        warm_after = server.warm_pids()
        if len(warm_after) == 1 and warm_after != warm_before:
            break
        time.sleep(0.02)
    assert len(warm_after) == 1 and warm_after != warm_before


def test_spawn_mode_reloads_too(project: Path, serve: Callable[..., Server]) -> None:
    """Without fork (or with the warm process off) each worker is a fresh interpreter."""
    server = serve(project, "--no-warm")
    assert "spawn" in server.stderr
    assert server.warm_pids() == []
    write(project / "app.py", APP.replace('"v1"', '"v2"'))
    server.wait_for_body("/", lambda b: b.startswith("v2"))


def test_no_reload_ignores_changes(project: Path, serve: Callable[..., Server]) -> None:
    import queue

    from webkit_cli.server.watch import ProjectWatcher

    server = serve(project, "--no-reload")
    assert server.get("/")[2].startswith("v1")
    assert server.warm_pids() == []  # nothing to fork a new worker from, either
    # The event a (wrong) reload would follow: a watcher like the server's sees the save.
    batches: queue.Queue[object] = queue.Queue()
    watcher = ProjectWatcher(project, on_batch=batches.put, on_error=batches.put)
    watcher.start()
    try:
        assert watcher.ready.wait(5)
        write(project / "app.py", APP.replace('"v1"', '"v2"'))
        assert getattr(batches.get(timeout=10), "paths", None) == (project / "app.py",)
    finally:
        watcher.stop()
    assert server.get("/")[2].startswith("v1")
    assert "changed" not in server.stderr


def test_no_connection_refused_or_failed_during_reloads(
    project: Path, serve: Callable[..., Server]
) -> None:
    """The socket stays bound across reloads: requests wait, none is refused or fails."""
    server = serve(project)
    server.wait_for_body("/", lambda b: b.startswith("v1"))
    stop = threading.Event()
    outcomes = {"ok": 0, "refused": 0, "failed": 0}

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, _, _ = server.get("/", timeout=10)
            except ConnectionRefusedError:
                outcomes["refused"] += 1
            except OSError:
                outcomes["failed"] += 1
            else:
                outcomes["ok" if status == 200 else "failed"] += 1

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        reloads = 15
        for n in range(2, reloads + 2):
            write(project / "app.py", APP.replace('"v1"', f'"v{n}"'))
            server.wait_for_body("/", lambda b, n=n: b.startswith(f"v{n} "))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert outcomes["refused"] == 0
    assert outcomes["failed"] == 0
    assert outcomes["ok"] > reloads


def test_wrong_app_at_start_is_one_error_line(project: Path, serve: Callable[..., Server]) -> None:
    server = serve(project, "--app", "nosuchmodule:app", wait=False)
    assert server.proc.wait(20) == 1
    lines = [line for line in server.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1
    assert "nosuchmodule" in lines[0] and "--app" in lines[0]
    assert "Traceback" not in server.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_stop_with_a_hung_request_and_an_open_event_stream(
    project: Path, serve: Callable[..., Server], sig: str
) -> None:
    import http.client
    import signal

    (project / "app.py").write_text(
        APP + "\n\n@app.route('/hang')\ndef hang():\n    import time\n    time.sleep(60)\n",
        encoding="utf-8",
    )
    server = serve(project)
    hung = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        hung.request("GET", "/hang")
        stream.request("GET", "/__webkit/events", headers={"Accept": "text/event-stream"})
        response = stream.getresponse()
        assert response.status == 200
        first_lines = b"".join(response.readline() for _ in range(3))
        assert b"hello" in first_lines
        time.sleep(0.1)  # the hung request is now inside the view
        server.stop(getattr(signal, sig))
        assert server.proc.returncode == 0
        server.assert_nothing_left()
    finally:
        hung.close()
        stream.close()


def test_supervisor_killed_hard_leaves_no_worker_behind(
    project: Path, serve: Callable[..., Server]
) -> None:
    """Even SIGKILL of the supervisor: workers and warm process see their channel close."""
    import signal

    server = serve(project)
    assert server.get("/")[0] == 200
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)
    server.assert_nothing_left(timeout=5)


def test_poll_mode_reloads(project: Path, serve: Callable[..., Server]) -> None:
    """--poll (Docker, VMs, WSL): no OS events, the files are polled."""
    server = serve(project, "--poll")
    write(project / "app.py", APP.replace('"v1"', '"v2"'))
    server.wait_for_body("/", lambda b: b.startswith("v2"))


def test_new_folder_is_watched_too(project: Path, serve: Callable[..., Server]) -> None:
    server = serve(project)
    (project / "blog").mkdir()
    # Written at once: it may land before the new folder's watch is set up, and must count.
    (project / "blog" / "posts.py").write_text("TITLE = 'x'\n", encoding="utf-8")
    server.wait_for_output("blog/posts.py changed · reloaded")


def test_installing_a_package_rebuilds_the_warm_process(
    project: Path, serve: Callable[..., Server]
) -> None:
    """The warm process holds imported packages: a (un)install must replace it."""
    import site

    server = serve(project)
    assert server.get("/")[2].startswith("v1")
    warm_before = server.warm_pids()
    assert len(warm_before) == 1
    packages = Path(site.getsitepackages()[0])
    stat = packages.stat()
    # What pip does to site-packages when it adds or removes a distribution.
    os.utime(packages, (stat.st_atime, stat.st_mtime + 5))
    try:
        write(project / "app.py", APP.replace('"v1"', '"v2"'))
        server.wait_for_body("/", lambda b: b.startswith("v2"))
    finally:
        os.utime(packages, (stat.st_atime, stat.st_mtime))
    # The old warm process exits once its last worker has (the old one, after its drain).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        warm_after = server.warm_pids()
        if len(warm_after) == 1 and warm_after != warm_before:
            break
        time.sleep(0.02)
    assert len(warm_after) == 1 and warm_after != warm_before


def test_debugger_pin_is_shown_once(project: Path, serve: Callable[..., Server]) -> None:
    server = serve(project, "--debug")
    server.wait_for_output("Debugger PIN:")
    assert "Debugger     on" in server.stderr
    write(project / "app.py", APP.replace('"v1"', '"v2"'))
    server.wait_for_body("/", lambda b: b.startswith("v2"))
    server.wait_for_output("reloaded in")
    assert server.stderr.count("Debugger PIN:") == 1


def test_a_worker_killed_by_the_import_leaves_an_error_page_until_a_fix(
    project: Path, serve: Callable[..., Server]
) -> None:
    """os._exit() (or a segfault) at import time: no worker can serve the app, yet
    requests still get an answer that says why, and a save recovers."""
    (project / "app.py").write_text("import os\nos._exit(9)\n", encoding="utf-8")
    server = serve(project, wait=False)
    server.port = server.wait_for_url()
    server.wait_for_output("exited with code 9 while importing the app")
    status, _, body = server.get("/", headers={"Accept": "application/json"})
    assert status == 500 and "exited with code 9" in body
    write(project / "app.py", APP)
    server.wait_for_body("/", lambda b: b.startswith("v1"))
    assert server.stderr.count("exited with code 9") == 1  # no crash loop


def test_a_hanging_import_is_reported_and_the_old_version_keeps_answering(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    assert server.get("/")[2].startswith("v1")
    hang = "import time\ntime.sleep(60)\n"
    write(project / "app.py", hang + APP.replace('"v1"', '"v2"'))
    server.wait_for_output("The app has been importing for", timeout=20)
    assert server.get("/", timeout=5)[2].startswith("v1")  # answered, not stuck in the backlog
    write(project / "app.py", APP.replace('"v1"', '"v3"'))
    server.wait_for_body("/", lambda b: b.startswith("v3"))


def test_app_renamed_later_is_one_error_line_and_an_error_page(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project, "--app", "app:app")
    assert server.get("/")[2].startswith("v1")
    write(
        project / "app.py",
        APP.replace("app = Flask(__name__)", "application = Flask(__name__)").replace(
            "@app.route", "@application.route"
        ),
    )
    server.wait_for_output("Error: Module 'app' has no attribute 'app'")
    status, _, body = server.get("/", headers={"Accept": "application/json"})
    assert status == 500 and "has no attribute 'app'" in body
    assert server.proc.poll() is None  # still serving
    write(project / "app.py", APP)
    server.wait_for_body("/", lambda b: b.startswith("v1"))


def test_a_request_in_flight_on_the_old_worker_finishes(
    project: Path, serve: Callable[..., Server]
) -> None:
    slow_app = APP + (
        "\n\n@app.route('/slow')\ndef slow():\n"
        "    import time\n    time.sleep(1)\n    return f'{VERSION} slow'\n"
    )
    (project / "app.py").write_text(slow_app, encoding="utf-8")
    server = serve(project)
    result: dict[str, object] = {}

    def slow_request() -> None:
        try:
            result["response"] = server.get("/slow", timeout=10)
        except OSError as exc:  # pragma: no cover - the failure this test is about
            result["error"] = exc

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.2)  # the request is inside the view of the old worker
    write(project / "app.py", slow_app.replace('"v1"', '"v2"'))
    server.wait_for_body("/", lambda b: b.startswith("v2"))  # the new worker answers meanwhile
    thread.join()
    assert "error" not in result
    status, _, body = result["response"]  # type: ignore[misc]
    assert status == 200 and body.startswith("v1 slow")


def test_two_saves_within_a_second_keeping_the_size_both_count(
    project: Path, serve: Callable[..., Server]
) -> None:
    """Python trusts a cached .pyc whose source has the same size and mtime in whole
    seconds: the second save (v2 -> v3) must not be served from the first one's bytecode."""
    server = serve(project, env={"PYTHONDONTWRITEBYTECODE": ""})
    server.wait_for_body("/", lambda b: b.startswith("v1"))
    for n in (2, 3, 4):
        write(project / "app.py", APP.replace('"v1"', f'"v{n}"'))
        server.wait_for_body("/", lambda b, n=n: b.startswith(f"v{n} "))


def _process_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", ["frozen", "holding the GIL"])
def test_a_save_brings_a_fresh_worker_even_when_the_old_one_is_stuck(
    project: Path, serve: Callable[..., Server], how: str
) -> None:
    """A stuck worker never reads the supervisor's "pause" and "stop": the reload must not
    wait for it, and it must not outlive its grace."""
    import signal

    stuck_app = APP + (
        "\n\n@app.route('/stuck')\ndef stuck():\n"
        "    import ctypes\n"
        "    # Two minutes inside C code that never releases the GIL (a runaway regex does\n"
        "    # the same), so no other thread of this worker runs meanwhile: libc's sleep\n"
        "    # called through PyDLL, which keeps the GIL, and which burns no CPU meanwhile.\n"
        "    ctypes.PyDLL(None).sleep(120)\n"
        "    return 'done'\n"
    )
    (project / "app.py").write_text(stuck_app, encoding="utf-8")
    server = serve(project)
    old_pid = pid_of(server.wait_for_body("/", lambda b: b.startswith("v1")))
    if how == "frozen":
        os.kill(old_pid, signal.SIGSTOP)
    else:
        threading.Thread(
            target=lambda: _ignore_errors(lambda: server.get("/stuck", timeout=30)), daemon=True
        ).start()
        # Stuck once it stops answering: a request on a new connection times out.
        deadline = time.monotonic() + 10
        while True:
            try:
                server.get("/", timeout=0.5)
            except OSError:
                break
            assert time.monotonic() < deadline, "the worker never got stuck"

    write(project / "app.py", stuck_app.replace('"v1"', '"v2"'))
    server.wait_for_output("app.py changed · reloaded in")
    body = server.get("/", timeout=10)[2]
    assert body.startswith("v2") and pid_of(body) != old_pid
    # Killed after the reload grace (3 s, and half a second more): never left running.
    deadline = time.monotonic() + 15
    while _process_exists(old_pid):
        assert time.monotonic() < deadline, f"the stuck worker {old_pid} was never killed"
        time.sleep(0.05)


def _ignore_errors(call: Callable[[], object]) -> None:
    import contextlib

    with contextlib.suppress(OSError):  # the worker is killed under the request
        call()

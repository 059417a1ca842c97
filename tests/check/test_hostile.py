"""Hostile files and hostile app imports: each is a finding at its place, never a hang,
a traceback of webkit's or a silent skip; the static rules always run."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.check.helpers import INIT_PY, PYPROJECT, check, locations, make_project
from webkit_cli.check import CheckReport

SECRET = 'SECRET_KEY = "hard-coded"\n'


def _codes_at(report: object, rel: str) -> list[tuple[str, int | None]]:
    return [(f.code, f.line) for f in report.findings if f.file == rel]  # type: ignore[attr-defined]


# --- files that are not what their name says ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"x = 1\ny = 2\x00\n", 2),
        (b"x = 1\n\xff\xfe\x80garbage\n", 2),
        (bytes(range(256)) * 4, None),
    ],
    ids=["nul-byte", "invalid-utf8", "random-bytes"],
)
def test_a_python_file_that_is_not_text_is_p005_and_counted(
    tmp_path: Path, content: bytes, line: int | None
) -> None:
    root = make_project(tmp_path / "p")
    (root / "src/demo/blob.py").write_bytes(content)
    clean = check(make_project(tmp_path / "clean"), no_import=True).files_checked
    report = check(root, no_import=True)
    codes = _codes_at(report, "src/demo/blob.py")
    assert [code for code, _ in codes] == ["P005"]
    if line is not None:
        assert codes[0][1] == line
    assert report.files_checked == clean + 1


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    source = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n"
    (root / "src/demo/legacy.py").write_bytes(source.encode("latin-1"))
    assert locations(check(root, no_import=True)) == []


def test_a_template_that_is_not_utf8_is_t001_at_its_line(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "src/demo/templates/latin.html").write_bytes(b"<p>ok</p>\n<p>caf\xe9</p>\n")
    report = check(root)
    assert locations(report) == [("T001", "src/demo/templates/latin.html", 2)]
    assert "UTF-8" in report.findings[0].message


def test_a_huge_expression_is_p005_not_a_traceback(tmp_path: Path) -> None:
    huge = "TOTAL = " + "+".join(["1"] * 200_000) + "\n"
    root = make_project(tmp_path / "p", {"src/demo/huge.py": huge, "src/demo/config.py": SECRET})
    report = check(root, no_import=True)
    assert locations(report) == [
        ("S001", "src/demo/config.py", 1),
        ("P005", "src/demo/huge.py", None),
    ]
    assert "too deep" in report.findings[1].message


def test_an_expression_too_deep_for_the_rules_is_p005_and_the_rest_is_checked(
    tmp_path: Path,
) -> None:
    # parses, but the security visitor (two frames a level) would exceed the recursion limit
    deep = "DEBUG = False\nTOTAL = " + "+".join(["1"] * 800) + "\n"
    root = make_project(tmp_path / "p", {"src/demo/deep.py": deep, "src/demo/config.py": SECRET})
    report = check(root, no_import=True)
    assert locations(report) == [
        ("S001", "src/demo/config.py", 1),
        ("P005", "src/demo/deep.py", None),
    ]
    assert report.notes == []


@pytest.mark.parametrize("depth", [3000, 400])
def test_a_deeply_nested_template_is_t001(tmp_path: Path, depth: int) -> None:
    nested = "{% if x %}" * depth + "{% endif %}" * depth + "\n"
    root = make_project(tmp_path / "p", {"src/demo/templates/deep.html": nested})
    report = check(root, no_import=True)
    assert locations(report) == [("T001", "src/demo/templates/deep.html", None)]
    assert report.notes == []


def test_a_fifo_named_like_python_is_not_read(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"src/demo/config.py": SECRET})
    os.mkfifo(root / "src/demo/pipe.py")
    os.mkfifo(root / "src/demo/templates/pipe.html")
    # in a thread: if the FIFO were opened for reading, the run would block for ever
    reports: list[CheckReport] = []
    thread = threading.Thread(target=lambda: reports.append(check(root)), daemon=True)
    thread.start()
    thread.join(300)
    assert not thread.is_alive(), "webkit check is blocked (reading a FIFO?)"
    [report] = reports
    assert [(f.code, f.file) for f in report.findings] == [("S001", "src/demo/config.py")]


# --- app imports that hang, exit or interrupt ----------------------------------------------


def _hostile_init(body: str) -> str:
    """The base package with ``body`` run at import time, before the factory."""
    return INIT_PY.replace("from demo import views\n", f"from demo import views\n\n{body}\n")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
        ("raise SystemExit(3)", "raised SystemExit: 3"),
        ("import os\nos._exit(7)", "ended the process with exit status 7"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL"),
    ],
    ids=["keyboard-interrupt", "system-exit", "os-exit", "sigkill"],
)
def test_an_import_that_ends_the_process_is_p004_and_static_rules_run(
    tmp_path: Path, body: str, expected: str
) -> None:
    init = _hostile_init(body)
    root = make_project(
        tmp_path / "p", {"src/demo/__init__.py": init, "src/demo/config.py": SECRET}
    )
    report = check(root)
    codes = [f.code for f in report.findings]
    assert codes == ["S001", "P004"] or codes == ["P004", "S001"]
    p004 = next(f for f in report.findings if f.code == "P004")
    assert expected in p004.message
    if "raise" in body:  # the user's own line
        assert (p004.file, p004.line) == ("src/demo/__init__.py", init.splitlines().index(body) + 1)
    else:  # no traceback to point into: the configured app
        assert (p004.file, p004.line) == (
            "pyproject.toml",
            PYPROJECT.splitlines().index('app = "demo:create_app"') + 1,
        )
    assert any("skipped" in note for note in report.notes)


def test_an_import_that_hangs_is_p004_after_the_timeout_and_leaves_no_process(
    tmp_path: Path, spawned_children: None
) -> None:
    pids = tmp_path / "pids"
    body = (
        "import os, subprocess, sys, time\n"
        "_helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{_helper.pid}}')\n"
        "time.sleep(600)"
    )
    root = make_project(
        tmp_path / "p", {"src/demo/__init__.py": _hostile_init(body), "src/demo/config.py": SECRET}
    )
    # The timeout counts from the moment the child has loaded Python, webkit and Flask
    # (appimport.STARTUP_TIMEOUT covers that start): the import itself reaches the sleep
    # in a fraction of a second, so 5 s leave a loaded machine room to spare.
    report = check(root, import_timeout=5)
    assert sorted(f.code for f in report.findings) == ["P004", "S001"]
    p004 = next(f for f in report.findings if f.code == "P004")
    assert "did not finish within 5 s (--import-timeout)" in p004.message
    assert pids.exists(), "the import never reached its sleep: the timeout is too short here"
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"process {pid} left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by its parent (init here): treat as gone
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return status != "Z"


def test_a_deep_recursion_at_import_is_p004_with_a_bounded_traceback(tmp_path: Path) -> None:
    body = (
        "import sys\n"
        "sys.setrecursionlimit(10**6)\n"
        "def _down(n):\n"
        "    if n == 0:\n"
        "        raise ValueError('bottom')\n"
        "    return _down(n - 1)\n"
        "_down(100_000)"
    )
    init = _hostile_init(body)
    root = make_project(tmp_path / "p", {"src/demo/__init__.py": init})
    report = check(root)
    assert locations(report) == [
        (
            "P004",
            "src/demo/__init__.py",
            init.splitlines().index("        raise ValueError('bottom')") + 1,
        )
    ]
    assert "ValueError: bottom" in report.findings[0].message


def test_the_import_timeout_option_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from webkit_cli.commands.check import check_command

    assert check_command.make_context("check", []).params["import_timeout"] == 20
    ctx = check_command.make_context("check", ["--import-timeout", "2.5"])
    assert ctx.params["import_timeout"] == 2.5
    monkeypatch.setenv("WEBKIT_IMPORT_TIMEOUT", "7")
    assert check_command.make_context("check", []).params["import_timeout"] == 7
    with pytest.raises(click.BadParameter):
        check_command.make_context("check", ["--import-timeout", "0"])


def test_a_proxy_in_the_apps_module_is_not_blamed_on_the_user(tmp_path: Path) -> None:
    """``from flask import request`` puts a LocalProxy in the module; looking for the app
    among its globals must not become the user's P004 (microblog with ``--app app``)."""
    init = INIT_PY.replace(
        "from demo import views\n",
        "from demo import views\nfrom flask import request  # noqa: F401 - a LocalProxy\n",
    )
    root = make_project(
        tmp_path / "p", {"src/demo/__init__.py": init, "src/demo/config.py": SECRET}
    )
    report = check(root, app="demo")
    assert [f.code for f in report.findings] == ["S001"]


def test_a_pyproject_that_is_not_utf8_is_p001(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"src/demo/config.py": SECRET})
    (root / "pyproject.toml").write_bytes(PYPROJECT.encode() + b'\ndescription = "caf\xe9"\n')
    report = check(root)
    line = PYPROJECT.count("\n") + 2
    assert locations(report) == [
        ("P001", "pyproject.toml", line),
        ("S001", "src/demo/config.py", 1),
    ]


def test_a_run_leaves_no_trace_in_the_calling_process(tmp_path: Path) -> None:
    """The app is imported in the child: the caller's modules, path and environment stay."""
    root = make_project(tmp_path / "p", {".env": "WEBKIT_TEST_FROM_DOTENV=1\n"})
    modules, path, environ = set(sys.modules), list(sys.path), dict(os.environ)
    report = check(root)
    assert locations(report) == []
    added = [sys.modules[name] for name in set(sys.modules) - modules]
    assert not [m for m in added if str(root) in (getattr(m, "__file__", None) or "")]
    assert "demo" not in sys.modules
    assert sys.path == path
    assert dict(os.environ) == environ

"""Fixtures for testing the built-in project templates end to end.

Every helper here is generic over the template name, so the tests of each
template (``test_site.py``, ``test_ajax.py``, ``test_api.py``, ...) share them:

``generate(template, parent, name=None, **data)``
    Scaffolds a project with the real ``webkit new ... --no-input --no-install
    --no-git`` in a subprocess and returns its folder. ``data`` becomes
    ``--data KEY=VALUE`` answers.

``scaffolded`` (session fixture)
    ``scaffolded("site")`` generates a template once per test session and returns
    the same read-only folder every time. Tests that change files use ``generate``.

``migrated`` (session fixture)
    ``migrated("site", parent)``: a copy in ``parent`` of a project generated and upgraded
    once per session, with its database: a server for it needs no ``flask db upgrade``.

``run_project_pytest(project, *args)``
    Runs the project's own test suite (``python -m pytest``) in a subprocess with
    coverage written to JSON; returns ``(CompletedProcess, percent_covered)``.

``own_suite`` (session fixture)
    ``own_suite("site")`` generates a project of the template and runs its whole suite once per
    session (``run_project_pytest`` with ``-rp``); every test that asks what that run showed
    shares it (a :class:`SuiteRun`). pytest-xdist runs the tests that use it in one worker
    (``pytest_collection_modifyitems`` puts them in the group ``<template>-suite``), so the
    suite runs once.

``passed_ids(stdout)`` and ``collected_ids(project)``
    The test ids a ``-rp`` run passed, and the ids a separate ``--collect-only`` process
    finds: pytest-xdist needs them equal (each worker collects on its own).

``upgrade_database(project, env)``
    ``flask --app <package> db upgrade`` in the project, as its README says before the first
    start: the apps make no tables themselves.

``serve`` (fixture) and ``serve_module`` (module fixture)
    ``serve(project, env={...})`` upgrades the project's database, starts the project in a
    real server subprocess on 127.0.0.1 and a free port (``webkit run --port 0 --no-reload``)
    and returns a :class:`Server` with its ``url``. Every server is stopped when the test (or,
    for ``serve_module``, the module) ends, and the fixture asserts that no process of it is
    left. ``upgrade=False`` when the test already ran ``flask db upgrade`` with that ``env``.

``browser`` and ``page`` (fixtures)
    Playwright's sync API driving the system Chromium (``/usr/bin/chromium``)
    headless, one per session (``chromium`` in ``tests/conftest.py``). ``page`` is a fresh
    page in a context of its own (cookies, storage) whose console errors and Content-Security-
    Policy violations are collected in ``page.problems`` (a :class:`PageProblems`).

``postgres`` (session fixture)
    A throw-away PostgreSQL server (``_postgres.py``), started on first use and shared by
    the run's tests (those of every pytest-xdist worker): ``postgres.create_database("name")``
    returns the URL of a new empty database of the test's own.

``run_pytest(project, *args, env=...)`` and ``flask_command(project, env, *args)``
    ``python -m pytest ARGS`` and ``flask --app <package> ARGS`` in a project, each forked
    from the worker's one warm process for any project (``WarmPytest``, ``WarmFlask``; see
    ``_warm_fork.py``): a fraction of the CPU of a new process, which spends about a second
    importing pytest, Flask and the libraries. Every run of a generated project's suite
    (``run_project_pytest``, ``own_suite``, the mutation tests' ``assert_tests_catch``) and
    every ``flask db upgrade`` of a served project goes through them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_IMODE
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest

from tests._harness import ServerProcess
from tests.templates._postgres import (
    PostgresServer,
    require_pg_bin,
    shared_postgres,
    start_postgres,
)

VENV_BIN = Path(sys.executable).parent
RUFF = VENV_BIN / "ruff"
SERVER_START_TIMEOUT = 30.0
BROWSER_TIMEOUT_MS = 15_000
URL_PATTERN = re.compile(r"http://127\.0\.0\.1:(\d+)")
WarmForksT = TypeVar("WarmForksT", bound="WarmForks")


# --- scaffolding ------------------------------------------------------------------


def generate(template: str, parent: Path, name: str | None = None, **data: str) -> Path:
    """Scaffold ``template`` into ``parent/<name>`` with the real ``webkit new``."""
    name = name or f"my-{template}"
    command = [
        sys.executable,
        "-m",
        "webkit_cli",
        "new",
        name,
        "--template",
        template,
        "--dir",
        str(parent),
        "--no-input",
        "--no-install",
        "--no-git",
    ]
    for key, value in data.items():
        command += ["--data", f"{key}={value}"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=child_env(), check=False
    )
    assert result.returncode == 0, f"webkit new failed:\n{result.stdout}\n{result.stderr}"
    project = parent / name
    assert (project / "pyproject.toml").is_file()
    return project


@pytest.fixture(scope="session")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``scaffolded(template)``: one shared, read-only generated project per template."""
    cache: dict[str, Path] = {}

    def get(template: str) -> Path:
        if template not in cache:
            cache[template] = generate(template, tmp_path_factory.mktemp(f"gen-{template}"))
        return cache[template]

    return get


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Path], Path]:
    """``migrated(template, parent)``: a copy in ``parent`` of a project generated and upgraded
    (``flask db upgrade`` with :func:`app_env`) once per session, its instance folder (the
    SQLite database) copied beside it: serve it with ``upgrade=False``."""
    cache: dict[str, Path] = {}

    def copy(template: str, parent: Path) -> Path:
        if template not in cache:
            original = generate(template, tmp_path_factory.mktemp(f"migrated-{template}"))
            upgrade_database(original, child_env(app_env(original)))
            cache[template] = original
        original = cache[template]
        project = parent / original.name
        shutil.copytree(original, project, symlinks=True)
        shutil.copytree(instance_folder(original), instance_folder(project))
        return project

    return copy


def project_package(project: Path) -> str:
    """The package named by ``[tool.webkit].app`` (``"pkg:create_app"`` -> ``"pkg"``)."""
    with (project / "pyproject.toml").open("rb") as f:
        app = tomllib.load(f)["tool"]["webkit"]["app"]
    return str(app).partition(":")[0]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for subprocesses: this one, without settings that leak into apps."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBKIT_", "FLASK_", "PYTEST_", "COV_CORE_"))
        and key not in {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "INSTANCE_PATH", "PORT"}
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


#: The hidden CSRF field of a generated project's form.
CSRF_FIELD = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def form_with_token(page: bytes, fields: Mapping[str, str]) -> bytes:
    """``fields`` and the CSRF token of the form in ``page``, URL-encoded for a POST."""
    token = CSRF_FIELD.search(page)
    assert token, f"no csrf_token field in the page:\n{page[:500]!r}"
    return urlencode({"csrf_token": token.group(1).decode(), **fields}).encode()


#: The worker's warm processes (see :func:`flask_command`, :func:`run_pytest`), by mode,
#: each started on first use and ended with the session.
_warm: dict[str, WarmForks] = {}


def _warm_process(mode: type[WarmForksT]) -> WarmForksT:
    """The worker's warm process of class ``mode``, started (again) if it is not running."""
    process = _warm.get(mode.MODE)
    if not isinstance(process, mode) or process.process.poll() is not None:
        process = _warm[mode.MODE] = mode(Path(tempfile.mkdtemp(prefix=f"warm-{mode.MODE}-")))
    return process


@pytest.fixture(scope="session", autouse=True)
def _close_warm_processes() -> Iterator[None]:
    """The worker's warm processes end with its session, their forks and folders with them."""
    yield
    while _warm:
        process = _warm.popitem()[1]
        process.close()
        assert process.process.returncode is not None
        shutil.rmtree(process.folder, ignore_errors=True)


def flask_command(
    project: Path,
    env: Mapping[str, str],
    *args: str,
    script: bool = False,
    input: str = "",
) -> subprocess.CompletedProcess[str]:
    """``flask --app <package> ARGS`` in the project folder with exactly ``env``,
    answered as ``subprocess.run(..., capture_output=True, text=True)`` would: from a fork of
    the worker's :class:`WarmFlask` (a quarter of the CPU of a new process). ``script``: as
    the ``flask`` console script runs (its folder first on ``sys.path``), else ``python -m
    flask``."""
    return run_flask(
        ["--app", project_package(project), *args],
        cwd=project,
        env=env,
        script=script,
        input=input,
    )


def run_flask(
    args: list[str], *, cwd: Path, env: Mapping[str, str], script: bool = True, input: str = ""
) -> subprocess.CompletedProcess[str]:
    """``flask ARGS`` (any arguments, ``--app`` among them or not) in ``cwd``, from the
    worker's :class:`WarmFlask`, as :func:`flask_command` runs its commands."""
    return _warm_process(WarmFlask).run(args, cwd=cwd, env=env, script=script, input=input)


def run_pytest(project: Path, *args: str, env: Mapping[str, str], timeout: float = 300) -> WarmRun:
    """``python -m pytest -q -p no:cacheprovider ARGS`` in the project folder with exactly
    ``env``, answered as ``subprocess.run(..., capture_output=True, text=True)`` would (and
    the failed tests' ids): from a fork of the worker's :class:`WarmPytest`, which saves the
    second or so a new process spends importing pytest, its plugins and the libraries."""
    return _warm_process(WarmPytest).run(project, *args, env=env, timeout=timeout)


def upgrade_database(project: Path, env: Mapping[str, str]) -> None:
    """``flask --app <package> db upgrade`` with ``env`` (the README's step before the first
    start), from the project folder and its ``src``, as the servers of the tests run it."""
    result = flask_command(project, {**env, "PYTHONPATH": str(project / "src")}, "db", "upgrade")
    assert result.returncode == 0, f"flask db upgrade failed:\n{result.stdout}{result.stderr}"


def run_project_pytest(
    project: Path,
    *args: str,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
    coverage: bool = True,
) -> tuple[WarmRun, float]:
    """Run the project's own tests with coverage; returns the result and the percentage.

    ``env`` adds variables, e.g. ``TEST_DATABASE_URL`` for a PostgreSQL run. ``coverage=False``
    measures nothing (the percentage is -1): coverage's tracing costs as much again as the run,
    and one run of each template (``own_suite``, the api's in ``test_api.py``) holds the gate.
    """
    report = project.parent / f"{project.name}-coverage.json"
    measure = ["--cov", f"--cov-report=json:{report}"] if coverage else ["--no-cov"]
    result = run_pytest(project, *measure, *args, env=child_env(env), timeout=timeout)
    percent = -1.0
    if report.is_file():
        percent = float(json.loads(report.read_text())["totals"]["percent_covered"])
        report.unlink()
    # Coverage's data file stays out of the (possibly shared) project folder.
    for leftover in project.glob(".coverage*"):
        leftover.unlink()
    return result, percent


#: Project names of ``own_suite`` runs other than ``my-<template>``: the site's run also shows
#: that the project's name becomes its package everywhere (``test_site.py``).
OWN_SUITE_NAMES = {"site": "corner-shop"}


@dataclass(frozen=True)
class SuiteRun:
    """A generated project and what its own whole suite answered (coverage included)."""

    project: Path
    result: WarmRun
    percent: float


@pytest.fixture(scope="session")
def own_suite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SuiteRun]:
    """``own_suite(template)``: the project's suite, run once per session (see above)."""
    cache: dict[str, SuiteRun] = {}

    def get(template: str) -> SuiteRun:
        if template not in cache:
            parent = tmp_path_factory.mktemp(f"{template}-suite")
            project = generate(template, parent, OWN_SUITE_NAMES.get(template))
            result, percent = run_project_pytest(project, "-rp")
            cache[template] = SuiteRun(project, result, percent)
        return cache[template]

    return get


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests using one template's ``own_suite`` run go to one pytest-xdist worker: its
    template is the test's ``template`` parameter, else its module's ``TEMPLATE``."""
    for item in items:
        if "own_suite" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            template = params.get("template", getattr(item.module, "TEMPLATE", None))
            assert template, f"{item.nodeid}: which template's own_suite?"
            item.add_marker(pytest.mark.xdist_group(f"{template}-suite"))


def passed_ids(stdout: str) -> list[str]:
    """The ids of the tests a ``pytest -rp`` run lists as passed (ids may hold spaces)."""
    return re.findall(r"^PASSED (.+)$", stdout, re.MULTILINE)


def collected_ids(project: Path) -> list[str]:
    """The test ids of the project's suite, collected by a process of their own."""
    result = run_pytest(project, "--no-cov", "--collect-only", env=child_env(), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


class WarmRun(subprocess.CompletedProcess[str]):
    """What a :class:`WarmPytest` run answers, and ``failed``: the node ids of its failed tests.

    ``failed`` comes from the reports themselves, not from the terminal summary, which a run
    can lose: under load, an unraisable ResourceWarning raised at pytest's end once left
    only the progress line in stdout.
    """

    def __init__(
        self, args: list[str], returncode: int, stdout: str, stderr: str, *, failed: list[str]
    ) -> None:
        super().__init__(args, returncode, stdout, stderr)
        self.failed = failed


class WarmForks:
    """A warm process (``_warm_fork.py``, as ``python -c SOURCE MODE``) that forks once per
    JSON request line and answers each with one JSON line. It runs in ``folder`` (its log,
    and the files of its requests' standard streams, are there)."""

    SOURCE = (Path(__file__).parent / "_warm_fork.py").read_text()
    MODE = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._log = folder / f"warm-{self.MODE}.log"
        self._runs = 0
        with self._log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", self.SOURCE, self.MODE],
                cwd=folder,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # close() ends a hung request's fork with it
            )

    def _files(self, *suffixes: str) -> list[Path]:
        """A new file name in the folder for each suffix (the next request's streams)."""
        self._runs += 1
        return [self.folder / f"{self.MODE}-{self._runs}{suffix}" for suffix in suffixes]

    def ask(self, request: Mapping[str, object], timeout: float, what: str) -> dict[str, Any]:
        """Send ``request``; its reply, or an AssertionError that says ``what`` did not answer
        in ``timeout`` seconds (the process and its fork are then ended)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        reply = ""
        with contextlib.suppress(BrokenPipeError):  # it died: no reply, its log says why
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            reply = self.process.stdout.readline() if ready else ""
        if not reply:
            log = self._log.read_text(errors="replace")  # before close() removes it
            self._kill_group()  # a hung request: its fork too
            self.close()
            raise AssertionError(f"{what} gave no answer in {timeout:g} s:\n{log}")
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def _kill_group(self) -> None:
        """SIGKILL the process and its forks, unless it was reaped (then its group id may
        belong to another process by now)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        """End the process (and a fork still running); idempotent."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()
        self._log.unlink(missing_ok=True)


class WarmPytest(WarmForks):
    """One warm process that runs the tests of any project, each run in a fork.

    :meth:`run` answers what ``python -m pytest ARGS`` in the project folder answers (its
    exit code, stdout and stderr), at a fraction of the CPU: the fork starts with pytest, its
    plugins, Flask, SQLAlchemy and the rest already imported, and reads the project's own
    modules from disk, so a file changed between two runs is seen by the second, and two
    projects never see each other's modules.
    """

    MODE = "pytest"

    def run(
        self, project: Path, *args: str, env: Mapping[str, str], timeout: float = 300
    ) -> WarmRun:
        """``python -m pytest -q -p no:cacheprovider ARGS`` in ``project`` with exactly
        ``env``, from the fork."""
        stdout, stderr, failed = self._files(".out", ".err", ".failed")
        argv = ["-q", "-p", "no:cacheprovider", *args]
        request = {
            "args": argv,
            "cwd": str(project),
            "env": dict(env),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "failed": str(failed),
        }
        try:
            reply = self.ask(request, timeout, f"pytest {' '.join(argv)} in {project}")
            return WarmRun(
                ["pytest", *argv],
                reply["returncode"],
                stdout.read_text(errors="replace"),
                stderr.read_text(errors="replace"),
                # Once each: a test fails in its call and again in its teardown.
                failed=list(dict.fromkeys(failed.read_text().splitlines()))
                if failed.exists()
                else [],
            )
        finally:
            for path in (stdout, stderr, failed):
                path.unlink(missing_ok=True)
            # Coverage's data file stays out of the (possibly shared) project folder.
            for leftover in project.glob(".coverage*"):
                leftover.unlink()


class WarmFlask(WarmForks):
    """One warm process that runs ``flask`` commands of any project, each in a fork.

    :meth:`run` answers what ``subprocess.run([flask, *args], cwd=cwd, env=env, input=...,
    capture_output=True, text=True)`` answers, at about a quarter of the CPU: the fork starts
    with Flask, its plugin commands and the libraries earlier commands loaded already imported,
    and takes the command's folder, environment, ``sys.path`` and standard streams (see
    ``_warm_fork.py``). The project's modules and ``.env`` are read by each command.
    """

    MODE = "flask"

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        script: bool = False,
        input: str = "",
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """``flask ARGS`` (``script``: the console script; else ``python -m flask``)."""
        stdin, stdout, stderr = self._files(".in", ".out", ".err")
        stdin.write_text(input)
        request = {
            "argv": args,
            "cwd": str(cwd),
            "env": dict(env),
            "script": str(VENV_BIN) if script else str(cwd),
            "stdin": str(stdin),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        try:
            reply = self.ask(request, timeout, f"flask {' '.join(args)} in {cwd}")
            return subprocess.CompletedProcess(
                ["flask", *args],
                reply["returncode"],
                stdout.read_text(errors="replace"),
                stderr.read_text(errors="replace"),
            )
        finally:
            for path in (stdin, stdout, stderr):
                path.unlink(missing_ok=True)


# --- servers ----------------------------------------------------------------------


class Server(ServerProcess):
    """A project served by a real server process on 127.0.0.1 (``url``, ``port``).

    :meth:`stop` sends SIGTERM to the whole process group, waits, and fails the test if
    anything is left; stopping twice is fine.
    """

    STOP_WHOLE_GROUP = True
    STOP_TIMEOUT = 15.0
    LEFTOVER_TIMEOUT = 10.0

    def __init__(
        self, command: list[str], *, cwd: Path, env: Mapping[str, str], url_pattern: re.Pattern[str]
    ) -> None:
        super().__init__(command, cwd=cwd, env=env, log_dir=cwd.parent, merge_output=True)
        try:
            port = self.wait_for_match(url_pattern, SERVER_START_TIMEOUT).group(1)
        except BaseException:
            self.abandon()
            raise
        self.url = f"http://127.0.0.1:{port}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int | None = None, timeout: float | None = None) -> float:
        seconds = super().stop(sig, timeout)
        self.close()
        return seconds


def start_server(
    command: list[str], *, cwd: Path, env: Mapping[str, str], url_pattern: re.Pattern[str]
) -> Server:
    """Start ``command`` in its own process group and wait for its URL in the output."""
    return Server(command, cwd=cwd, env=env, url_pattern=url_pattern)


def instance_folder(project: Path) -> Path:
    """The instance folder (SQLite) of ``project`` in :func:`app_env`: beside the project,
    never inside a shared one."""
    return project.parent / f"{project.name}-instance"


def app_env(project: Path, **extra: str) -> dict[str, str]:
    """A development environment for serving ``project`` from a test."""
    env = {
        "APP_ENV": "development",
        "SECRET_KEY": secrets.token_hex(32),
        "INSTANCE_PATH": str(instance_folder(project)),
    }
    env.update(extra)
    return env


def serve_project(
    project: Path,
    env: Mapping[str, str] | None = None,
    *,
    reload: bool = False,
    upgrade: bool = True,
) -> Server:
    """Serve ``project`` with ``webkit run --port 0``, its database upgraded first unless
    ``upgrade=False`` (the caller ran ``flask db upgrade`` with the same ``env`` itself)."""
    settings = child_env(app_env(project) if env is None else env)
    if upgrade:
        upgrade_database(project, settings)
    command = [sys.executable, "-m", "webkit_cli", "run", "--port", "0"]
    command.append("--reload" if reload else "--no-reload")
    return start_server(command, cwd=project, env=settings, url_pattern=URL_PATTERN)


@contextlib.contextmanager
def _serving() -> Iterator[Callable[..., Server]]:
    """A :func:`serve_project` that stops every server it started when the block ends."""
    servers: list[Server] = []

    def start(
        project: Path,
        env: Mapping[str, str] | None = None,
        reload: bool = False,
        *,
        upgrade: bool = True,
    ) -> Server:
        server = serve_project(project, env, reload=reload, upgrade=upgrade)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        # Every server is stopped even when one of them fails its stop (left a process).
        with contextlib.ExitStack() as stack:
            for server in servers:
                stack.callback(server.stop)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(project, env=None, reload=False, *, upgrade=True)`` -> a running :class:`Server`.

    All servers are stopped when the test ends. ``reload=True`` serves with
    ``webkit run --reload`` (file watching and the browser's live reload).
    """
    with _serving() as start:
        yield start


@pytest.fixture(scope="module")
def serve_module() -> Iterator[Callable[..., Server]]:
    """:func:`serve` for a module's shared servers, stopped (nothing left) after its tests."""
    with _serving() as start:
        yield start


# --- PostgreSQL -------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresServer]:
    """The run's PostgreSQL server: one ``initdb`` and start for every test using it, in
    every pytest-xdist worker of the run too (their temporary folders share a parent)."""
    bin_dir = require_pg_bin()
    if hasattr(request.config, "workerinput"):
        shared = shared_postgres(bin_dir, tmp_path_factory.getbasetemp().parent)
    else:
        shared = start_postgres(bin_dir)
    with shared as server:
        yield server


# --- the browser ------------------------------------------------------------------


@dataclass
class PageProblems:
    """What a page reported that a clean page never does."""

    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def unexpected(self, *allowed: str) -> list[str]:
        """Every problem, minus console errors containing one of ``allowed``."""
        console = [m for m in self.console_errors if not any(a in m for a in allowed)]
        return console + self.csp_violations + self.page_errors


# Runs in every document before its own scripts; reports CSP violations to Python.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} on ${location.pathname}`
  );
});
"""


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The session's headless system Chromium (``chromium`` in ``tests/conftest.py``)."""
    from playwright.sync_api import expect

    # Generous waits: CI runners with two busy cores are slow, and every wait
    # below ends as soon as its condition holds.
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    return chromium


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own cookies); console errors and CSP violations in ``page.problems``."""
    context = browser.new_context()
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    problems = PageProblems()

    def report_csp_violation(text: str) -> None:
        problems.csp_violations.append(text)

    context.expose_function("__reportCspViolation", report_csp_violation)
    context.add_init_script(CSP_LISTENER)
    new_page = context.new_page()
    new_page.on(
        "console",
        lambda message: message.type == "error" and problems.console_errors.append(message.text),
    )
    new_page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    new_page.problems = problems
    try:
        yield new_page
    finally:
        context.close()


# --- conventions every built-in template follows (TEMPLATE_FORMAT.md) -----------------


def read_pyproject(project: Path) -> dict[str, Any]:
    with (project / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def assert_shared_conventions(project: Path, template: str) -> None:
    """Files and settings every built-in template must generate, checked on ``project``."""
    pyproject = read_pyproject(project)
    package = project_package(project)
    assert pyproject["project"]["name"] == project.name
    assert pyproject["tool"]["webkit"]["app"] == f"{package}:create_app"
    assert pyproject["tool"]["webkit"]["template"]["name"] == template
    dev = " ".join(pyproject["project"]["optional-dependencies"]["dev"])
    for requirement in ("pytest", "pytest-cov", "ruff"):
        assert requirement in dev
    # webkit is a tool the CI installs on its own, not a dependency of the project: an
    # unpublished name there fails every fresh install (and is a supply-chain hole).
    requirements = [*pyproject["project"]["dependencies"], *dev.split()]
    assert not [r for r in requirements if r.lower().startswith("webkit")], requirements
    assert_advisory_free_bounds(pyproject["project"]["dependencies"])
    assert pyproject["tool"]["pytest"]["ini_options"]["pythonpath"] == ["src"]
    assert (project / "src" / package / "__init__.py").is_file()

    # The secret key: random in the git-ignored .env, never in code or in the example.
    env_file = (project / ".env").read_text()
    assert S_IMODE((project / ".env").stat().st_mode) == 0o600  # it holds the secret key
    assert re.search(r"^SECRET_KEY=[0-9a-f]{64}$", env_file, re.MULTILINE)
    assert re.search(r"^APP_ENV=development$", env_file, re.MULTILINE)
    assert re.search(r"^SECRET_KEY=$", (project / ".env.example").read_text(), re.MULTILINE)
    ignored = (project / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert "instance/" in ignored
    secret = env_file.split("SECRET_KEY=", 1)[1].split()[0]
    for path in project.rglob("*"):
        if path.is_file() and path.name != ".env":
            assert secret not in path.read_text(errors="replace"), path
    for source in (project / "src").rglob("*.py"):
        assert not re.search(r"SECRET_KEY['\"]?\s*[:=]\s*['\"]", source.read_text()), source

    dockerfile = (project / "Dockerfile").read_text()
    # The base pinned to a release, a health check, gunicorn's settings file in the image.
    assert re.match(r"(#.*\n)*FROM python:3\.12\.\d+-slim-bookworm\n", dockerfile)
    assert re.search(r"^HEALTHCHECK .*\\\n +CMD \[\"python\"", dockerfile, re.MULTILINE)
    assert "gunicorn.conf.py" in dockerfile and (project / "gunicorn.conf.py").is_file()
    # psycopg in the image: DATABASE_URL=postgresql+psycopg://... is the documented way to scale.
    assert re.search(r"pip install --no-cache-dir '\.\[postgres(ql)?(,redis)?\]'", dockerfile) or (
        "psycopg" in " ".join(pyproject["project"]["dependencies"])
    )
    user = re.search(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user and user.group(1) not in {"root", "0"}
    cmd = rf'^CMD \[.*"gunicorn", "-w", "4".*"{package}:create_app\(\)"\]'
    assert re.search(cmd, dockerfile, re.MULTILINE)
    # The migrations run before the CMD (test_fresh_install runs this entrypoint).
    assert re.search(r'^ENTRYPOINT \["sh", "/app/docker-entrypoint.sh"\]$', dockerfile, re.M)
    entrypoint = (project / "docker-entrypoint.sh").read_text()
    assert f'\nflask --app {package} db upgrade\nexec "$@"\n' in entrypoint
    assert "docker-entrypoint.sh ./" in dockerfile

    assert_ci_workflow(project)

    readme = (project / "README.md").read_text()
    for text in (
        f"flask --app {package} db upgrade",
        f"flask --app {package} db migrate",
        "webkit run --reload",
        "pytest",
        f"gunicorn -w 4 -b 0.0.0.0:8000 '{package}:create_app()'",
        "docker build",
        "load balancer",
        "PostgreSQL",
        "DATABASE_URL",
    ):
        assert text in readme

    # A strict Content-Security-Policy holds only without inline script and style.
    for html in (project / "src").rglob("*.html"):
        text = html.read_text()
        assert " style=" not in text and "<style" not in text, html
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"inline script in {html}"
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                assert "hidden_tag()" in form or "csrf_token()" in form, f"{html}: {form}"


#: Releases below these have published advisories (Werkzeug CVE-2024-49766/49767, Jinja2
#: CVE-2025-27516, gunicorn CVE-2024-1135/6827).
ADVISORY_FREE_BOUNDS = {"werkzeug": "3.0.6", "jinja2": "3.1.6", "gunicorn": "23"}


def assert_advisory_free_bounds(dependencies: list[str]) -> None:
    """Each of werkzeug, jinja2, gunicorn is required at its first release without advisories."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    found = {Requirement(d).name.lower(): Requirement(d) for d in dependencies}
    for name, bound in ADVISORY_FREE_BOUNDS.items():
        assert name in found, f"{name} is not pinned below: {dependencies}"
        lowest = [Version(s.version) for s in found[name].specifier if s.operator == ">="]
        assert lowest and min(lowest) >= Version(bound), f"{found[name]} allows < {bound}"


def assert_ci_workflow(project: Path) -> None:
    """The generated workflow is valid YAML whose steps install the project alone, test,
    migrate a scratch database and check it against the models, lint, audit the dependencies,
    then install webkit pinned and run ``webkit check``.

    pip-audit cannot reach its advisory database from here: the step is checked, not run.
    """
    import yaml

    from webkit_cli import __version__

    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads "on" as True
    steps = workflow["jobs"]["test"]["steps"]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5"]
    assert steps[1]["with"]["python-version"] == "3.12"
    runs = [step["run"] for step in steps if "run" in step]
    assert all(isinstance(step.get("name"), str) for step in steps if "run" in step)
    assert runs[0] == "pip install -e '.[dev]'"
    assert runs[1].startswith("pytest")
    package = project_package(project)
    # A scratch database migrated to the newest revision, then the models checked against it
    # (tests/templates/test_migrations.py runs this step and makes it fail).
    assert runs[2] == f"flask --app {package} db upgrade && flask --app {package} db check"
    migrations = next(step for step in steps if step.get("run") == runs[2])
    assert migrations["env"]["DATABASE_URL"]
    assert runs[3] == "ruff check ."
    assert runs[4] == "pip install pip-audit && pip-audit --skip-editable"
    assert runs[5] == f"pip install 'webkit-cli=={__version__}'"
    assert runs[6] == "webkit check --format github"
    assert not any("webkit" in run for run in runs[:5])


def assert_lint_clean(project: Path) -> None:
    """``ruff check`` and ``ruff format --check`` pass with the project's own settings."""
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [str(RUFF), *args, "--no-cache"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"


def project_test_id(project: Path, test_name: str) -> str:
    """``tests/test_x.py::test_name``: the one module of the project's suite defining it."""
    pattern = re.compile(rf"^def {re.escape(test_name)}\(", re.MULTILINE)
    found = [
        path.relative_to(project).as_posix()
        for path in sorted((project / "tests").rglob("test_*.py"))
        if pattern.search(path.read_text())
    ]
    assert len(found) == 1, f"{test_name} is defined in {found or 'no test module'}"
    return f"{found[0]}::{test_name}"


def assert_tests_catch(project: Path, path: str, old: str, new: str, expected_failure: str) -> None:
    """Break ``path`` (replace ``old`` by ``new``) and check the project's test notices.

    Only ``expected_failure`` runs (``pytest tests/test_x.py::name``): the whole suite would
    take ten times as long to say the same. It runs from the worker's :class:`WarmPytest`.
    """
    test_id = project_test_id(project, expected_failure)
    target = project / path.replace("{package}", project_package(project))
    source = target.read_text()
    assert old in source, f"{old!r} not in {target}: update the mutation"
    target.write_text(source.replace(old, new))
    try:
        result = run_pytest(project, "--no-cov", test_id, env=child_env())
    finally:
        target.write_text(source)
    assert result.returncode == 1, result.stdout + result.stderr
    caught = [node for node in result.failed if node == test_id or node.startswith(f"{test_id}[")]
    assert caught, f"{test_id} did not fail; failed: {result.failed}\n{result.stdout}"


@pytest.fixture(scope="module")
def mutation_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``mutation_project(template)``: one project per template for a module's mutations
    (each mutation is undone before the next)."""
    cache: dict[str, Path] = {}

    def get(template: str) -> Path:
        if template not in cache:
            cache[template] = generate(template, tmp_path_factory.mktemp(f"{template}-mutations"))
        return cache[template]

    return get


def assert_webkit_check_clean(project: Path) -> None:
    """``webkit check`` reports no finding at all, warnings included (the CI lint)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webkit_cli",
            "check",
            "--format",
            "json",
            "--fail-level",
            "warning",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == [], report["findings"]
    assert report["summary"]["files_checked"] > 10

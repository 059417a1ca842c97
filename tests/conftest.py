"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests._chromium import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_LAUNCHER

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The one Playwright of this process (a driver process): Playwright's sync API refuses a
#: second one while the first runs, and a pytest-xdist worker may run the browser tests of
#: tests/server and tests/templates in either order.
_playwright: Any = None


def _launch() -> Any:
    """A new headless Playwright ``Browser`` on Debian's Chromium; a missing one fails the test."""
    global _playwright
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs it (apt-get install chromium)")
    if _playwright is None:
        from playwright.sync_api import sync_playwright

        _playwright = sync_playwright().start()
    return _playwright.chromium.launch(
        executable_path=str(CHROMIUM_LAUNCHER), args=CHROMIUM_ARGS, headless=True
    )


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A Chromium of the caller's own (:func:`_launch`), closed when the block ends."""
    browser = _launch()
    try:
        yield browser
    finally:
        browser.close()


#: The Chromium that the ``chromium`` fixture shares (launched on first use).
_chromium: Any = None


@pytest.fixture
def chromium() -> Any:
    """The one headless Chromium of this process (a pytest-xdist worker), shared by every
    browser test: each test opens a context of its own in it (own cookies and storage),
    which costs a tenth of a launch (1 s of CPU). One that crashed is launched anew, so a
    crash fails one test, not every later one."""
    global _chromium
    if _chromium is None or not _chromium.is_connected():
        _chromium = _launch()
    return _chromium


@pytest.fixture(scope="session", autouse=True)
def _stop_playwright() -> Iterator[None]:
    """Closes the shared Chromium and stops the Playwright that :func:`_launch` started,
    after the last test."""
    global _chromium, _playwright
    yield
    if _chromium is not None:
        _chromium.close()
        _chromium = None
    if _playwright is not None:
        _playwright.stop()
        _playwright = None


# -- running in parallel (pytest-xdist, see scripts/test) ---------------------------------

#: Modules whose tests take longest (``--durations``), started first in a parallel run so
#: that no long test is left running alone at the end; the others keep their order.
SLOWEST_FIRST = (
    "tests/templates/test_fresh_install.py",  # one test, the longest: pip in a fresh venv
    "tests/test_wheel.py",
    "tests/templates/test_api.py",
    "tests/templates/test_site.py",
    "tests/templates/test_ajax.py",
    "tests/templates/test_generated.py",
    "tests/templates/test_gunicorn.py",
    "tests/templates/test_browser.py",
    "tests/server/test_browser_reload.py",
)

#: Tests that share an expensive module-scoped fixture run in one worker, which then
#: builds it once (``--dist loadgroup``): the fixture's name (a test using a fixture that
#: depends on it counts) and the group's, where ``{module}`` is the test's module.
SHARED_FIXTURES = {
    "dist": "wheel",  # tests/test_wheel.py builds the sdist and the wheel once
    "pg_project": "api-postgresql",  # tests/templates/test_api.py: a project and a server
    # One generated project and one warm pytest per template for a module's mutation tests
    # (tests/templates/conftest.py): spread over 3 workers, each started 3 of each.
    "mutation_project": "mutations-{module}",
    # tests/templates/test_browser.py: one served project per template for the module's tests.
    "shared_site": "browser-site",
    "shared_ajax": "browser-ajax",
    "shared_api": "browser-api",
    # tests/templates/test_gunicorn.py: one project per template and the gunicorns sharing it.
    "gunicorns": "gunicorn-{module}",
    "production_site": "redis-{module}",  # tests/templates/test_redis_limits.py: one project
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.partition("::")[0]
        for fixture, group in SHARED_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group.format(module=module)))
    if hasattr(config, "workerinput"):  # a worker: every worker sorts alike

        def rank(item: pytest.Item) -> int:
            module = item.nodeid.partition("::")[0]
            return SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)

        items.sort(key=rank)


class _GroupsHonoured:
    """Fails the run when ``--dist loadgroup`` would silently spread a group over workers.

    pytest-xdist marks a group by rewriting the node id (``test@group``); a pytest that
    ignores the rewrite (9.2 with xdist 3.8: pytest-xdist#1386) builds every shared fixture
    of :data:`SHARED_FIXTURES` once in each worker instead, and nothing else shows it.
    """

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not config.getoption("loadgroup", False):
            return
        lost = [
            i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid
        ]
        if lost:
            raise pytest.UsageError(
                f"--dist loadgroup lost the xdist_group of {lost[0]} (and {len(lost) - 1} more): "
                "this pytest and pytest-xdist do not work together (pytest-xdist#1386)"
            )


def pytest_configure(config: pytest.Config) -> None:
    # A shell ignores SIGINT in what it starts in the background (`./scripts/test &`, nohup),
    # and an ignored signal stays ignored across exec: the Ctrl-C tests' children would
    # never see theirs. Caught here, it is reset to the default in every child.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(config, "workerinput"):  # the groups are read in the workers
        config.pluginmanager.register(_GroupsHonoured(), "webkit-groups-honoured")


@pytest.fixture(autouse=True)
def _clean_webkit_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No WEBKIT_* / FLASK_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("WEBKIT_", "FLASK_")) or name in {"PORT", "SECRET_KEY", "DATABASE_URL"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def build_file_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{"relative/path": content}`` under ``root``; returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def file_tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``file_tree({...})`` builds a tree in a fresh tmp dir and returns its path."""

    def make(files: Mapping[str, str | bytes], subdir: str = "project") -> Path:
        return build_file_tree(tmp_path / subdir, files)

    return make

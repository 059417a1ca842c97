"""Every check test gets its own cache folder: no test reads what another one cached,
and nothing is written to the user's cache. The app is imported in a child forked from a
warm process (``_warm.py``) unless the test asks for ``spawned_children``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.check import _warm


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("webkit-cache")
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def spawned_children() -> None:
    """This test's app imports run in children spawned as ``webkit check`` spawns them."""


@pytest.fixture(autouse=True)
def _warm_children(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "spawned_children" not in request.fixturenames:
        _warm.use(monkeypatch)


@pytest.fixture(scope="session", autouse=True)
def _stop_warm_process() -> Iterator[None]:
    yield
    _warm.shutdown()

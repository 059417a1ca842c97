"""Every check test gets its own cache folder: no test reads what another one cached,
and nothing is written to the user's cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("webkit-cache")
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(folder))
    return folder

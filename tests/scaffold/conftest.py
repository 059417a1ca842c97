"""Every scaffold test gets its own Jinja bytecode cache (never the user's ~/.cache)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("webkit-cache")
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(cache))
    return cache

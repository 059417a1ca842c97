"""URL builders compiled once per run (``_routecache``): the same URLs as werkzeug's own,
read back from the run's folder by the next worker, never shared where a default is
baked into a builder."""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.routing import Map, Rule, Submount

from webkit_cli.server import _routecache


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """werkzeug's own compiler, counted; the cache empty, and both restored afterwards."""
    calls: list[Any] = []
    original = Rule._compile_builder
    if getattr(original, "__webkit_cached__", False):
        original = _routecache._original

    def counted(self: Any, append_unknown: bool = True) -> Any:
        calls.append(self.rule)
        return original(self, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", counted)
    monkeypatch.setattr(_routecache, "_cache", {})
    monkeypatch.setattr(_routecache, "_added", False)
    monkeypatch.setattr(_routecache, "_original", None)
    monkeypatch.setattr(_routecache, "_version", "")
    monkeypatch.setattr(_routecache, "_loaded", None)
    yield calls


def rules() -> list[Any]:
    return [
        Rule("/", endpoint="index"),
        Rule("/users/<int:user_id>", endpoint="user"),
        Rule("/files/<path:name>", endpoint="file"),
        Rule("/page/", defaults={"n": 1}, endpoint="page"),
        Rule("/page/<int:n>", endpoint="page"),
        Rule("/q/<name>", defaults={"lang": "en"}, endpoint="q"),
        Rule("/ü/<x>", endpoint="unicode"),
        Rule("/d/<int:n>", defaults={"n": 5}, endpoint="baked"),
        Submount("/api", [Rule("/items/<uuid:item>", endpoint="item")]),
    ]


def urls(url_map: Map) -> list[str]:
    adapter = url_map.bind("example.test")
    return [
        adapter.build("index"),
        adapter.build("index", {"x": "1 2", "y": ["a", "b"]}),
        adapter.build("user", {"user_id": 7}),
        adapter.build("file", {"name": "a/b c.txt"}),
        adapter.build("page", {"n": 1}),
        adapter.build("page", {"n": 3}),
        adapter.build("q", {"name": "n"}),
        adapter.build("unicode", {"x": "é"}),
        adapter.build("baked", {"n": 5}),
        adapter.build("item", {"item": "12345678-1234-5678-1234-567812345678"}),
        adapter.build("user", {"user_id": 7}, force_external=True),
    ]


def test_the_next_worker_builds_the_same_urls_without_compiling(
    fresh: list[Any], tmp_path: Path
) -> None:
    expected = urls(Map(rules()))
    compiled_by_werkzeug = len(fresh)
    fresh.clear()

    assert _routecache.install(str(tmp_path))
    urls(Map(rules()))  # the first worker: compiles, then saves for the next
    _routecache.save(str(tmp_path))
    assert (tmp_path / _routecache.FILE_NAME).is_file()
    assert len(fresh) == compiled_by_werkzeug

    # The next worker: an empty cache in memory, the file of the run.
    _routecache._cache.clear()
    fresh.clear()
    assert _routecache.install(str(tmp_path))
    assert urls(Map(rules())) == expected
    # Only the rule with a default for its own variable is compiled again (twice: with
    # and without unknown arguments appended).
    assert fresh == ["/d/<int:n>", "/d/<int:n>"]


def test_a_default_baked_into_the_builder_is_never_shared(fresh: list[Any]) -> None:
    assert _routecache.install(None)
    first = Map([Rule("/v/<int:n>", defaults={"n": 1}, endpoint="v")])
    second = Map([Rule("/v/<int:n>", defaults={"n": 2}, endpoint="v")])
    assert first.bind("x").build("v", {"n": 1}) == "/v/1"
    assert second.bind("x").build("v", {"n": 2}) == "/v/2"


def test_a_file_of_another_werkzeug_is_not_read(fresh: list[Any], tmp_path: Path) -> None:
    assert _routecache.install(str(tmp_path))
    urls(Map(rules()))
    _routecache.save(str(tmp_path))
    _routecache._cache.clear()
    _routecache._version = "0.0-other"
    fresh.clear()
    _routecache.install(str(tmp_path))
    urls(Map(rules()))
    assert "/users/<int:user_id>" in fresh


def test_an_unreadable_file_is_ignored(fresh: list[Any], tmp_path: Path) -> None:
    (tmp_path / _routecache.FILE_NAME).write_bytes(b"not marshal data")
    assert _routecache.install(str(tmp_path))
    assert urls(Map(rules()))[2] == "/users/7"


def test_a_file_read_once_is_read_again_only_once_replaced(
    fresh: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _routecache.install(str(tmp_path))
    urls(Map(rules()))
    _routecache.save(str(tmp_path))
    reads: list[int] = []
    loads = marshal.loads
    monkeypatch.setattr(marshal, "loads", lambda data: reads.append(1) or loads(data))
    _routecache._cache.clear()
    _routecache.install(str(tmp_path))  # the layer reads the file...
    assert reads == [1]
    held = dict(_routecache._cache)
    _routecache.install(str(tmp_path))  # ...and a worker forked from it has its entries
    assert reads == [1] and _routecache._cache == held

    # A worker compiles a new rule and saves: the file is replaced, and read again.
    Map([Rule("/new/<int:n>", endpoint="new")]).bind("x").build("new", {"n": 1})
    _routecache.save(str(tmp_path))
    _routecache._cache.clear()
    fresh.clear()
    _routecache.install(str(tmp_path))
    assert len(reads) == 2
    Map([Rule("/new/<int:n>", endpoint="new"), *rules()]).bind("x").build("new", {"n": 2})
    assert fresh == ["/d/<int:n>", "/d/<int:n>"]

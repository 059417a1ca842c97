"""The standby (``server/_standby.py``): a worker forked from the layer that runs the
factory ahead of the next save, up to the module you keep editing, against a real
``webkit run``. It serves a save only when it read none of the changed files."""

from __future__ import annotations

import importlib.util
import py_compile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import Server
from tests.server.test_layer import LOG, write

FILES = {
    "shop/__init__.py": LOG
    + """
log("shop")
import importlib.util


def create_app():
    from flask import Flask

    app = Flask(__name__)
    # Run by path, as alembic runs a migration: no import, so nothing waits before it.
    path = os.path.join(os.path.dirname(__file__), "plugin.py")
    spec = importlib.util.spec_from_file_location("shop_plugin", path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    app.config["PLUGIN"] = plugin.VALUE
    with app.app_context():
        # Imports only inside the app (as CTFd's helpers do): no layer can hold it.
        from shop import ctx
        from shop.views import leaf

    app.register_blueprint(leaf.bp)
    return app
""",
    "shop/ctx.py": """\
from flask import current_app

from shop import log

log("ctx")
print("ctx imported")
current_app.config["CTX"] = "c1"
""",
    "shop/plugin.py": 'VALUE = "p1"\n',
    "shop/views/__init__.py": "",
    "shop/views/leaf.py": """\
import os

from flask import Blueprint, current_app

from shop import log

log("leaf")
bp = Blueprint("leaf", __name__)
TITLE = "leaf-0"


@bp.route("/leaf")
def leaf():
    config = current_app.config
    return f"{TITLE} {config['CTX']} {config['PLUGIN']} ppid={os.getppid()} pid={os.getpid()}"
""",
}

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return build_file_tree(tmp_path / "standby-site", FILES)


@pytest.fixture
def server(shop: Path) -> Iterator[Server]:
    running = Server(shop, ["--app", "shop:create_app"])
    try:
        yield running
    finally:
        running.close()


def importers(root: Path, module: str) -> list[int]:
    lines = (root / "imports.log").read_text().split("\n")
    return [int(line.split()[1]) for line in lines if line.split()[:1] == [module]]


def pid_of(body: str) -> int:
    return int(body.split(" pid=")[1].split()[0].split("<")[0])


def edit_leaf(shop: Path, server: Server, n: int) -> tuple[int, bool]:
    """Save leaf view version ``n``: (the pid that serves it, whether that worker had
    imported ``ctx`` before the save, i.e. it was a standby)."""
    before = importers(shop, "ctx")
    text = FILES["shop/views/leaf.py"].replace('"leaf-0"', f'"leaf-{n}"')
    write(shop / "shop/views/leaf.py", text)
    body = server.wait_for_body("/leaf", lambda b: b.startswith(f"leaf-{n} "))
    pid = pid_of(body)
    return pid, pid in before


def served_by_standby(shop: Path, server: Server, start: int) -> int:
    for n in range(start, start + 15):
        _, standby = edit_leaf(shop, server, n)
        if standby:
            return n
        time.sleep(0.5)  # the standby runs the factory up to the leaf meanwhile
    raise AssertionError(f"no save was served by a standby:\n{server.stderr}")


def test_a_standby_serves_a_save_of_the_module_it_waits_before(shop: Path, server: Server) -> None:
    n = served_by_standby(shop, server, 1)
    pid, _ = edit_leaf(shop, server, n + 1)
    # It imported the leaf after the save (the page shows it), and only once.
    assert importers(shop, "leaf").count(pid) == 1
    # What the factory printed while it waited came out once, after the save.
    assert server.stderr.count("ctx imported") <= len(set(importers(shop, "ctx")))


def test_a_standby_that_read_a_changed_file_never_serves_it(shop: Path, server: Server) -> None:
    n = served_by_standby(shop, server, 1)
    time.sleep(0.5)
    # The next standby has imported ctx (c1) already: it must not serve ctx's change.
    waiting = importers(shop, "ctx")[-1]
    write(shop / "shop/ctx.py", FILES["shop/ctx.py"].replace('"c1"', '"c2"'))
    body = server.wait_for_body("/leaf", lambda b: " c2 " in b)
    assert pid_of(body) != waiting
    # Every save after it shows both changes; none shows the old ctx.
    for m in range(n + 1, n + 4):
        text = FILES["shop/views/leaf.py"].replace('"leaf-0"', f'"leaf-{m}"')
        write(shop / "shop/views/leaf.py", text)
        body = server.wait_for_body("/leaf", lambda b, m=m: b.startswith(f"leaf-{m} "))  # type: ignore[misc]
        assert " c2 " in body
        time.sleep(0.3)


def test_a_standby_that_ran_a_changed_file_by_path_never_serves_it(
    shop: Path, server: Server
) -> None:
    plugin = FILES["shop/plugin.py"]
    # Saved once: the layer leaves it out, and the standby waits before it too - but the
    # factory runs it by path, before the leaf, so the standby has read it by then.
    write(shop / "shop/plugin.py", plugin.replace('"p1"', '"p2"'))
    server.wait_for_body("/leaf", lambda b: " p2 " in b)
    n = served_by_standby(shop, server, 1)
    time.sleep(1.0)
    write(shop / "shop/plugin.py", plugin.replace('"p1"', '"p3"'))
    body = server.wait_for_body("/leaf", lambda b: " p3 " in b)
    assert body.startswith(f"leaf-{n} ")


def test_a_standby_that_ran_a_changed_file_from_its_cached_bytecode_never_serves_it(
    shop: Path, server: Server
) -> None:
    """Run from a valid ``.pyc``, a module opens only the bytecode, never its source: the
    standby must count the source as read all the same (bytecode caching is on where users
    run webkit)."""
    plugin = FILES["shop/plugin.py"]
    write(shop / "shop/plugin.py", plugin.replace('"p1"', '"p2"'))
    server.wait_for_body("/leaf", lambda b: " p2 " in b)
    source = shop / "shop/plugin.py"
    py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)))
    n = served_by_standby(shop, server, 1)
    time.sleep(1.0)
    write(shop / "shop/plugin.py", plugin.replace('"p1"', '"p3"'))
    body = server.wait_for_body("/leaf", lambda b: " p3 " in b)
    assert body.startswith(f"leaf-{n} ")

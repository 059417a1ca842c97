"""The layer: a process that also holds the project's unchanged modules.

Its one rule - a layer serves a change only if no changed file is in it - is what these
tests break: a module it holds changes, a file it read while importing changes, a module
that imports a left-out one (even inside ``try/except ImportError``). Each time the page
must show the code as saved, never older. Nothing here asserts a duration.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server._imports import ProjectCode
from webkit_cli.server._layer import build_layer, real

LOG = """\
import os


def log(name):
    with open(os.path.join(os.path.dirname(__file__), "..", "imports.log"), "a") as f:
        f.write(f"{name} {os.getpid()}\\n")
"""

FILES = {
    "shop/__init__.py": LOG
    + """
log("shop")


def create_app():
    from flask import Flask

    from shop.views import leaf, menu, other

    app = Flask(__name__)
    for module in (leaf, menu, other):
        app.register_blueprint(module.bp)
    return app
""",
    "shop/models.py": 'from shop import log\nlog("models")\nVERSION = "m1"\n',
    "shop/settings.py": """\
import json
from pathlib import Path

from shop import log

log("settings")
GREETING = json.loads(Path(__file__).with_name("settings.json").read_text())["greeting"]
# A file in templates/ is a page to the watcher; this one is read once, at import time.
MOTD = Path(__file__).parent.joinpath("templates", "motd.txt").read_text().strip()
""",
    "shop/templates/motd.txt": "motd-1",
    "shop/settings.json": '{"greeting": "hello"}',
    "shop/views/__init__.py": "",
    "shop/views/leaf.py": """\
import os

from flask import Blueprint

from shop import log

log("leaf")
bp = Blueprint("leaf", __name__)
TITLE = "leaf-0"


@bp.route("/leaf")
def leaf():
    return f"{TITLE} ppid={os.getppid()} pid={os.getpid()}"
""",
    "shop/views/other.py": """\
import os

from flask import Blueprint

from shop import log, models, settings

log("other")
bp = Blueprint("other", __name__)


@bp.route("/other")
def other():
    return (
        f"{models.VERSION} {settings.GREETING} {settings.MOTD} "
        f"ppid={os.getppid()} pid={os.getpid()}"
    )
""",
    # Imports the leaf view, but survives without it: a layer that refused it the import
    # would hold "none" - the page must never show it.
    "shop/views/menu.py": """\
from flask import Blueprint

from shop import log

log("menu")
try:
    from shop.views import leaf
except ImportError:
    leaf = None
bp = Blueprint("menu", __name__)


@bp.route("/menu")
def menu():
    return leaf.TITLE if leaf is not None else "none"
""",
}


def write(path: Path, text: str) -> None:
    """Write like an editor: the new content appears at once."""
    tmp = path.with_name(path.name + ".webkit-test-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def field(body: str, name: str) -> int:
    return int(body.split(f" {name}=")[1].split()[0].split("<")[0])


def importers(root: Path, module: str) -> set[int]:
    lines = (root / "imports.log").read_text().split("\n")
    return {int(line.split()[1]) for line in lines if line.split()[:1] == [module]}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return build_file_tree(tmp_path / "shop-site", FILES)


@pytest.fixture
def server(shop: Path) -> Iterator[Server]:
    running = Server(shop, ["--app", "shop:create_app"])
    try:
        yield running
    finally:
        running.close()


def edit_leaf(shop: Path, server: Server, n: int) -> str:
    """Save leaf view version ``n``; every page after the save shows it, or a newer one."""
    text = FILES["shop/views/leaf.py"].replace('"leaf-0"', f'"leaf-{n}"')
    write(shop / "shop/views/leaf.py", text)
    body = server.wait_for_body("/leaf", lambda b: b.startswith(f"leaf-{n} "))
    assert server.get("/menu")[2].startswith(f"leaf-{n}")  # never "none", never older
    return body


def served_by_layer(shop: Path, server: Server, start: int) -> tuple[int, str]:
    """Edit the leaf view until a layer's worker serves it (the layer is built in the
    background after a change); returns the version and the body."""
    for n in range(start, start + 12):
        body = edit_leaf(shop, server, n)
        if field(body, "ppid") not in server.warm_pids():
            return n, body
        time.sleep(0.3)
    raise AssertionError(f"no reload was served by a layer:\n{server.stderr}")


pytestmark = pytest.mark.slow


def test_a_layer_serves_the_changed_view_and_holds_the_rest(shop: Path, server: Server) -> None:
    n, body = served_by_layer(shop, server, 1)
    worker, layer = field(body, "pid"), field(body, "ppid")
    # The layer is forked from the warm process: the one extra process.
    assert layer in server.children(server.warm_pids()[0])
    # The worker imported the changed view (and the menu, which imports it) itself...
    assert worker in importers(shop, "leaf") and worker in importers(shop, "menu")
    # ...and nothing else: the models, the settings and the other view came from the layer.
    assert layer in importers(shop, "models")
    assert worker not in importers(shop, "models") | importers(shop, "other")
    # The same view, edited again: the layer serves it again.
    body = edit_leaf(shop, server, n + 1)
    assert field(body, "ppid") == layer


def test_a_module_the_layer_holds_changes_and_the_page_is_never_stale(
    shop: Path, server: Server
) -> None:
    _, body = served_by_layer(shop, server, 1)
    layer = field(body, "ppid")
    assert layer in importers(shop, "models")
    # The layer holds the models: it cannot serve their change.
    models = FILES["shop/models.py"]
    write(shop / "shop/models.py", models.replace('"m1"', '"m2"'))
    body = server.wait_for_body("/other", lambda b: b.startswith("m2 "))
    assert field(body, "ppid") != layer
    # Edited again: the next layer left the models out, and any worker shows the save.
    for version in ("m3", "m4"):
        write(shop / "shop/models.py", models.replace('"m1"', f'"{version}"'))
        server.wait_for_body("/other", lambda b, v=version: b.startswith(f"{v} "))  # type: ignore[misc]
    # A file the layer read while importing changes: its reader runs again.
    write(shop / "shop/settings.json", '{"greeting": "bye"}')
    server.wait_for_body("/other", lambda b: b.startswith("m4 bye "))
    write(shop / "shop/settings.json", '{"greeting": "again"}')
    server.wait_for_body("/other", lambda b: b.startswith("m4 again motd-1 "))
    # The same for a file that looks like a page: it was read at import, so a new worker
    # (its reader is left out of the layer by now: the worker read it, the layer saw it).
    write(shop / "shop/templates/motd.txt", "motd-2")
    server.wait_for_body("/other", lambda b: b.startswith("m4 again motd-2 "))
    # Through all of it the leaf view and the menu still follow every save.
    edit_leaf(shop, server, 40)


def test_a_supervisor_killed_hard_leaves_no_layer_and_no_worker(shop: Path, server: Server) -> None:
    _, body = served_by_layer(shop, server, 1)
    assert field(body, "ppid") not in server.warm_pids()
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)
    server.assert_nothing_left(timeout=8)


# -- building a layer, in this process ---------------------------------------------


@pytest.fixture
def pkg(tmp_path: Path) -> Iterator[Path]:
    """A package ``lyr_pkg`` on sys.path, removed (and its modules forgotten) afterwards."""
    root = build_file_tree(
        tmp_path / "lyr",
        {
            "lyr_pkg/__init__.py": "",
            "lyr_pkg/base.py": "REGISTRY = []\n",
            "lyr_pkg/leaf.py": "from lyr_pkg import base\nbase.REGISTRY.append('leaf')\n",
            # Imports the leaf in a way no source scan sees, and survives without it.
            "lyr_pkg/uses_leaf.py": (
                "import importlib\nfrom lyr_pkg import base\nbase.REGISTRY.append('uses')\n"
                "try:\n    leaf = importlib.import_module('lyr_pkg.' + 'leaf')\n"
                "except ImportError:\n    leaf = None\n"
            ),
            "lyr_pkg/sub/__init__.py": "",
            "lyr_pkg/sub/menu.py": "from .. import uses_leaf\n",
            "lyr_pkg/reads.py": (
                "from pathlib import Path\n"
                "DATA = Path(__file__).with_name('data.yaml').read_text()\n"
            ),
            "lyr_pkg/data.yaml": "a: 1\n",
            # Each works only inside the app's context (as CTFd's helpers do).
            "lyr_pkg/ctx_a.py": "raise RuntimeError('Working outside of application context.')\n",
            "lyr_pkg/ctx_b.py": "from lyr_pkg import base\nraise RuntimeError('no app')\n",
            "lyr_pkg/helpers/__init__.py": "from lyr_pkg import base\n",
            "lyr_pkg/helpers/models.py": "X = 1\n",
            "lyr_pkg/admin.py": "from lyr_pkg.helpers.models import X\n",
        },
    )
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.split(".")[0] == "lyr_pkg"]:
            del sys.modules[name]


CANDIDATES = [
    "lyr_pkg",
    "lyr_pkg.base",
    "lyr_pkg.uses_leaf",
    "lyr_pkg.leaf",
    "lyr_pkg.reads",
    "lyr_pkg.sub",
    "lyr_pkg.sub.menu",
]


def test_a_module_that_needs_a_left_out_one_abandons_the_layer(pkg: Path) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    leaf = real(pkg / "lyr_pkg/leaf.py")
    report = build_layer(code, exclude=[leaf], candidates=CANDIDATES, skip=())
    # uses_leaf caught the refusal and went on: its half-run body made it unusable.
    assert not report.ok
    assert report.exclude == [real(pkg / "lyr_pkg/uses_leaf.py")]
    assert "lyr_pkg.leaf" not in sys.modules


def test_a_layer_leaves_out_what_changed_and_what_imports_it(pkg: Path) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    leaf, uses = real(pkg / "lyr_pkg/leaf.py"), real(pkg / "lyr_pkg/uses_leaf.py")
    report = build_layer(code, exclude=[leaf, uses], candidates=CANDIDATES, skip=())
    assert report.ok, report.reason
    assert report.modules == ["lyr_pkg", "lyr_pkg.base", "lyr_pkg.reads", "lyr_pkg.sub"]
    # menu imports uses_leaf (a relative import, read from its source): left out as well.
    assert report.exclude == [real(pkg / "lyr_pkg/sub/menu.py")]
    assert leaf not in report.files and uses not in report.files
    assert "lyr_pkg.leaf" not in sys.modules and "lyr_pkg.uses_leaf" not in sys.modules
    # The file read at import time is tracked, with the module that read it.
    data = real(pkg / "lyr_pkg/data.yaml")
    assert data in report.files
    assert report.readers[data] == real(pkg / "lyr_pkg/reads.py")
    assert real(pkg / "lyr_pkg/base.py") in report.files


def test_every_module_that_fails_is_found_in_one_round(pkg: Path) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    candidates = [*CANDIDATES, "lyr_pkg.ctx_a", "lyr_pkg.ctx_b"]
    report = build_layer(code, exclude=[], candidates=candidates, skip=())
    assert not report.ok
    assert "lyr_pkg.ctx_a" in report.reason
    # Both, not one per round: the next layer leaves both out and is of use.
    assert {real(pkg / "lyr_pkg/ctx_a.py"), real(pkg / "lyr_pkg/ctx_b.py")} <= set(report.exclude)


def test_a_module_inside_a_left_out_package_is_left_out_with_its_importers(pkg: Path) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    helpers = real(pkg / "lyr_pkg/helpers/__init__.py")
    candidates = ["lyr_pkg", "lyr_pkg.base", "lyr_pkg.helpers", "lyr_pkg.helpers.models"]
    report = build_layer(
        code, exclude=[helpers], candidates=[*candidates, "lyr_pkg.admin"], skip=()
    )
    # admin imports lyr_pkg.helpers.models, which runs the left-out package first: found
    # from the sources, so this layer is of use at once.
    assert report.ok, report.reason
    assert set(report.exclude) == {
        real(pkg / "lyr_pkg/helpers/models.py"),
        real(pkg / "lyr_pkg/admin.py"),
    }
    assert report.modules == ["lyr_pkg", "lyr_pkg.base"]


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == prefix]:
        del sys.modules[name]


def test_what_the_sources_import_is_kept_for_the_next_layer_by_content(
    pkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    leaf, uses = real(pkg / "lyr_pkg/leaf.py"), real(pkg / "lyr_pkg/uses_leaf.py")
    menu = real(pkg / "lyr_pkg/sub/menu.py")
    cache = tmp_path / "run"
    cache.mkdir()

    def build() -> list[str]:
        _forget("lyr_pkg")
        report = build_layer(
            code, exclude=[leaf, uses], candidates=CANDIDATES, skip=(), cache_dir=str(cache)
        )
        assert report.ok, report.reason
        return report.exclude

    assert build() == [menu]
    # The next layer reads the sources' imports back: nothing is parsed again.
    import ast

    parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: pytest.fail("parsed again"))
    assert build() == [menu]
    # menu no longer imports uses_leaf: its bytes differ, so it is read again.
    monkeypatch.setattr(ast, "parse", parse)
    write(pkg / "lyr_pkg/sub/menu.py", "VALUE = 1\n")
    assert build() == []


def test_the_apps_own_module_is_never_layered(pkg: Path) -> None:
    code = ProjectCode(pkg, [pkg], editable=[])
    report = build_layer(
        code,
        exclude=[],
        candidates=["lyr_pkg.base", "lyr_pkg.reads"],
        skip=(),
        app_modules=["lyr_pkg.reads"],
    )
    assert report.ok and report.modules == ["lyr_pkg", "lyr_pkg.base"]
    assert os.fspath(real(pkg / "lyr_pkg/data.yaml")) not in report.files


def test_layer_off_serves_every_change_from_the_warm_process(shop: Path) -> None:
    server = Server(shop, ["--app", "shop:create_app"], env={"WEBKIT_LAYER": "0"})
    try:
        for n in range(1, 4):
            body = edit_leaf(shop, server, n)
            assert field(body, "ppid") in server.warm_pids()
            time.sleep(0.3)
    finally:
        server.close()


def test_a_project_module_that_starts_a_thread_turns_the_layer_off(shop: Path) -> None:
    files = dict(FILES)
    files["shop/models.py"] = (
        "import threading\nimport time\n\nfrom shop import log\n\nlog('models')\n"
        "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
        'VERSION = "m1"\n'
    )
    build_file_tree(shop, files)
    server = Server(shop, ["--app", "shop:create_app"])
    try:
        edit_leaf(shop, server, 1)
        server.wait_for_output("forking a layer of it is unsafe")
        for n in range(2, 4):  # every save still served, by the warm process
            body = edit_leaf(shop, server, n)
            assert field(body, "ppid") in server.warm_pids()
            time.sleep(0.3)
        assert server.stderr.count("forking a layer of it is unsafe") == 1
    finally:
        server.close()

"""The warm process: what it imports, and what a forked worker must not inherit from it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server._imports import (
    imported_names,
    is_project_path,
    own_top_level_names,
    third_party_imports,
)

APP = """\
import os
from flask import Flask
import click
from mysite import helpers
from mysite.views import page
import json, threadingmod_for_test

app = Flask(__name__)


@app.route("/")
def index():
    return f"pid={os.getpid()}"
"""


def test_only_third_party_imports_are_warmed(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {
            "app.py": "import click\nimport mysite\nfrom . import x\nimport not_installed_zz\n",
            "src/mysite/__init__.py": "from mysite import views\nimport rich.table\n",
            "src/mysite/views.py": "import markupsafe\nfrom dotenv import load_dotenv\n",
            "src/mysite/broken.py": "def f(:\n",
            "tests/test_x.py": "import pytest\n",
            ".venv/pyvenv.cfg": "",
            ".venv/lib/bad.py": "import should_not_be_scanned\n",
        },
    )
    sources = [root / "src", root]
    assert own_top_level_names(sources) >= {"mysite", "app"}
    names = imported_names([root / "app.py", root / "src/mysite/__init__.py"])
    # Submodules count: ``import sqlalchemy`` alone would leave ``sqlalchemy.orm`` to each worker.
    assert names == {"click", "mysite", "mysite.views", "not_installed_zz", "rich.table"}
    warmed = third_party_imports(root, sources)
    tops = {name.split(".")[0] for name in warmed}
    assert "mysite" not in tops and "app" not in tops  # the project's own: never
    assert "not_installed_zz" not in tops
    assert "pytest" not in tops  # tests are not scanned
    assert "should_not_be_scanned" not in tops
    assert tops <= {"click", "rich", "markupsafe", "dotenv"}
    assert "dotenv.load_dotenv" in warmed  # a name that may be a submodule is tried


def test_a_virtual_environment_inside_the_project_is_third_party(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert is_project_path(str(root / "src" / "pkg" / "__init__.py"), root)
    venv_file = root / ".venv" / "lib" / "python3.11" / "site-packages" / "flask" / "app.py"
    assert not is_project_path(str(venv_file), root)
    assert not is_project_path("/usr/lib/python3/json/__init__.py", root)


def _fd_targets(pid: int) -> set[str]:
    targets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.add(str(fd.readlink()))
        except OSError:
            continue
    return targets


def _signal_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(field)


@pytest.fixture
def plain_project(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "p",
        {
            "app.py": APP.replace(
                "from mysite import helpers\nfrom mysite.views import page\n", ""
            ).replace(", threadingmod_for_test", "")
        },
    )


@pytest.fixture
def server(plain_project: Path) -> Iterator[Server]:
    server = Server(plain_project)
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_forked_worker_does_not_inherit_the_warm_process_state(server: Server) -> None:
    worker = int(server.get("/")[2].split("pid=")[1].split("<")[0])
    (warm,) = server.warm_pids()
    # Forked from the warm process (its other child, if any, is the layer).
    assert worker in server.children(warm)

    # Files: the warm process's control socket and wake-up pipe are closed in the worker.
    warm_fds = _fd_targets(warm)
    worker_fds = _fd_targets(worker)
    private = {t for t in warm_fds if t.startswith(("pipe:", "socket:"))}
    shared = private & worker_fds
    # Only the listening socket is shared with the warm process.
    assert len(shared) == 1, (warm_fds, worker_fds)

    # Signals: the warm process catches SIGCHLD and SIGTERM; the worker does not.
    sigchld, sigterm, sigint = 1 << (17 - 1), 1 << (15 - 1), 1 << (2 - 1)
    assert _signal_mask(warm, "SigCgt") & sigchld
    assert not _signal_mask(worker, "SigCgt") & (sigchld | sigterm)
    assert _signal_mask(worker, "SigIgn") & sigint  # Ctrl-C is the supervisor's business


@pytest.mark.slow
def test_threads_started_by_an_import_make_the_server_spawn_instead(tmp_path: Path) -> None:
    """A fork copies only one thread: a warm process with threads must not fork."""
    site = build_file_tree(
        tmp_path / "site-extra",
        {
            "threadingmod_for_test.py": (
                "import threading, time\n"
                "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
            )
        },
    )
    project = build_file_tree(
        tmp_path / "p",
        {"app.py": APP.replace("from mysite import helpers\nfrom mysite.views import page\n", "")},
    )
    server = Server(project, env={"PYTHONPATH": str(site)})
    try:
        server.wait_for_output("forking is unsafe; spawning workers instead")
        status, _, body = server.get("/", headers={"Accept": "text/plain"})
        assert status == 200, (body, server.stderr)
        assert server.warm_pids() == []
    finally:
        server.close()


@pytest.mark.slow
def test_threads_started_by_a_learned_import_switch_to_spawn_at_the_next_reload(
    tmp_path: Path,
) -> None:
    """A module only the running app imports (dynamically) is learned by the warm process
    after the first worker; if it starts a thread there, the next reload spawns instead."""
    site = build_file_tree(
        tmp_path / "site-extra",
        {
            "lazythreads_for_test.py": (
                "import threading, time\n"
                "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
            )
        },
    )
    app = (
        "import importlib, os\nfrom flask import Flask\n"
        "importlib.import_module('lazythreads_for_test')\n"
        "app = Flask(__name__)\nVERSION = 'v1'\n\n"
        "@app.route('/')\ndef index():\n    return f'{VERSION} pid={os.getpid()}'\n"
    )
    project = build_file_tree(tmp_path / "p", {"app.py": app})
    server = Server(project, env={"PYTHONPATH": str(site)})
    try:
        assert server.get("/")[2].startswith("v1")
        time.sleep(0.3)  # the warm process learns (imports) the module meanwhile
        (project / "app.py").write_text(app.replace("'v1'", "'v2'"), encoding="utf-8")
        server.wait_for_body("/", lambda b: b.startswith("v2"))
        assert "forking is unsafe; spawning workers instead" in server.stderr
        assert "exited" not in server.stderr  # no worker was lost on the way
    finally:
        server.close()


SHOP_INIT = """\
import importlib

from flask import Flask


def create_app():
    app = Flask(__name__)
    from shop import views

    app.register_blueprint(views.bp)
    if LOAD_PLUGINS:
        importlib.import_module("shop_plugin")  # as entry points load plugins: unseen by a parser
    return app


LOAD_PLUGINS = False
"""

SHOP_VIEWS = """\
import os

from flask import Blueprint

bp = Blueprint("views", __name__)
VERSION = "v1"


@bp.route("/")
def index():
    return f"{VERSION} pid={os.getpid()}"
"""

#: An installed (not editable) plugin that imports the project's views when imported,
#: like FlaskBB's plugins.
PLUGIN = "from shop import views\n\nSEEN_VERSION = views.VERSION\n"


def _install_plugin(tmp_path: Path) -> Path:
    """The plugin in a site-packages folder outside the project, with its dist-info."""
    site = tmp_path / "env" / "lib" / "python3" / "site-packages"
    build_file_tree(
        site,
        {
            "shop_plugin/__init__.py": PLUGIN,
            "shop_plugin-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shop-plugin\n"
            "Version: 1.0\n",
            "shop_plugin-1.0.dist-info/RECORD": "",
            "shop_plugin-1.0.dist-info/INSTALLER": "pip\n",
        },
    )
    return site


@pytest.mark.slow
@pytest.mark.parametrize("how", ["imported at top level", "loaded by the app factory"])
def test_a_plugin_that_imports_the_project_never_makes_a_reload_stale(
    tmp_path: Path, how: str
) -> None:
    """The warm process imports third-party modules; one that imports the project's own
    views would fork them, unchanged, into every worker: "reloaded", yet the old code."""
    top_level = how == "imported at top level"
    project = build_file_tree(
        tmp_path / "p",
        {
            "app.py": ("import shop_plugin\n" if top_level else "")
            + "from shop import create_app\n\napp = create_app()\n",
            "shop/__init__.py": SHOP_INIT.replace(
                "LOAD_PLUGINS = False", f"LOAD_PLUGINS = {not top_level}"
            ),
            "shop/views.py": SHOP_VIEWS,
        },
    )
    site = _install_plugin(tmp_path)
    server = Server(project, env={"PYTHONPATH": str(site)})
    warning = "Importing shop_plugin imports the project's own modules"
    try:
        assert server.get("/")[2].startswith("v1")
        # Top level: found at warm-up. Factory: learned from the first worker, then found.
        server.wait_for_output(warning)
        for n in (2, 3):
            (project / "shop" / "views.py").write_text(
                SHOP_VIEWS.replace('"v1"', f'"v{n}"'), encoding="utf-8"
            )
            server.wait_for_output("shop/views.py changed · reloaded in", count=n - 1)
            # Said "reloaded": the very next request is served by the new code.
            status, _, body = server.get("/")
            assert status == 200 and body.startswith(f"v{n} "), (body, server.stderr)
        assert server.stderr.count(warning) == 1
        assert "spawn" not in server.stderr  # still forked from a (clean) warm process
        assert len(server.warm_pids()) >= 1
    finally:
        server.close()


def test_only_imports_made_at_import_time_are_warmed(tmp_path: Path) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {
            "app.py": (
                "from __future__ import annotations\n"
                "from typing import TYPE_CHECKING\n"
                "import top_a\n"
                "try:\n    import top_b\nexcept ImportError:\n    top_b = None\n"
                "if TYPE_CHECKING:\n    import typing_only\nelse:\n    import top_c\n"
                "class Config:\n    import top_d\n"
                "    def method(self):\n        import in_method\n"
                "def view():\n    import in_function\n"
                "async def handler():\n    from in_async import x\n"
                "with open(__file__):\n    import top_e\n"
            )
        },
    )
    names = imported_names([root / "app.py"])
    assert names == {"typing", "typing.TYPE_CHECKING", "top_a", "top_b", "top_c", "top_d", "top_e"}


@pytest.mark.slow
def test_a_module_imported_inside_a_function_is_not_imported_by_the_warm_process(
    tmp_path: Path,
) -> None:
    """Deferring an import into a function is how a slow import is kept off start-up."""
    marker = tmp_path / "imported"
    site = build_file_tree(
        tmp_path / "site-extra",
        {
            "deferred_for_test.py": (
                "import os\nfrom pathlib import Path\n\n"
                "Path(os.environ['DEFERRED_MARKER']).write_text(str(os.getpid()))\n"
            )
        },
    )
    app = (
        "import os\nfrom flask import Flask\n\napp = Flask(__name__)\nVERSION = 'v1'\n\n\n"
        "@app.route('/')\ndef index():\n    return f'{VERSION} pid={os.getpid()}'\n\n\n"
        "@app.route('/later')\ndef later():\n    import deferred_for_test\n\n"
        "    return 'imported'\n"
    )
    project = build_file_tree(tmp_path / "p", {"app.py": app})
    server = Server(project, env={"PYTHONPATH": str(site), "DEFERRED_MARKER": str(marker)})
    try:
        assert server.get("/")[2].startswith("v1")  # the warm process has warmed (it forked)
        # A reload: what the first worker imported has been learned by then.
        (project / "app.py").write_text(app.replace("'v1'", "'v2'"), encoding="utf-8")
        server.wait_for_body("/", lambda b: b.startswith("v2"))
        assert not marker.exists()
        assert server.get("/later")[2].startswith("imported")  # when called, it is imported
        assert marker.exists()
    finally:
        server.close()


def test_packages_installed_in_editable_mode_are_the_projects_code(tmp_path: Path) -> None:
    import json

    from webkit_cli.server._imports import ProjectCode, editable_dirs

    shared = tmp_path / "shared-lib"
    site = build_file_tree(
        tmp_path / "site-packages",
        {
            "shared_lib-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shared-lib\n",
            "shared_lib-1.0.dist-info/direct_url.json": json.dumps(
                {"url": shared.as_uri(), "dir_info": {"editable": True}}
            ),
            "wheel_lib-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: wheel-lib\n",
            "wheel_lib-1.0.dist-info/direct_url.json": json.dumps(
                {"url": (tmp_path / "wheels").as_uri(), "archive_info": {}}
            ),
        },
    )
    assert editable_dirs([str(site)]) == [shared.resolve()]
    code = ProjectCode(tmp_path / "p", [tmp_path / "p"], editable=[shared])
    assert code.owns_location(str(shared / "src" / "shared_lib" / "__init__.py"))
    assert code.owns_location(str(tmp_path / "p" / "app.py"))
    assert not code.owns_location(str(site / "wheel_lib" / "__init__.py"))
    # webkit's own editable checkout (this one) never counts: it is what the warm process
    # is for.
    import webkit_cli

    here = Path(webkit_cli.__file__).resolve().parent.parent
    assert here not in editable_dirs()


def test_a_venv_inside_an_editable_project_is_not_the_projects_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask's tutorial layout: ``python -m venv .venv`` in the project, then ``pip install
    -e .``. The editable install's source folder is the project root, which holds the
    venv: its site-packages (Flask and the rest) stays third-party."""
    import json

    from webkit_cli.server._imports import ProjectCode, editable_dirs

    project = tmp_path / "flaskr_zz"
    site = project / ".venv" / "lib" / "python3.11" / "site-packages"
    build_file_tree(
        project,
        {
            "flaskr_zz/__init__.py": "",
            ".venv/lib/python3.11/site-packages/venvdep_zz/__init__.py": "X = 1\n",
            ".venv/lib/python3.11/site-packages/flaskr_zz-1.0.dist-info/METADATA": (
                "Metadata-Version: 2.1\nName: flaskr_zz\n"
            ),
            ".venv/lib/python3.11/site-packages/flaskr_zz-1.0.dist-info/direct_url.json": (
                json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
            ),
        },
    )
    editable = editable_dirs([str(site)])
    assert editable == [project.resolve()]
    code = ProjectCode(project, [project], editable=editable)
    assert not code.owns_location(str(site / "venvdep_zz" / "__init__.py"))
    assert code.owns_location(str(project / "flaskr_zz" / "__init__.py"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "venvdep_zz", raising=False)
    assert code.is_third_party("venvdep_zz")
    assert not code.is_third_party("flaskr_zz")
    assert code.loaded(["venvdep_zz"]) == []


def test_an_import_that_brings_in_the_project_is_found_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webkit_cli.server._imports import ProjectCode
    from webkit_cli.server._warm import warm_imports

    project = build_file_tree(
        tmp_path / "p", {"taintproj_zz/__init__.py": "", "taintproj_zz/views.py": "X = 1\n"}
    )
    site = build_file_tree(
        tmp_path / "site",
        {
            "taintplug_zz.py": "import taintproj_zz.views\n",
            "cleanplug_zz.py": "import json\n",
            # Fails after bringing the project in: still found out.
            "halfplug_zz.py": "import taintproj_zz\nimport no_such_dependency_zz\n",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(project))
    names = ("taintproj_zz", "taintproj_zz.views", "taintplug_zz", "cleanplug_zz", "halfplug_zz")
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    code = ProjectCode(project, [project], editable=[])
    try:
        assert code.is_third_party("taintplug_zz") and not code.is_third_party("taintproj_zz")
        warmed = warm_imports(["halfplug_zz"], code)
        assert warmed.tainting == {"halfplug_zz": ["taintproj_zz"]}
        warmed = warm_imports(["cleanplug_zz", "taintplug_zz"], code)
        assert warmed.done == ["cleanplug_zz", "taintplug_zz"]
        assert warmed.tainting == {"taintplug_zz": ["taintproj_zz.views"]}
        assert code.loaded() == ["taintproj_zz", "taintproj_zz.views"]
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_a_project_folder_named_like_a_stdlib_module_does_not_claim_it(tmp_path: Path) -> None:
    import email.message  # noqa: F401 - loaded, as Werkzeug loads it

    from webkit_cli.server._imports import ProjectCode

    root = build_file_tree(tmp_path / "p", {"email/welcome.txt": "hi", "app.py": ""})
    code = ProjectCode(root, [root], editable=[])
    assert "email" in code.own
    assert "email" not in code.loaded() and "email.message" not in code.loaded()


def test_a_forked_worker_takes_the_project_resolved_by_the_warm_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webkit_cli import project as project_module
    from webkit_cli.server import worker
    from webkit_cli.server.config import ServerConfig

    root = build_file_tree(
        tmp_path / "site",
        {
            "pyproject.toml": '[project]\nname = "site"\n\n[tool.webkit]\napp = "site_app:app"\n',
            ".env": "PREPARED_GREETING=hello\n",
        },
    )
    monkeypatch.setenv("PREPARED_GREETING", "")  # removed again after the test
    monkeypatch.delenv("PREPARED_GREETING")
    monkeypatch.setattr(worker, "_prepared", None)
    prepared = worker.prepare_project(str(root), None)
    assert prepared is not None
    assert os.environ["PREPARED_GREETING"] == "hello"  # loaded once, for every worker

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker resolved the project again")

    monkeypatch.setattr(project_module, "find_project", not_again)
    ctx = worker._prepared_context(ServerConfig(project_dir=str(root)))
    assert ctx is not None and ctx is not prepared
    assert ctx.project.root == root.resolve() and ctx.app_target == "site_app:app"
    assert ctx.app_source is not None and ctx.app_source.origin.startswith("[tool.webkit]")
    # Another app or project than the one prepared: the worker resolves its own.
    assert worker._prepared_context(ServerConfig(project_dir=str(root), app="x:y")) is None
    assert worker._prepared_context(ServerConfig(project_dir=str(tmp_path))) is None


def test_a_project_the_warm_process_cannot_resolve_is_left_to_each_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webkit_cli.server import worker

    root = build_file_tree(
        tmp_path / "bad", {"pyproject.toml": '[project]\nname = "bad"\n\n[tool.webkit]\napp = 3\n'}
    )
    monkeypatch.setattr(worker, "_prepared", None)
    assert worker.prepare_project(str(root), None) is None
    assert worker._prepared is None

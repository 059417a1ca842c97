"""A generated project's reload is served by the layer: its package stays imported.

The templates' factory imports the project's modules itself, so importing the package
loads none of them and ``webkit run --reload``'s layer (``webkit_cli/server/_layer.py``)
can hold the package and every module but the one saved. Each project here records, at
import time, the process that imported its package, its models and the edited view; a save
of the view must be served by a worker whose parent (the layer) imported the package and
the models, while the worker imported only the view. Were the package to import the view at
the top, the layer could not hold the package, and the worker would import it itself.
Nothing here asserts a duration.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.templates.conftest import (
    URL_PATTERN,
    Server,
    app_env,
    child_env,
    generate,
    project_package,
    start_server,
)

pytestmark = pytest.mark.slow

#: Appended to a module: the process that imported it.
LOADED_BY = "\nimport os as _webkit_test_os  # noqa: E402\n\nLOADED_BY = _webkit_test_os.getpid()\n"

#: The view each template's user edits most, and its blueprint's variable.
VIEWS = {"site": "views.py", "api": "meta.py"}

PROBE = """

VERSION = "v0"


@bp.get("/__layer")
def layer_probe() -> str:
    import os
    import sys

    package = sys.modules[__name__.rpartition(".")[0]]
    models = sys.modules[package.__name__ + ".models"]
    return (
        f"{VERSION} worker={os.getpid()} parent={os.getppid()} package={package.LOADED_BY} "
        f"models={models.LOADED_BY} view={LOADED_BY}"
    )
"""


def fields(body: str) -> dict[str, int]:
    return {k: int(v) for k, v in (part.split("=") for part in body.split()[1:])}


def warm_pids(server: Server) -> list[int]:
    """The warm processes: the supervisor's children running ``_warm``."""
    pids = []
    for pid in server.children(server.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"webkit_cli.server._warm" in cmdline:
            pids.append(pid)
    return pids


def wait_for_version(server: Server, version: str, timeout: float = 20.0) -> str:
    import urllib.request

    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.url + "/__layer", timeout=5) as response:
                body = response.read().decode().split("<", 1)[0].strip()
        except OSError:
            body = ""
        if body.startswith(version + " "):
            return body
        time.sleep(0.05)
    raise AssertionError(f"never served {version} (last: {body!r}):\n{server.stdout}")


@pytest.fixture
def reloading() -> Iterator[Callable[[Path], Server]]:
    """``reloading(project)``: ``webkit run --reload``, stopped (and checked for leftovers) when
    the test ends; unlike the ``serve`` of ``conftest.py``, without ``flask db upgrade``: the
    probe reads no table, and the upgrade is one more import of the whole app."""
    servers: list[Server] = []

    def start(project: Path) -> Server:
        command = [sys.executable, "-m", "webkit_cli", "run", "--port", "0", "--reload"]
        env = child_env(app_env(project))
        servers.append(start_server(command, cwd=project, env=env, url_pattern=URL_PATTERN))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("template", ["site", "api"])
def test_a_saved_view_is_served_by_the_layer_that_holds_the_package(
    template: str, tmp_path: Path, reloading: Callable[[Path], Server]
) -> None:
    project = generate(template, tmp_path)
    src = project / "src" / project_package(project)
    for name in ("__init__.py", "models.py"):
        path = src / name
        path.write_text(path.read_text() + LOADED_BY)
    view = src / VIEWS[template]
    source = view.read_text() + LOADED_BY + PROBE
    view.write_text(source)
    server = reloading(project)
    wait_for_version(server, "v0")

    # The layer is built in the background after a first reload: a few saves at most.
    for n in range(1, 10):
        view.write_text(source.replace('"v0"', f'"v{n}"'))
        body = wait_for_version(server, f"v{n}")
        seen = fields(body)
        if seen["parent"] not in warm_pids(server):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no save was served by a layer:\n{server.stdout}")
    layer, worker = seen["parent"], seen["worker"]
    # The layer is forked from the warm process...
    assert layer in server.children(warm_pids(server)[0])
    # ...and imported the package and the models; the worker imported only the saved view.
    assert seen["package"] == layer, body
    assert seen["models"] == layer, body
    assert seen["view"] == worker, body

    # The next save of the same view: the same layer again, never older code.
    view.write_text(source.replace('"v0"', '"v-next"'))
    again = fields(wait_for_version(server, "v-next"))
    assert again["parent"] == layer and again["package"] == layer
    assert again["view"] == again["worker"] != worker

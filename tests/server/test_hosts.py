"""DNS rebinding: the dev server answers only Host values that name it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.test import Client

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.commands.run import run_command
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.hosts import HostPolicy, host_name, normalize_allowed_hosts
from webkit_cli.server.wsgi import build_app

ATTACKER = "rebind.attacker.example"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("Rebind.Attacker.Example.:80", ATTACKER),
    ],
)
def test_host_name_drops_port_brackets_case_and_final_dot(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "header",
    [
        "localhost",
        "localhost:5000",
        "app.localhost:8000",
        "a.b.localhost",
        "127.0.0.1:8000",
        "127.8.9.10",
        "[::1]:8000",
        # Any IP literal, like Vite: a rebinding attack needs a name the attacker controls.
        "192.168.1.5:8000",
        "[fe80::1]",
        None,  # no Host: not a browser
        "",
    ],
)
def test_loopback_names_and_addresses_are_answered_by_default(header: str | None) -> None:
    assert HostPolicy("127.0.0.1").allows(header)


@pytest.mark.parametrize(
    "header",
    [
        ATTACKER,
        f"{ATTACKER}:8000",
        "localhost.attacker.example",
        "127.0.0.1.attacker.example",
        "notlocalhost",
        "2130706433",  # not the dotted form a browser sends for an address
    ],
)
def test_other_names_are_refused_by_default(header: str) -> None:
    assert not HostPolicy("127.0.0.1").allows(header)


def test_the_bound_host_name_is_answered() -> None:
    policy = HostPolicy("devbox.lan")
    assert policy.allows("devbox.lan:8000")
    assert policy.allows("DEVBOX.LAN")
    assert not policy.allows("other.lan")


def test_allowed_hosts_exact_and_with_subdomains() -> None:
    policy = HostPolicy("0.0.0.0", ["myapp.test", ".corp.example"])
    assert policy.allows("myapp.test:8000")
    assert not policy.allows("sub.myapp.test")
    assert policy.allows("corp.example")
    assert policy.allows("a.b.corp.example")
    assert not policy.allows("evilcorp.example")
    assert not policy.allows(ATTACKER)


def test_star_answers_any_host() -> None:
    assert HostPolicy("127.0.0.1", ["*"]).allows(ATTACKER)


def test_allowed_hosts_are_normalised_and_comma_lists_split() -> None:
    assert normalize_allowed_hosts(["A.test, b.test.", "a.test", " "]) == ("a.test", "b.test")


@pytest.mark.parametrize("value", ["http://x.test/", "a b", "*.test", "user@x.test", ".."])
def test_a_value_that_is_not_a_host_name_is_refused_with_the_fix(value: str) -> None:
    with pytest.raises(ValueError, match=r"--allowed-host .* is not a host name: give a name"):
        normalize_allowed_hosts([value])


def test_config_carries_allowed_hosts_across_processes() -> None:
    config = ServerConfig.from_options(allowed_hosts=["MyApp.test"])
    assert config.allowed_hosts == ("myapp.test",)
    assert ServerConfig.from_json(config.to_json()) == config


def test_cli_option_and_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = run_command.make_context("run", ["--allowed-host", "a.test", "--allowed-host", "b.test"])
    assert ctx.params["allowed_hosts"] == ("a.test", "b.test")
    monkeypatch.setenv("WEBKIT_ALLOWED_HOSTS", "c.test d.test")
    ctx = run_command.make_context("run", [])
    assert ctx.params["allowed_hosts"] == ("c.test", "d.test")


def test_cli_refuses_a_bad_allowed_host_with_one_error_line() -> None:
    result = CliRunner().invoke(run_command, ["--allowed-host", "http://x.test/"])
    assert result.exit_code == 2
    assert "--allowed-host 'http://x.test/' is not a host name" in result.output
    assert "Traceback" not in result.output


# -- the WSGI layer ---------------------------------------------------------------------


def flask_client(**options: object) -> Client:
    app = Flask("hosts_app")

    @app.get("/")
    def index() -> str:
        return "secret page"

    config = ServerConfig.from_options(reload=False, **options)  # type: ignore[arg-type]
    return Client(build_app(app, config=config, hub=None, error=None))


def test_refused_host_gets_a_plain_403_naming_the_option() -> None:
    response = flask_client().get("/", headers={"Host": ATTACKER})
    assert response.status_code == 403
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "secret page" not in text
    assert f"--allowed-host {ATTACKER}" in text
    assert "WEBKIT_ALLOWED_HOSTS" in text


def test_allowed_host_reaches_the_app() -> None:
    client = flask_client(allowed_hosts=[ATTACKER])
    assert client.get("/", headers={"Host": ATTACKER}).get_data(as_text=True) == "secret page"
    assert flask_client().get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_a_hostile_host_is_not_echoed_raw() -> None:
    response = flask_client().get("/", headers={"Host": "evil\x1b[31m.example"})
    assert response.status_code == 403
    assert "\x1b" not in response.get_data(as_text=True)


def test_the_import_error_page_is_refused_too(tmp_path: Path) -> None:
    try:
        raise KeyError("DATABASE_URL")
    except KeyError as exc:
        error: BaseException = exc
    config = ServerConfig.from_options(reload=False)
    client = Client(build_app(None, config=config, hub=None, error=error))
    response = client.get("/", headers={"Host": ATTACKER})
    assert response.status_code == 403
    assert "DATABASE_URL" not in response.get_data(as_text=True)


# -- the real server --------------------------------------------------------------------

DEBUG_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "home page"


@app.get("/boom")
def boom():
    secret = "s3cr3t-in-a-local"
    raise LookupError("no such thing in the view")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # The generated projects ship FLASK_DEBUG=1: the traceback page shows source and paths.
    return build_file_tree(tmp_path / "rebind", {"app.py": DEBUG_APP, ".env": "FLASK_DEBUG=1\n"})


@pytest.mark.slow
def test_rebinding_host_gets_403_and_no_traceback_even_in_debug(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project, "--no-reload")
    # The traceback page is really there for the developer...
    status, _, body = server.get("/boom", headers={"Host": f"localhost:{server.port}"})
    assert status == 500
    assert "LookupError" in body
    # ...and not for a page that rebinds its own name to 127.0.0.1.
    for path in ("/boom", "/", "/__webkit/livereload.js"):
        status, headers, body = server.get(path, headers={"Host": f"{ATTACKER}:{server.port}"})
        assert status == 403, path
        assert headers["content-type"].startswith("text/plain")
        assert "--allowed-host" in body
        for leak in ("Traceback", "LookupError", "app.py", "home page", str(project)):
            assert leak not in body, (path, leak)


@pytest.mark.slow
def test_allowed_host_option_is_answered(project: Path, serve: Callable[..., Server]) -> None:
    server = serve(project, "--no-reload", "--allowed-host", "myapp.test")
    assert server.get("/", headers={"Host": f"myapp.test:{server.port}"})[2] == "home page"
    assert server.get("/", headers={"Host": ATTACKER})[0] == 403


@pytest.mark.slow
def test_star_in_the_environment_opts_out(project: Path) -> None:
    server = Server(project, ["--no-reload"], env={"WEBKIT_ALLOWED_HOSTS": "*"})
    try:
        assert server.get("/", headers={"Host": ATTACKER})[2] == "home page"
        assert server.get("/", headers={"Host": f"{ATTACKER}:{server.port}"})[0] == 200
    finally:
        server.close()


def test_the_debugger_console_trusts_the_allowed_hosts_too() -> None:
    from werkzeug.debug import DebuggedApplication

    config = ServerConfig.from_options(reload=False, debug=True, allowed_hosts=["myapp.test", "*"])
    layer: object = build_app(Flask("dbg"), config=config, hub=None, error=None)
    while not isinstance(layer, DebuggedApplication):
        layer = getattr(layer, "app")  # noqa: B009
    assert "myapp.test" in layer.trusted_hosts
    assert "*" not in layer.trusted_hosts

"""The start banner and the one-line reload messages, rendered into a string."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import build_file_tree
from webkit_cli.project import EnvSetting
from webkit_cli.server import describe_app
from webkit_cli.server.banner import BannerInfo, build_banner, reload_line
from webkit_cli.server.config import ServerConfig


def render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


INFO = BannerInfo(
    url="http://127.0.0.1:8000/",
    app="mysite:create_app (from [tool.webkit] in pyproject.toml)",
    project="/home/me/mysite",
    mode="workers forked from a warm process",
    watched=["./ (top level)", "src/", "tests/"],
)


def test_banner_shows_url_app_reload_state_and_watches() -> None:
    text = render(build_banner(ServerConfig.from_options(), INFO))
    assert "http://127.0.0.1:8000/" in text
    assert "mysite:create_app (from [tool.webkit] in pyproject.toml)" in text
    assert re.search(r"Reload\s+on \(workers forked from a warm process\)", text)
    assert re.search(r"Live reload\s+on", text)
    assert "./ (top level), src/, tests/" in text
    assert re.search(r"Debugger\s+off", text)


def test_banner_without_reload_says_how_to_turn_it_on() -> None:
    text = render(build_banner(ServerConfig.from_options(reload=False, debug=True), INFO))
    assert "--reload to turn it on" in text
    assert "Watching" not in text and "Live reload" not in text
    assert re.search(r"Debugger\s+on", text)


def test_banner_shows_flask_debug_and_where_it_was_set() -> None:
    assert "Flask debug" not in render(build_banner(ServerConfig.from_options(), INFO))
    on = replace(INFO, flask_debug=EnvSetting("FLASK_DEBUG", "1", ".flaskenv"))
    text = render(build_banner(ServerConfig.from_options(), on))
    assert re.search(r"Flask debug\s+on \(FLASK_DEBUG=1 from \.flaskenv\)", text)
    off = replace(INFO, flask_debug=EnvSetting("FLASK_DEBUG", "0", "environment"))
    text = render(build_banner(ServerConfig.from_options(), off))
    assert re.search(r"Flask debug\s+off \(FLASK_DEBUG=0 from environment\)", text)
    # Flask before 2.3 decides by FLASK_ENV when FLASK_DEBUG is not set (Bluelog).
    env = replace(INFO, flask_debug=EnvSetting("FLASK_ENV", "development", ".flaskenv"))
    text = render(build_banner(ServerConfig.from_options(), env))
    assert re.search(r"Flask debug\s+on \(FLASK_ENV=development from \.flaskenv\)", text)


def test_url_is_a_terminal_link() -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system="standard")
    console.print(build_banner(ServerConfig.from_options(), INFO))
    assert "\x1b]8;" in console.file.getvalue()  # type: ignore[attr-defined]  # OSC 8 hyperlink


@pytest.mark.parametrize(
    ("action", "seconds", "status", "expected"),
    [
        ("worker", 0.0312, "ok", "views.py changed · reloaded in 31 ms"),
        (
            "full",
            0.8,
            "ok",
            ".env changed · restarted (environment or dependencies changed) in 800 ms",
        ),
        ("reload", None, "ok", "views.py changed · browser refreshed"),
        ("css", None, "ok", "views.py changed · stylesheet swapped"),
        (
            "worker",
            0.02,
            "error",
            "import failed (traceback above), serving the error page in 20 ms",
        ),
    ],
)
def test_reload_line(action: str, seconds: float | None, status: str, expected: str) -> None:
    files = ".env" if action == "full" else "views.py"
    text = render(reload_line(files, action, seconds, status=status))
    assert expected in text
    assert text.count("\n") == 1  # one line
    assert re.match(r"\d\d:\d\d:\d\d ↻ ", text)


def test_describe_app_names_where_the_app_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_file_tree(
        tmp_path / "p",
        {"pyproject.toml": '[tool.webkit]\napp = "pkg:create_app"\n', ".env": ""},
    )
    config = ServerConfig.from_options(project_dir=root)
    assert describe_app(config) == "pkg:create_app (from [tool.webkit] in pyproject.toml)"
    (root / ".env").write_text("WEBKIT_APP=other:app\n")
    assert describe_app(config) == "other:app (from WEBKIT_APP in .env)"
    monkeypatch.setenv("WEBKIT_APP", "shell:app")
    assert describe_app(config) == "shell:app (from WEBKIT_APP)"
    monkeypatch.delenv("WEBKIT_APP")
    with_option = ServerConfig.from_options(project_dir=root, app="cli:app")
    assert describe_app(with_option) == "cli:app (from --app)"
    plain = build_file_tree(tmp_path / "plain", {"app.py": ""})
    assert "Flask's conventions" in describe_app(ServerConfig.from_options(project_dir=plain))


def test_banner_shows_the_network_url_when_bound_to_every_interface() -> None:
    from webkit_cli.server.banner import network_url

    everywhere = ServerConfig.from_options(host="0.0.0.0")
    url = network_url(everywhere, 8123, address="192.168.1.20")
    assert url == "http://192.168.1.20:8123/"
    text = render(build_banner(everywhere, replace(INFO, network_url=url)))
    assert re.search(r"Network\s+http://192\.168\.1\.20:8123/", text)
    assert network_url(ServerConfig.from_options(), 8123, address="192.168.1.20") is None
    assert "Network" not in render(build_banner(ServerConfig.from_options(), INFO))

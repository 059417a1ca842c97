"""Project discovery, .env loading and app import (shared by run, routes and check)."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from webkit_cli.errors import AppImportError, NoAppError, ProjectError
from webkit_cli.project import (
    AppSource,
    EnvSetting,
    ProjectContext,
    find_project,
    flask_debug,
    import_app,
    is_flask_debug_on,
    load_dotenv_files,
    resolve_app_target,
)

FLASK_APP = (
    "from flask import Flask\n\napp = Flask(__name__)\n\n"
    "@app.get('/')\ndef index():\n    return 'hi'\n"
)
FACTORY = (
    "from flask import Flask\n\n"
    "def create_app(config=None):\n"
    "    app = Flask(__name__)\n"
    "    app.config['NAME'] = (config or {}).get('NAME', 'default')\n"
    "    return app\n"
)
#: microblog's shape: werkzeug proxies at module level beside the app. Reading any
#: attribute of an unbound proxy raises "Working outside of request context".
PROXIES_APP = (
    "from flask import Flask, current_app, g, request, session\n"
    "from werkzeug.local import LocalProxy\n\n"
    "broken = LocalProxy(lambda: 1 / 0)\n"
    "app = Flask(__name__)\n"
)


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test imports its own throw-away modules (and loads .env files); undo both."""
    path, modules, environ = list(sys.path), set(sys.modules), dict(os.environ)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    os.environ.clear()
    os.environ.update(environ)


def webkit_project(root: Path, app: str | None, files: dict[str, str]) -> Path:
    table = f'[tool.webkit]\napp = "{app}"\n' if app else "[tool.webkit]\n"
    return build_file_tree(root, {"pyproject.toml": f'[project]\nname = "x"\n\n{table}', **files})


def test_find_project_walks_up_to_tool_webkit(tmp_path: Path) -> None:
    root = webkit_project(tmp_path / "proj", "pkg_walk:create_app", {"src/pkg_walk/a/b/c.txt": ""})
    project = find_project(root / "src" / "pkg_walk" / "a" / "b")
    assert project.root == root.resolve()
    assert project.is_webkit_project
    assert project.config["app"] == "pkg_walk:create_app"
    assert project.source_dirs == [root.resolve() / "src", root.resolve()]


def test_find_project_skips_pyproject_without_tool_webkit(tmp_path: Path) -> None:
    outer = webkit_project(tmp_path, None, {})
    inner = build_file_tree(tmp_path / "inner", {"pyproject.toml": "[project]\nname='i'\n"})
    assert find_project(inner).root == outer.resolve()


def test_find_project_without_any_config_uses_start(tmp_path: Path) -> None:
    project = find_project(tmp_path)
    assert project.root == tmp_path.resolve()
    assert not project.is_webkit_project


def test_broken_pyproject_is_a_one_line_error(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"pyproject.toml": "[tool.webkit\napp = 1\n"})
    with pytest.raises(ProjectError, match=r"is not valid TOML: .*Fix the file"):
        find_project(tmp_path)


def test_missing_project_dir(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        find_project(tmp_path / "nope")


def test_app_target_order(tmp_path: Path) -> None:
    """Flask's order with webkit's two places: --app, WEBKIT_APP, FLASK_APP, pyproject."""
    project = find_project(webkit_project(tmp_path / "p", "from_config:app", {}))
    both = {"WEBKIT_APP": "from_webkit_env:app", "FLASK_APP": "from_flask_env:app"}
    option = resolve_app_target(project, "from_option:app", both)
    assert (option.target, option.source) == ("from_option:app", AppSource.OPTION)
    webkit_env = resolve_app_target(project, None, both)
    assert (webkit_env.target, webkit_env.source) == ("from_webkit_env:app", AppSource.WEBKIT_APP)
    flask_env = resolve_app_target(project, None, {"FLASK_APP": "from_flask_env:app"})
    assert (flask_env.target, flask_env.source) == ("from_flask_env:app", AppSource.FLASK_APP)
    config = resolve_app_target(project, None, {})
    assert (config.target, config.source) == ("from_config:app", AppSource.PYPROJECT)
    plain = resolve_app_target(
        find_project(build_file_tree(tmp_path / "plain", {"README": ""})), None, {}
    )
    assert (plain.target, plain.source) == (None, AppSource.CONVENTION)


@pytest.mark.parametrize(
    ("files", "environ", "target", "origin"),
    [
        ({".flaskenv": "FLASK_APP=microblog.py\n"}, {}, "microblog.py", "FLASK_APP in .flaskenv"),
        ({".env": "FLASK_APP=dotenv:app\n"}, {}, "dotenv:app", "FLASK_APP in .env"),
        # Flask's precedence: .env over .flaskenv, the environment over both.
        (
            {".env": "FLASK_APP=a:app\n", ".flaskenv": "FLASK_APP=b:app\n"},
            {},
            "a:app",
            "FLASK_APP in .env",
        ),
        ({".flaskenv": "FLASK_APP=b:app\n"}, {"FLASK_APP": "c:app"}, "c:app", "FLASK_APP"),
        # WEBKIT_APP anywhere beats FLASK_APP anywhere.
        (
            {".flaskenv": "WEBKIT_APP=w:app\n", ".env": "FLASK_APP=f:app\n"},
            {},
            "w:app",
            "WEBKIT_APP in .flaskenv",
        ),
    ],
)
def test_app_target_from_dotenv_files_names_the_file(
    tmp_path: Path, files: dict[str, str], environ: dict[str, str], target: str, origin: str
) -> None:
    project = find_project(webkit_project(tmp_path, "from_config:app", files))
    resolved = resolve_app_target(project, None, environ)
    assert resolved.target == target
    assert resolved.origin == origin
    assert resolved.describe() == f"{target} (from {origin})"


def test_no_dotenv_ignores_the_files(tmp_path: Path) -> None:
    project = find_project(webkit_project(tmp_path, "cfg:app", {".flaskenv": "FLASK_APP=f:app\n"}))
    assert resolve_app_target(project, None, {}, dotenv=False).target == "cfg:app"


def test_flask_debug_from_flaskenv(tmp_path: Path) -> None:
    project = find_project(
        webkit_project(tmp_path / "with", None, {".flaskenv": "FLASK_DEBUG=1\n"})
    )
    setting = flask_debug(project, {})
    assert setting is not None and (setting.value, setting.origin) == ("1", ".flaskenv")
    assert is_flask_debug_on(setting)
    off = flask_debug(project, {"FLASK_DEBUG": "0"})
    assert off is not None and off.origin == "environment" and not is_flask_debug_on(off)
    assert flask_debug(find_project(build_file_tree(tmp_path / "none", {"README": ""})), {}) is None


def test_flask_env_decides_flask_debug_for_flask_before_2_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bluelog: FLASK_ENV=development in .flaskenv, on Flask 2.2 the app runs in debug."""
    import webkit_cli.project

    project = find_project(webkit_project(tmp_path, None, {".flaskenv": "FLASK_ENV=development\n"}))
    monkeypatch.setattr(webkit_cli.project, "_flask_reads_flask_env", lambda: True)
    setting = flask_debug(project, {})
    assert setting is not None and (setting.name, setting.origin) == ("FLASK_ENV", ".flaskenv")
    assert is_flask_debug_on(setting)
    assert not is_flask_debug_on(flask_debug(project, {"FLASK_ENV": "production"}))
    # FLASK_DEBUG, wherever it is set, still decides first.
    assert flask_debug(project, {"FLASK_DEBUG": "0"}) == EnvSetting(
        "FLASK_DEBUG", "0", "environment"
    )
    monkeypatch.setattr(webkit_cli.project, "_flask_reads_flask_env", lambda: False)
    assert flask_debug(project, {}) is None


def test_context_finds_the_app_from_flaskenv(tmp_path: Path) -> None:
    """microblog: FLASK_APP=microblog.py in .flaskenv, and `from flask import request`."""
    root = webkit_project(
        tmp_path,
        None,
        {".flaskenv": "FLASK_APP=microblog.py\nFLASK_DEBUG=1\n", "microblog.py": PROXIES_APP},
    )
    ctx = ProjectContext.from_options(project_dir=root)
    assert ctx.app_source is not None and ctx.app_source.origin == "FLASK_APP in .flaskenv"
    assert ctx.load_app().import_name == "microblog"
    assert os.environ["FLASK_DEBUG"] == "1"  # the app reads it as Flask does


def test_wrong_target_error_names_where_it_came_from(tmp_path: Path) -> None:
    root = webkit_project(tmp_path, None, {".flaskenv": "FLASK_APP=missing_mod_xyz:app\n"})
    ctx = ProjectContext.from_options(project_dir=root)
    expected = r"no such module.*named by FLASK_APP in \.flaskenv: fix it there"
    with pytest.raises(NoAppError, match=expected):
        ctx.load_app()


def test_dotenv_is_loaded_without_overriding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_file_tree(tmp_path, {".env": "WEBKIT_T_A=from-file\nWEBKIT_T_B=from-file\n"})
    monkeypatch.setenv("WEBKIT_T_A", "from-shell")
    monkeypatch.delenv("WEBKIT_T_B", raising=False)
    assert load_dotenv_files(tmp_path) == [tmp_path / ".env"]
    assert os.environ["WEBKIT_T_A"] == "from-shell"
    assert os.environ["WEBKIT_T_B"] == "from-file"
    monkeypatch.delenv("WEBKIT_T_B")


def test_context_loads_factory_from_src_layout_once(tmp_path: Path) -> None:
    root = webkit_project(tmp_path, "pkg_ctx:create_app", {"src/pkg_ctx/__init__.py": FACTORY})
    ctx = ProjectContext.from_options(project_dir=root)
    app = ctx.load_app()
    assert app.import_name == "pkg_ctx"
    assert ctx.load_app() is app


def test_env_file_sets_app_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = webkit_project(
        tmp_path, None, {"envapp.py": FLASK_APP, ".env": "WEBKIT_APP=envapp:app\n"}
    )
    ctx = ProjectContext.from_options(project_dir=root)
    assert ctx.app_target == "envapp:app"
    assert ctx.app_source is not None and ctx.app_source.origin == "WEBKIT_APP in .env"
    assert ctx.load_app().import_name == "envapp"
    monkeypatch.delenv("WEBKIT_APP")


@pytest.mark.parametrize(
    ("files", "target", "import_name"),
    [
        ({"mod_inst.py": FLASK_APP}, "mod_inst:app", "mod_inst"),
        ({"mod_bare.py": FLASK_APP}, "mod_bare", "mod_bare"),
        ({"mod_fact.py": FACTORY}, "mod_fact:create_app", "mod_fact"),
        ({"mod_fbare.py": FACTORY}, "mod_fbare", "mod_fbare"),
        ({"sub/pathapp.py": FLASK_APP}, "sub/pathapp.py", "pathapp"),
        ({"sub/pathapp2.py": FLASK_APP}, "sub/pathapp2.py:app", "pathapp2"),
        ({"mod_call.py": FACTORY}, "mod_call:create_app()", "mod_call"),
        ({"sub/pathfact.py": FACTORY}, "sub/pathfact.py:create_app()", "pathfact"),
        ({"pkg_dir/__init__.py": FLASK_APP}, "pkg_dir", "pkg_dir"),
        ({"src/pkg_path/__init__.py": FLASK_APP}, "src/pkg_path", "pkg_path"),
        ({"pkg_dot/__init__.py": "", "pkg_dot/web.py": FLASK_APP}, "pkg_dot.web", "pkg_dot.web"),
        (
            {"pkg_file/__init__.py": "", "pkg_file/web.py": FLASK_APP},
            "pkg_file/web.py",
            "pkg_file.web",
        ),
        ({"mod_make.py": FACTORY.replace("create_app", "make_app")}, "mod_make", "mod_make"),
        ({"mod_proxies.py": PROXIES_APP}, "mod_proxies", "mod_proxies"),
        ({"mod_proxies2.py": PROXIES_APP}, "mod_proxies2:app", "mod_proxies2"),
        (
            {"mod_proxfact.py": PROXIES_APP.replace("app = Flask(__name__)", FACTORY)},
            "mod_proxfact",
            "mod_proxfact",
        ),
    ],
)
def test_import_forms(tmp_path: Path, files: dict[str, str], target: str, import_name: str) -> None:
    project = find_project(webkit_project(tmp_path, None, files))
    assert import_app(target, project).import_name == import_name


def test_factory_call_with_literal_arguments(tmp_path: Path) -> None:
    project = find_project(webkit_project(tmp_path, None, {"mod_args.py": FACTORY}))
    app = import_app("mod_args:create_app({'NAME': 'given'})", project)
    assert app.config["NAME"] == "given"


def test_factory_call_with_keyword_arguments(tmp_path: Path) -> None:
    project = find_project(webkit_project(tmp_path, None, {"mod_kw.py": FACTORY}))
    app = import_app("mod_kw:create_app(config={'NAME': 'kw'})", project)
    assert app.config["NAME"] == "kw"


def test_an_app_beside_only_proxies_is_the_only_app(tmp_path: Path) -> None:
    """No conventional name: the one app among the module's values, proxies skipped unread."""
    source = PROXIES_APP.replace("app = Flask(__name__)", "website = Flask(__name__)")
    project = find_project(webkit_project(tmp_path, None, {"mod_only.py": source}))
    assert import_app("mod_only", project).import_name == "mod_only"


def test_a_proxy_named_app_is_not_an_app(tmp_path: Path) -> None:
    source = "from flask import current_app as app\n"
    project = find_project(webkit_project(tmp_path, None, {"mod_proxy_app.py": source}))
    with pytest.raises(NoAppError, match="is not a Flask app"):
        import_app("mod_proxy_app:app", project)
    with pytest.raises(NoAppError, match="No Flask app or factory found"):
        import_app("mod_proxy_app", project)


def test_pyproject_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"pyproject.toml": b"[tool.webkit]\napp = '\xff\xfe'\n"})
    with pytest.raises(ProjectError, match=r"is not UTF-8 \(byte 0xff at offset 21\)") as info:
        find_project(tmp_path)
    assert "\n" not in info.value.format_message()


def test_flask_conventions_find_wsgi_py(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "plain", {"wsgi.py": FLASK_APP})
    ctx = ProjectContext.from_options(project_dir=root)
    assert ctx.app_target is None
    assert ctx.load_app().import_name == "wsgi"


def test_no_app_anywhere(tmp_path: Path) -> None:
    ctx = ProjectContext.from_options(project_dir=tmp_path)
    with pytest.raises(NoAppError, match="Could not locate a Flask app. Use --app"):
        ctx.load_app()


@pytest.mark.parametrize(
    ("files", "target", "message"),
    [
        ({}, "no_such_module_xyz:app", "Could not import 'no_such_module_xyz': no such module"),
        ({"mod_noattr.py": FLASK_APP}, "mod_noattr:application", "has no attribute 'application'"),
        ({"mod_notapp.py": "app = 42\n"}, "mod_notapp:app", "is not a Flask app"),
        ({"mod_empty.py": "x = 1\n"}, "mod_empty", "No Flask app or factory found"),
        ({"mod_bad.py": FLASK_APP}, "mod_bad:app(", "Failed to parse"),
        ({"mod_bad2.py": FACTORY}, "mod_bad2:create_app(open('x'))", "literal values"),
        ({"mod_bad3.py": FACTORY}, "mod_bad3:a.b()", "must be a simple name"),
        ({"mod_bad4.py": FACTORY}, "mod_bad4:create_app(1, 2, 3)", "could not be called with"),
        ({}, "no/such/file.py", "File no/such/file.py does not exist"),
        (
            {"mod_needs.py": "def create_app(name):\n    pass\n"},
            "mod_needs:create_app",
            "needs arguments",
        ),
    ],
)
def test_wrong_targets_are_one_line_errors(
    tmp_path: Path, files: dict[str, str], target: str, message: str
) -> None:
    project = find_project(webkit_project(tmp_path, None, files))
    with pytest.raises(NoAppError, match=message) as info:
        import_app(target, project)
    assert "\n" not in info.value.format_message()


@pytest.mark.parametrize(
    ("source", "exc_type"),
    [
        ("import not_installed_dependency_xyz\n", ModuleNotFoundError),
        ("def broken(:\n", SyntaxError),
        ("raise RuntimeError('boom at import')\n", RuntimeError),
        ("def create_app():\n    raise KeyError('boom in factory')\n", KeyError),
    ],
)
def test_errors_in_user_code_keep_the_original(
    tmp_path: Path, source: str, exc_type: type[BaseException]
) -> None:
    name = f"mod_user_{exc_type.__name__.lower()}"
    project = find_project(webkit_project(tmp_path, None, {f"{name}.py": source}))
    with pytest.raises(AppImportError) as info:
        import_app(name, project)
    assert isinstance(info.value.original, exc_type)


def test_user_traceback_shows_their_file_not_webkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough for the whole tmp path on one line (pytest-xdist's is longer): a wrap
    # inside "mod_tb.py" would hide it from the assertion below.
    monkeypatch.setenv("COLUMNS", "200")
    project = find_project(
        webkit_project(tmp_path, None, {"mod_tb.py": "x = 1\nraise ValueError('their bug')\n"})
    )
    with pytest.raises(AppImportError) as info:
        import_app("mod_tb", project)
    out = io.StringIO()
    info.value.show(file=out)
    text = out.getvalue()
    assert "mod_tb.py" in text
    assert "ValueError" in text and "their bug" in text
    assert "webkit_cli" not in text.split("Error:")[0]
    assert "importlib" not in text
    assert text.rstrip().splitlines()[-1].startswith("Error: Importing 'mod_tb' failed")


def test_an_import_past_its_timeout_is_interrupted_where_it_hung(tmp_path: Path) -> None:
    source = "import time\n\ndef wait():\n    time.sleep(60)\n\nwait()\n"
    root = webkit_project(tmp_path, "mod_hang", {"mod_hang.py": source})
    ctx = ProjectContext.from_options(project_dir=root)
    with pytest.raises(AppImportError, match=r"did not finish in 0\.2 s") as info:
        ctx.load_app(timeout=0.2)
    frames = traceback.extract_tb(info.value.original.__traceback__)
    assert any(f.filename.endswith("mod_hang.py") and f.name == "wait" for f in frames)


def test_no_timeout_outside_the_main_thread(tmp_path: Path) -> None:
    """SIGALRM only reaches the main thread: elsewhere the import simply runs."""
    root = webkit_project(tmp_path, "mod_thread:app", {"mod_thread.py": FLASK_APP})
    ctx = ProjectContext.from_options(project_dir=root)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(ctx.load_app(timeout=0.01)))
    thread.start()
    thread.join(30)
    assert [getattr(app, "import_name", None) for app in result] == ["mod_thread"]


def test_an_alarm_armed_before_the_import_is_put_back(tmp_path: Path) -> None:
    root = webkit_project(tmp_path, "mod_alarm:app", {"mod_alarm.py": FLASK_APP})
    ctx = ProjectContext.from_options(project_dir=root)
    previous = signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 50)
    try:
        ctx.load_app(timeout=5)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert 0 < left <= 50

"""Project discovery, .env loading and app import (shared by run, routes and check)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from webkit_cli.errors import AppImportError, NoAppError, ProjectError
from webkit_cli.project import (
    ProjectContext,
    find_project,
    import_app,
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


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test imports its own throw-away modules; forget them afterwards."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


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
    project = find_project(webkit_project(tmp_path, "from_config:app", {}))
    env = {"WEBKIT_APP": "from_env:app"}
    assert resolve_app_target(project, "from_option:app", env) == "from_option:app"
    assert resolve_app_target(project, None, env) == "from_env:app"
    assert resolve_app_target(project, None, {}) == "from_config:app"
    assert resolve_app_target(find_project(tmp_path / ".."), None, {}) in (None, "from_config:app")


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
    ],
)
def test_import_forms(tmp_path: Path, files: dict[str, str], target: str, import_name: str) -> None:
    project = find_project(webkit_project(tmp_path, None, files))
    assert import_app(target, project).import_name == import_name


def test_factory_call_with_literal_arguments(tmp_path: Path) -> None:
    project = find_project(webkit_project(tmp_path, None, {"mod_args.py": FACTORY}))
    app = import_app("mod_args:create_app({'NAME': 'given'})", project)
    assert app.config["NAME"] == "given"


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

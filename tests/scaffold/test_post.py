"""After writing: the dry-run tree, the next-steps panel, pip install into an environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from tests.scaffold.helpers import make_template
from webkit_cli.cli import cli
from webkit_cli.errors import ScaffoldError
from webkit_cli.scaffold import create_project
from webkit_cli.scaffold.post import (
    MAKE_VENV,
    dry_run_report,
    install_project,
    next_steps_panel,
    plan_tree,
    shell_has_environment,
    summary_line,
)
from webkit_cli.scaffold.template import builtin_template_names, builtin_templates_dir


def render(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(renderable)
    return out.getvalue()


def test_plan_tree_nests_folders(tmp_path: Path) -> None:
    tpl = make_template(tmp_path / "tpl")
    result = create_project(template=str(tpl), target=tmp_path / "p", author="a", dry_run=True)
    text = render(plan_tree(result))
    lines = text.splitlines()
    assert lines[0] == str(tmp_path / "p")
    assert any(line.endswith("src/") for line in lines)
    # logo.png sits two levels below src/: deeper indentation than src/.
    src = next(line for line in lines if line.endswith("src/"))
    logo = next(line for line in lines if line.endswith("logo.png"))
    assert logo.index("logo.png") > src.index("src/") + 4


def test_dry_run_report_and_summary_line(tmp_path: Path) -> None:
    tpl = make_template(tmp_path / "tpl")
    target = tmp_path / "p"
    result = create_project(template=str(tpl), target=target, author="a", dry_run=True)
    tree_, *lines = dry_run_report(result, overwrite=False)
    assert "logo.png" in render(tree_)
    assert lines == ["Dry run: 6 files from template tiny 0.3.0; nothing written."]
    done = create_project(template=str(tpl), target=target, author="a")
    assert summary_line(done, overwrite=False) == (
        f"Created {target} from template tiny 0.3.0 (6 files)."
    )
    (target / "README.md").write_text("mine\n")
    (target / ".env").unlink()
    again = create_project(template=str(tpl), target=target, author="a", force=True, dry_run=True)
    assert dry_run_report(again, overwrite=False)[2] == (
        "1 existing files differ: without --overwrite the real run stops before writing anything."
    )
    applied = create_project(
        template=str(tpl), target=target, author="a", force=True, overwrite=True
    )
    assert summary_line(applied, overwrite=True) == (
        f"Updated {target} from template tiny 0.3.0: 1 added, 1 replaced, 4 unchanged, 0 kept."
    )


@pytest.mark.parametrize(
    ("install", "git", "interactive", "updated", "has_git", "expected"),
    [
        (None, None, True, False, True, (True, True)),  # a terminal: install and commit
        (None, None, False, False, True, (False, True)),  # CI: no install, still a repo
        (None, None, False, False, False, (False, False)),  # no git installed
        (None, None, True, True, True, (True, False)),  # --force into an existing folder
        (False, False, True, False, True, (False, False)),  # explicit flags win
        (True, True, False, True, False, (True, True)),
    ],
)
def test_default_steps(
    monkeypatch: pytest.MonkeyPatch,
    install: bool | None,
    git: bool | None,
    interactive: bool,
    updated: bool,
    has_git: bool,
    expected: tuple[bool, bool],
) -> None:
    import shutil

    from webkit_cli.scaffold.post import decide_steps

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/git" if has_git else None)
    assert decide_steps(install=install, git=git, interactive=interactive, updated=updated) == (
        expected
    )


def test_next_steps_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = render(next_steps_panel(tmp_path / "shop", installed=False))
    assert "Next steps" in text
    assert "cd shop" in text
    assert "pip install -e '.[dev]'" in text
    assert "webkit run --reload" in text
    text = render(next_steps_panel(tmp_path / "shop", installed=True))
    assert "pip install" not in text
    assert "db upgrade" not in text
    assert "keys create" not in text


def test_next_steps_make_a_virtual_environment_when_the_shell_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an active environment (webkit from pipx, say) `pip install` would go to the
    system's or the user's pip: the panel starts with the README's own venv line."""
    monkeypatch.chdir(tmp_path)
    lines = render(next_steps_panel(tmp_path / "shop", installed=False, venv_active=False))
    steps = [line.strip("│ ") for line in lines.splitlines()]
    venv = steps.index("python -m venv .venv && . .venv/bin/activate")
    assert steps.index("cd shop") < venv < steps.index("pip install -e '.[dev]'")
    active = render(next_steps_panel(tmp_path / "shop", installed=False, venv_active=True))
    assert "venv" not in active and "pip install -e '.[dev]'" in active
    installed = render(next_steps_panel(tmp_path / "shop", installed=True, venv_active=False))
    assert "venv" not in installed  # installed into webkit's environment already


def test_the_venv_step_is_the_builtin_readmes_own() -> None:
    """The panel's line and each built-in template's README say the same: one way to start."""
    templates = builtin_templates_dir()
    assert templates is not None
    names = builtin_template_names()
    assert names
    for name in names:
        readme = (templates / name / "files" / "README.md.jinja").read_text()
        assert MAKE_VENV in readme, name


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"VIRTUAL_ENV": "/home/ada/shop/.venv"}, True),
        ({"CONDA_PREFIX": "/opt/conda/envs/shop"}, True),
        ({"VIRTUAL_ENV": ""}, False),
    ],
)
def test_shell_has_environment(environ: dict[str, str], expected: bool) -> None:
    assert shell_has_environment(environ) is expected


def test_next_steps_upgrade_the_database_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project with migrations has no tables until ``flask db upgrade``: before the server."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop" / "src" / "shop_app" / "migrations").mkdir(parents=True)
    (tmp_path / "shop" / "src" / "shop_app" / "migrations" / "alembic.ini").write_text("")
    lines = render(next_steps_panel(tmp_path / "shop", installed=True)).splitlines()
    steps = [line.strip("│ ") for line in lines]
    upgrade = steps.index("flask --app shop_app db upgrade")
    assert upgrade < steps.index("webkit run --reload")


def test_next_steps_panel_of_an_api_says_how_to_get_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = render(next_steps_panel(tmp_path / "shop", installed=True, api_package="shop"))
    assert "flask --app shop users create you@example.com" in text
    assert "flask --app shop keys create --user you@example.com --scope read,write" in text


# --- pip install into a fresh environment ---------------------------------------------------

INSTALLABLE = {
    "pyproject.toml.jinja": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "{{ name }}"\nversion = "0.1.0"\n\n'
        "[project.optional-dependencies]\ndev = []\n\n"
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n\n'
        '[tool.webkit]\napp = "{{ package }}:create_app"\n'
    ),
    "src/{{ package }}/__init__.py.jinja": 'GREETING = "hello from {{ package }}"\n',
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (not webkit's own) that can run ``python -m pip``.

    Its pip is this environment's, put on its path by a ``.pth`` file: installing a pip of
    its own (ensurepip) took more CPU than the install under test. Whatever pip installs
    still goes into the fresh environment's own site-packages.
    """
    import pip

    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "borrowed-pip.pth").write_text(f"{Path(pip.__file__).parent.parent}\n")
    return python


@pytest.mark.slow
def test_install_flag_installs_into_the_running_environment(
    tmp_path: Path, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tpl = make_template(
        tmp_path / "tpl", files=INSTALLABLE, toml='[template]\nname = "i"\nversion = "1"\n'
    )
    # "The environment webkit runs in" is sys.executable: point it at the fresh venv.
    monkeypatch.setattr(sys, "executable", str(venv))
    result = CliRunner().invoke(
        cli,
        ["new", "zzinstalled", "-t", str(tpl), "--dir", str(tmp_path), "--install", "--no-git"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "Installed zzinstalled" in result.output
    assert "pip install -e" not in result.output.split("Next steps")[1]  # already done
    # The installer's chatter is not shown on success.
    assert "Successfully installed" not in result.output
    proc = subprocess.run(
        [str(venv), "-c", "import zzinstalled; print(zzinstalled.GREETING)"],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    assert proc.stdout.strip() == "hello from zzinstalled"


def test_install_failure_shows_the_installer_output(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / ("Scripts" if os.name == "nt" else "bin") / "python"
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    (tmp_path / "proj").mkdir()
    with pytest.raises(ScaffoldError, match=r"Installing the project failed \(pip exit code 1"):
        install_project(tmp_path / "proj", console, python=str(python))
    # The console wraps the long tmp path (longer still under pytest-xdist's popen-gwN).
    assert "No module named pip" in " ".join(out.getvalue().split())

"""The built wheel ships the templates and scaffolds from a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from webkit_cli.scaffold.template import builtin_template_names

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"


def _run(
    argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv_str = [str(a) for a in argv]
    proc = subprocess.run(argv_str, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    assert proc.returncode == 0, f"{argv_str} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO_ROOT])
    (built,) = dist.glob("webkit_cli-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_the_templates(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    templates = builtin_template_names()
    assert {"site", "api", "ajax"} <= set(templates)
    for name in templates:
        root = REPO_ROOT / "project_templates" / name
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(REPO_ROOT / "project_templates").as_posix()
                assert f"webkit_cli/project_templates/{rel}" in names


@pytest.mark.slow
def test_scaffold_from_a_fresh_virtualenv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # A fresh environment: not --system-site-packages; the wheel's deps come from the index.
    _run([sys.executable, "-m", "venv", venv])
    python = venv / BIN / "python"
    _run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel])
    webkit = venv / BIN / "webkit"
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    where = _run(
        [
            python,
            "-c",
            "from webkit_cli.scaffold.template import builtin_templates_dir as d; print(d())",
        ],
        cwd=work,
        env=env,
    ).stdout.strip()
    # Found inside the installed package, not in this checkout.
    assert Path(where).is_relative_to(venv)
    assert Path(where).name == "project_templates"

    listing = _run([webkit, "new", "--list"], cwd=work, env=env).stdout
    for name in ("site", "api", "ajax"):
        assert name in listing

    _run(
        [webkit, "new", "demo", "-t", "site", "--no-input", "--no-install", "--no-git"],
        cwd=work,
        env=env,
    )
    project = work / "demo"
    for rel in (
        "pyproject.toml",
        "README.md",
        ".gitignore",
        ".env.example",
        "src/demo/__init__.py",
    ):
        assert (project / rel).is_file(), rel
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert data["project"]["name"] == "demo"
    assert data["tool"]["webkit"]["app"] == "demo:create_app"
    assert data["tool"]["webkit"]["template"]["name"] == "site"
    assert data["tool"]["webkit"]["template"]["answers"]["package"] == "demo"
    # python -m webkit_cli works from the wheel too.
    _run(
        [python, "-m", "webkit_cli", "new", "api-demo", "-t", "api", "--no-input", "--no-git"],
        cwd=work,
        env=env,
    )
    assert (work / "api-demo" / "src" / "api_demo" / "__init__.py").is_file()

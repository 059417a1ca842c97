"""The release artefacts: ``python -m build`` makes an sdist and a wheel that ``twine check``
accepts; the wheel ships the templates and scaffolds from a fresh virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
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
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the release workflow uploads: ``python -m build`` (the wheel built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, REPO_ROOT])
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (built,) = dist.glob("webkit_cli-*.whl")
    return built


@pytest.mark.slow
def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    (sdist,) = dist.glob("webkit_cli-*.tar.gz")
    (wheel,) = dist.glob("webkit_cli-*.whl")
    out = _run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel]).stdout
    assert out.count("PASSED") == 2, out
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "webkit_cli/cli.py", "project_templates"):
        assert needed in names or any(n.startswith(needed + "/") for n in names), needed
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(metadata).decode()
    assert "Requires-Dist: flask<4,>=2.1.3" in text  # installs beside a project pinning Flask 2.1


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
    # It gets no pip of its own (installing pip takes more CPU than the wheel and all of its
    # dependencies): this environment's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / BIN / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    # --no-compile: the few modules the commands below import are compiled when imported
    # (1 s of CPU less than compiling every module of the wheel and its dependencies).
    _run([*pip, "install", "-q", "--no-compile", wheel])
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


def test_release_workflow_builds_tests_and_publishes_with_trusted_publishing() -> None:
    import yaml

    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/release.yml").read_text())
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert trigger == {"push": {"tags": ["v*"]}}
    jobs = workflow["jobs"]
    assert set(jobs) == {"build", "test", "publish"}
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build and "twine check --strict dist/*" in build
    assert "bash .ci/run" in [step.get("run") for step in jobs["test"]["steps"]]
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"build", "test"}
    assert publish["permissions"] == {"id-token": "write"}  # OIDC, no stored token
    assert publish["environment"]["name"] == "pypi"
    uses = [step.get("uses", "") for step in publish["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    assert not any("password" in step.get("with", {}) for step in publish["steps"])
    assert workflow["permissions"] == {"contents": "read"}  # nothing else may write


def test_release_workflow_reads_the_version_webkit_reports() -> None:
    """The tag check's one-liner finds the version in webkit_cli/__init__.py."""
    import yaml

    from webkit_cli import __version__

    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/release.yml").read_text())
    script = next(
        s["run"]
        for s in workflow["jobs"]["build"]["steps"]
        if "GITHUB_REF_NAME" in s.get("run", "")
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `python`
    env = {**os.environ, "PATH": path, "GITHUB_REF_NAME": f"v{__version__}"}
    ok = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    env["GITHUB_REF_NAME"] = "v0.0.0-not-this"
    wrong = subprocess.run(
        ["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert wrong.returncode == 1 and "does not match version" in wrong.stdout

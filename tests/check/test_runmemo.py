"""A remembered ``--no-import`` run is replayed only while nothing it read has changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.check.helpers import make_project
from webkit_cli.check import runmemo, runner
from webkit_cli.cli import cli

SECRET = 'SECRET_KEY = "hunter2-hunter2"\n'


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The projects ``run_check`` really ran on (a replay does not call it)."""
    seen: list[Path] = []
    real = runner.run_check

    def counting(path: object = None, **kwargs: object) -> runner.CheckReport:
        report = real(path, **kwargs)  # type: ignore[arg-type]
        seen.append(report.root)
        return report

    monkeypatch.setattr(runner, "run_check", counting)
    # the files of these tests were all written just now: trust their signatures at once
    monkeypatch.setattr(runmemo, "RACY_NS", 0)
    return seen


def check(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--no-import", *args, str(root)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "demo", {"src/demo/settings.py": SECRET})


def _bump(path: Path, text: str) -> None:
    """Write ``text`` and move the modification time on (one clock tick may hold both)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    if st.st_mtime_ns <= before:
        import os

        os.utime(path, ns=(st.st_atime_ns, before + 1_000_000))


def test_an_unchanged_project_is_replayed_with_the_same_output_and_exit_code(
    project: Path, runs: list[Path]
) -> None:
    first = check(project)
    assert first[0] == 1 and "S001" in first[1]
    assert check(project) == first
    assert check(project) == first
    assert len(runs) == 1  # the second and third runs replayed the first


def test_a_clean_project_is_replayed_too(tmp_path: Path, runs: list[Path]) -> None:
    root = make_project(tmp_path / "clean")
    assert check(root) == (0, "All checks passed\n")
    assert check(root) == (0, "All checks passed\n")
    assert len(runs) == 1


def test_an_edited_file_is_checked_again(project: Path, runs: list[Path]) -> None:
    check(project)
    _bump(project / "src/demo/settings.py", "import os\n\nSECRET_KEY = os.environ['KEY']\n")
    code, out = check(project)
    assert (code, "S001" in out) == (0, False)
    assert len(runs) == 2


def test_a_new_and_a_removed_file_are_seen(project: Path, runs: list[Path]) -> None:
    check(project)
    (project / "src/demo/debug.py").write_text(SECRET, encoding="utf-8")
    code, out = check(project)
    assert "debug.py" in out and len(runs) == 2
    (project / "src/demo/debug.py").unlink()
    (project / "src/demo/settings.py").unlink()
    assert check(project) == (0, "All checks passed\n")
    assert len(runs) == 3


def test_other_options_are_another_run(project: Path, runs: list[Path]) -> None:
    check(project)
    assert check(project, "--ignore", "S001") == (0, "All checks passed\n")
    assert check(project, "--fail-level", "warning")[0] == 1
    assert len(runs) == 3


def test_the_project_configuration_is_read_again(project: Path, runs: list[Path]) -> None:
    check(project)
    pyproject = project / "pyproject.toml"
    _bump(pyproject, pyproject.read_text() + '\n[tool.webkit.check]\nignore = ["S001"]\n')
    assert check(project) == (0, "All checks passed\n")
    assert len(runs) == 2


def test_a_changed_rule_set_is_checked_again(
    project: Path, runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    check(project)
    record = next((runmemo._record_path(runmemo.run_key(()))).parent.glob("*.pickle"))
    import pickle

    recorded = {path for path, _ in pickle.loads(record.read_bytes())["paths"]}
    rules = Path(runmemo.__file__).parent
    # every rule module, webkit's own code and Jinja's version are part of the record
    for name in ("security_python.py", "templates.py", "filecache.py", "runner.py"):
        assert str(rules / name) in recorded
    assert str(rules.parent / "__init__.py") in recorded
    assert any(path.endswith("jinja2/__init__.py") for path in recorded)
    # an edited (here: seemingly edited) rule module is a new rule set: run again
    real = runmemo.signature
    edited = str(rules / "security_python.py")
    monkeypatch.setattr(runmemo, "signature", lambda path: None if path == edited else real(path))
    check(project)
    assert len(runs) == 2


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_what_git_tracks_is_seen(project: Path, runs: list[Path]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)

    git("init", "-q")
    (project / ".env").write_text("SECRET_KEY=x\n", encoding="utf-8")
    first = check(project)
    assert "S010" not in first[1]
    assert check(project) == first
    git("add", "-f", ".env")  # committed secrets: S010, found although no file changed
    assert "S010" in check(project)[1]
    assert len(runs) == 2


def test_files_saved_just_before_the_run_are_not_trusted(
    tmp_path: Path, runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runmemo, "RACY_NS", 3600 * 1_000_000_000)
    root = make_project(tmp_path / "fresh")
    check(root)
    check(root)
    assert len(runs) == 2  # nothing recorded: a second save in the same tick could hide


def test_other_formats_and_report_files_are_never_replayed(
    project: Path, runs: list[Path], tmp_path: Path
) -> None:
    check(project)
    check(project, "--format", "json")
    check(project, "--format", "json")
    check(project, "-o", str(tmp_path / "report.txt"))
    assert len(runs) == 4
    assert (tmp_path / "report.txt").read_text(encoding="utf-8") == check(project)[1]

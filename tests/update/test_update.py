"""``webkit update`` end to end on a template kept in git with two tagged versions."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.update.conftest import commit_all, git, release_v2, snapshot
from webkit_cli.cli import cli
from webkit_cli.update import plan_update, update_project
from webkit_cli.update.apply import JOURNAL, PROGRESS, recover
from webkit_cli.update.merge import Outcome

MakeProject = Callable[..., Path]


def local_edits(project: Path) -> None:
    """Realistic local work: a new view, a changed stylesheet, an edited README."""
    (project / "src/proj/views.py").write_text("def about() -> str:\n    return 'about'\n")
    css = project / "src/proj/static/style.css"
    css.write_text(css.read_text().replace("margin: 0;", "margin: 0 auto;"))
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("A small project.", "My own project."))
    commit_all(project, "local edits")


def outcomes(project: Path, **kwargs: object) -> dict[str, str]:
    plan = plan_update(project_dir=project, **kwargs)  # type: ignore[arg-type]
    return {
        c.path.as_posix(): c.outcome.value
        for c in plan.changes
        if c.outcome not in (Outcome.UNCHANGED,)
    }


def test_every_kind_of_change_is_merged_as_documented(
    make_project: MakeProject, template_repo: Path
) -> None:
    project = make_project()
    local_edits(project)
    (project / "legacy.txt").write_text("kept for old readers\nand my note\n")
    commit_all(project)
    release_v2(template_repo)

    result = update_project(project_dir=project, verify=False)

    assert result.applied
    got = {c.path.as_posix(): c.outcome for c in result.plan.changes}
    assert got == {
        "README.md": Outcome.MERGED,
        "docs/index.md": Outcome.UNCHANGED,
        "legacy.txt": Outcome.KEPT_REMOVED,
        "pyproject.toml": Outcome.UPDATED,
        "src/proj/__init__.py": Outcome.UNCHANGED,
        "src/proj/health.py": Outcome.ADDED,
        "src/proj/static/logo.bin": Outcome.UPDATED,
        "src/proj/static/style.css": Outcome.MERGED,
        "tests/test_app.py": Outcome.UNCHANGED,
        "tests/test_helpers.py": Outcome.REMOVED,
        "tests/test_utils.py": Outcome.MOVED,
    }
    # Every local edit survives, next to the template's changes.
    readme = (project / "README.md").read_text()
    assert "My own project." in readme and "webkit run --reload" in readme
    css = (project / "src/proj/static/style.css").read_text()
    assert "margin: 0 auto;" in css and "color: blue;" in css
    assert (project / "src/proj/views.py").read_text().startswith("def about()")
    assert "and my note" in (project / "legacy.txt").read_text()
    assert (project / "src/proj/static/logo.bin").read_bytes() == b"\x89PNG\0version-two"
    assert not (project / "tests/test_helpers.py").exists()
    assert "test_two" in (project / "tests/test_utils.py").read_text()
    # The .env with the project's own secret is never the update's business.
    assert (project / ".env").read_text().startswith("SECRET_KEY=")
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"]["template"]
    assert table["version"] == "2.0.0"
    assert table["answers"]["database"] == "sqlite"


def test_a_conflict_gets_gits_markers_is_listed_and_unmerged_in_git(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("webkit run.", "flask run."))
    commit_all(project)
    release_v2(template_repo)

    result = runner.invoke(cli, ["update", str(project), "--no-verify"])

    assert result.exit_code == 1, result.output
    assert "Conflicts remain in 1 file(s)" in result.output
    assert "  README.md" in result.output
    assert (project / "README.md").read_text() == (
        "# proj\n\nA small project.\n\n<<<<<<< project\nRun it with flask run.\n=======\n"
        "Run it with webkit run --reload.\n>>>>>>> template 2.0.0\n"
    )
    stages = git(project, "ls-files", "-u", "README.md").split("\n")
    assert [line.split()[2] for line in stages if line] == ["1", "2", "3"]
    assert git(project, "status", "--porcelain", "README.md").startswith("UU")


def test_conflict_rej_keeps_the_projects_lines_and_writes_a_rej_file(
    make_project: MakeProject, template_repo: Path
) -> None:
    project = make_project()
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("webkit run.", "flask run."))
    css = project / "src/proj/static/style.css"
    css.write_text(css.read_text().replace("color: black;", "color: red;"))
    commit_all(project)
    release_v2(
        template_repo,
        {
            "files/src/{{ package }}/static/style.css": (
                "h2 {\n  color: gray;\n}\n\nbody {\n  margin: 0;\n}\n\nh1 {\n  color: blue;\n}\n"
            )
        },
    )

    update_project(project_dir=project, verify=False, conflict_style="rej")

    text = readme.read_text()
    assert "<<<<<<<" not in text and "flask run." in text
    rej = (project / "README.md.rej").read_text()
    assert "-Run it with flask run.\n+Run it with webkit run --reload.\n" in rej
    # In a file with a clean and a conflicting hunk, the clean one is applied.
    css_text = css.read_text()
    assert css_text.startswith("h2 {") and "color: red;" in css_text
    assert (
        "-  color: red;\n+  color: blue;\n"
        in (project / "src/proj/static/style.css.rej").read_text()
    )


def test_dry_run_writes_nothing_and_shows_each_file(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    local_edits(project)
    release_v2(template_repo)
    before = snapshot(project)

    result = runner.invoke(cli, ["update", str(project), "--dry-run", "--diff"])

    assert result.exit_code == 0, result.output
    assert snapshot(project) == before
    assert "mini 1.0.0 -> 2.0.0" in result.output
    assert "2.0.0 (security):" in result.output and "Headings are blue." in result.output
    for line in ("src/proj/health.py", "added", "tests/test_utils.py", "moved", "merged cleanly"):
        assert line in result.output
    assert "+  color: blue;" in result.output  # the unified diff
    assert "-  color: black;" in result.output


def test_changed_answer_adds_and_drops_files(
    make_project: MakeProject, template_repo: Path
) -> None:
    project = make_project()
    release_v2(template_repo)

    update_project(
        project_dir=project, data={"database": "postgresql", "docs": "false"}, verify=False
    )

    assert (project / "postgres.txt").read_text() == "DATABASE=postgresql\n"
    assert not (project / "docs/index.md").exists()  # the template now skips it
    answers = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"]["template"][
        "answers"
    ]
    assert answers["database"] == "postgresql" and answers["docs"] is False


def test_a_file_the_template_now_skips_is_kept_when_changed_locally(
    make_project: MakeProject, template_repo: Path
) -> None:
    project = make_project()
    (project / "docs/index.md").write_text("# My docs\n")
    commit_all(project)
    release_v2(template_repo)

    update_project(project_dir=project, data={"docs": "false"}, verify=False)

    assert (project / "docs/index.md").read_text() == "# My docs\n"


def test_check_says_when_the_project_is_behind_and_flags_security(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    up_to_date = runner.invoke(cli, ["update", str(project), "--check"])
    assert up_to_date.exit_code == 0
    assert "Up to date: template mini 1.0.0" in up_to_date.output

    release_v2(template_repo)
    behind = runner.invoke(cli, ["update", str(project), "--check"])
    assert behind.exit_code == 1
    assert "mini 1.0.0 -> 2.0.0 is available" in behind.output
    assert "Security fixes in 2.0.0" in behind.output


def test_update_to_a_named_version_and_an_unknown_one(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    release_v2(template_repo)
    before = snapshot(project)

    result = runner.invoke(cli, ["update", str(project), "--to", "9.9.9"])

    assert result.exit_code == 1
    assert "Error: " in result.output and "no tag for version 9.9.9" in result.output
    assert "1.0.0, 2.0.0" in result.output
    assert snapshot(project) == before


def test_a_dirty_git_tree_is_refused_unless_allowed(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    release_v2(template_repo)
    (project / "README.md").write_text("uncommitted\n")
    before = snapshot(project)

    refused = runner.invoke(cli, ["update", str(project), "--no-verify"])

    assert refused.exit_code == 1
    assert "uncommitted changes (README.md)" in refused.output
    assert "--allow-dirty" in refused.output
    assert snapshot(project) == before
    allowed = runner.invoke(cli, ["update", str(project), "--no-verify", "--allow-dirty"])
    assert allowed.exit_code == 1  # its README now conflicts with the template's
    assert "README.md" in allowed.output


def test_a_project_without_provenance_is_one_error_line(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.webkit]\napp = "x"\n')

    result = runner.invoke(cli, ["update", str(tmp_path)])

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "[tool.webkit.template]" in lines[0]


def test_verification_failure_applies_nothing_and_force_applies(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    failing = "def test_broken_by_the_template() -> None:\n    assert 1 == 2\n"
    release_v2(template_repo, {"files/tests/test_new.py": failing})
    before = snapshot(project)

    refused = runner.invoke(cli, ["update", str(project)])

    assert refused.exit_code == 1
    assert "fails its tests: nothing was changed" in refused.output
    assert "test_broken_by_the_template" in refused.output
    assert snapshot(project) == before

    forced = runner.invoke(cli, ["update", str(project), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (project / "tests/test_new.py").exists()


def test_verification_passes_for_a_good_release(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    release_v2(template_repo)

    result = runner.invoke(cli, ["update", str(project)])

    assert result.exit_code == 0, result.output
    assert "the project's tests pass" in result.output
    assert "Updated to template mini 2.0.0." in result.output


def test_recovery_restores_a_project_whose_update_was_killed_mid_swap(
    make_project: MakeProject, template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project()
    release_v2(template_repo)
    before = snapshot(project)
    # Kill the swap after its third rename, as SIGKILL would: no clean-up runs.
    from webkit_cli.update import apply

    renames = 0
    real_rename = Path.rename

    def dying_rename(self: Path, target: Path) -> Path:
        nonlocal renames
        renames += 1
        if renames == 3:
            raise SystemExit("killed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", dying_rename)
    monkeypatch.setattr(apply.shutil, "rmtree", lambda *a, **k: None)  # the journal stays
    monkeypatch.setattr(apply, "_rollback", lambda *a, **k: None)
    with pytest.raises(SystemExit):
        update_project(project_dir=project, verify=False)
    monkeypatch.undo()
    assert snapshot(project) != before
    staging = list(project.parent.glob(".proj.*.webkit-update"))
    assert len(staging) == 1 and (staging[0] / JOURNAL).is_file()
    assert (staging[0] / PROGRESS).is_file()

    said = recover(project)

    assert snapshot(project) == before
    assert "the project is as it was before it" in said[0]
    assert not list(project.parent.glob(".proj.*.webkit-update"))


def test_ctrl_c_at_any_moment_leaves_the_project_whole(
    make_project: MakeProject, template_repo: Path
) -> None:
    """SIGINT at a random moment: the project is either as it was or fully updated."""
    project = make_project()
    release_v2(template_repo)
    before = snapshot(project)
    update_project(project_dir=project, verify=False)
    after = snapshot(project)
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    results = {"before": 0, "after": 0}
    for _ in range(12):
        git(project, "reset", "-q", "--hard", "HEAD")
        git(project, "clean", "-qfdx")
        assert snapshot(project) == before
        proc = subprocess.Popen(
            [sys.executable, "-m", "webkit_cli", "update", str(project), "--no-verify"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        now = snapshot(project)
        assert now in (before, after), "a Ctrl-C left a half-updated project"
        results["before" if now == before else "after"] += 1
        assert not list(project.parent.glob(".proj.*.webkit-update"))
    assert results["before"] > 0  # the interrupt did land before the swap at least once


def test_a_template_given_as_a_git_url_updates_across_its_tags(
    make_project: MakeProject, template_repo: Path, runner: CliRunner
) -> None:
    project = make_project()
    release_v2(template_repo)

    url = f"{template_repo.as_uri()}#mini"
    result = runner.invoke(cli, ["update", str(project), "--no-verify", "--template", url])

    assert result.exit_code == 0, result.output
    assert (project / "src/proj/health.py").exists()
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"]["template"]
    assert table["version"] == "2.0.0" and table["source"] == url


def test_a_template_folder_outside_git_updates_only_from_its_content_and_says_so(
    tmp_path: Path, template_repo: Path, runner: CliRunner
) -> None:
    import shutil

    from webkit_cli.scaffold.engine import create_project
    from webkit_cli.scaffold.template import load_template

    plain = tmp_path / "plain-template"
    shutil.copytree(template_repo / "mini", plain)
    project = tmp_path / "p2"
    create_project(template=load_template(plain), target=project, author="t")
    (plain / "files" / "NOTES.md").write_text("new in the template\n")

    same_version = runner.invoke(cli, ["update", str(project), "--dry-run"])

    assert same_version.exit_code == 0, same_version.output
    assert "not in git" in same_version.output and "only its current" in same_version.output
    assert "NOTES.md" in same_version.output and "added" in same_version.output
    missing = runner.invoke(cli, ["update", str(project), "--to", "9.0.0"])
    assert missing.exit_code == 1
    assert "holds version 1.0.0 only" in missing.output

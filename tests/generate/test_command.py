"""``webkit generate`` on a real project made by ``webkit new``: the plan, the writes, and one
clear error (with nothing written) for each bad input."""

from __future__ import annotations

import contextlib
import difflib
import re
import shutil
import subprocess
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.templates.conftest import child_env, generate
from webkit_cli.cli import cli


def webkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``webkit ARGS`` run from ``cwd``, in this process (the command's behaviour is tested
    here; tests/templates/test_generate.py runs it as a process). An exception that is not
    webkit's own error ends the output with its traceback, as ``python -m webkit_cli``
    would."""
    with contextlib.chdir(cwd):
        result = CliRunner(env=child_env({"COLUMNS": "200"})).invoke(cli, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(*result.exc_info)
        )
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def _site_as_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("site", tmp_path_factory.mktemp("generated"))


@pytest.fixture
def site(_site_as_generated: Path, tmp_path: Path) -> Path:
    """A fresh copy of one `webkit new` site per test: each test may change its copy."""
    copy = tmp_path / _site_as_generated.name
    shutil.copytree(_site_as_generated, copy, symlinks=True)
    return copy


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_generators_of_the_projects_template(site: Path, tmp_path: Path) -> None:
    inside = webkit("generate", "--help", cwd=site)
    assert inside.returncode == 0
    assert "resource" in inside.stdout
    outside = webkit("generate", "--help", cwd=tmp_path)
    assert outside.returncode == 0
    assert "Run inside a project made by 'webkit new'" in " ".join(outside.stdout.split())


def test_dry_run_plans_every_file_and_edit_and_writes_nothing(site: Path) -> None:
    before = snapshot(site)
    result = webkit("generate", "resource", "post", "title:str:required", "--dry-run", cwd=site)
    assert result.returncode == 0, result.stderr
    package = "my_site"
    for path in [
        f"src/{package}/posts/models.py",
        f"src/{package}/posts/views.py",
        f"src/{package}/templates/posts/form.html",
        "tests/test_posts.py",
        f"src/{package}/migrations/versions/0003_create_posts.py",
    ]:
        assert f"create     {path}" in result.stdout, result.stdout
    assert f"edit       src/{package}/__init__.py" in result.stdout
    assert "app.register_blueprint(posts.bp)" in result.stdout
    assert "Nothing was written (--dry-run)." in result.stdout
    assert snapshot(site) == before


def test_generate_writes_the_resource_and_makes_minimal_edits(site: Path) -> None:
    before = snapshot(site)
    result = webkit("generate", "resource", "post", "title:str:required", cwd=site)
    assert result.returncode == 0, result.stderr
    after = snapshot(site)
    changed = {p for p in before if before[p] != after[p]}
    package_init = "src/my_site/__init__.py"
    assert changed == {package_init, "src/my_site/templates/base.html"}
    # Minimal edits: base.html gains one line; __init__.py one line, and its import names
    # one more module.
    for path, removed_count, added_count in [
        (package_init, 1, 2),
        ("src/my_site/templates/base.html", 0, 1),
    ]:
        diff = list(
            difflib.ndiff(before[path].decode().splitlines(), after[path].decode().splitlines())
        )
        removed = [line[2:] for line in diff if line.startswith("- ")]
        added = [line[2:] for line in diff if line.startswith("+ ")]
        assert (len(removed), len(added)) == (removed_count, added_count), diff
        assert all("posts" in line for line in added)
    assert "    app.register_blueprint(posts.bp)" in after[package_init].decode()
    # Imported by the factory with the project's other modules, not at the top of the file.
    imports = [line for line in after[package_init].decode().splitlines() if "import" in line]
    assert [line for line in imports if "posts" in line] == [
        "    from . import auth, cli, db, errors, input_guard, limits, posts, security, views,"
        " welcome"
    ]
    assert "flask --app my_site db upgrade" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["post", "title:strng"], "unknown type 'strng'. Did you mean 'str'?"),
        (["class", "title:str"], "'class' is reserved"),
        (["post"], "Give post at least one field"),
        (["post", "author:ref:writer"], "the project has no model 'writer'"),
        (["message", "title:str"], "already has a model Message"),
        (["post", "id:int"], "'id' is reserved"),
    ],
)
def test_bad_input_is_one_error_and_nothing_is_written(
    site: Path, args: list[str], message: str
) -> None:
    before = snapshot(site)
    assert_refused(webkit("generate", "resource", *args, cwd=site), message)
    assert snapshot(site) == before


def test_a_resource_that_exists_is_refused(site: Path) -> None:
    assert webkit("generate", "resource", "post", "title:str", cwd=site).returncode == 0
    before = snapshot(site)
    assert_refused(
        webkit("generate", "resource", "posts", "title:str", cwd=site), "already has a model Post"
    )
    assert snapshot(site) == before


def test_a_heavily_edited_factory_gets_the_line_to_add_and_nothing_is_written(site: Path) -> None:
    init = site / "src" / "my_site" / "__init__.py"
    source = init.read_text()
    # Blueprints registered in a loop: there is no line to add one after.
    init.write_text(
        source.replace(
            "app.register_blueprint(views.bp)",
            "for bp in [views.bp]:\n        app.register_blueprint(bp)",
        ).replace("app.register_blueprint(", "app.register_blueprint_(")
    )
    before = snapshot(site)
    result = webkit("generate", "resource", "post", "title:str", cwd=site)
    assert_refused(result, "Add `app.register_blueprint(posts.bp)` where it belongs yourself")
    assert "Nothing was written." in result.stderr
    assert snapshot(site) == before


def test_outside_a_generated_project_it_says_why(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert_refused(
        webkit("generate", "resource", "post", "title:str", cwd=tmp_path),
        "has no [tool.webkit.template] table",
    )


def test_an_existing_file_is_a_conflict_unless_forced(site: Path) -> None:
    target = site / "tests" / "test_posts.py"
    target.write_text("# mine\n")
    before = snapshot(site)
    assert_refused(
        webkit("generate", "resource", "post", "title:str", cwd=site),
        "1 existing file differs from what the generator writes: tests/test_posts.py. Add --force",
    )
    assert snapshot(site) == before
    forced = webkit("generate", "resource", "post", "title:str", "--force", cwd=site)
    assert forced.returncode == 0, forced.stderr
    assert "def test_create_show_edit_and_delete" in target.read_text()


def test_no_migration_writes_none(site: Path) -> None:
    result = webkit("generate", "resource", "post", "title:str", "--no-migration", cwd=site)
    assert result.returncode == 0, result.stderr
    versions = site / "src" / "my_site" / "migrations" / "versions"
    assert sorted(p.name for p in versions.glob("*.py")) == [
        "0001_initial_schema.py",
        "0002_accounts.py",
    ]
    assert "db upgrade" not in result.stdout


def test_a_project_older_than_its_templates_generator_is_told_to_update_first(
    tmp_path: Path,
) -> None:
    """Templates 1.0.0 and 1.1.0 had no generator, and what today's writes needs 1.2.0's
    app (migrations, the id converter): with --no-migration it wrote files whose tests
    failed to import."""
    from webkit_cli.scaffold.engine import create_project
    from webkit_cli.scaffold.template import load_template
    from webkit_cli.update.releases import _extract_zip, archive_path

    archive = archive_path("site", "1.0.0")
    assert archive is not None
    _extract_zip(archive, tmp_path / "release")
    project = tmp_path / "old"
    create_project(template=load_template(tmp_path / "release" / "site"), target=project)
    pyproject = project / "pyproject.toml"
    # As that webkit recorded a built-in template: no source folder.
    pyproject.write_text(re.sub(r'(?m)^source = ".*"\n', "", pyproject.read_text()))
    before = snapshot(project)
    result = webkit("generate", "resource", "post", "title:str", "--no-migration", cwd=project)
    assert_refused(
        result,
        "at template site 1.0.0, which had no 'resource' generator (it came with site 1.2.0",
    )
    assert "update the project first with 'webkit update'" in " ".join(result.stderr.split())
    assert snapshot(project) == before


def test_a_failed_write_restores_the_project(site: Path) -> None:
    # A file where the resource's package folder goes: the write fails half-way through.
    (site / "src" / "my_site" / "posts").write_text("in the way\n")
    before = snapshot(site)
    result = webkit("generate", "resource", "post", "title:str", cwd=site)
    assert result.returncode == 1
    assert "restored as it was" in result.stderr, result.stderr
    assert snapshot(site) == before
    assert not [p for p in site.rglob("*") if ".webkit-" in p.name]

"""create_project end to end on the tiny template: writing, refusing, --force, rollback."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.scaffold.helpers import PNG, make_template, tree
from webkit_cli import __version__
from webkit_cli.errors import ScaffoldError, TemplateError
from webkit_cli.scaffold import create_project, write
from webkit_cli.scaffold.write import check_writable_parent


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_template(tmp_path / "tpl")


def create(tiny: Path, target: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("author", "Ada")
    return create_project(template=str(tiny), target=target, **kwargs)


def test_creates_the_project(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = create(tiny, out / "my-site", data={"docker": "yes"})
    project = out / "my-site"
    assert result.files_written == 7
    files = tree(project)
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        ".env",
        "Dockerfile",
        "src/my_site/__init__.py",
        "src/my_site/templates/base.html",
        "src/my_site/static/logo.png",
    }
    assert files["src/my_site/static/logo.png"] == PNG
    assert files["src/my_site/__init__.py"] == b'"""my-site."""\n\nNAME = "my_site"\n'
    # The staging folder was renamed into place: nothing else is left in the parent.
    assert _names(out) == ["my-site"]
    # Not mkdtemp's 0o700: the user's umask applies to the project folder.
    assert stat.S_IMODE(project.stat().st_mode) == 0o777 & ~_umask()


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_provenance_is_recorded_in_pyproject(tiny: Path, tmp_path: Path) -> None:
    create(tiny, tmp_path / "my-site", data={"database": "postgresql"}, description='say "hi" \\o/')
    data = tomllib.loads((tmp_path / "my-site" / "pyproject.toml").read_text())
    assert data["tool"]["webkit"]["app"] == "my_site:create_app"
    record = data["tool"]["webkit"]["template"]
    assert record["name"] == "tiny"
    assert record["version"] == "0.3.0"
    assert record["webkit_version"] == __version__
    assert record["answers"] == {
        "name": "my-site",
        "package": "my_site",
        "description": 'say "hi" \\o/',
        "author": "Ada",
        "database": "postgresql",
        "docker": False,
        "db_name": "my_site_db",
    }
    # The secret key goes into .env only, never into the recorded answers.
    secret = (tmp_path / "my-site" / ".env").read_text().splitlines()[0].split("=", 1)[1]
    assert len(secret) == 64
    assert secret not in (tmp_path / "my-site" / "pyproject.toml").read_text()


def test_each_project_gets_a_fresh_secret(tiny: Path, tmp_path: Path) -> None:
    create(tiny, tmp_path / "a")
    create(tiny, tmp_path / "b")
    assert (tmp_path / "a" / ".env").read_text() != (tmp_path / "b" / ".env").read_text()


def test_template_defining_the_provenance_table_is_refused(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[project]\nname = "x"\n[tool.webkit.template]\nname = "x"\n'}
    tpl = make_template(tmp_path / "tpl", files=files)
    with pytest.raises(TemplateError, match=r"defines \[tool.webkit.template\] itself"):
        create(tpl, tmp_path / "proj")
    assert not (tmp_path / "proj").exists()


def test_template_with_inline_webkit_table_is_refused(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[project]\nname = "x"\n[tool]\nwebkit = { app = "x:y" }\n'}
    tpl = make_template(tmp_path / "tpl", files=files)
    with pytest.raises(TemplateError, match=r"write \[tool.webkit\] as a normal table"):
        create(tpl, tmp_path / "proj")


def test_missing_parents_are_created(tiny: Path, tmp_path: Path) -> None:
    create(tiny, tmp_path / "a" / "b" / "proj")
    assert (tmp_path / "a" / "b" / "proj" / "README.md").is_file()


def test_an_empty_existing_folder_is_used_and_kept(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir(mode=0o750)
    inode = (tmp_path / "proj").stat().st_ino
    result = create(tiny, tmp_path / "proj")
    assert (tmp_path / "proj" / "README.md").is_file()
    assert not result.updated
    # Written into the folder, not renamed over it: same folder, same permissions.
    assert (tmp_path / "proj").stat().st_ino == inode
    assert stat.S_IMODE((tmp_path / "proj").stat().st_mode) == 0o750


def test_the_current_folder_can_be_the_target(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "shop"
    here.mkdir()
    monkeypatch.chdir(here)
    create(tiny, Path())
    assert Path.cwd() == here and (here / "src" / "shop" / "__init__.py").is_file()


def test_interrupted_render_into_an_empty_folder_leaves_it_empty(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proj").mkdir()
    _fail_after(monkeypatch, "_atomic_write", 4, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        create(tiny, tmp_path / "proj")
    assert _names(tmp_path / "proj") == []


def test_a_target_appearing_while_rendering_is_not_replaced(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "proj"
    real = write._write_bytes

    def racing(path: Path, data: bytes, mode: int) -> None:
        target.mkdir(exist_ok=True)  # another program creates the folder meanwhile
        real(path, data, mode)

    monkeypatch.setattr(write, "_write_bytes", racing)
    with pytest.raises(ScaffoldError, match="appeared while rendering"):
        create(tiny, target)
    assert _names(target) == []
    assert _names(tmp_path) == ["proj", "tpl"]


def test_an_empty_symlinked_folder_keeps_its_link(tiny: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    create(tiny, tmp_path / "link", name="proj")
    assert (tmp_path / "link").is_symlink()
    assert (real / "README.md").read_text().startswith("# proj")


def test_non_empty_target_is_refused_and_untouched(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="already exists and is not empty.*--force"):
        create(tiny, tmp_path / "proj")
    assert tree(tmp_path / "proj") == {"notes.txt": b"mine"}
    assert _names(tmp_path) == ["proj", "tpl"]


def test_target_that_is_a_file_is_refused(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").write_text("a file")
    for force in (False, True):
        with pytest.raises(ScaffoldError, match="exists and is a file"):
            create(tiny, tmp_path / "proj", force=force)
    assert (tmp_path / "proj").read_text() == "a file"


def test_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ScaffoldError, match="is a file, not a folder"):
        check_writable_parent(tmp_path / "f" / "sub")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def _scaffold_error_without_privileges(tiny: Path, target: Path, **kwargs: Any) -> str:
    """create_project's ScaffoldError message, as a user whom permission bits apply to.

    As root (CI containers) the permission bits are ignored, so the call runs in a child
    process without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), which obeys them.
    """
    if os.geteuid() != 0:
        with pytest.raises(ScaffoldError) as info:
            create(tiny, target, **kwargs)
        return info.value.message
    import shutil
    import subprocess

    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
    code = (
        "import sys, pathlib; from webkit_cli.scaffold import create_project\n"
        "from webkit_cli.errors import ScaffoldError\n"
        "try:\n"
        f"    create_project(template={str(tiny)!r}, target=pathlib.Path({str(target)!r}), "
        f"author='x', **{kwargs!r})\n"
        "except ScaffoldError as e:\n    print(e.message); sys.exit(1)\n"
    )
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    proc = subprocess.run(
        [*drop, sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unwritable_parent_is_refused(tiny: Path, tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        message = _scaffold_error_without_privileges(tiny, parent / "proj")
        assert "permission denied" in message
        assert "choose another --dir" in message
        assert _names(parent) == []
    finally:
        parent.chmod(0o755)


def _fail_after(monkeypatch: pytest.MonkeyPatch, name: str, n: int, exc: BaseException) -> None:
    real = getattr(write, name)
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > n:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(write, name, flaky)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_interrupted_render_leaves_nothing(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    _fail_after(monkeypatch, "_write_bytes", 3, exc)
    # A full disk is one Error line that says what was removed; Ctrl-C unwinds as it is.
    expected = KeyboardInterrupt if isinstance(exc, KeyboardInterrupt) else ScaffoldError
    with pytest.raises(expected) as info:
        create(tiny, tmp_path / "new" / "deeper" / "proj")
    if expected is ScaffoldError:
        message = str(info.value)
        assert "No space left on device: free some space" in message
        assert "the hidden staging folder and the folders it was in were removed" in message
    # Neither the project, nor the staging folder, nor the parents this run created.
    assert _names(tmp_path) == ["tpl"]


def test_render_error_late_in_the_tree_leaves_nothing(tmp_path: Path) -> None:
    files = {"a.txt": "a", "b/c.txt": "c", "zz.txt.jinja": "{{ undefined_thing }}"}
    tpl = make_template(tmp_path / "tpl", files=files)
    (tmp_path / "out").mkdir()
    with pytest.raises(TemplateError, match=r"zz\.txt\.jinja:1: 'undefined_thing' is undefined"):
        create(tpl, tmp_path / "out" / "proj")
    assert _names(tmp_path / "out") == []


def test_bad_name_is_refused_before_anything_is_written(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="standard-library module"):
        create(tiny, tmp_path / "email")
    assert not (tmp_path / "email").exists()


# --- --force / --overwrite ---------------------------------------------------------------


@pytest.fixture
def existing(tiny: Path, tmp_path: Path) -> Path:
    """A project generated from the tiny template, then edited by its user."""
    project = tmp_path / "proj"
    create(tiny, project)
    (project / "README.md").write_text("my own readme\n")  # conflict
    (project / ".env").write_text("SECRET_KEY=mine\n")  # conflict, but skip_if_exists
    (project / "src" / "proj" / "__init__.py").unlink()  # missing: --force adds it
    (project / "notes.txt").write_text("not in the template\n")  # untouched by anything
    return project


def test_force_lists_conflicts_and_writes_nothing(tiny: Path, existing: Path) -> None:
    before = tree(existing)
    with pytest.raises(
        ScaffoldError, match=r"1 existing file differs .*: README\.md\. .*--overwrite"
    ):
        create(tiny, existing, force=True)
    assert tree(existing) == before


def test_force_adds_missing_files_when_nothing_conflicts(tiny: Path, existing: Path) -> None:
    (existing / "README.md").unlink()
    result = create(tiny, existing, force=True)
    assert result.plan is not None
    assert sorted(e.path.as_posix() for e in result.plan.add) == [
        "README.md",
        "src/proj/__init__.py",
    ]
    assert (existing / "src" / "proj" / "__init__.py").is_file()
    assert (existing / ".env").read_text() == "SECRET_KEY=mine\n"  # kept (skip_if_exists)
    assert (existing / "notes.txt").read_text() == "not in the template\n"
    assert [p.as_posix() for p in result.plan.kept] == [".env"]
    assert "pyproject.toml" in {p.as_posix() for p in result.plan.unchanged}


def test_force_overwrite_replaces_exactly_the_conflicts(tiny: Path, existing: Path) -> None:
    before = tree(existing)
    result = create(tiny, existing, force=True, overwrite=True)
    after = tree(existing)
    changed = {k for k in before if k in after and before[k] != after[k]}
    added = set(after) - set(before)
    # pyproject.toml re-renders identically except the provenance secret-free content: unchanged.
    assert changed == {"README.md"}
    assert added == {"src/proj/__init__.py"}
    assert after[".env"] == b"SECRET_KEY=mine\n"
    assert after["notes.txt"] == before["notes.txt"]
    assert result.files_written == 2
    assert not [p for p in existing.iterdir() if "webkit" in p.name]


def test_failure_part_way_through_overwrite_rolls_back(
    tiny: Path, existing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (existing / "src" / "proj" / "static" / "logo.png").write_bytes(b"old logo")  # 2nd conflict
    # A template file in a new folder, so the rollback must also remove a folder it created.
    (tiny / "files" / "docs").mkdir()
    (tiny / "files" / "docs" / "index.md").write_text("docs\n")
    before = tree(existing)
    # Two adds and the first replacement succeed, then the disk "fills up".
    _fail_after(monkeypatch, "_atomic_write", 3, OSError(28, "No space left on device"))
    with pytest.raises(
        ScaffoldError,
        match=r"No space left on device.*restored as it was \(2 added files removed, "
        r"1 replaced file restored\)",
    ):
        create(tiny, existing, force=True, overwrite=True)
    assert tree(existing) == before
    assert not (existing / "docs").exists()
    assert not [p for p in existing.rglob("*") if "webkit" in p.name]


def test_ctrl_c_part_way_through_force_rolls_back(
    tiny: Path, existing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(existing)
    _fail_after(monkeypatch, "_atomic_write", 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        create(tiny, existing, force=True, overwrite=True)
    assert tree(existing) == before


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_force_with_an_unreadable_file_is_refused(tiny: Path, existing: Path) -> None:
    (existing / "README.md").chmod(0)
    before = {p: p.stat().st_mtime_ns for p in existing.rglob("*")}
    try:
        message = _scaffold_error_without_privileges(tiny, existing, force=True, overwrite=True)
        assert "Cannot read" in message and "README.md" in message
        assert {p: p.stat().st_mtime_ns for p in existing.rglob("*")} == before
    finally:
        (existing / "README.md").chmod(0o644)


def test_force_keeps_a_replaced_symlink_restorable(
    tiny: Path, existing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (existing / "notes.txt").write_text("shared readme\n")
    (existing / "README.md").unlink()
    (existing / "README.md").symlink_to("notes.txt")
    (existing / "src" / "proj" / "static" / "logo.png").write_bytes(b"old logo")
    # One add, the README replaced, then the logo fails: the rollback must bring back the
    # symlink itself (not a copy of the file it pointed to).
    _fail_after(monkeypatch, "_atomic_write", 2, OSError(28, "No space left on device"))
    with pytest.raises(ScaffoldError, match="the folder was restored as it was"):
        create(tiny, existing, force=True, overwrite=True)
    assert (existing / "README.md").is_symlink()
    assert (existing / "README.md").readlink() == Path("notes.txt")
    assert (existing / "notes.txt").read_text() == "shared readme\n"
    assert (existing / "src" / "proj" / "static" / "logo.png").read_bytes() == b"old logo"


def test_force_refuses_a_file_where_the_template_has_a_folder(tiny: Path, existing: Path) -> None:
    (existing / "src" / "proj" / "templates" / "base.html").unlink()
    (existing / "src" / "proj" / "templates").rmdir()
    (existing / "src" / "proj" / "templates").write_text("oops")
    before = tree(existing)
    with pytest.raises(ScaffoldError, match="is a file but the template has a folder there"):
        create(tiny, existing, force=True, overwrite=True)
    assert tree(existing) == before


def test_force_refuses_a_folder_where_the_template_has_a_file(tiny: Path, existing: Path) -> None:
    (existing / "README.md").unlink()
    (existing / "README.md").mkdir()
    with pytest.raises(ScaffoldError, match="is a folder but the template has a file there"):
        create(tiny, existing, force=True, overwrite=True)


def test_force_refuses_a_symlink_that_escapes_the_target(
    tiny: Path, existing: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    src_pkg = existing / "src" / "proj"
    for p in sorted(src_pkg.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    src_pkg.rmdir()
    src_pkg.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ScaffoldError, match="outside the target folder"):
        create(tiny, existing, force=True, overwrite=True)
    assert _names(outside) == []


def test_dry_run_writes_nothing(tiny: Path, tmp_path: Path, existing: Path) -> None:
    result = create(tiny, tmp_path / "fresh", dry_run=True)
    assert not (tmp_path / "fresh").exists()
    assert "README.md" in {e.path.as_posix() for e in result.entries}
    before = tree(existing)
    result = create(tiny, existing, dry_run=True, force=True, overwrite=True)
    assert tree(existing) == before
    assert result.plan is not None
    assert [p.as_posix() for p in result.plan.conflicts] == ["README.md"]


def test_executable_files_stay_executable(tmp_path: Path) -> None:
    tpl = make_template(tmp_path / "tpl", files={"run.sh": "#!/bin/sh\n", "a.txt": "a"})
    (tpl / "files" / "run.sh").chmod(0o755)
    create(tpl, tmp_path / "proj")
    assert (tmp_path / "proj" / "run.sh").stat().st_mode & 0o100
    assert not (tmp_path / "proj" / "a.txt").stat().st_mode & 0o111

"""Writing under real failures: a full disk, long names, a SIGKILL and the journal after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scaffold.helpers import make_template, tree
from webkit_cli.errors import ScaffoldError
from webkit_cli.scaffold import create_project
from webkit_cli.scaffold.engine import recover_target
from webkit_cli.scaffold.journal import Journal

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file systems and signals")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_template(tmp_path / "tpl")


def create(tiny: Path, target: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("author", "Ada")
    return create_project(template=str(tiny), target=target, **kwargs)


def hidden(folder: Path) -> list[str]:
    """webkit's hidden working names (staging, backups, temporaries, journals) under folder."""
    return sorted(p.name for p in folder.rglob("*") if "webkit-" in p.name)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 100 kB tmpfs: ENOSPC from the kernel, as on a full disk (needs root to mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_a_file_size_limit_* covers the path")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_error_and_leaves_nothing(small_disk: Path, tmp_path: Path) -> None:
    tpl = make_template(tmp_path / "big", files={"a.txt": "a", "big.bin": os.urandom(200_000)})
    with pytest.raises(ScaffoldError) as info:
        create(tpl, small_disk / "new" / "proj")
    message = info.value.message
    assert f"Cannot write {small_disk / 'new' / 'proj' / 'big.bin'}" in message
    assert "No space left on device: free some space and run again" in message
    assert "the hidden staging folder and the folders it was in were removed" in message
    assert names(small_disk) == []


def test_a_full_disk_during_force_overwrite_restores_the_folder(
    small_disk: Path, tiny: Path
) -> None:
    project = small_disk / "proj"
    create(tiny, project)
    (project / "README.md").write_text("mine\n")
    before = tree(project)
    (tiny / "files" / "zz.bin").write_bytes(os.urandom(200_000))
    with pytest.raises(ScaffoldError) as info:
        create(tiny, project, force=True, overwrite=True)
    assert f"Cannot write {project / 'zz.bin'} (No space left on device" in info.value.message
    assert "the folder was restored as it was" in info.value.message
    assert tree(project) == before
    assert hidden(project) == []


@posix_only
def test_a_file_size_limit_is_one_error_line(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: the kernel refuses the write (EFBIG), through the real command."""
    import resource

    tpl = make_template(tmp_path / "big", files={"a.txt": "a", "big.bin": b"x" * 200_000})
    out = tmp_path / "out"
    out.mkdir()

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the process is killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    proc = subprocess.run(
        [sys.executable, "-m", "webkit_cli", "new", "p", "-t", str(tpl), "--dir", str(out)]
        + ["--no-git", "--no-input"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: Cannot write {out / 'p' / 'big.bin'}")
    assert "File too large" in lines[0] and "Nothing was written" in lines[0]
    assert names(out) == []


# --- long names -------------------------------------------------------------------------


def test_a_name_up_to_the_file_name_limit_works(tiny: Path, tmp_path: Path) -> None:
    # The hidden staging name is longer than the project's: it must not be what fails.
    name = "a" * 250
    create(tiny, tmp_path / name)
    assert (tmp_path / name / "README.md").is_file()
    assert names(tmp_path) == sorted(["tpl", name])


def test_a_name_over_the_file_name_limit_is_refused(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="is 256 characters long: a folder name can have"):
        create(tiny, tmp_path / ("a" * 256))
    assert names(tmp_path) == ["tpl"]


def test_a_too_long_dir_is_one_error(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="File name too long"):
        create(tiny, tmp_path / ("d" * 300) / "proj")
    assert names(tmp_path) == ["tpl"]


# --- SIGKILL and the journal --------------------------------------------------------------

KILLER = """
import os, pathlib, signal, sys
from webkit_cli.scaffold import create_project, write
real = getattr(write, sys.argv[1])
calls = [0]
def killer(*args, **kwargs):
    calls[0] += 1
    if calls[0] > int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: as after kill -9
    return real(*args, **kwargs)
setattr(write, sys.argv[1], killer)
create_project(template=sys.argv[3], target=pathlib.Path(sys.argv[4]), author="Ada",
               force=True, overwrite=True)
"""


def kill_during(function: str, after: int, template: Path, target: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, function, str(after), str(template), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@posix_only
def test_after_a_sigkill_the_next_run_removes_the_staging_folder(
    tiny: Path, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "deeper" / "proj"
    kill_during("_write_bytes", 3, tiny, target)
    left = hidden(tmp_path / "new" / "deeper")
    assert any(n.endswith(".webkit-tmp") for n in left)  # what the journal is for
    assert any(n.endswith(".webkit-journal") for n in left)
    told: list[str] = []
    create(tiny, target, notify=told.append)
    assert len(told) == 1
    assert told[0].startswith("An interrupted webkit new (pid ")
    assert "removed the hidden staging folder .proj." in told[0]
    assert "and 2 folders it had created" in told[0]
    assert names(tmp_path / "new" / "deeper") == ["proj"]
    assert hidden(tmp_path / "new") == []


@posix_only
def test_after_a_sigkill_during_force_overwrite_the_originals_come_back(
    tiny: Path, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    create(tiny, project)
    (project / "README.md").write_text("my own readme\n")
    (project / "src" / "proj" / "static" / "logo.png").write_bytes(b"my logo")
    (project / "src" / "proj" / "__init__.py").unlink()
    (tiny / "files" / "docs").mkdir()
    (tiny / "files" / "docs" / "index.md").write_text("docs\n")
    before = tree(project)
    # Two files added (one in a new folder), the README replaced, killed on the logo.
    kill_during("_atomic_write", 3, tiny, project)
    assert (project / "README.md").read_bytes() != before["README.md"]
    assert (project / "docs" / "index.md").exists()
    assert any(n.endswith(".webkit-journal") for n in hidden(project))
    told = recover_target(project)
    assert len(told) == 1
    assert "removed 2 added files, restored 1 replaced file, removed 1 added folder" in told[0]
    assert tree(project) == before
    assert hidden(project) == []
    assert not (project / "docs").exists()


@posix_only
def test_recovery_keeps_a_file_changed_after_the_crash(tiny: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    create(tiny, project)
    (project / "src" / "proj" / "__init__.py").unlink()
    (project / "README.md").unlink()
    kill_during("_atomic_write", 1, tiny, project)  # README.md added, then killed
    (project / "README.md").write_text("edited after the crash\n")
    told = recover_target(project)
    assert "kept README.md, changed since" in told[0]
    assert (project / "README.md").read_text() == "edited after the crash\n"
    assert hidden(project) == []


def test_a_dry_run_only_says_that_a_journal_is_waiting(tiny: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    create(tiny, project)
    journal = Journal.create(project / ".webkit-0123.webkit-journal", kind="force")
    assert journal._fd is not None
    os.close(journal._fd)  # as if its process were gone: the file stays, unlocked
    journal._fd = None
    result = create(tiny, project, force=True, dry_run=True)
    assert "the next run without --dry-run undoes that first" in result.recovered[0]
    assert (project / ".webkit-0123.webkit-journal").exists()


@posix_only
def test_a_journal_of_a_live_run_is_left_alone(tiny: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    create(tiny, project)
    live = Journal.create(project / ".webkit-0123.webkit-journal", kind="force")
    try:
        with pytest.raises(ScaffoldError, match="Another webkit new is writing here right now"):
            create(tiny, project, force=True, overwrite=True)
        assert live.path.exists()
    finally:
        live.remove()


# --- signals at the worst moments, made exact ----------------------------------------------

SIGNALLER = """
import os, pathlib, signal, sys
from webkit_cli.scaffold import create_project, write
moment, signame = sys.argv[1], sys.argv[2]
signum = getattr(signal, signame)
calls = [0]
if moment == "render":  # the signal lands while the third file is written
    real_write = write._write_bytes
    def write_bytes(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signum)
        return real_write(*args, **kwargs)
    write._write_bytes = write_bytes
if moment == "cleanup":  # a first SIGINT mid-render, a second one inside the clean-up
    real_write = write._write_bytes
    def write_bytes(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_write(*args, **kwargs)
    write._write_bytes = write_bytes
    real_rmtree = write._rmtree
    def rmtree(path):
        os.kill(os.getpid(), signum)
        return real_rmtree(path)
    write._rmtree = rmtree
if moment == "after-rename":  # --force: right after a file was renamed into place
    real_atomic = write._atomic_write
    def atomic_write(*args, **kwargs):
        real_atomic(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 2:
            os.kill(os.getpid(), signum)
    write._atomic_write = atomic_write
create_project(template=sys.argv[3], target=pathlib.Path(sys.argv[4]), author="Ada",
               force=True, overwrite=True)
"""


def signal_at(moment: str, signame: str, template: Path, target: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", SIGNALLER, moment, signame, str(template), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Error" not in proc.stderr.replace("KeyboardInterrupt", ""), proc.stderr
    return proc.returncode


@posix_only
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_render_leaves_nothing(tiny: Path, tmp_path: Path, signame: str) -> None:
    code = signal_at("render", signame, tiny, tmp_path / "new" / "proj")
    signum = getattr(signal, signame)
    # SIGHUP and SIGTERM exit as the shell reports a signal death; an uncaught
    # KeyboardInterrupt makes Python end itself with SIGINT.
    assert code == (-signum if signame == "SIGINT" else 128 + signum)
    assert names(tmp_path) == ["tpl"]


@posix_only
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_second_signal_cannot_cut_the_clean_up_short(
    tiny: Path, tmp_path: Path, signame: str
) -> None:
    signal_at("cleanup", signame, tiny, tmp_path / "new" / "proj")
    assert names(tmp_path) == ["tpl"]  # no staging folder, no parent folder, no journal


@posix_only
def test_a_signal_right_after_a_rename_in_force_is_rolled_back(tiny: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    create(tiny, project)
    (project / "README.md").unlink()
    (project / "src" / "proj" / "__init__.py").unlink()
    (project / ".env").write_text("mine\n")
    before = tree(project)
    assert signal_at("after-rename", "SIGINT", tiny, project) == -signal.SIGINT
    assert tree(project) == before  # the file renamed into place was recorded first
    assert hidden(project) == []

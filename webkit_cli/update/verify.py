"""Run the merged project's own tests and ``webkit check`` before anything is swapped in.

The project is copied (without its git folder, virtual environments and caches) to a
temporary folder, the merged files are laid over the copy, and the project's own
interpreter (``.venv/bin/python`` when there is one) runs ``pytest`` there, with the
copy's ``src/`` first on the path so an editable install of the original cannot answer
instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webkit_cli._paths import IGNORED_DIRS
from webkit_cli.update.merge import FileChange

#: A project's suite that takes longer than this is stopped and reported as a failure.
TEST_TIMEOUT = 900


@dataclass(frozen=True)
class Verification:
    ok: bool
    step: str = ""  # "tests" or "webkit check" when not ok
    output: str = ""


def project_python(root: Path) -> str:
    for candidate in (root / ".venv" / "bin" / "python", root / "venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def _copy(root: Path, into: Path) -> Path:
    ignore = shutil.ignore_patterns(*IGNORED_DIRS, "instance", "*.pyc")
    dest = into / root.name
    shutil.copytree(root, dest, ignore=ignore, symlinks=True)
    return dest


def _run(args: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return subprocess.CompletedProcess(
            list(args), 124, out, f"timed out after {TEST_TIMEOUT} s"
        )


def verify(root: Path, changes: Sequence[FileChange]) -> Verification:
    """The merged tree's tests, then ``webkit check``; the first failure is returned."""
    with tempfile.TemporaryDirectory(prefix="webkit-verify-") as tmp:
        copy = _copy(root, Path(tmp))
        for change in changes:
            if not change.writes:
                continue
            dest = copy.joinpath(*change.path.parts)
            if change.data is None:
                dest.unlink(missing_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(change.data)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBKIT_", "FLASK_"))}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(copy / "src"), str(copy), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        python = project_python(root)
        if (copy / "tests").is_dir() or (copy / "test").is_dir():
            tests = _run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"], copy, env)
            if tests.returncode not in (0, 5):
                return Verification(False, "tests", (tests.stdout + tests.stderr).strip())
        check = _run(
            [sys.executable, "-m", "webkit_cli", "check", str(copy), "--format", "text"], copy, env
        )
        if check.returncode != 0:
            return Verification(False, "webkit check", (check.stdout + check.stderr).strip())
    return Verification(True)

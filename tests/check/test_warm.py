"""The check tests' warm children (``_warm.py``) are what ``webkit check`` spawns: the
same environment, folder, arguments, flags, path and session, seen from the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.check import _warm
from tests.check.helpers import INIT_PY, check, locations, make_project

RECORD = """\
import json as _json
import os as _os
import sys as _sys

_os.makedirs({out!r}, exist_ok=True)
with open(_os.path.join({out!r}, str(_os.getpid())), "w") as _f:
    _json.dump(
        {{
            "env": _os.environ.get("WEBKIT_TEST_SEEN"),
            "cwd": _os.getcwd(),
            "argv0": _sys.argv[0],
            "flags": [_sys.flags.safe_path, _sys.flags.dont_write_bytecode, _sys.flags.isolated],
            "path": [p for p in _sys.path if not p.startswith({root!r})],
            "encodings": [_sys.stdout.encoding, _sys.stderr.encoding, _sys.getfilesystemencoding()],
            "buffering": [_sys.stdout.line_buffering, _sys.stderr.line_buffering],
            "own_session": _os.getsid(0) == _os.getpid(),
            "stdin": _os.read(0, 1).decode(),
            "main": sorted(vars(_sys.modules["__main__"])),
            "doc": _sys.modules["__main__"].__doc__,
        }},
        _f,
    )
print("printed by the app")
"""


def _seen(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, prestart: object) -> dict:
    out = tmp_path / f"seen-{name}"
    root = make_project(
        tmp_path / name,
        {"src/demo/__init__.py": INIT_PY + RECORD.format(out=str(out), root=str(tmp_path))},
    )
    monkeypatch.setattr(_warm.AppImport, "prestart", classmethod(lambda cls: prestart()))
    monkeypatch.setenv("WEBKIT_TEST_SEEN", name)
    report = check(root)
    assert locations(report) == [] and report.notes == []
    [record] = out.iterdir()
    seen = json.loads(record.read_text())
    assert seen.pop("cwd") == str(root.resolve()) and seen.pop("env") == name
    return seen


def test_a_warm_child_sees_what_a_spawned_one_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    spawned = _seen(tmp_path, "spawned", monkeypatch, _warm.spawn)
    assert "printed by the app" in capfd.readouterr().err
    warm = _seen(tmp_path, "warm", monkeypatch, _warm.prestart)
    assert "printed by the app" in capfd.readouterr().err
    assert warm == spawned
    assert spawned["own_session"] and spawned["argv0"] == "-c" and spawned["stdin"] == ""

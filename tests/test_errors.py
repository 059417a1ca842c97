"""Tracebacks of the user's code keep the user's frames only."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

import pytest

from webkit_cli.errors import BUG_EXIT_CODE, AppImportError, trim_traceback


def test_trim_traceback_keeps_only_the_users_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "userpkg_trim.py").write_text(
        "import math\n\ndef f():\n    raise ValueError('boom')\n\nf()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("userpkg_trim")
    except ValueError as exc:
        error = exc
    else:  # pragma: no cover
        raise AssertionError("no error")
    finally:
        sys.modules.pop("userpkg_trim", None)
    before = [f.filename for f in traceback.extract_tb(error.__traceback__)]
    assert any("importlib" in name or name.startswith("<frozen") for name in before)
    trim_traceback(error)
    after = traceback.extract_tb(error.__traceback__)
    assert [Path(f.filename).name for f in after] == [
        "test_errors.py",
        "userpkg_trim.py",
        "userpkg_trim.py",
    ]
    assert [f.name for f in after][-2:] == ["<module>", "f"]


def test_trim_traceback_of_a_syntax_error_leaves_the_error_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "userpkg_syntax.py").write_text("def broken(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SyntaxError) as info:
        importlib.import_module("userpkg_syntax")
    trim_traceback(info.value)
    names = [f.filename for f in traceback.extract_tb(info.value.__traceback__)]
    assert all("importlib" not in n and not n.startswith("<frozen") for n in names)
    assert info.value.filename is not None and info.value.filename.endswith("userpkg_syntax.py")


def test_app_import_error_trims_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "userpkg_wrapped.py").write_text("raise KeyError('their bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("userpkg_wrapped")
    except KeyError as exc:
        error = AppImportError("Importing failed.", exc)
    finally:
        sys.modules.pop("userpkg_wrapped", None)
    names = [Path(f.filename).name for f in traceback.extract_tb(error.original.__traceback__)]
    assert names == ["test_errors.py", "userpkg_wrapped.py"]


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("an invariant of webkit broke")


def test_an_exception_in_webkits_code_is_reported_as_a_webkit_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from webkit_cli.cli import main
    from webkit_cli.project import ProjectContext

    monkeypatch.setattr(ProjectContext, "from_options", _boom)
    with pytest.raises(SystemExit) as info:
        main(["routes"])
    assert info.value.code == BUG_EXIT_CODE
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "webkit_cli/commands/routes.py" in err  # webkit's own frames are the point here
    last = err.rstrip().splitlines()[-1]
    assert last.startswith("Error: RuntimeError inside webkit")
    assert "this is a bug in webkit, please report it" in last


def test_the_users_error_is_not_called_a_webkit_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from webkit_cli.cli import main

    (tmp_path / "app.py").write_text("raise ValueError('their bug')\n")
    try:
        with pytest.raises(SystemExit) as info:
            main(["routes", "--project", str(tmp_path)])
    finally:
        sys.modules.pop("app", None)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "their bug" in err and "bug in webkit" not in err

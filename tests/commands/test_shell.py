"""``webkit shell``: models found by parsing, the namespace, ``-c``, and a real prompt."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from webkit_cli import shell
from webkit_cli.commands import shell as shell_cmd

WEBKIT = str(Path(sys.executable).with_name("webkit"))

PYPROJECT = '[project]\nname = "shop"\n[tool.webkit]\napp = "shop:create_app"\n'
# Flask-SQLAlchemy's shape without depending on it: `db.Model` is a declarative base and
# app.extensions["sqlalchemy"] is `db`, whose `session` the shell exposes.
EXTENSIONS = """
from sqlalchemy.orm import DeclarativeBase, Session

class _Model(DeclarativeBase):
    pass

class FakeFlaskSQLAlchemy:
    Model = _Model
    session = Session()

db = FakeFlaskSQLAlchemy()
"""
INIT = """
from flask import Flask

def create_app():
    app = Flask(__name__)
    from .extensions import db
    app.extensions["sqlalchemy"] = db
    from . import models  # noqa: F401
    return app
"""
MODELS = '''
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from .extensions import db

class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))

class Admin(User):
    level: Mapped[int] = mapped_column(Integer, default=1, nullable=True)

class Helper:
    """Not a model."""
'''
LEGACY = """
from sqlalchemy import Column, Integer
from sqlalchemy.orm import DeclarativeBase, declarative_base

class Base(DeclarativeBase):
    pass

Old = declarative_base()

class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)

class Invoice(Old):
    __tablename__ = "invoices"
    id = Column(Integer, primary_key=True)

class User(Base):
    __tablename__ = "legacy_users"
    id = Column(Integer, primary_key=True)
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "shop",
        {
            "pyproject.toml": PYPROJECT,
            "src/shop/__init__.py": INIT,
            "src/shop/extensions.py": EXTENSIONS,
            "src/shop/models.py": MODELS,
            "src/shop/legacy/__init__.py": "",
            "src/shop/legacy/tables.py": LEGACY,
            # Not scanned: a test's classes are not the app's models.
            "tests/test_models.py": "from shop.extensions import db\nclass Fake(db.Model): ...\n",
        },
    )


def _webkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [WEBKIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_models_are_found_by_parsing(shop: Path) -> None:
    found = shell.find_models([shop / "src", shop])
    assert [(m.module, m.name) for m in found] == [
        ("shop.models", "Admin"),
        ("shop.models", "User"),
        ("shop.legacy.tables", "Invoice"),
        ("shop.legacy.tables", "Order"),
        ("shop.legacy.tables", "User"),
    ]
    assert "shop" not in sys.modules or not hasattr(sys.modules["shop"], "create_app")


def test_interfaces_match_between_shim_and_module() -> None:
    assert shell_cmd.INTERFACES == shell.INTERFACES


def test_dash_c_has_app_context_db_and_models(shop: Path) -> None:
    code = (
        "from flask import current_app\n"
        "print(current_app.name, app.name, db is app.extensions['sqlalchemy'])\n"
        "print(session is db.session, User.__tablename__, Admin.__mro__[1] is User)\n"
        "print(Order.__tablename__, Invoice.__tablename__)"
    )
    result = _webkit("shell", "-c", code, cwd=shop)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["shop shop True", "True users True", "orders invoices"]
    # Two classes named User: the shallower module's is kept, the other is reported.
    assert "Not imported: shop.legacy.tables.User (the name 'User' is shop.models.User)" in (
        result.stderr
    )


def test_dash_c_that_raises_exits_1_with_its_traceback(shop: Path) -> None:
    result = _webkit("shell", "-c", "1 / 0", cwd=shop)
    assert result.returncode == 1
    assert "ZeroDivisionError" in result.stderr
    assert 'File "<webkit shell -c>", line 1' in result.stderr
    assert "webkit_cli" not in result.stderr  # the user's frame, not webkit's
    assert _webkit("shell", "-c", "raise SystemExit(3)", cwd=shop).returncode == 3


def test_no_app_is_one_error_line(tmp_path: Path) -> None:
    result = _webkit("shell", "-c", "pass", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Could not locate a Flask app")
    assert len(result.stderr.strip().splitlines()) == 1


def _read_until(fd: int, needle: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen in {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_interactive_prompt_on_a_real_terminal(shop: Path) -> None:
    """The standard prompt on a pseudo-terminal: the banner line, then the models."""
    leader, follower = os.openpty()
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("PYTHONSTARTUP", None)
    proc = subprocess.Popen(
        [WEBKIT, "shell", "-i", "python"],
        cwd=shop,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    try:
        banner = _read_until(leader, b">>> ")
        assert b"app context pushed" in banner
        assert b"Imported: app, db, session, Admin, User, Invoice, Order" in banner
        os.write(leader, b"print(Admin.__name__ + '!' * 3)\n")
        assert b"Admin!!!" in _read_until(leader, b"Admin!!!")
        os.write(leader, b"exit()\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_an_interface_that_is_not_installed_is_one_error_line(shop: Path) -> None:
    result = _webkit("shell", "-i", "ptpython", cwd=shop)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: --interface ptpython: ptpython is not installed here (pip install ptpython), "
        "or use --interface python."
    )


def test_api_template_project_gets_its_database_and_models(tmp_path: Path) -> None:
    made = _webkit(
        "new", "notes", "-t", "api", "--no-input", "--no-git", "--no-install", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "notes"
    # `pass` opens no session: no database file appears.
    assert _webkit("shell", "-c", "pass", cwd=project).returncode == 0
    assert not list(project.rglob("*.sqlite3"))
    # The README's first step: the migrations make the tables (the app makes none).
    upgraded = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "notes", "db", "upgrade"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    code = (
        "print(sorted(k for k in dir() if not k.startswith('_')))\n"
        "print(session.query(Note).count(), type(db).__name__)"
    )
    result = _webkit("shell", "-c", code, cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['ApiKey', 'Note', 'User', 'app', 'db', 'g', 'session']",
        "0 Database",
    ]
    assert list(project.rglob("*.sqlite3"))  # the database the query read


def test_shell_imports_no_rich_before_the_prompt(shop: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "webkit_cli", "shell", "-c", "pass"],
        cwd=shop,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert {"flask", "shop", "webkit_cli"} <= imported
    assert not imported & {"rich", "IPython", "ptpython", "watchfiles", "readline"}


def test_parsed_files_are_reused_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that forks shells parses the project once; a changed file is parsed again."""
    path = tmp_path / "m.py"
    path.write_text("class A(db.Model):\n    pass\n")
    settled = time.time_ns() - 10**10
    os.utime(path, ns=(settled, settled))
    assert [r.name for r in shell.parse_classes("m", path)[0]] == ["A"]

    def no_parsing(module: str, path: Path) -> tuple[list[shell.ModelRef], set[str]]:
        raise AssertionError("parsed again")

    real_parse = shell._parse_classes
    monkeypatch.setattr(shell, "_parse_classes", no_parsing)
    assert [r.name for r in shell.parse_classes("m", path)[0]] == ["A"]
    monkeypatch.setattr(shell, "_parse_classes", real_parse)
    path.write_text("class B(db.Model):\n    pass\n")
    assert [r.name for r in shell.parse_classes("m", path)[0]] == ["B"]

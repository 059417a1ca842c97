"""The warm pytest the mutation tests run: it answers what ``python -m pytest`` answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.templates.conftest import WarmPytest

LEAKY_TEST = """
import answer


class Holder:
    def __init__(self):
        self.me = self  # a cycle: only pytest's last gc.collect() finds the open file
        self.file = open(__file__, "rb")


def test_answer():
    if answer.VALUE != 42:
        Holder()  # as a failed test leaks the response it did not close
    assert answer.VALUE == 42


def test_other():
    assert True
"""


def make_project(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    (root / "answer.py").write_text("VALUE = 42\n")
    (root / "test_answer.py").write_text(LEAKY_TEST)
    return root


def test_a_run_answers_as_python_m_pytest_and_sees_each_change(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    warm = WarmPytest(project)
    try:
        passed = warm.run("test_answer.py")
        assert (passed.returncode, passed.failed) == (0, [])
        assert "2 passed" in passed.stdout

        (project / "answer.py").write_text("VALUE = 41\n")  # read afresh by the next run
        broken = warm.run("test_answer.py")
        cold = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_answer.py"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        warm.close()
    assert broken.returncode == cold.returncode == 1
    # The failed test is on record from its report, and in the summary as in a cold run.
    assert broken.failed == ["test_answer.py::test_answer"]
    assert "FAILED test_answer.py::test_answer" in cold.stdout
    assert "FAILED test_answer.py::test_answer" in broken.stdout
    assert warm.process.poll() is not None  # closed: no process left

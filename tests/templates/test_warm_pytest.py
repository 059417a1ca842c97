"""The warm pytest the template tests run projects' suites with: it answers what ``python -m
pytest`` answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.templates.conftest import WarmPytest, child_env

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


#: The test of each project in the second test: its own module, its run's own environment.
OWN_TEST = """
import os

import answer


def test_answer():
    assert answer.VALUE == int(os.environ["EXPECTED"])
"""


def make_project(root: Path, value: int = 42, test: str = LEAKY_TEST) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    (root / "answer.py").write_text(f"VALUE = {value}\n")
    (root / "test_answer.py").write_text(test)
    return root


def env(expected: int) -> dict[str, str]:
    return child_env({"EXPECTED": str(expected)})


def test_a_run_answers_as_python_m_pytest_and_sees_each_change(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    (tmp_path / "warm").mkdir()
    warm = WarmPytest(tmp_path / "warm")
    try:
        passed = warm.run(project, "test_answer.py", env=child_env())
        assert (passed.returncode, passed.failed) == (0, [])
        assert "2 passed" in passed.stdout

        (project / "answer.py").write_text("VALUE = 41\n")  # read afresh by the next run
        broken = warm.run(project, "test_answer.py", env=child_env())
        cold = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_answer.py"],
            cwd=project,
            env=child_env(),
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


def test_two_projects_never_see_each_others_modules_or_environment(tmp_path: Path) -> None:
    first = make_project(tmp_path / "first", 42, OWN_TEST)
    second = make_project(tmp_path / "second", 7, OWN_TEST)  # the same module names
    (tmp_path / "warm").mkdir()
    warm = WarmPytest(tmp_path / "warm")
    try:
        runs = [
            warm.run(first, env=env(42)),
            warm.run(second, env=env(7)),  # its own answer.py, not the first project's
            warm.run(first, env=env(42)),  # its own again, and this run's environment
            warm.run(first, env=env(7)),  # the test does look at both
        ]
    finally:
        warm.close()
    assert [run.returncode for run in runs] == [0, 0, 0, 1], [run.stdout for run in runs]
    assert all("1 passed" in run.stdout for run in runs[:3])
    assert runs[3].failed == ["test_answer.py::test_answer"]

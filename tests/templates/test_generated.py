"""What every generated HTML project (``site``, ``ajax``) must pass, as its CI would run it.

Each template is scaffolded once by the real ``webkit new``; its own test suite must pass
with >= 90 % coverage of ``src/``, and ``ruff check``, ``webkit check`` (zero findings) and
the shared conventions must hold. The ``api`` template runs the same checks for both of its
database choices in ``test_api.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.templates.conftest import (
    assert_lint_clean,
    assert_shared_conventions,
    assert_webkit_check_clean,
    run_project_pytest,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("template", ["site", "ajax"])]


def test_passes_its_own_tests_with_coverage(
    scaffolded: Callable[[str], Path], template: str
) -> None:
    result, percent = run_project_pytest(scaffolded(template))
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 30, result.stdout
    assert percent >= 90, f"coverage of src/ is {percent:.1f} %"


def test_is_lint_clean(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_lint_clean(scaffolded(template))


def test_passes_webkit_check(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_webkit_check_clean(scaffolded(template))


def test_follows_the_shared_conventions(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_shared_conventions(scaffolded(template), template)

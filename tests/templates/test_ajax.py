"""The ``ajax`` template, scaffolded by the real ``webkit new``.

Its own tests, coverage, lint, webkit check and the shared conventions are checked in
``test_generated.py``; here: what is particular to it, and its tests must fail when a feature is
broken (each mutation below removes one protection; those both HTML templates share are in
``test_generated.py``). The page's JavaScript is
exercised in a real browser by ``test_browser.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.templates.conftest import (
    assert_tests_catch,
)

pytestmark = pytest.mark.slow

TEMPLATE = "ajax"
PACKAGE_DIR = "src/{package}"


def test_javascript_is_plain_and_sends_the_csrf_header(scaffolded: Callable[[str], Path]) -> None:
    package = scaffolded(TEMPLATE) / "src" / "my_ajax"
    script = (package / "static" / "app.js").read_text()
    assert 'headers["X-CSRFToken"] = csrfToken' in script
    assert "fetch(" in script
    # Titles are inserted as text; innerHTML would turn a title into markup.
    assert ".innerHTML" not in script
    assert "import " not in script and "require(" not in script  # no modules, no build step
    page = (package / "templates" / "index.html").read_text()
    assert "<script src=\"{{ url_for('static', filename='app.js') }}\" defer></script>" in page


MUTATIONS = [
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        "    if len(title) > TITLE_MAX_LENGTH:\n",
        "    if False:\n",
        "test_invalid_todo_gets_a_json_error_naming_the_field",
        id="no-length-check",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        "    if unknown:\n",
        "    if False:\n",
        "test_invalid_todo_gets_a_json_error_naming_the_field",
        id="unknown-fields-accepted",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/errors.py",
        "        if _wants_json():\n            code = ",
        "        if False:\n            code = ",
        "test_unknown_todo_is_a_json_404",
        id="html-errors-in-api",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/config.py",
        '    if "SESSION_COOKIE_SECURE" not in overrides:\n',
        "    if False:\n",
        "test_session_cookie_is_secure_in_production",
        id="cookie-not-secure",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        "    db.delete(find_todo(todo_id))\n",
        "    find_todo(todo_id)\n",
        "test_delete",
        id="delete-does-nothing",
    ),
    # Accounts (issue 13): the to-dos are their owner's.
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        "    return select(Todo).where(Todo.user_id == current_user.id)\n",
        "    return select(Todo)\n",
        "test_each_user_sees_only_their_own_todos",
        id="no-ownership-filter",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        "    todo = get_session().scalars(own_todos().where(Todo.id == todo_id)).first()\n",
        "    todo = get_session().get(Todo, todo_id)\n",
        "test_another_users_todo_is_a_404_and_stays_unchanged",
        id="others-todos-changeable",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/api.py",
        '@bp.get("/todos")\n@login_required\n',
        '@bp.get("/todos")\n',
        "test_anonymous_requests_get_a_json_401",
        id="anonymous-list",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "failing_test"), MUTATIONS)
def test_project_tests_catch_a_broken_feature(
    mutation_project: Callable[[str], Path], path: str, old: str, new: str, failing_test: str
) -> None:
    assert_tests_catch(mutation_project(TEMPLATE), path, old, new, failing_test)

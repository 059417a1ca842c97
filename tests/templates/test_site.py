"""The ``site`` template, scaffolded by the real ``webkit new``.

Its own tests, coverage, lint, webkit check and the shared conventions are checked in
``test_generated.py``; here: what is particular to it, and its tests must fail when a feature is
broken (each mutation below removes one protection; those both HTML templates share are in
``test_generated.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.templates.conftest import (
    SuiteRun,
    assert_tests_catch,
)

pytestmark = pytest.mark.slow

TEMPLATE = "site"
PACKAGE_DIR = "src/{package}"


def test_site_has_the_pages_and_error_pages(scaffolded: Callable[[str], Path]) -> None:
    templates = scaffolded(TEMPLATE) / "src" / "my_site" / "templates"
    for name in ("base.html", "index.html", "about.html", "contact.html", "messages.html"):
        assert (templates / name).is_file()
    for name in ("404.html", "500.html"):
        assert '{% extends "base.html" %}' in (templates / "errors" / name).read_text()
    assert (templates.parent / "static" / "style.css").is_file()


def test_project_name_becomes_the_package(own_suite: Callable[[str], SuiteRun]) -> None:
    """The site's shared suite run is of a project named ``corner-shop`` (see own_suite)."""
    run = own_suite(TEMPLATE)
    assert run.project.name == "corner-shop"
    assert (run.project / "src" / "corner_shop" / "__init__.py").is_file()
    assert 'app = "corner_shop:create_app"' in (run.project / "pyproject.toml").read_text()
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr


MUTATIONS = [
    pytest.param(
        f"{PACKAGE_DIR}/templates/messages.html",
        "{{ message.body }}",
        "{{ message.body|safe }}",
        "test_script_in_a_message_is_rendered_escaped",
        id="unescaped-message",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/config.py",
        '"SESSION_COOKIE_SAMESITE": "Lax"',
        '"SESSION_COOKIE_SAMESITE": None',
        "test_session_cookie_is_httponly_samesite_and_secure",
        id="no-samesite",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/views.py",
        "        db.commit()\n",
        "",
        "test_valid_message_is_stored_then_redirected_with_a_flash",
        id="message-not-stored",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/templates/_forms.html",
        "{% for error in f.errors %}<li>{{ error }}</li>{% endfor %}",
        "",
        "test_invalid_input_shows_errors_next_to_fields_and_keeps_values",
        id="errors-not-shown",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/errors.py",
        "    @app.errorhandler(404)\n",
        "    @app.errorhandler(418)\n",
        "test_unknown_page_gets_the_custom_404",
        id="default-404",
    ),
    # Accounts (issue 13): /messages is for admins only.
    pytest.param(
        f"{PACKAGE_DIR}/auth.py",
        "        if not current_user.is_admin:\n",
        "        if False:\n",
        "test_messages_are_for_admins_only",
        id="no-admin-check",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/views.py",
        '@bp.get("/messages")\n@admin_required\n',
        '@bp.get("/messages")\n',
        "test_anonymous_visitors_are_sent_to_log_in",
        id="messages-public",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/welcome.py",
        '    if app.config["APP_ENV"] == "development":\n',
        "    if True:\n",
        "test_no_welcome_outside_development",
        id="welcome-in-production",
    ),
    pytest.param(
        f"{PACKAGE_DIR}/templates/index.html",
        '  <p class="hero-kicker">{% if session.display_name %}Hello,',
        '  <p class="hero-kicker">{% if session.display_name %}Welcome back,',
        "test_name_is_remembered_across_pages",
        id="welcome-back-on-the-first-visit",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "failing_test"), MUTATIONS)
def test_project_tests_catch_a_broken_feature(
    mutation_project: Callable[[str], Path], path: str, old: str, new: str, failing_test: str
) -> None:
    assert_tests_catch(mutation_project(TEMPLATE), path, old, new, failing_test)

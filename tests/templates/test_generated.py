"""What every generated HTML project (``site``, ``ajax``) must pass, as its CI would run it.

Each template is scaffolded once by the real ``webkit new``; its own test suite must pass
with >= 90 % coverage of ``src/``, and ``ruff check``, ``webkit check`` (zero findings) and
the shared conventions must hold, and the mutations both share (each removes a protection of
their common ``_web`` base) must fail the project's own test. The ``api`` template runs the
same checks for both of its database choices in ``test_api.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.templates.conftest import (
    SuiteRun,
    assert_lint_clean,
    assert_shared_conventions,
    assert_tests_catch,
    assert_webkit_check_clean,
    collected_ids,
    passed_ids,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("template", ["site", "ajax"])]


def test_passes_its_own_tests_with_coverage(
    own_suite: Callable[[str], SuiteRun], template: str
) -> None:
    run = own_suite(template)
    result = run.result
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 30, result.stdout
    assert run.percent >= 90, f"coverage of src/ is {run.percent:.1f} %"
    # Every worker of pytest-xdist collects on its own: the ids must not be random.
    assert sorted(passed_ids(result.stdout)) == sorted(collected_ids(run.project))


def test_is_lint_clean(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_lint_clean(scaffolded(template))


def test_passes_webkit_check(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_webkit_check_clean(scaffolded(template))


def test_follows_the_shared_conventions(scaffolded: Callable[[str], Path], template: str) -> None:
    assert_shared_conventions(scaffolded(template), template)


MUTATIONS = [
    pytest.param(
        "src/{package}/__init__.py",
        "    csrf.init_app(app)\n",
        "",
        "test_post_without_csrf_token_is_rejected",
        id="no-csrf-protection",
    ),
    pytest.param(
        "src/{package}/__init__.py",
        "    security.init_app(app)\n",
        "",
        "test_security_headers_on_every_response",
        id="no-security-headers",
    ),
    pytest.param(
        "src/{package}/config.py",
        "            raise RuntimeError(MISSING_SECRET_KEY)\n",
        "            pass\n",
        "test_production_without_secret_key_fails_clearly",
        id="no-secret-key-check",
    ),
    pytest.param(
        "src/{package}/config.py",
        "        check_secret_key(str(key))\n",
        "        pass\n",
        "test_a_weak_or_placeholder_key_refuses_production",
        id="weak-secret-key-accepted",
    ),
    pytest.param(
        "src/{package}/secret_key.py",
        "    if key_bits(key) < MIN_KEY_BITS:\n",
        "    if False:\n",
        "test_a_weak_or_placeholder_key_is_refused",
        id="secret-key-rules-gone",
    ),
    pytest.param(
        "src/{package}/config.py",
        "    check_app_env(config, overrides)\n",
        "",
        "test_an_unknown_app_env_refuses_to_start",
        id="unknown-app-env-accepted",
    ),
    pytest.param(
        "src/{package}/config.py",
        '        config["DEBUG"] = False\n',
        "        pass\n",
        "test_flask_debug_is_ignored_in_production_and_said_once",
        id="debug-in-production",
    ),
    pytest.param(
        "src/{package}/input_guard.py",
        "        super().__init__(map, min=1, max=MAX_ID)\n",
        "        super().__init__(map, min=1)\n",
        "test_ids_outside_the_database_range_match_no_route",
        id="ids-unbounded",
    ),
    pytest.param(
        "src/{package}/input_guard.py",
        "    app.json = GuardedJSONProvider(app)\n",
        "",
        "test_json_nested_too_deeply_is_a_400",
        id="deep-json-crashes",
    ),
    pytest.param(
        "src/{package}/input_guard.py",
        "    app.before_request(_buffer_chunked_body)\n",
        "",
        "test_a_chunked_body_over_the_limit_is_a_413",
        id="chunked-body-cut",
    ),
    pytest.param(
        "src/{package}/input_guard.py",
        "    app.before_request(_refuse_bad_fields)\n",
        "",
        "test_a_nul_in_a_query_or_form_field_is_a_400",
        id="nul-in-fields",
    ),
    pytest.param(
        "src/{package}/transport.py",
        "if request.is_secure and max_age and ",
        "if max_age and ",
        "test_hsts_over_https_only_and_never_in_development",
        id="hsts-over-http",
    ),
    pytest.param(
        "src/{package}/transport.py",
        "    if proxies:\n",
        "    if False:\n",
        "test_forwarded_headers_count_only_from_trusted_proxies",
        id="no-proxy-fix",
    ),
    pytest.param(
        "src/{package}/transport.py",
        '    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)\n',
        "",
        "test_every_response_limits_browser_features",
        id="no-permissions-policy",
    ),
    pytest.param(
        "src/{package}/transport.py",
        "    if session.accessed:\n",
        "    if False:\n",
        "test_a_response_with_a_session_is_never_cached",
        id="session-cached",
    ),
    # Accounts (issue 13): each protection of auth.py, passwords.py and the rate limits.
    pytest.param(
        "src/{package}/auth.py",
        "    session.clear()\n    login_user(user, remember=remember)\n",
        "    login_user(user, remember=remember)\n",
        "test_login_rotates_the_session",
        id="no-session-rotation-on-login",
    ),
    pytest.param(
        "src/{package}/auth.py",
        "        end_sessions(current_user._get_current_object())\n",
        "        pass\n",
        "test_logout_ends_the_session_everywhere",
        id="logout-keeps-old-sessions",
    ),
    pytest.param(
        "src/{package}/auth.py",
        "    if user is None or not hmac.compare_digest(user.session_token, token):\n",
        "    if user is None:\n",
        "test_logout_ends_the_session_everywhere",
        id="session-token-unchecked",
    ),
    pytest.param(
        "src/{package}/auth.py",
        '@form_route("/login")\n',
        '@bp.route("/login", methods=["GET", "POST"])\n@limits.per_account\n',
        "test_login_is_limited_per_ip",
        id="login-not-limited-per-ip",
    ),
    pytest.param(
        "src/{package}/auth.py",
        '@form_route("/login")\n',
        '@form_route("/login", per_account=False)\n',
        "test_login_is_limited_per_account_whatever_the_ip",
        id="login-not-limited-per-account",
    ),
    pytest.param(
        "src/{package}/auth.py",
        '@form_route("/register")\n',
        '@bp.route("/register", methods=["GET", "POST"])\n',
        "test_registration_is_limited_per_ip",
        id="registration-not-limited",
    ),
    pytest.param(
        "src/{package}/auth.py",
        ' or not hmac.compare_digest(_fingerprint(user), str(data.get("pw")))',
        "",
        "test_the_link_changes_the_password_once",
        id="reset-link-reusable",
    ),
    pytest.param(
        "src/{package}/passwords.py",
        "password.strip().lower() in common_passwords() or ",
        "",
        "test_weak_or_mistyped_passwords_are_refused",
        id="common-passwords-accepted",
    ),
    pytest.param(
        "src/{package}/passwords.py",
        "    if len(password) < MIN_LENGTH:\n",
        "    if False:\n",
        "test_weak_or_mistyped_passwords_are_refused",
        id="short-passwords-accepted",
    ),
    pytest.param(
        "src/{package}/auth.py",
        "            if passwords.needs_rehash(user.password_hash):\n",
        "            if False:\n",
        "test_the_hash_is_upgraded_at_login_when_the_parameters_change",
        id="no-rehash-on-login",
    ),
    pytest.param(
        "src/{package}/auth.py",
        '        logger.warning("Failed login for %r from %s", email, request.remote_addr)\n',
        '        logger.warning("Failed login for %r: %s", email, form.password.data)\n',
        "test_failed_logins_are_logged_without_the_password",
        id="password-logged",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "failing_test"), MUTATIONS)
def test_project_tests_catch_a_broken_feature(
    mutation_project: Callable[[str], Path],
    template: str,
    path: str,
    old: str,
    new: str,
    failing_test: str,
) -> None:
    assert_tests_catch(mutation_project(template), path, old, new, failing_test)

"""site and ajax on a real PostgreSQL: odd input is a 4xx, never a 500.

PostgreSQL refuses what SQLite stores (a NUL in text) and its ``integer`` ids stop at 2**31 - 1,
so the projects' own guards (``input_guard.py``, tested on SQLite by their suites) are tried
here against the server the README's "past one machine" set-up uses. The api's suite runs on
PostgreSQL in ``test_api.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.templates._postgres import PostgresServer
from tests.templates.conftest import child_env, generate, project_package

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Runs inside the generated project: its app on PostgreSQL, driven by Flask's test client.
PROBE = """
import re, secrets, sys
from flask_migrate import upgrade
from {package} import create_app

app = create_app({{"APP_ENV": "production", "SECRET_KEY": secrets.token_hex(32),
                  "SESSION_COOKIE_SECURE": False}})
with app.app_context():
    upgrade()  # the tables, as `flask db upgrade` makes them
client = app.test_client()
if "{template}" == "ajax":  # the to-dos are their owner's: log in first
    from {package}.auth import create_user
    with app.app_context():
        create_user("probe@example.com", "correct horse battery")
    html = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    login = {{"email": "probe@example.com", "password": "correct horse battery",
              "csrf_token": token}}
    assert client.post("/auth/login", data=login).status_code == 302
html = client.get("/").get_data(as_text=True)
token = re.search(r'(?:name="csrf_token"[^>]*value|name="csrf-token" content)="([^"]+)"', html)
token = token.group(1)
results = []
if "{template}" == "ajax":
    headers = {{"X-CSRFToken": token}}
    for body in ('{{"title": "a\\\\u0000b"}}', '{{"title": "\\\\ud800"}}', '{{"title": "fine"}}'):
        response = client.post("/api/todos", data=body, headers=headers,
                               content_type="application/json")
        results.append((response.status_code, response.mimetype))
    for path in ("/api/todos/2147483648", "/api/todos/9223372036854775808"):
        response = client.patch(path, json={{"done": True}}, headers=headers)
        results.append((response.status_code, response.mimetype))
else:
    form = {{"name": "Ada", "email": "ada@example.com", "message": "Hello from the tests!"}}
    for name in ("a\\x00b", "Ada"):
        response = client.post("/contact", data={{**form, "name": name, "csrf_token": token}})
        results.append((response.status_code, response.mimetype))
    response = client.get("/messages?page=%00")
    results.append((response.status_code, response.mimetype))
print(results)
"""

EXPECTED = {
    "ajax": [
        (400, "application/json"),
        (400, "application/json"),
        (201, "application/json"),
        (404, "application/json"),
        (404, "application/json"),
    ],
    "site": [(400, "text/html"), (302, "text/html"), (400, "text/html")],
}


@pytest.mark.parametrize("template", ["site", "ajax"])
def test_odd_input_on_postgresql_is_a_4xx(
    template: str, tmp_path: Path, postgres: PostgresServer
) -> None:
    project = generate(template, tmp_path)
    url = postgres.create_database(f"odd_{template}")
    script = PROBE.format(package=project_package(project), template=template)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env=child_env({"DATABASE_URL": url, "PYTHONPATH": "src"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == repr(EXPECTED[template]), result.stderr

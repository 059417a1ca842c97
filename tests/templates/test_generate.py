"""``webkit generate resource`` on each built-in template, end to end.

For each template: a project from ``webkit new``, two resources generated into it (the
second with a ``ref:`` to the first), then what a user would run: the project's tests of
the new resources (at least 90 % of their code covered) and the tests of every part the
generator edited or that lists the app's routes (the factory, the layout's navigation, the
OpenAPI document, the welcome page), its migrations test (up, down, up, compared with the
models), ``ruff check`` and ``ruff format --check``, ``webkit check`` (no finding) and
``webkit routes`` (the new routes). The rest of each project's suite is the template's own,
run by test_generated.py and test_api.py; the generator does not touch what it tests.
In Chromium, a record is created, edited and deleted
through the generated pages of the site.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.templates.conftest import (
    Server,
    assert_lint_clean,
    assert_webkit_check_clean,
    child_env,
    generate,
    run_pytest,
)

pytestmark = pytest.mark.slow

#: The two resources, as a user would type them.
AUTHOR = ["author", "name:str:required", "email:email:unique", "born:date"]
POST = [
    "post",
    "title:str:max=80:required",
    "body:text",
    "published:bool",
    "rating:float:index",
    "price:decimal",
    "at:datetime",
    "author:ref:author:required",
    "editor:ref:author",
]


def webkit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "webkit_cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env({"COLUMNS": "200"}),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


#: The project's own tests of what the generator edits or what lists the app's routes.
AFFECTED = {
    "site": ["tests/test_pages.py", "tests/test_layout.py", "tests/test_welcome.py"],
    "ajax": ["tests/test_page.py", "tests/test_layout.py", "tests/test_welcome.py"],
    "api": ["tests/test_openapi.py", "tests/test_docs.py"],
}


def generated(template: str, parent: Path) -> Path:
    project = generate(template, parent)
    webkit(project, "generate", "resource", *AUTHOR)
    webkit(project, "generate", "resource", *POST)
    return project


@pytest.mark.parametrize("template", ["site", "ajax", "api"])
def test_two_generated_resources_pass_the_projects_suite_lint_check_and_routes(
    template: str, tmp_path: Path
) -> None:
    project = generated(template, tmp_path)
    package = "my_" + template
    folder = project / "src" / package / "migrations" / "versions"
    versions = sorted(p.name for p in folder.glob("*.py"))
    assert versions[-2:] == ["0003_create_authors.py", "0004_create_posts.py"]

    tests = ["tests/test_authors.py", "tests/test_posts.py", "tests/test_migrations.py"]
    tests += AFFECTED[template]
    report = tmp_path / "coverage.json"
    result = run_pytest(
        project, "-x", "--cov", "--cov-fail-under=0", f"--cov-report=json:{report}", *tests,
        env=child_env(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
    # The generated code's coverage (the rest of the package is measured by the template's
    # own suite).
    files = json.loads(report.read_text())["files"]
    generated_files = {
        name: data["summary"] for name, data in files.items()
        if re.search(rf"src/{package}/(authors|posts)/", name)
    }  # fmt: skip
    assert len(generated_files) == (8 if template == "site" else 6), sorted(files)
    covered = sum(s["covered_lines"] for s in generated_files.values())
    statements = sum(s["num_statements"] for s in generated_files.values())
    assert covered / statements >= 0.9, generated_files
    for leftover in project.glob(".coverage*"):
        leftover.unlink()
    assert_lint_clean(project)
    assert_webkit_check_clean(project)

    routes = webkit(project, "routes").stdout
    prefix = "/api" if template == "ajax" else ""
    for rule in [f"{prefix}/posts", f"{prefix}/authors", f"{prefix}/posts/<id:record_id>"]:
        assert re.search(rf"\s{re.escape(rule)}/?\s", routes), routes


PASSWORD = "correct horse battery"


@pytest.mark.browser
def test_site_create_edit_and_delete_a_record_through_the_generated_pages(
    tmp_path: Path, serve: Callable[..., Server], page: Any
) -> None:
    from playwright.sync_api import expect

    server = serve(generated("site", tmp_path))
    page.goto(server.url + "/auth/register")
    page.fill("#email", "ada@example.com")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("text=Create the account")
    expect(page.locator(".account-email")).to_have_text("ada@example.com")

    # The author first (the post's form offers the user's own authors).
    page.click("nav >> text=Authors")
    page.click("text=New author")
    page.fill("#name", "Ada Lovelace")
    page.click("text=Save")
    expect(page.locator("h1")).to_have_text("Ada Lovelace")

    page.click("nav >> text=Posts")
    page.click("text=New post")
    page.click("text=Save")  # nothing filled in: the errors are next to the fields
    expect(page.locator("#title-error")).to_be_visible()
    page.fill("#title", "<b>First</b> post")
    page.fill("#body", "Written in Chromium.")
    page.check("#published")
    page.select_option("#author", label="Ada Lovelace")
    page.click("text=Save")
    expect(page.locator("h1")).to_have_text("<b>First</b> post")  # shown as text
    expect(page.locator(".flash-success")).to_have_text("Post created.")

    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("#title", "Edited post")
    page.click("text=Save")
    expect(page.locator("h1")).to_have_text("Edited post")

    page.click("text=Delete this post")
    expect(page.locator(".flash-success")).to_have_text("Post deleted.")
    expect(page.locator("main")).to_contain_text("No posts yet")
    assert page.problems.unexpected("status of 422") == []


@pytest.mark.browser
def test_ajax_generated_page_adds_and_deletes_records_with_its_script(
    tmp_path: Path, serve: Callable[..., Server], page: Any
) -> None:
    from playwright.sync_api import expect

    server = serve(generated("ajax", tmp_path))
    page.goto(server.url + "/auth/register")
    page.fill("#email", "ada@example.com")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("text=Create the account")
    expect(page.locator(".account-email")).to_have_text("ada@example.com")

    page.goto(server.url + "/authors")
    expect(page.locator("#authors-status")).to_have_text("None yet.")
    page.click("#authors-form button[type=submit]")  # nothing filled in
    expect(page.locator("#authors-name-error")).to_have_text("This field is required.")
    page.fill("#authors-name", "<img src=x onerror=alert(1)>")
    page.click("#authors-form button[type=submit]")
    record = page.locator("#authors-list li")
    expect(record).to_have_count(1)
    expect(record.locator("span")).to_have_text("<img src=x onerror=alert(1)>")  # as text
    assert page.locator("#authors-list img").count() == 0
    page.reload()
    expect(page.locator("#authors-list li")).to_have_count(1)  # stored, listed again
    page.click("#authors-list li button")
    expect(page.locator("#authors-list li")).to_have_count(0)
    expect(page.locator("#authors-status")).to_have_text("None yet.")
    assert page.problems.unexpected("status of 422") == []


@pytest.mark.browser
def test_api_generated_endpoints_answer_a_browser_with_a_key(
    tmp_path: Path, serve: Callable[..., Server], page: Any
) -> None:
    import json

    from tests.templates.conftest import app_env
    from tests.templates.test_api import flask_upgrade, flask_user_key

    project = generated("api", tmp_path)
    env = app_env(project)
    flask_upgrade(project, env)  # the migrations the generator wrote, as the README says
    key = flask_user_key(project, env, "ada@example.com", "--scope", "read,write")
    server = serve(project, env=env, upgrade=False)  # upgraded above
    auth = {"Authorization": f"Bearer {key}"}

    author = page.request.post(server.url + "/authors", data={"name": "Ada"}, headers=auth)
    assert author.status == 201, author.text()
    author_id = author.json()["id"]
    body = {"title": "<script>alert(1)</script>", "author": author_id, "price": "9.50"}
    post = page.request.post(server.url + "/posts", data=body, headers=auth)
    assert post.status == 201, post.text()
    location = server.url + post.headers["location"]
    changed = page.request.patch(location, data={"published": True}, headers=auth)
    assert changed.status == 200 and changed.json()["published"] is True

    page.set_extra_http_headers(auth)
    response = page.goto(server.url + "/posts?limit=1")
    assert response.status == 200
    listing = json.loads(page.locator("body").inner_text())
    assert listing["total"] == 1 and listing["data"][0]["title"] == "<script>alert(1)</script>"
    assert page.locator("script").count() == 0  # JSON, shown as text
    document = json.loads(page.request.get(server.url + "/openapi.json").text())
    assert {"/posts", "/posts/{record_id}", "/authors"} <= set(document["paths"])
    assert page.request.delete(location, headers=auth).status == 204
    assert page.request.get(location, headers=auth).status == 404

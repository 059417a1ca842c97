"""``webkit generate resource`` on each built-in template, end to end.

For each template: a project from ``webkit new``, two resources generated into it (the
second with a ``ref:`` to the first), then everything a user would run: the project's
whole test suite (its migrations test runs them up, down and up, and compares them to the
models), ``ruff check`` and ``ruff format --check``, ``webkit check`` (no finding) and
``webkit routes`` (the new routes). In Chromium, a record is created, edited and deleted
through the generated pages of the site.
"""

from __future__ import annotations

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
    run_project_pytest,
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

    result, coverage = run_project_pytest(project, "-x")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert coverage >= 90, coverage
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

"""The generated site, ajax and api projects in a real Chromium, served by a real server.

The site, the ajax and the api project are each scaffolded with ``webkit new`` and served
once for the module (``serve_module``): every test drives its own browser context (own
cookies and storage) and, where it logs in, an account of its own (:func:`fresh_email`),
so no test sees another's state. A test that edits the project's files or needs a
different one scaffolds and serves its own (``serve``). Every page must load without
console errors and without Content-Security-Policy violations; the only console errors
allowed are Chromium's own "Failed to load resource" lines for the error statuses a test
provokes on purpose (404, 422).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.templates.conftest import (
    Server,
    app_env,
    child_env,
    flask_command,
    generate,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


PASSWORD = "correct horse battery"
#: The shared site's administrator (``flask users create --admin``, before the server starts).
ADMIN = "root@example.com"

_emails = itertools.count(1)


def fresh_email(name: str) -> str:
    """An address no other test of the module uses: each test's accounts are its own."""
    return f"{name}-{next(_emails)}@example.com"


#: The templates allow 10 login, registration and reset POSTs per IP in 3 minutes
#: (``limits.AUTH_LIMIT``); a module's tests must stay under that on each shared server.
AUTH_LIMIT = 10
_auth_posts: Counter[Server] = Counter()


def spend_auth_post(server: Server) -> None:
    """Count one rate-limited POST to ``server``; fails before the limit would answer 429."""
    _auth_posts[server] += 1
    assert _auth_posts[server] <= AUTH_LIMIT, (
        f"more than {AUTH_LIMIT} logins and registrations on {server.url}: the server would "
        "refuse them (429); give some of these tests a server of their own"
    )


@pytest.fixture(scope="module")
def shared_site(
    tmp_path_factory: pytest.TempPathFactory,
    migrated: Callable[[str, Path], Path],
    serve_module: Callable[..., Server],
) -> Server:
    """The module's site, served, with the administrator :data:`ADMIN`."""
    project = migrated("site", tmp_path_factory.mktemp("site"))
    env = app_env(project)
    create_admin(project, env, ADMIN)
    return serve_module(project, env=env, upgrade=False)


@pytest.fixture(scope="module")
def shared_ajax(
    tmp_path_factory: pytest.TempPathFactory,
    migrated: Callable[[str, Path], Path],
    serve_module: Callable[..., Server],
) -> Server:
    """The module's ajax project, served."""
    return serve_module(migrated("ajax", tmp_path_factory.mktemp("ajax")), upgrade=False)


@pytest.fixture(scope="module")
def shared_api(
    tmp_path_factory: pytest.TempPathFactory, serve_module: Callable[..., Server]
) -> tuple[Server, str]:
    """The module's api project, served, and a read-write key made with its own command."""
    from tests.templates.test_api import flask_upgrade, flask_user_key

    project = generate("api", tmp_path_factory.mktemp("api"))
    env = app_env(project)
    flask_upgrade(project, env)  # the README's first step: the key needs its table
    key = flask_user_key(project, env, "ada@example.com", "--scope", "read,write")
    return serve_module(project, env=env, upgrade=False), key


@pytest.fixture
def site(shared_site: Server) -> Server:
    return shared_site


@pytest.fixture
def ajax(shared_ajax: Server) -> Server:
    return shared_ajax


def register(page: Any, server: Server, email: str) -> None:
    """Create an account through the form; registering logs the new user in."""
    spend_auth_post(server)
    page.goto(server.url + "/auth/register")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("text=Create the account")
    expect_text(page, ".account-email", re.escape(email))


def log_in(page: Any, server: Server, email: str, path: str = "/auth/login") -> None:
    spend_auth_post(server)
    page.goto(server.url + path)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("input[type=submit]")
    expect_text(page, ".account-email", re.escape(email))


def log_out(page: Any) -> None:
    page.click("text=Log out")
    expect_text(page, ".flash-success", "You are logged out.")
    assert page.locator(".account-email").count() == 0


def create_admin(project: Path, env: dict[str, str], email: str) -> None:
    """``flask users create EMAIL --admin`` in the project, as its README says: after
    ``flask db upgrade`` (the ``migrated`` copy had it), which creates the tables the command
    writes to."""
    result = flask_command(
        project, child_env({**env, "PYTHONPATH": "src"}), "users", "create", email, "--admin",
        "--password-stdin", script=True, input=PASSWORD,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def ajax_user(ajax: Server, page: Any) -> Server:
    """The ajax project served, with ``page`` logged in as a newly registered user."""
    register(page, ajax, fresh_email("ada"))
    return ajax


def expect_text(page: Any, selector: str, pattern: str, *, among: str | None = None) -> None:
    """Wait until ``selector`` is visible and its text matches ``pattern``; ``among``: the one
    of several matches that contains this text."""
    from playwright.sync_api import expect

    locator = page.locator(selector, has_text=among)
    expect(locator).to_be_visible()
    expect(locator).to_have_text(re.compile(pattern))


# --- site -----------------------------------------------------------------------


AUTH_PAGES = ["/auth/login", "/auth/register", "/auth/reset"]
PAGES = {
    "site": ["/", "/about", "/contact", *AUTH_PAGES],
    "ajax": ["/", *AUTH_PAGES],
}


# (The xdist groups of the shared servers, which a fixture asked for by name would get.)
@pytest.mark.parametrize(
    "template", [pytest.param(t, marks=pytest.mark.xdist_group(f"browser-{t}")) for t in PAGES]
)
def test_every_page_loads_without_console_errors_or_csp_violations(
    template: str, page: Any, request: pytest.FixtureRequest
) -> None:
    served_project: Server = request.getfixturevalue(template)
    for path in PAGES[template]:
        response = page.goto(served_project.url + path)
        assert response.status == 200
        page.wait_for_load_state("networkidle")  # the ajax page loads its list with fetch
        # The stylesheet applied: the CSP let it load and the layout uses it.
        assert page.evaluate("getComputedStyle(document.body).display") == "flex"
        if template == "site" and path not in AUTH_PAGES:
            assert page.locator("nav[aria-label=Main] a[aria-current=page]").count() == 1
    response = page.goto(served_project.url + "/no/such/page")
    assert response.status == 404
    expect_text(page, "h1", "not found|Not Found")
    assert page.problems.unexpected("status of 404") == []


def test_site_skip_link_shows_without_covering_the_brand(site: Server, page: Any) -> None:
    """Focused (the first Tab), the skip link is visible and the brand stays uncovered."""
    page.goto(site.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    link = page.locator(".skip-link").bounding_box()
    brand = page.locator(".brand").bounding_box()
    assert link["x"] >= 0 and link["y"] >= 0 and link["height"] > 0  # on screen
    overlap_x = link["x"] < brand["x"] + brand["width"] and brand["x"] < link["x"] + link["width"]
    overlap_y = link["y"] < brand["y"] + brand["height"] and brand["y"] < link["y"] + link["height"]
    assert not (overlap_x and overlap_y), (link, brand)
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#content"
    assert page.problems.unexpected() == []


def test_site_home_in_development_shows_the_welcome(site: Server, page: Any) -> None:
    """webkit run serves in development: the home page says it works, with the real paths."""
    page.goto(site.url + "/")
    expect_text(page, ".welcome h2", "It works!")
    files = page.locator(".welcome-files code").all_inner_texts()
    assert "src/my_site/templates/index.html" in files
    assert page.locator(".welcome-routes a", has_text="/about").count() == 1
    assert page.problems.unexpected() == []


def test_site_contact_form_error_then_success(site: Server, page: Any) -> None:
    page.goto(site.url + "/contact")
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", "ada-at-example")
    page.fill("#message", "Short")
    page.click("input[type=submit]")

    # Server-side errors next to their fields, the typed values kept.
    expect_text(page, "#email-error", "Enter an e-mail address")
    expect_text(page, "#message-error", "between 10 and 2000")
    assert page.locator("#name-error").count() == 0
    assert page.input_value("#name") == "Ada Lovelace"
    assert page.input_value("#email") == "ada-at-example"
    assert page.get_attribute("#email", "aria-invalid") == "true"

    page.fill("#email", "ada@example.com")
    page.fill("#message", "The Analytical Engine weaves algebraic patterns.")
    page.click("input[type=submit]")

    # Post/Redirect/Get: the browser is back on the form, with the flash message.
    page.wait_for_url(site.url + "/contact")
    expect_text(page, ".flash-success", "Thanks! Your message was sent.")
    assert page.input_value("#message") == ""
    # A reload neither resends the form nor repeats the flash.
    page.reload()
    assert page.locator(".flash").count() == 0
    assert page.problems.unexpected("status of 422") == []


def test_site_escapes_markup_typed_into_forms(site: Server, page: Any) -> None:
    payload = "<img src=x onerror=window.__xss=1>"
    page.goto(site.url + "/contact")
    page.fill("#name", payload)
    page.fill("#email", "eve@example.com")
    page.fill("#message", payload + " and more text")
    page.click("input[type=submit]")
    page.wait_for_url(site.url + "/contact")
    log_in(page, site, ADMIN, "/messages")  # the login page, then the list
    page.wait_for_url(site.url + "/messages")
    # (The list also shows the other tests' messages: this one is found by its text.)
    expect_text(page, ".message .body", re.escape(payload), among=payload)
    assert page.locator(".message img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.problems.unexpected() == []


def test_site_remembers_the_name_in_the_session(site: Server, page: Any) -> None:
    page.goto(site.url + "/")
    page.fill("#display_name", "Grace")
    page.click("text=Remember me")
    expect_text(page, ".greeting", "Hello, Grace")
    page.goto(site.url + "/about")
    expect_text(page, ".greeting", "Hello, Grace")
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    page.goto(site.url + "/")
    page.click("text=Forget me")
    expect_text(page, ".flash-success", "Your name is forgotten.")
    assert page.locator(".greeting").count() == 0
    assert page.problems.unexpected() == []


# --- ajax -----------------------------------------------------------------------


def test_ajax_button_writes_the_answer_without_reload(ajax_user: Server, page: Any) -> None:
    ajax = ajax_user
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    page.evaluate("window.__sameDocument = true")
    with page.expect_response(ajax.url + "/api/time") as answer:
        page.click("#time-button")
    assert answer.value.status == 200
    expect_text(page, "#time-output", r"^\d\d:\d\d:\d\d UTC$")
    assert page.evaluate("window.__sameDocument") is True
    assert page.problems.unexpected() == []


def test_ajax_todo_list_with_keyboard_only(ajax_user: Server, page: Any) -> None:
    ajax = ajax_user
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")

    # Tab to the button, activate it with Enter.
    page.focus("#time-button")
    page.keyboard.press("Enter")
    expect_text(page, "#time-output", "UTC")

    # Type an item and press Enter: a JSON POST carrying the CSRF token header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "todo-input"
    page.keyboard.type("Buy milk")
    with page.expect_request(ajax.url + "/api/todos") as sent:
        page.keyboard.press("Enter")
    request = sent.value
    assert request.method == "POST"
    assert request.post_data_json == {"title": "Buy milk"}
    token = page.get_attribute('meta[name="csrf-token"]', "content")
    assert request.headers["x-csrftoken"] == token
    expect_text(page, "#todo-list label", "Buy milk")
    expect_text(page, "#todo-status", "0 of 1 done.")
    assert page.input_value("#todo-input") == ""

    # Space toggles the checkbox (PATCH); the state survives a reload.
    page.keyboard.press("Tab")  # the Add button
    page.keyboard.press("Tab")  # the item's checkbox
    with page.expect_response(re.compile(r"/api/todos/\d+$")):
        page.keyboard.press("Space")
    expect_text(page, "#todo-status", "1 of 1 done.")
    page.reload()
    expect_text(page, "#todo-status", "1 of 1 done.")
    assert page.is_checked("#todo-list input[type=checkbox]")

    # Delete with the keyboard; focus returns to the input.
    page.focus("#todo-list button")
    with page.expect_response(re.compile(r"/api/todos/\d+$")):
        page.keyboard.press("Enter")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    assert page.evaluate("document.activeElement.id") == "todo-input"
    assert page.problems.unexpected() == []


def test_ajax_shows_the_server_validation_error(ajax_user: Server, page: Any) -> None:
    ajax = ajax_user
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    page.fill("#todo-input", "   ")
    page.click("text=Add")
    expect_text(page, "#todo-error", "Write what needs doing.")
    assert page.get_attribute("#todo-input", "aria-invalid") == "true"
    page.fill("#todo-input", "x" * 201)
    page.click("text=Add")
    expect_text(page, "#todo-error", "Keep it under 200 characters.")
    assert page.locator("#todo-list li").count() == 0

    page.fill("#todo-input", "A fine title")
    page.click("text=Add")
    expect_text(page, "#todo-list label", "A fine title")
    assert page.locator("#todo-error").is_hidden()
    assert page.get_attribute("#todo-input", "aria-invalid") is None
    assert page.problems.unexpected("status of 422") == []


def test_ajax_shows_network_failures(ajax_user: Server, page: Any) -> None:
    ajax = ajax_user
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    page.fill("#todo-input", "Offline item")
    page.click("text=Add")
    expect_text(page, "#todo-error", "Network error")
    page.click("#time-button")
    expect_text(page, "#time-error", "Network error")
    # The typed text is kept so the user can retry once the network is back.
    assert page.input_value("#todo-input") == "Offline item"
    page.unroute("**/api/**")
    page.click("text=Add")
    expect_text(page, "#todo-list label", "Offline item")
    assert page.problems.unexpected("net::ERR_INTERNET_DISCONNECTED") == []


def test_ajax_inserts_titles_as_text(ajax_user: Server, page: Any) -> None:
    ajax = ajax_user
    payload = "<img src=x onerror=window.__xss=1>"
    page.goto(ajax.url + "/")
    page.fill("#todo-input", payload)
    page.click("text=Add")
    expect_text(page, "#todo-list label", re.escape(payload))
    page.reload()
    expect_text(page, "#todo-list label", re.escape(payload))
    assert page.locator("#todo-list img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.problems.unexpected() == []


def test_the_problem_listeners_work(site: Server, page: Any) -> None:
    """Console errors and CSP violations (an injected inline handler) are reported."""
    page.goto(site.url + "/about")
    page.evaluate("console.error('a console error')")
    assert page.problems.unexpected() == ["a console error"]
    page.evaluate(
        """document.body.insertAdjacentHTML(
            "beforeend", '<img src="data:," onerror="window.__ran = true">')"""
    )
    for _ in range(100):  # the report arrives asynchronously through the exposed function
        if page.problems.csp_violations:
            break
        page.wait_for_timeout(50)
    assert any("script-src" in v for v in page.problems.csp_violations), page.problems
    assert page.evaluate("window.__ran") is None


@pytest.mark.parametrize("template", ["site", "ajax"])
def test_live_reload_works_under_the_strict_csp(
    template: str,
    tmp_path: Path,
    migrated: Callable[[str, Path], Path],
    serve: Callable[..., Server],
    page: Any,
) -> None:
    """``webkit run --reload`` injects a same-origin script the templates' CSP allows."""
    project = migrated(template, tmp_path)  # its own: the test edits it
    server = serve(project, reload=True, upgrade=False)
    page.goto(server.url + "/")
    assert page.locator('script[src^="/__webkit/livereload.js"]').count() == 1
    title = page.locator("h1").first.text_content()
    page.evaluate("window.__beforeReload = true")

    base = next((project / "src").glob("*/templates/base.html"))
    # The browser refreshes by itself: a new document without the marker, the edit shown.
    with page.expect_event("load", timeout=15_000):
        base.write_text(base.read_text().replace("<main", '<p class="edited">Edited</p>\n  <main'))
    expect_text(page, ".edited", "Edited")
    assert page.evaluate("window.__beforeReload") is None
    assert page.locator("h1").first.text_content() == title
    assert page.problems.unexpected() == []


def test_ajax_without_the_csrf_header_is_refused_visibly(
    tmp_path: Path,
    migrated: Callable[[str, Path], Path],
    serve: Callable[..., Server],
    page: Any,
) -> None:
    """Break app.js so it forgets the token: the server refuses, the page says why."""
    project = migrated("ajax", tmp_path)  # its own: the test breaks it
    script = next((project / "src").glob("*/static/app.js"))
    source = script.read_text()
    assert 'headers["X-CSRFToken"] = csrfToken;' in source
    script.write_text(source.replace('headers["X-CSRFToken"] = csrfToken;', ""))
    server = serve(project, upgrade=False)
    register(page, server, "ada@example.com")

    page.goto(server.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    page.fill("#todo-input", "Forged")
    with page.expect_response(server.url + "/api/todos") as answer:
        page.click("text=Add")
    assert answer.value.status == 400
    expect_text(page, "#todo-error", "security token is missing or expired")
    page.reload()
    expect_text(page, "#todo-status", "Nothing to do yet.")
    assert page.problems.unexpected("status of 400") == []


# --- accounts -------------------------------------------------------------------


def test_ajax_each_user_sees_only_their_own_todos(ajax: Server, page: Any) -> None:
    """Register, add a to-do, log out, log in as a second user: none of the first's."""
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-login", "log in")
    assert page.locator("#todo-form").count() == 0
    ada, grace = fresh_email("ada"), fresh_email("grace")
    register(page, ajax, ada)
    log_out(page)
    log_in(page, ajax, ada)
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    page.fill("#todo-input", "Ada's secret plan")
    with page.expect_response(
        lambda r: r.url == ajax.url + "/api/todos" and r.request.method == "POST"
    ) as created:
        page.click("text=Add")
    todo_id = created.value.json()["todo"]["id"]
    expect_text(page, "#todo-list label", "Ada's secret plan")
    log_out(page)
    expect_text(page, "#todo-login", "log in")

    register(page, ajax, grace)
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-status", "Nothing to do yet.")
    assert page.locator("#todo-list li").count() == 0
    # Not even by asking for it: the first user's item is a 404 to the second.
    answer = page.request.fetch(
        ajax.url + f"/api/todos/{todo_id}",
        method="PATCH",
        data={"done": True},
        headers={"X-CSRFToken": page.get_attribute('meta[name="csrf-token"]', "content")},
    )
    assert answer.status == 404
    log_out(page)

    log_in(page, ajax, ada)
    page.goto(ajax.url + "/")
    expect_text(page, "#todo-list label", "Ada's secret plan")
    assert not page.is_checked("#todo-list input[type=checkbox]")
    assert page.problems.unexpected() == []


def test_site_admin_sees_messages_a_plain_user_does_not(site: Server, page: Any) -> None:
    page.goto(site.url + "/contact")
    page.fill("#name", "Visitor")
    page.fill("#email", "visitor@example.com")
    page.fill("#message", "A message for the admins only.")
    page.click("input[type=submit]")
    expect_text(page, ".flash-success", "Thanks! Your message was sent.")

    register(page, site, fresh_email("ada"))
    assert page.locator("nav a", has_text="Messages").count() == 0
    response = page.goto(site.url + "/messages")
    assert response.status == 403
    expect_text(page, "h1", "Not allowed")
    assert page.locator(".message").count() == 0
    log_out(page)

    log_in(page, site, ADMIN)
    page.click("nav >> text=Messages")
    page.wait_for_url(site.url + "/messages")
    # (The list also shows the other tests' messages: this one is found by its text.)
    message = "A message for the admins only."
    expect_text(page, ".message .body", re.escape(message), among=message)
    assert page.problems.unexpected("status of 403") == []


# --- api --------------------------------------------------------------------------


def test_api_in_the_browser_with_a_key(shared_api: tuple[Server, str], page: Any) -> None:
    """The JSON API opened in Chromium: documents and errors render under its strict CSP,
    and a key made with the project's own command authorises the browser's requests."""
    import json

    server, key = shared_api  # no other test writes to it

    response = page.goto(server.url + "/openapi.json")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert json.loads(page.locator("body").inner_text())["openapi"] == "3.1.0"

    response = page.goto(server.url + "/notes")
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = json.loads(page.locator("body").inner_text())
    assert problem["status"] == 401 and problem["code"]

    auth = {"Authorization": f"Bearer {key}"}
    for title in ("<script>alert(1)</script>", "Second"):
        created_note = page.request.post(server.url + "/notes", data={"title": title}, headers=auth)
        assert created_note.status == 201
    page.set_extra_http_headers(auth)
    response = page.goto(server.url + "/notes?limit=1")
    assert response.status == 200
    listing = json.loads(page.locator("body").inner_text())
    assert listing["total"] == 2 and len(listing["data"]) == 1
    assert listing["next"] == "/notes?limit=1&offset=1"
    # The markup is data in a JSON document: shown as text, never run.
    assert listing["data"][0]["title"] == "<script>alert(1)</script>"
    assert page.locator("script").count() == 0
    assert page.problems.unexpected("status of 401") == []


def test_api_docs_show_every_path_under_the_strict_csp(
    shared_api: tuple[Server, str], page: Any
) -> None:
    """/docs, made from the OpenAPI document, shows every path in Chromium, styled by its
    own stylesheet, with no script, no console error and no CSP violation; a browser asking
    for / gets a page linking to it."""
    server, _ = shared_api
    document = page.request.get(server.url + "/openapi.json").json()

    response = page.goto(server.url + "/")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    page.get_by_role("link", name="Documentation").click()
    page.wait_for_url(server.url + "/docs")
    page.wait_for_load_state("networkidle")
    headings = page.locator(".operation h2").all_inner_texts()
    for path, item in document["paths"].items():
        for method in item:
            if method != "parameters":
                assert f"{method.upper()} {path}" in headings, (method, path)
    # The stylesheet applied: the CSP let it load.
    assert page.evaluate("getComputedStyle(document.querySelector('.operation')).borderRadius") == (
        "8px"
    )
    assert page.locator("script").count() == 0
    assert page.problems.unexpected() == []

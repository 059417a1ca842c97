"""The HTML page, its static files and the HTML error pages."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from .conftest import AppFactory, get_html


def test_page_has_the_button_the_list_and_a_csrf_token(user_client: FlaskClient) -> None:
    html = get_html(user_client, "/")
    assert 'id="time-button"' in html
    assert 'id="todo-form"' in html
    assert re.search(r'<meta name="csrf-token" content="[^"]{20,}">', html)
    assert 'action="/auth/logout"' in html


def test_logged_out_the_page_shows_a_login_link_instead_of_the_list(client: FlaskClient) -> None:
    html = get_html(client, "/")
    assert 'id="time-button"' in html
    assert 'id="todo-form"' not in html
    assert 'id="todo-login"' in html
    assert 'href="/auth/login"' in html


def test_javascript_is_a_static_file_never_inline(client: FlaskClient) -> None:
    """The Content-Security-Policy forbids inline script and style."""
    html = client.get("/").get_data(as_text=True)
    tags = re.findall(r"<script[^>]*>", html)
    assert tags == ['<script src="/static/app.js" defer>']
    assert "<style" not in html
    assert " style=" not in html
    assert " onclick=" not in html


def test_static_files_are_served(client: FlaskClient) -> None:
    for path, mimetype, marker in [
        ("/static/app.js", "text/javascript", b"X-CSRFToken"),
        ("/static/style.css", "text/css", b".todo"),
    ]:
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert marker in response.data
        response.close()


def test_unknown_page_is_an_html_404(client: FlaskClient) -> None:
    assert "Not Found" in get_html(client, "/nowhere", 404)


def test_a_form_post_without_token_is_an_html_400(make_app: AppFactory) -> None:
    """A page form added later gets a readable page, not JSON, when its token is missing."""
    app = make_app()

    @app.post("/subscribe")
    def subscribe() -> str:  # pragma: no cover  (CSRFProtect refuses the request first)
        return "subscribed"

    response = app.test_client().post("/subscribe")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Request refused" in response.get_data(as_text=True)

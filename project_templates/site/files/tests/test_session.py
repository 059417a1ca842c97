"""The remembered display name: a visible use of the signed session cookie."""

from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import csrf_token


def remember(client: FlaskClient, name: str) -> str:
    response = client.post(
        "/name", data={"display_name": name, "csrf_token": csrf_token(client, "/")}
    )
    assert response.status_code == 302
    return client.get("/about").get_data(as_text=True)


def test_name_is_remembered_across_pages(client: FlaskClient) -> None:
    page = remember(client, "Grace")
    assert "Hello, <strong>Grace</strong>" in page
    home = client.get("/").get_data(as_text=True)
    assert "Hello, Grace" in home
    # Just told: not a return visit (it said "Welcome back" beside "Nice to meet you").
    assert "Welcome back" not in home


def test_a_new_visitor_is_not_greeted(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Hello," not in html
    assert "Remember me" in html


def test_forget_me_clears_the_name(client: FlaskClient) -> None:
    remember(client, "Grace")
    token = csrf_token(client, "/")
    response = client.post("/name/forget", data={"csrf_token": token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Your name is forgotten." in html
    assert "Hello, <strong>Grace</strong>" not in html


def test_forget_me_needs_the_csrf_token(client: FlaskClient) -> None:
    remember(client, "Grace")
    assert client.post("/name/forget").status_code == 400
    assert "Hello, <strong>Grace</strong>" in client.get("/").get_data(as_text=True)


def test_empty_name_is_refused_with_an_error(client: FlaskClient) -> None:
    data = {"display_name": "   ", "csrf_token": csrf_token(client, "/")}
    response = client.post("/name", data=data)
    assert response.status_code == 422
    assert 'id="display_name-error"' in response.get_data(as_text=True)


def test_name_with_markup_is_escaped(client: FlaskClient) -> None:
    page = remember(client, "<b>bold</b>")
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page

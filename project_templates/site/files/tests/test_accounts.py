"""Who may read what: the contact form is public, /messages is for admins only."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from .conftest import csrf_token, get_html, log_in

VALID = {"name": "Ada", "email": "ada@example.com", "message": "Hello from the tests!"}


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    response = client.get("/messages")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/messages"
    assert "Log in to see this page." in client.get("/auth/login").get_data(as_text=True)


def test_a_user_who_is_not_an_admin_gets_a_403(user_client: FlaskClient) -> None:
    html = get_html(user_client, "/messages", 403)
    assert "This page is for administrators only." in html
    assert 'href="/messages"' not in html  # nor a link to it


def test_messages_are_for_admins_only(
    client: FlaskClient, user_client: FlaskClient, admin_client: FlaskClient
) -> None:
    data = {
        **VALID,
        "message": "For the admins' eyes",
        "csrf_token": csrf_token(client, "/contact"),
    }
    assert client.post("/contact", data=data).status_code == 302
    assert user_client.get("/messages").status_code == 403
    assert "For the admins" not in user_client.get("/messages").get_data(as_text=True)
    html = get_html(admin_client, "/messages")
    assert "For the admins" in html
    assert 'href="/messages"' in get_html(admin_client, "/")


def test_an_admin_logging_in_goes_back_to_the_messages(
    app: Flask, admin_client: FlaskClient
) -> None:
    client = app.test_client()
    client.get("/messages")
    data = {"email": "root@example.com", "password": "correct horse battery"}
    data["csrf_token"] = csrf_token(client, "/auth/login")
    response = client.post("/auth/login?next=/messages", data=data)
    assert response.headers["Location"] == "/messages"
    assert log_in(app.test_client(), "root@example.com").status_code == 302


def test_the_header_offers_login_or_logout(client: FlaskClient, user_client: FlaskClient) -> None:
    anonymous = get_html(client, "/about")
    assert 'href="/auth/login"' in anonymous and 'href="/auth/register"' in anonymous
    mine = get_html(user_client, "/about")
    assert 'action="/auth/logout"' in mine
    assert "ada@example.com" in mine


def test_a_refused_login_page_is_a_clear_page(app: Flask, client: FlaskClient) -> None:
    for n in range(11):
        data = {"email": f"x{n}@example.com", "password": "wrong password!", "csrf_token": ""}
        data["csrf_token"] = csrf_token(client, "/auth/login")
        response = client.post("/auth/login", data=data)
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "<h1>Too many attempts</h1>" in html
    assert '<nav aria-label="Main">' in html  # in the site's layout

"""The contact form: CSRF, validation, Post/Redirect/Get, storage and escaping."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, table

from .conftest import AppFactory, csrf_token

VALID = {"name": "Ada", "email": "ada@example.com", "message": "Hello from the tests!"}


def count_messages(app: Flask) -> int:
    """Rows in the messages table, read straight from the database."""
    with app.extensions["sqlalchemy_engine"].connect() as connection:
        return connection.scalar(select(func.count()).select_from(table("messages"))) or 0


def contact_token(client: FlaskClient) -> str:
    return csrf_token(client, "/contact")


def test_form_carries_a_csrf_token(client: FlaskClient) -> None:
    assert len(contact_token(client)) > 20


def test_post_without_csrf_token_is_rejected(app: Flask, client: FlaskClient) -> None:
    response = client.post("/contact", data=VALID)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert count_messages(app) == 0


def test_post_with_a_forged_csrf_token_is_rejected(app: Flask, client: FlaskClient) -> None:
    contact_token(client)  # the session has a real token; the form sends another
    response = client.post("/contact", data={**VALID, "csrf_token": "forged"})
    assert response.status_code == 400
    assert count_messages(app) == 0


def test_invalid_input_shows_errors_next_to_fields_and_keeps_values(
    app: Flask, client: FlaskClient
) -> None:
    token = contact_token(client)
    data = {"csrf_token": token, "name": "", "email": "not-an-email", "message": "short"}
    response = client.post("/contact", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="name-error"' in html
    assert "This field is required." in html
    assert 'id="email-error"' in html
    assert "Enter an e-mail address like name@example.com." in html
    assert 'id="message-error"' in html
    assert "Write between 10 and 2000 characters." in html
    assert 'aria-invalid="true"' in html
    assert 'value="not-an-email"' in html
    assert "short</textarea>" in html
    assert count_messages(app) == 0


def test_valid_message_is_stored_then_redirected_with_a_flash(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    """Anyone may write; the form comes back with a thanks (only admins read /messages)."""
    response = client.post("/contact", data={**VALID, "csrf_token": contact_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/contact"
    assert count_messages(app) == 1

    page = client.get("/contact").get_data(as_text=True)
    assert "Thanks! Your message was sent." in page
    # The flash is shown once; a reload of the page does not repeat it.
    assert "Thanks!" not in client.get("/contact").get_data(as_text=True)
    assert "Hello from the tests!" in admin_client.get("/messages").get_data(as_text=True)


def test_messages_are_listed_newest_first(client: FlaskClient, admin_client: FlaskClient) -> None:
    for text in ("The first message", "The second message"):
        data = {**VALID, "message": text, "csrf_token": contact_token(client)}
        client.post("/contact", data=data)
    page = admin_client.get("/messages").get_data(as_text=True)
    assert page.index("The second message") < page.index("The first message")


def test_empty_message_list_invites_a_first_message(admin_client: FlaskClient) -> None:
    assert "No messages yet" in admin_client.get("/messages").get_data(as_text=True)


def test_script_in_a_message_is_rendered_escaped(
    client: FlaskClient, admin_client: FlaskClient
) -> None:
    payload = '<script>alert("xss")</script>'
    data = {**VALID, "name": payload, "message": payload, "csrf_token": contact_token(client)}
    client.post("/contact", data=data)
    page = admin_client.get("/messages").get_data(as_text=True)
    assert payload not in page
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in page


def test_script_in_a_rejected_form_is_rendered_escaped(client: FlaskClient) -> None:
    payload = '"><script>alert(1)</script>'
    data = {**VALID, "email": payload, "csrf_token": contact_token(client)}
    html = client.post("/contact", data=data).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


def test_sql_injection_is_stored_as_plain_text(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    payload = "Robert'); DROP TABLE messages;--"
    data = {**VALID, "name": payload, "csrf_token": contact_token(client)}
    client.post("/contact", data=data)
    data = {**VALID, "name": "x' OR '1'='1", "csrf_token": contact_token(client)}
    client.post("/contact", data=data)
    assert count_messages(app) == 2
    page = admin_client.get("/messages").get_data(as_text=True)
    assert "Robert&#39;); DROP TABLE messages;--" in page


def test_oversized_body_is_refused(client: FlaskClient) -> None:
    data = {**VALID, "message": "x" * (2 * 1024 * 1024), "csrf_token": contact_token(client)}
    response = client.post("/contact", data=data)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_form_is_prefilled_with_the_remembered_name(client: FlaskClient) -> None:
    client.post("/name", data={"display_name": "Grace", "csrf_token": csrf_token(client, "/")})
    assert 'value="Grace"' in client.get("/contact").get_data(as_text=True)


def test_behind_a_tls_proxy_a_post_needs_a_same_origin_referer(make_app: AppFactory) -> None:
    """Flask-WTF checks the Referer over HTTPS only: TRUSTED_PROXIES lets it see the HTTPS."""
    client = make_app(TRUSTED_PROXIES=1).test_client()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"}
    html = client.get("/contact", headers=https).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token
    data = {**VALID, "csrf_token": token.group(1)}
    for referer, status in [
        (None, 400),
        ("https://evil.example/contact", 400),
        ("https://shop.example/contact", 302),
    ]:
        headers = {**https, **({"Referer": referer} if referer else {})}
        assert client.post("/contact", data=data, headers=headers).status_code == status, referer

"""Pages, navigation, static files and the custom error pages."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from .conftest import get_html

PAGES = ["/", "/about", "/contact", "/messages"]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_in_the_layout_with_navigation(admin_client: FlaskClient, path: str) -> None:
    """An admin's navigation; others do not see Messages (test_accounts.py)."""
    html = get_html(admin_client, path)
    assert '<nav aria-label="Main">' in html
    for link in PAGES:
        assert f'href="{link}"' in html
    assert html.count('aria-current="page"') == 1
    assert re.search(rf'href="{re.escape(path)}"\s+aria-current="page"', html)


@pytest.mark.parametrize("path", [*PAGES, "/auth/login", "/auth/register", "/auth/reset"])
def test_no_inline_script_or_style(admin_client: FlaskClient, path: str) -> None:
    """The Content-Security-Policy forbids them; a page using one would break."""
    html = admin_client.get(path).get_data(as_text=True)
    assert "<style" not in html
    assert " style=" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag


def test_stylesheet_is_served(client: FlaskClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b"@media" in response.data
    response.close()


def test_unknown_page_gets_the_custom_404(client: FlaskClient) -> None:
    html = get_html(client, "/no/such/page", 404)
    assert "Page not found" in html
    assert '<nav aria-label="Main">' in html

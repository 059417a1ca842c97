"""What every page of the project shares: its two stylesheets, and a 500 page without details."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from .conftest import AppFactory, crash


def test_the_layout_links_both_stylesheets_and_they_are_served(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
    # base.css first: the project's own style.css builds on it and overrides it.
    assert links == ["/static/base.css", "/static/style.css"]
    for link in links:
        response = client.get(link)
        assert response.status_code == 200
        assert response.mimetype == "text/css"
        assert b"{" in response.data
        response.close()


def test_a_crash_is_a_500_page_without_details(make_app: AppFactory) -> None:
    response = crash(make_app, "/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "ZeroDivisionError" not in html

"""A page's own fetch/XHR that gets a 500 shows webkit's overlay, in a real Chromium, under
the page's strict CSP; the overlay links to the kept traceback page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.server._server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = """\
from flask import Flask, jsonify

app = Flask(__name__)


@app.after_request
def strict(response):
    response.headers["Content-Security-Policy"] = "default-src 'self'"
    return response


@app.get("/")
def index():
    return (
        "<!doctype html><html><head><script src='/static/page.js' defer></script></head>"
        "<body><h1>Items</h1><p id='out'>waiting</p></body></html>"
    )


@app.route("/api/items", methods=["GET", "POST"])
def items():
    return jsonify(items=[])[{}["missing"]]


@app.get("/api/ok")
def ok():
    return jsonify(ok=True)
"""

PAGE_JS = """\
document.addEventListener("DOMContentLoaded", function () {
  fetch("/api/ok").then(function () {
    return fetch("/api/items");
  }).then(function (response) {
    document.getElementById("out").textContent = "swallowed " + response.status;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/items?via=xhr");
    xhr.send();
  });
});
"""


def test_a_failed_fetch_and_xhr_show_the_overlay_with_the_traceback_link(
    tmp_path: Path, chromium: Any
) -> None:
    project = tmp_path / "api"
    (project / "static").mkdir(parents=True)
    (project / "app.py").write_text(APP, encoding="utf-8")
    (project / "static" / "page.js").write_text(PAGE_JS, encoding="utf-8")
    server = Server(project, ["--reload"])
    context = chromium.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.goto(f"http://127.0.0.1:{server.port}/")
        # (locators, not wait_for_function: the page's CSP forbids eval, as it should)
        page.locator("#out", has_text="swallowed 500").wait_for(timeout=15_000)
        overlay = page.locator("[data-webkit-overlay]")
        overlay.wait_for(state="visible", timeout=15_000)
        overlay.locator("li").nth(1).wait_for(timeout=15_000)
        text = overlay.inner_text()
        assert "GET /api/items → 500" in text
        assert "POST /api/items?via=xhr → 500" in text
        assert "KeyError: 'missing'" in text
        assert "/api/ok" not in text  # a success is not reported
        anchors = overlay.locator("a")
        links = [
            f"http://127.0.0.1:{server.port}{anchors.nth(i).get_attribute('href')}"
            for i in range(anchors.count())
        ]
        assert len(links) == 2
        assert all(re.search(r"/__webkit/error/[\w-]+$", link) for link in links)
        page.screenshot(path=str(tmp_path.parent / "overlay.png"))
        assert problems == []  # built with DOM calls: the page's CSP refused nothing

        traceback_page = context.new_page()
        response = traceback_page.goto(links[0])
        assert response is not None and response.status == 200
        first = traceback_page.locator(".frame").first
        assert first.locator(".where b").first.inner_text() == "app.py"
        assert "GET /api/items" in traceback_page.locator("table.request").inner_text()

        overlay.get_by_role("button", name="Dismiss").click()
        assert page.locator("[data-webkit-overlay]").count() == 0
    finally:
        context.close()
        server.close()
    server.assert_nothing_left()

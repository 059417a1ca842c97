"""The error page on a real ``webkit run``: in Chromium (the user's frame first, a page of
reasonable height) and the open-in-editor endpoint for command editors (vim, emacs)."""

from __future__ import annotations

import html
import re
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import launch_chromium
from tests.server._server import Server

pytestmark = pytest.mark.slow

APP = """\
from flask import Flask, render_template

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True


@app.get("/")
def index():
    return "<html><body>ok</body></html>"


@app.get("/page")
def page():
    return render_template("page.html", user=None)
"""

TEMPLATE = """\
<!doctype html>
<html><body>
<h1>Hello</h1>
<p>{{ user.name.first }}</p>
</body></html>
"""

BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    (project / "templates").mkdir(parents=True)
    (project / "app.py").write_text(APP, encoding="utf-8")
    (project / "templates" / "page.html").write_text(TEMPLATE, encoding="utf-8")
    return project


def recording_editor(tmp_path: Path) -> tuple[Path, Path]:
    """A fake terminal editor that writes its arguments to a file and exits."""
    record = tmp_path / "editor-args.txt"
    script = tmp_path / "fake-vim"
    # Written aside and renamed, so the test never reads a file the shell has only truncated.
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.part && mv {record}.part {record}\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def test_a_command_editor_is_run_by_the_dev_server_only_with_the_token(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    script, record = recording_editor(tmp_path)
    server = Server(project, ["--no-reload"], env={"WEBKIT_EDITOR": str(script)})
    try:
        status, _, body = server.get("/page", headers={"Accept": BROWSER_ACCEPT})
        assert status == 500
        links = [html.unescape(h) for h in re.findall(r'<a class="open" href="([^"]+)"', body)]
        assert links and all(link.startswith("/__webkit/open?") for link in links)
        assert "templates%2Fpage.html&line=4&token=" in links[0]

        # Without the token, with a wrong one, or for a file outside the project: refused.
        forged = re.sub(r"token=[^&]+", "token=forged", links[0])
        assert server.get(forged)[0] == 403
        assert server.get(links[0].split("&token=")[0])[0] == 403
        outside = links[0].replace("file=", "file=%2Fetc%2Fpasswd&x=", 1)
        assert server.get(re.sub(r"file=[^&]+&x=[^&]+", "file=%2Fetc%2Fpasswd", outside))[0] == 403
        assert not record.exists()

        assert server.get(links[0])[0] == 200
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.read_text(encoding="utf-8").split() == [
            "+4",
            str((project / "templates" / "page.html").resolve()),
        ]
    finally:
        server.close()
    server.assert_nothing_left()


@pytest.mark.browser
def test_the_template_error_page_in_chromium_leads_with_the_template(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    server = Server(project, ["--no-reload"], env={"WEBKIT_EDITOR": "code"})
    try:
        with launch_chromium() as chromium:
            page = chromium.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            response = page.goto(f"http://127.0.0.1:{server.port}/page")
            assert response is not None and response.status == 500
            first = page.locator(".frame").first
            assert first.locator(".where b").first.inner_text() == "templates/page.html"
            assert first.is_visible()
            assert "{{ user.name.first }}" in first.locator("span.hl").inner_text()
            href = first.locator("a.open").get_attribute("href")
            assert href == f"vscode://file{(project / 'templates' / 'page.html').resolve()}:4"
            # The framework's frames are folded: closed, they take no room.
            assert not page.locator("details.fold .frame").first.is_visible()
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height < 1400, height
            page.screenshot(path=str(tmp_path.parent / "template-error.png"), full_page=True)
            # The CSP let the page's style through (the 500 and the favicon are not errors).
            assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    finally:
        server.close()
    server.assert_nothing_left()

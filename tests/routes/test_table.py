"""The route table (``webkit_cli.routes.table``): columns, widths, colour and the summary."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rich.console import Console

from tests.conftest import REPO_ROOT
from tests.routes.helpers import BLOG_FILE, def_line, make_blog_app
from webkit_cli.routes import (
    build_table,
    collect_routes,
    sort_routes,
    summary_line,
)


def render(table: Any, width: int = 100, **console_kwargs: Any) -> str:
    options: dict[str, Any] = {"width": width, "color_system": None, **console_kwargs}
    console = Console(file=io.StringIO(), **options)
    console.print(table, soft_wrap=True)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def column_starts(header: str) -> dict[str, int]:
    return {m.group(0): m.start() for m in re.finditer(r"[A-Z][a-z]+", header)}


def test_table_is_aligned_with_all_columns() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    root = REPO_ROOT
    text = render(build_table(routes, root=root), width=200)
    lines = text.splitlines()
    header = lines[0]
    starts = column_starts(header)
    assert list(starts) == ["Methods", "Rule", "Endpoint", "View", "Source"]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2 : 2 + len(routes)]
    for row, route in zip(rows, routes, strict=True):
        assert row[starts["Rule"] :].startswith(route.rule + " ")
        assert row[starts["Endpoint"] :].startswith(route.endpoint)
        assert row == row.rstrip()
    home = next(row for row in rows if " home " in row)
    assert home[starts["Source"] :] == f"tests/routes/helpers.py:{def_line('home')}"
    assert home[starts["View"] :].startswith("tests.routes.helpers.make_blog_app.<locals>.home")
    old = next(row for row in rows if "old_home" in row)
    assert "→ /" in old
    head_only = next(row for row in rows if "blog.admin.stats" in row)
    assert head_only.startswith("GET, POST ")
    assert "HEAD" not in text and "OPTIONS" not in text
    assert lines[-1] == "10 routes: app 4, blog 2, blog.admin 4"
    assert "\x1b" not in text


def test_table_all_methods_and_plain_text_match() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    table = build_table(routes, all_methods=True, fit=False)
    text = table.plain()
    assert "GET, HEAD, OPTIONS, POST" in text
    # The rich rendering without colour is the same text.
    assert render(table, width=40) == text


def rows_of(text: str) -> list[str]:
    """The route lines of a rendered table (not the header, dashes, second lines, footer)."""
    lines = text.splitlines()
    return [line for line in lines[2 : lines.index("")] if not line.startswith(" ")]


def test_table_fits_a_narrow_terminal() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes, root=REPO_ROOT), width=90)
    lines = text.splitlines()
    assert all(len(line) <= 90 for line in lines[:-1])  # the summary may wrap
    assert "…" in text
    # Paths keep their end (file:line); rules keep their start.
    assert re.search(rf"…\S*helpers\.py:{def_line('home')}", text)
    starts = column_starts(lines[0])
    for line in rows_of(text):
        assert line[starts["Rule"]] == "/"
    # A very narrow terminal: View and Source left out, the rest still aligned.
    narrow = render(build_table(routes), width=52).splitlines()
    assert all(len(line) <= 52 for line in narrow[:-1])
    assert narrow[0].split() == ["Methods", "Rule", "Endpoint"]
    assert narrow[-1].endswith("(View and Source hidden to fit the width)")


@pytest.mark.parametrize("width", [80, 60, 40])
def test_rule_and_methods_are_never_shortened(width: int) -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes, root=REPO_ROOT), width=width)
    rows = rows_of(text)
    assert len(rows) == len(routes)
    for row, route in zip(rows, routes, strict=True):
        methods = ", ".join(route.visible_methods())
        assert row.startswith(methods + " ")
        assert f"  {route.rule}" in row
    assert "<path:filename>" in text and "<path:file…" not in text


def test_at_80_columns_view_goes_first_and_file_and_line_stay() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes, root=REPO_ROOT), width=80)
    lines = text.splitlines()
    assert lines[0].split() == ["Methods", "Rule", "Endpoint", "Source"]
    assert all(len(line) <= 80 for line in lines[:-1])
    home = next(row for row in rows_of(text) if " home " in row)
    assert home.endswith(f"…helpers.py:{def_line('home')}")  # shortened, file:line whole
    # Nothing of the project's own rows needs a second line (Flask's static view may: its
    # file is flask/scaffold.py before Flask 2.2, longer than the column then).
    assert not [line for line in lines if "↳" in line and "flask/" not in line]
    assert lines[-1] == "10 routes: app 4, blog 2, blog.admin 4 (View hidden to fit the width)"


def test_a_cut_cell_is_shown_in_full_on_a_second_line() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    lines = render(build_table(routes, root=REPO_ROOT), width=60).splitlines()
    cut = next(i for i, line in enumerate(lines) if "blog.admin.item…" in line)
    assert lines[cut].startswith("POST ")
    rule_at = lines[0].index("Rule")
    assert lines[cut + 1] == " " * rule_at + "↳ blog.admin.items_new"
    # Only the rows that lost something get one.
    assert sum("↳" in line for line in lines) == 1


def test_readable_colours_no_blue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    app = Flask(__name__)
    app.add_url_rule("/x", "x", lambda: "", methods=["PUT"])
    text = render(
        build_table(collect_routes(app)), width=200, color_system="standard", force_terminal=True
    )
    # ANSI blue (34) is hard to read on dark backgrounds: Source is dim, PUT is cyan.
    assert "\x1b[34m" not in text and ";34m" not in text
    assert "\x1b[36mPUT" in text
    assert re.search(r"\x1b\[2m[^\x1b]*test_table\.py:\d+", text)


def test_host_column_only_when_used() -> None:
    plain = build_table(collect_routes(make_blog_app()), fit=False).plain()
    assert "Host" not in plain and "Subdomain" not in plain
    app = Flask(__name__, host_matching=True, static_host="cdn.test")
    app.add_url_rule("/", "home", lambda: "", host="www.test")
    lines = build_table(sort_routes(collect_routes(app)), fit=False).plain().splitlines()
    assert list(column_starts(lines[0]))[:3] == ["Methods", "Host", "Rule"]
    assert any("cdn.test" in line and "/static/<path:filename>" in line for line in lines)


def test_colour_rendering_has_styles_and_hyperlinks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes), width=200, color_system="truecolor", force_terminal=True)
    assert "\x1b[32mGET\x1b[0m" in text  # GET in green
    assert "\x1b[36m<int:page>\x1b[0m" in text  # converters highlighted
    assert "\x1b]8;id=" in text and Path(BLOG_FILE).as_uri() in text  # OSC 8 link


def test_summary_line() -> None:
    routes = collect_routes(make_blog_app())
    assert summary_line(routes, len(routes)).startswith("10 routes: app 4, ")
    assert summary_line(routes[:2], 10) == "2 of 10 routes: app 2"
    assert summary_line([], 10) == "0 of 10 routes"

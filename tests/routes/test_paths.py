"""How source paths are shown (``webkit_cli.routes.paths``)."""

from __future__ import annotations

from flask import Flask

from webkit_cli.routes import (
    PathDisplay,
    collect_routes,
)


def test_path_display() -> None:
    paths = PathDisplay("/srv/project")
    assert paths.relative("/srv/project/src/app/views.py") == "src/app/views.py"
    assert paths.in_project("/srv/project/app.py") == "app.py"
    assert paths.in_project("/elsewhere/app.py") == "/elsewhere/app.py"
    flask_file = collect_routes(Flask(__name__))[0].source_file
    assert flask_file is not None
    assert paths.relative(flask_file).startswith("flask/")  # relative to site-packages

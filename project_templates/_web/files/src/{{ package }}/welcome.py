"""The development welcome on the home page: it worked, what to edit, the routes, what next.

Everything it shows is read from the running app (the template loader, the view functions,
``app.url_map``), so it stays true as the project changes. It exists only when
``APP_ENV=development``: production and the tests never render it.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, before_render_template, current_app, g, request
from jinja2 import Template

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class ProjectFile:
    path: str  # relative to the project, as the user types it
    what: str


@dataclass(frozen=True)
class Route:
    methods: str
    rule: str
    endpoint: str
    link: bool  # a GET without arguments: something to click


@dataclass(frozen=True)
class Command:
    line: str
    what: str


@dataclass(frozen=True)
class Welcome:
    files: list[ProjectFile]
    routes: list[Route]
    commands: list[Command]


def init_app(app: Flask) -> None:
    if app.config["APP_ENV"] == "development":
        app.jinja_env.globals["welcome"] = welcome
        before_render_template.connect(_remember_template, app)


def _remember_template(sender: Flask, template: Template, **extra: Any) -> None:
    """The page's own template: the first ``render_template`` of the request."""
    g.setdefault("welcome_template", template)


def welcome() -> Welcome:
    """What the welcome shows on the page being rendered."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    root = _project_root(app)
    return Welcome(
        files=_files(app, root, g.get("welcome_template")),
        routes=_routes(app),
        commands=_commands(app.import_name),
    )


def _project_root(app: Flask) -> Path:
    """The folder with pyproject.toml above the package (src layout), else the package's."""
    package = Path(app.root_path)
    for folder in package.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return package.parent


def _shown(path: str | Path, root: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _files(app: Flask, root: Path, template: Template | None) -> list[ProjectFile]:
    files = []
    if template is not None and template.filename:
        files.append(ProjectFile(_shown(template.filename, root), "this page's HTML"))
    view = app.view_functions.get(request.endpoint or "")
    if view is not None:
        source = inspect.getsourcefile(inspect.unwrap(view))
        if source:
            line = inspect.getsourcelines(inspect.unwrap(view))[1]
            files.append(
                ProjectFile(f"{_shown(source, root)}:{line}", f"its view, {view.__name__}()")
            )
    models = sys.modules.get(f"{app.import_name}.models")
    if models is not None and models.__file__:
        files.append(ProjectFile(_shown(models.__file__, root), "the database models"))
    if app.static_folder:
        static = Path(app.static_folder)
        for name, what in (("style.css", "this project's styles"), ("app.js", "the page's script")):
            if (static / name).is_file():
                files.append(ProjectFile(_shown(static / name, root), what))
    return files


def _routes(app: Flask) -> list[Route]:
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint)):
        methods = sorted((rule.methods or set()) - IGNORED_METHODS)
        link = "GET" in methods and not rule.arguments
        routes.append(Route(" ".join(methods), rule.rule, rule.endpoint, link))
    return routes


def _commands(package: str) -> list[Command]:
    return [
        Command(
            "webkit generate resource post title:str:required body:text",
            "a model, its migration, pages and tests",
        ),
        Command(f"flask --app {package} db upgrade", "apply new migrations to the database"),
        Command("pytest", "run the project's tests"),
        Command("webkit check", "find broken templates, links and security mistakes"),
    ]

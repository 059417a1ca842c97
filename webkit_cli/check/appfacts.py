"""What the import-needing rules need of the app, as plain data that crosses a pipe.

The app is imported in a child process (:mod:`webkit_cli.check._child`), so no import can
hang, kill or pollute ``webkit check`` itself. The child reads the app once into an
:class:`AppFacts` — the route problems (computed there, where the view functions are),
the endpoints and their rules, blueprints, static folders, the Jinja loader's folders and
names, the registered Jinja extensions and syntax — and answers template look-ups
through the app's own loader for as long as the rules run. Everything here is JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RuleFact:
    """One URL rule of an endpoint: its path and the variables a ``url_for`` must give."""

    rule: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class BlueprintFact:
    name: str
    import_name: str
    #: absolute template and static folders (``None`` when the blueprint has none)
    template_folder: str | None
    static_folder: str | None


@dataclass(frozen=True)
class RouteProblemFact:
    """A :class:`webkit_cli.routes.RouteProblem`, file absolute as the routes module gives it."""

    code: str
    message: str
    source_file: str | None
    source_line: int | None


@dataclass
class AppFacts:
    """The app as the rules see it (see the module docstring)."""

    endpoints: dict[str, list[RuleFact]] = field(default_factory=dict)
    blueprints: list[BlueprintFact] = field(default_factory=list)
    #: blueprint names (``None`` for the app) that have ``url_defaults`` functions
    url_default_scopes: list[str | None] = field(default_factory=list)
    static_folder: str | None = None
    route_problems: list[RouteProblemFact] = field(default_factory=list)
    #: folders of the app's and blueprints' file-system loaders
    template_searchpaths: list[str] = field(default_factory=list)
    #: ``jinja_env.list_templates()`` (empty when the loader cannot list)
    template_names: list[str] = field(default_factory=list)
    #: ``module.Class`` of every extension registered on ``app.jinja_env``
    jinja_extensions: list[str] = field(default_factory=list)
    #: the environment's syntax options (delimiters, line statements)
    jinja_syntax: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppFacts:
        return cls(
            endpoints={
                name: [RuleFact(r["rule"], tuple(r["required"])) for r in rules]
                for name, rules in data["endpoints"].items()
            },
            blueprints=[BlueprintFact(**bp) for bp in data["blueprints"]],
            url_default_scopes=list(data["url_default_scopes"]),
            static_folder=data["static_folder"],
            route_problems=[RouteProblemFact(**p) for p in data["route_problems"]],
            template_searchpaths=list(data["template_searchpaths"]),
            template_names=list(data["template_names"]),
            jinja_extensions=list(data["jinja_extensions"]),
            jinja_syntax=dict(data["jinja_syntax"]),
        )


#: The options of :class:`jinja2.Environment` that change how a template parses.
SYNTAX_OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
)


def _folder(owner: Any, attribute: str) -> str | None:
    try:
        value = getattr(owner, attribute, None)
    except Exception:  # noqa: BLE001 - a property of the user's subclass
        return None
    if not value:
        return None
    return str(Path(owner.root_path, value).resolve())


def read_app(app: Any) -> AppFacts:
    """Everything :class:`AppFacts` holds, read from a live app (runs in the child)."""
    from webkit_cli.routes import collect_routes, find_problems

    facts = AppFacts()
    for rule in app.url_map.iter_rules():
        required = sorted(set(rule.arguments) - set(rule.defaults or {}))
        facts.endpoints.setdefault(rule.endpoint, []).append(RuleFact(rule.rule, tuple(required)))
    for name, bp in (getattr(app, "blueprints", {}) or {}).items():
        facts.blueprints.append(
            BlueprintFact(
                name=name,
                import_name=str(getattr(bp, "import_name", "")),
                template_folder=_folder(bp, "template_folder"),
                static_folder=_folder(bp, "static_folder"),
            )
        )
    defaults = getattr(app, "url_default_functions", {}) or {}
    facts.url_default_scopes = [scope for scope, funcs in defaults.items() if funcs]
    facts.static_folder = _folder(app, "static_folder")

    # find_problems leaves add_url_rule(..., endpoint=...) aliases of a served URL alone
    routes = collect_routes(app)
    for problem in find_problems(app, routes):
        facts.route_problems.append(
            RouteProblemFact(
                problem.code, problem.message, problem.source_file, problem.source_line
            )
        )

    for owner in [app, *(getattr(app, "blueprints", {}) or {}).values()]:
        try:
            loader = getattr(owner, "jinja_loader", None)
        except Exception:  # noqa: BLE001 - a user's property
            continue
        for search in getattr(loader, "searchpath", None) or []:
            facts.template_searchpaths.append(str(Path(search).resolve()))
    env = getattr(app, "jinja_env", None)
    if env is not None:
        try:
            facts.template_names = sorted(env.list_templates())
        except Exception:  # noqa: BLE001 - a user's custom loader may not list
            facts.template_names = []
        facts.jinja_extensions = [
            f"{type(ext).__module__}.{type(ext).__qualname__}" for ext in env.extensions.values()
        ]
        facts.jinja_syntax = {name: getattr(env, name, None) for name in SYNTAX_OPTIONS}
    return facts


def resolve_templates(app: Any, names: list[str]) -> dict[str, str | None]:
    """Names the app's own loader serves -> their file (``""`` when not from a file).

    Through ``jinja_env.loader.get_source``: Flask's dispatching loader tries the app's
    folder and every blueprint's, and a custom loader (CTFd's themes) answers for itself.
    """
    from jinja2 import TemplateNotFound

    env = app.jinja_env
    found: dict[str, str | None] = {}
    if env.loader is None:
        return dict.fromkeys(names)
    for name in names:
        try:
            _source, filename, _uptodate = env.loader.get_source(env, name)
        except TemplateNotFound:
            found[name] = None
        except Exception:  # noqa: BLE001 - an odd loader: say it exists rather than guess
            found[name] = ""
        else:
            found[name] = str(Path(filename).resolve()) if filename else ""
    return found


def parse_templates(app: Any, templates: list[tuple[str, str]]) -> dict[str, Any]:
    """file -> ``None`` when ``app.jinja_env`` parses it, else ``[line, message]``.

    For templates that use an extension only the app can load (one defined in the
    project's own code): the parent cannot import it, the app has it.
    """
    from jinja2 import TemplateSyntaxError

    errors: dict[str, Any] = {}
    for path, name in templates:
        try:
            source = Path(path).read_text(encoding="utf-8")
            app.jinja_env.parse(source, name=name, filename=path)
        except TemplateSyntaxError as exc:
            errors[path] = [exc.lineno, exc.message or str(exc)]
        except Exception as exc:  # noqa: BLE001 - unreadable now: keep the parent's verdict
            errors[path] = [0, str(exc)]
        else:
            errors[path] = None
    return errors

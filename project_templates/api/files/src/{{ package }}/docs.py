"""The API's front door: an index at ``/`` and human documentation at ``/docs``.

Both come from the OpenAPI document (openapi.py), so they cannot drift from it. ``/`` answers
JSON (links for programs) unless the client prefers HTML, as a browser does; ``/docs`` is one
server-rendered page with a stylesheet from this package: no script, no CDN, so it works under
a Content-Security-Policy that allows nothing but this origin's stylesheets.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from .openapi import openapi_document

bp = Blueprint(
    "docs",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/docs/static",
)

#: Pages that a browser renders: only this origin's stylesheets, nothing else at all.
HTML_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/")
def index() -> Response:
    """Links to the documentation, the OpenAPI document and the health check."""
    document = openapi_document()
    info = document["info"]
    links = {
        "docs": url_for("docs.api_docs"),
        "openapi": url_for("meta.openapi"),
        "health": url_for("meta.health"),
    }
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = _html("docs/index.html", info=info, links=links, auth=_auth(document))
    else:
        response = jsonify(name=info["title"], version=info["version"], links=links)
    # The answer depends on the Accept header: a cache must keep the two apart.
    response.vary.add("Accept")
    return response


@bp.get("/docs")
def api_docs() -> Response:
    """Every operation of the OpenAPI document, its parameters, bodies, answers and schemas."""
    document = openapi_document()
    return _html(
        "docs/docs.html",
        info=document["info"],
        auth=_auth(document),
        operations=list(_operations(document)),
        schemas={
            name: _properties(schema)
            for name, schema in document.get("components", {}).get("schemas", {}).items()
        },
        schema_descriptions={
            name: schema.get("description", "")
            for name, schema in document.get("components", {}).get("schemas", {}).items()
        },
    )


@bp.app_template_filter("code_spans")
def code_spans(text: str) -> Markup:
    """The document's `backticks` as <code>, everything else escaped."""
    parts = re.split(r"`([^`]+)`", str(text))
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if odd else escape(part)
        for odd, part in ((i % 2 == 1, part) for i, part in enumerate(parts))
    )


@bp.app_template_filter("schema_link")
@pass_context
def schema_link(context: Context, label: str) -> Markup:
    """``array of Note`` with ``Note`` linked to its schema further down the page."""
    names = context.get("schemas") or {}
    return Markup("").join(
        Markup('<a href="#schema-{0}">{0}</a>').format(word) if word in names else escape(word)
        for word in re.split(r"(\w+)", str(label))
    )


def _html(template: str, **context: Any) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_CONTENT_SECURITY_POLICY
    return response


def _auth(document: dict[str, Any]) -> list[str]:
    """How to authenticate: the security schemes' descriptions (they say how to get a key)."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    return [scheme.get("description", "") for scheme in schemes.values()]


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    operations = []
    components = document.get("components", {})
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            body = operation.get("requestBody", {}).get("content", {})
            operations.append(
                {
                    "id": operation.get("operationId") or f"{method}-{path}",
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "scopes": [
                        scope
                        for requirement in operation.get("security", [])
                        for scopes in requirement.values()
                        for scope in scopes
                    ],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": schema_label(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in [*shared, *operation.get("parameters", [])]
                    ],
                    "body": [
                        (media, schema_label(content.get("schema", {})))
                        for media, content in body.items()
                    ],
                    "responses": [
                        _response(status, answer, components)
                        for status, answer in operation.get("responses", {}).items()
                    ],
                }
            )
    return operations


def _response(status: str, answer: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in answer:  # a shared answer: #/components/responses/Name
        answer = components.get("responses", {}).get(answer["$ref"].rpartition("/")[2], {})
    content = answer.get("content", {})
    return {
        "status": status,
        "description": answer.get("description", ""),
        "content": [(media, schema_label(c.get("schema", {}))) for media, c in content.items()],
    }


def _properties(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {"name": name, "type": schema_label(prop), "required": name in required}
        for name, prop in schema.get("properties", {}).items()
    ]


def schema_label(schema: dict[str, Any]) -> str:
    """A short human name for a schema: ``Note``, ``array of Note``, ``integer ≥ 1``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rpartition("/")[2]
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(schema_label(option) for option in schema[combinator])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    kind = schema.get("type", "any")
    label = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array":
        label = f"array of {schema_label(schema.get('items', {}))}"
    if "format" in schema:
        label += f" ({schema['format']})"
    bounds = [
        f"{sign} {schema[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
        )
        if key in schema
    ]
    if bounds:
        label += ", " + ", ".join(bounds)
    return label

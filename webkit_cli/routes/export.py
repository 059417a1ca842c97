"""``webkit routes --json``: the document and its JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from webkit_cli.routes.model import PROBLEM_CODES, RouteInfo, RouteProblem
from webkit_cli.routes.paths import PathDisplay

#: Bumped only when a field changes meaning or disappears; new fields may be added.
JSON_SCHEMA_VERSION = 1


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _source(file: str | None, line: int | None, paths: PathDisplay) -> dict[str, Any] | None:
    if file is None:
        return None
    return {"file": paths.in_project(file), "line": line}


def route_to_dict(
    route: RouteInfo, paths: PathDisplay, *, all_methods: bool = False
) -> dict[str, Any]:
    """One route in the JSON schema (see :data:`JSON_SCHEMA`)."""
    return {
        "rule": route.rule,
        "methods": list(route.visible_methods(all_methods)),
        "endpoint": route.endpoint,
        "view": route.view,
        "source": _source(route.source_file, route.source_line, paths),
        "arguments": list(route.arguments),
        "defaults": _jsonable(route.defaults) if route.defaults is not None else None,
        "host": route.host,
        "subdomain": route.subdomain,
        "strict_slashes": route.strict_slashes,
        "redirect_to": route.redirect_to,
        "blueprint": route.blueprint,
    }


def problem_to_dict(problem: RouteProblem, paths: PathDisplay) -> dict[str, Any]:
    return {
        "code": problem.code,
        "message": problem.message,
        "rule": problem.rule,
        "endpoint": problem.endpoint,
        "source": _source(problem.source_file, problem.source_line, paths),
    }


def to_json(
    routes: Sequence[RouteInfo],
    problems: Sequence[RouteProblem],
    *,
    root: Path | str | None = None,
    all_methods: bool = False,
    paths: PathDisplay | None = None,
) -> str:
    """The JSON document ``webkit routes --json`` prints (see :data:`JSON_SCHEMA`)."""
    paths = paths or PathDisplay(root)
    document = {
        "schema_version": JSON_SCHEMA_VERSION,
        "routes": [route_to_dict(r, paths, all_methods=all_methods) for r in routes],
        "problems": [problem_to_dict(p, paths) for p in problems],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


_SOURCE_SCHEMA: dict[str, Any] = {
    "description": "Where the view is defined; null when unknown (no view, builtin).",
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["file", "line"],
            "additionalProperties": False,
            "properties": {
                "file": {
                    "type": "string",
                    "description": "Relative to the project root (POSIX) when inside it, "
                    "else absolute.",
                },
                "line": {"type": ["integer", "null"], "minimum": 1},
            },
        },
    ],
}

_NULLABLE_STRING = {"type": ["string", "null"]}

#: JSON Schema (draft 2020-12) of ``webkit routes --json``; the tests validate against it.
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "webkit routes --json",
    "type": "object",
    "required": ["schema_version", "routes", "problems"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": JSON_SCHEMA_VERSION},
        "routes": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "rule",
                    "methods",
                    "endpoint",
                    "view",
                    "source",
                    "arguments",
                    "defaults",
                    "host",
                    "subdomain",
                    "strict_slashes",
                    "redirect_to",
                    "blueprint",
                ],
                "properties": {
                    "rule": {"type": "string"},
                    "methods": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Sorted; HEAD/OPTIONS only with --all-methods; "
                        "empty when the rule accepts any method.",
                    },
                    "endpoint": {"type": "string"},
                    "view": {**_NULLABLE_STRING, "description": "module:qualname"},
                    "source": _SOURCE_SCHEMA,
                    "arguments": {"type": "array", "items": {"type": "string"}},
                    "defaults": {"type": ["object", "null"]},
                    "host": _NULLABLE_STRING,
                    "subdomain": _NULLABLE_STRING,
                    "strict_slashes": {"type": "boolean"},
                    "redirect_to": _NULLABLE_STRING,
                    "blueprint": _NULLABLE_STRING,
                },
            },
        },
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message", "rule", "endpoint", "source"],
                "properties": {
                    "code": {"enum": list(PROBLEM_CODES)},
                    "message": {"type": "string"},
                    "rule": {"type": "string"},
                    "endpoint": {"type": "string"},
                    "source": _SOURCE_SCHEMA,
                },
            },
        },
    },
}

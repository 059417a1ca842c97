"""Request validation: a JSON object body checked against a small field table.

Each problem is reported with the field it concerns and a machine-readable code:

============  ======  =============================================================
code          status  when
============  ======  =============================================================
invalid_json  400     the body is not JSON (or uses NaN/Infinity)
invalid_body  400     the JSON is not an object
missing       422     a required field is absent
unknown       422     a field the resource does not have (typos are caught)
wrong_type    422     e.g. a number where a string belongs
too_short     422     a blank string where text is required
too_long      422     a string over its maximum length
out_of_range  422     a query number outside its bounds
============  ======  =============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from .errors import ApiError

JSON_TYPES: dict[type, str] = {str: "a string", bool: "a boolean", int: "an integer"}


@dataclass(frozen=True)
class Field:
    """One field of a JSON body."""

    type: type
    required: bool = False
    min_length: int = 0
    max_length: int | None = None

    def check(self, value: Any) -> tuple[str, str] | None:
        """``(code, message)`` when ``value`` is not acceptable, else ``None``."""
        # type() and not isinstance(): True is an int in Python but not in JSON.
        if type(value) is not self.type:
            return "wrong_type", f"Expected {JSON_TYPES[self.type]}, got {_json_type(value)}."
        if isinstance(value, str):
            if len(value.strip()) < self.min_length:
                return "too_short", "This field must not be blank."
            if self.max_length is not None and len(value) > self.max_length:
                return "too_long", f"At most {self.max_length} characters."
        return None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or an :class:`ApiError` saying what is wrong with it."""
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json."
        )
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    try:
        # The app's JSON (input_guard): too deep, NUL or lone surrogates are a ValueError too.
        payload = current_app.json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(
            400, "invalid_body", f"The body must be a JSON object, not {_json_type(payload)}."
        )
    return payload


def validate(payload: Mapping[str, Any], fields: Mapping[str, Field], *, partial: bool) -> None:
    """Raise 422 listing every bad field. ``partial`` (PATCH) makes every field optional."""
    errors = [
        _error(name, "unknown", "This field does not exist.")
        for name in payload
        if name not in fields
    ]
    for name, field in fields.items():
        if name not in payload:
            if field.required and not partial:
                errors.append(_error(name, "missing", "This field is required."))
            continue
        if problem := field.check(payload[name]):
            errors.append(_error(name, *problem))
    if errors:
        count = f"{len(errors)} field" + ("s are" if len(errors) > 1 else " is")
        raise ApiError(422, "validation_failed", f"{count} invalid.", errors=errors)


def query_int(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    """An integer query parameter within bounds, or 422 naming the parameter."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _query_error(name, "wrong_type", "Expected an integer.") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _query_error(name, "out_of_range", f"Must be {bounds}.")
    return value


def query_str(name: str, *, max_length: int) -> str:
    """A text query parameter, stripped; ``""`` when absent."""
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise _query_error(name, "too_long", f"At most {max_length} characters.")
    return value


def query_bool(name: str) -> bool | None:
    """``true``/``false`` query parameter; ``None`` when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in {"true", "false"}:
        raise _query_error(name, "wrong_type", "Expected true or false.")
    return raw == "true"


def reject_unknown_query(allowed: set[str]) -> None:
    """A misspelt parameter (``?limt=5``) is an error, not silently ignored."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(
            422,
            "validation_failed",
            "Unknown query parameter.",
            errors=[_error(name, "unknown", "This parameter does not exist.") for name in unknown],
        )


def _query_error(name: str, code: str, message: str) -> ApiError:
    return ApiError(
        422,
        "validation_failed",
        "A query parameter is invalid.",
        errors=[_error(name, code, message)],
    )


def _error(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")

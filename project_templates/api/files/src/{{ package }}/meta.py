"""Endpoints about the API itself: its OpenAPI document and a health check."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import exc, select

from .db import get_session
from .errors import ApiError
from .openapi import openapi_document

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of every route (public, no key needed)."""
    return jsonify(openapi_document())


@bp.get("/healthz")
def health() -> Response:
    """For load balancers: 200 when the app can reach its database, else 503."""
    try:
        get_session().execute(select(1))
    except exc.SQLAlchemyError:
        raise ApiError(503, "database_unavailable", "The database cannot be reached.") from None
    return jsonify(status="ok")

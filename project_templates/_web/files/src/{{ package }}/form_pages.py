"""What a page with a form answers when the form is not accepted: the page again, with the
form's errors next to its fields, and 422 once it was sent (a refused POST must not look like
a success to a client, a test or a cache)."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_wtf import FlaskForm


def render_form(template: str, form: FlaskForm, **context: Any) -> str | tuple[str, int]:
    """``template`` with ``form``: 422 when the form was sent (and so refused), else 200."""
    page = render_template(template, form=form, **context)
    return (page, 422) if form.is_submitted() else page

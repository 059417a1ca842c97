"""The pages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .auth import admin_required
from .db import get_session
from .form_pages import render_form
from .forms import ContactForm, NameForm
from .models import Message

bp = Blueprint("pages", __name__)

MESSAGES_SHOWN = 50


@bp.get("/")
def index() -> str:
    return render_template("index.html", name_form=NameForm())


@bp.get("/about")
def about() -> str:
    return render_template("about.html")


@bp.post("/name")
def remember_name() -> Response | tuple[str, int]:
    form = NameForm()
    if form.validate_on_submit():
        session["display_name"] = form.display_name.data.strip()
        flash(f"Nice to meet you, {session['display_name']}!", "success")
        return redirect(url_for("pages.index"))
    return render_template("index.html", name_form=form), 422


@bp.post("/name/forget")
def forget_name() -> Response:
    # CSRFProtect has already checked the form's token.
    session.pop("display_name", None)
    flash("Your name is forgotten.", "success")
    return redirect(url_for("pages.index"))


@bp.route("/contact", methods=["GET", "POST"])
def contact() -> Response | tuple[str, int] | str:
    form = ContactForm()
    if not form.is_submitted() and session.get("display_name"):
        form.name.data = session["display_name"]
    if form.validate_on_submit():
        db = get_session()
        db.add(
            Message(
                name=form.name.data.strip(),
                email=form.email.data.strip(),
                body=form.message.data.strip(),
            )
        )
        db.commit()
        flash("Thanks! Your message was sent.", "success")
        # Post/Redirect/Get: reloading the next page does not send the form again.
        return redirect(url_for("pages.contact"))
    return render_form("contact.html", form)


@bp.get("/messages")
@admin_required
def messages() -> str:
    """Admins only (``flask users create EMAIL --admin``): the messages hold visitors'
    addresses. Anonymous visitors are sent to log in; other users get a 403."""
    query = select(Message).order_by(Message.created_at.desc(), Message.id.desc())
    rows = get_session().scalars(query.limit(MESSAGES_SHOWN)).all()
    return render_template("messages.html", messages=rows)

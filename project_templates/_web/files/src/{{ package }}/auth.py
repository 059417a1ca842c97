"""Accounts: register, log in, log out and reset a forgotten password (``/auth/...``).

Flask-Login keeps the current user in the session. On login and on logout the session is
cleared first, so nothing from before (a CSRF token, a value an attacker planted) carries
over; logging out also replaces the user's ``session_token``, so a copy of the old session
or remember-me cookie no longer logs anyone in (see models.User).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, Field, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from . import limits, passwords
from .db import get_session
from .form_pages import render_form
from .mail import send_mail
from .models import User, new_session_token

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager = LoginManager()

# Deliberately simple: one "@" and a dot in the domain. Only a sent e-mail proves more.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
WRONG_CREDENTIALS = "Wrong e-mail address or password."
RESET_SENT = (
    "If an account uses that address, a link to choose a new password is on its way. "
    "It works once, for an hour."
)
RESET_LINK_INVALID = "This reset link has expired or was already used. Ask for a new one."

F = TypeVar("F", bound=Callable[..., Any])


def normalise_email(value: str | None) -> str:
    return (value or "").strip().lower()


def strong_password(_form: FlaskForm, field: Field) -> None:
    problem = passwords.password_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def email_field() -> EmailField:
    return EmailField(
        "E-mail",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(EMAIL_PATTERN, message="Enter an e-mail address like name@example.com."),
        ],
    )


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me logged in on this device")
    submit = SubmitField("Log in")


class NewPasswordForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), strong_password])
    confirm = PasswordField(
        "Password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )
    submit = SubmitField("Save the password")


class RegisterForm(NewPasswordForm):
    email = email_field()
    submit = SubmitField("Create the account")


class ResetRequestForm(FlaskForm):
    email = email_field()
    submit = SubmitField("Send me a link")


# --- the current user -------------------------------------------------------------


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user a session names, if its session token is still the user's current one."""
    id_part, _, token = user_id.partition(":")
    if not id_part.isdigit() or not token:
        return None
    user = get_session().get(User, int(id_part))
    if user is None or not hmac.compare_digest(user.session_token, token):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """JSON requests get a 401 (errors.py writes it); pages send the browser to log in."""
    if request.path.startswith("/api/"):
        abort(401, description="Log in first.")
    flash("Log in to see this page.", "info")
    return redirect(url_for("auth.login", next=request.path))


def admin_required(view: F) -> F:
    """Only admins: others logged in get 403, anonymous visitors the login page."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def form_route(rule: str, *, per_account: bool = True) -> Callable[[F], F]:
    """A GET/POST form view of ``bp`` at ``rule``: its POSTs count against the per-IP limit
    and, unless ``per_account=False``, the per-account limit too (see limits.py)."""

    def decorate(view: F) -> F:
        limited = limits.per_ip(limits.per_account(view) if per_account else view)
        return cast(F, bp.route(rule, methods=["GET", "POST"])(limited))

    return decorate


def start_session(user: User, *, remember: bool = False) -> None:
    """Log ``user`` in with a new session: nothing from the session before login survives."""
    session.clear()
    login_user(user, remember=remember)


def end_sessions(user: User) -> None:
    """Invalidate every session and remember-me cookie of ``user``, everywhere."""
    user.session_token = new_session_token()
    get_session().commit()


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only, never another host."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.isprintable():
            return target
    return url_for("pages.index")


def find_user(email: str) -> User | None:
    return get_session().scalars(select(User).where(User.email == email)).first()


def create_user(email: str, password: str, *, is_admin: bool = False) -> User:
    """Store a new account; raises IntegrityError when the e-mail address is taken."""
    db = get_session()
    user = User(
        email=normalise_email(email),
        password_hash=passwords.hash_password(password),
        is_admin=is_admin,
    )
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise
    return user


# --- register, log in, log out -------------------------------------------------------


@form_route("/register")
def register() -> Response | str | tuple[str, int]:
    form = RegisterForm()
    if form.validate_on_submit():
        email = normalise_email(form.email.data)
        if find_user(email) is None:
            try:
                user = create_user(email, form.password.data)
            except IntegrityError:  # registered by a parallel request a moment ago
                user = None
            if user is not None:
                start_session(user)
                flash("Welcome! Your account is ready.", "success")
                return redirect(url_for("pages.index"))
        form.email.errors.append(
            "An account already uses this e-mail address. Log in, or reset its password."
        )
    return render_form("auth/register.html", form)


@form_route("/login")
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        email = normalise_email(form.email.data)
        user = find_user(email)
        if user is None:
            passwords.waste_time(form.password.data)
        elif passwords.verify_password(user.password_hash, form.password.data):
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(form.password.data)
                get_session().commit()
            start_session(user, remember=bool(form.remember.data))
            flash("You are logged in.", "success")
            return redirect(safe_next(request.args.get("next")))
        # The address and where from, never the password.
        logger.warning("Failed login for %r from %s", email, request.remote_addr)
        form.password.errors.append(WRONG_CREDENTIALS)
    return render_form("auth/login.html", form)


@bp.post("/logout")
def logout() -> Response:
    # CSRFProtect has checked the form's token: a link on another site cannot log you out.
    if current_user.is_authenticated:
        end_sessions(current_user._get_current_object())
    session.clear()
    logout_user()  # after clear(): it asks for the remember-me cookie to be deleted
    flash("You are logged out.", "success")
    return redirect(url_for("pages.index"))


# --- password reset -------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="password-reset")


def _fingerprint(user: User) -> str:
    # Part of the token: once the password changes, every link made before stops working.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def reset_token(user: User) -> str:
    return _serializer().dumps({"id": user.id, "pw": _fingerprint(user)})


def user_for_reset_token(token: str) -> User | None:
    """The user a valid, unexpired, unused link is for, else None."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    user = get_session().get(User, data["id"])
    if user is None or not hmac.compare_digest(_fingerprint(user), str(data.get("pw"))):
        return None
    return user


@form_route("/reset")
def reset_request() -> Response | str | tuple[str, int]:
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = find_user(normalise_email(form.email.data))
        if user is not None:
            link = url_for("auth.reset_password", token=reset_token(user), _external=True)
            body = render_template("auth/reset_mail.txt", link=link)
            send_mail(user.email, "Choose a new password", body)
        # The same answer whether or not the address has an account.
        flash(RESET_SENT, "success")
        return redirect(url_for("auth.login"))
    return render_form("auth/reset_request.html", form)


@form_route("/reset/<token>", per_account=False)
def reset_password(token: str) -> Response | str | tuple[str, int]:
    user = user_for_reset_token(token)
    if user is None:
        return render_template("auth/reset_invalid.html", reason=RESET_LINK_INVALID), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        user.password_hash = passwords.hash_password(form.password.data)
        end_sessions(user)  # commits; also ends the sessions of whoever knew the old one
        session.clear()
        flash("Your password is changed. Log in with the new one.", "success")
        return redirect(url_for("auth.login"))
    return render_form("auth/reset_password.html", form)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)

"""``flask users create EMAIL [--admin]``, ``flask users list``, ``flask users transfer FROM
TO``: accounts for operators."""

from __future__ import annotations

import re
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import ownership, passwords
from .auth import EMAIL_PATTERN, create_user, find_user, normalise_email
from .db import Base, get_session
from .models import User

users = AppGroup("users", help="Create, list and transfer user accounts.")


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Let the user read the admin pages.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
def create_command(email: str, admin: bool, password_stdin: bool) -> None:
    """Create an account. The password is asked twice (it is never an option: options end
    up in the shell history and the process list)."""
    email = normalise_email(email)
    if not re.match(EMAIL_PATTERN, email) or len(email) > 254:
        raise click.BadParameter(
            "enter an e-mail address like name@example.com.", param_hint="EMAIL"
        )
    if find_user(email) is not None:
        raise click.ClickException(f"An account already uses {email}; choose another address.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = passwords.password_problem(password)
    if problem:
        raise click.ClickException(f"The password is refused: {problem}")
    try:
        create_user(email, password, is_admin=admin)
    except IntegrityError:
        raise click.ClickException(f"An account already uses {email}.") from None
    click.echo(f"Created {'admin' if admin else 'user'} {email}.")


@users.command("list")
def list_command() -> None:
    """List the accounts, oldest first."""
    rows = get_session().scalars(select(User).order_by(User.id)).all()
    if not rows:
        click.echo("No users yet. Create one with: flask users create EMAIL")
        return
    width = max(len(user.email) for user in rows)
    for user in rows:
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.id:>5}  {user.email:<{width}}  {role:<5}  {user.created_at:%Y-%m-%d}")


@users.command("transfer")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
def transfer_command(source: str, target: str) -> None:
    """Give everything the account FROM owns to the account TO, e.g. the rows a migration gave
    to a legacy-...@invalid account. All of it moves, or nothing does."""
    accounts = []
    for email in (source, target):
        user = find_user(normalise_email(email))
        if user is None:
            raise click.ClickException(f"No account uses {email}; see flask users list.")
        accounts.append(user)
    if accounts[0].id == accounts[1].id:
        raise click.ClickException("FROM and TO are the same account.")
    session = get_session()
    moved = ownership.transfer(session, Base.metadata, accounts[0].id, accounts[1].id)
    session.commit()
    click.echo(f"{accounts[0].email} -> {accounts[1].email}: {ownership.describe(moved)}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(users)

"""Regenerate the newest migration of the built-in templates from their models.

A template's migrations are ``versions/NNNN_<slug>.py`` in
``project_templates/<template>/files/src/{{ package }}/migrations/``, numbered in order. For
each template: render it as ``webkit new`` does (default answers, once per answer of a
``database`` question), delete the rendered copy of the newest migration, upgrade an empty
SQLite database to the one before, let Alembic autogenerate the newest again (``flask db
migrate`` with its id and message; alembic.ini's ruff hooks format it), drop the one line that
changes on every run (``Create Date``) and write it back. The ids are fixed, so running it
again without a model change changes nothing. The rendering runs in this process (webkit's
``create_project``); the two ``flask db`` commands run in one child process in the project,
which imports Flask, SQLAlchemy and Alembic once for both.

    scripts/regen-migrations [--check] [TEMPLATE ...]       regenerate the newest migration
    scripts/regen-migrations --new MESSAGE TEMPLATE ...     add the next one, on top

``--templates DIR`` works on a copy of ``project_templates`` (webkit's tests use one).

Each template has ``0001_initial_schema.py`` (template 1.1.0's schema) and the migrations
added since. After a model change, either regenerate the newest (fine while no released
template has it) or add the change as a new migration with ``--new`` (projects that applied
the others upgrade to it).
``--check`` writes nothing and exits 1 when a committed migration is out of date. A migration
with the line ``# webkit: hand-edited`` (a data migration: autogenerate cannot keep rows) is
never overwritten; the generated projects' ``test_migrations`` checks that its schema is the
models'.

A migration may be a ``.py.jinja`` source that renders parts other migrations share (the
Alembic frame, the users table) from the templates' ``partials/``: ``--check`` compares what it
renders; regenerating it writes the new migration as a plain ``.py`` in its place (share its
parts again by hand).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATES = ROOT / "project_templates"
BUILT_IN = ("site", "ajax", "api")
VERSIONS = Path("src", "{{ package }}", "migrations", "versions")
INITIAL = ("0001", "initial schema")
#: The line that marks a migration edited by hand: regenerating never overwrites it.
HAND_EDITED = "# webkit: hand-edited"
NAME = re.compile(r"^(\d{4})_\w+\.py(?:\.jinja)?$")
#: The message of a .py.jinja migration: the first argument of its docstring macro.
JINJA_MESSAGE = re.compile(r'\.docstring\(\s*"([^"]*)"')


class RegenError(Exception):
    """A step failed; the message says which and why."""


@dataclass(frozen=True)
class Revision:
    """One migration file: its id (``0002``), message (the docstring's first line) and name."""

    id: str
    message: str

    @property
    def filename(self) -> str:
        # Alembic's file_template "%(rev)s_%(slug)s": the message's words joined by "_".
        slug = "_".join(re.findall(r"\w+", self.message.lower()))
        return f"{self.id}_{slug}.py"


def source_of(versions: Path, revision: Revision) -> Path:
    """The migration's file in the template: ``NNNN_<slug>.py``, or its ``.py.jinja``."""
    plain = versions / revision.filename
    jinja = plain.with_name(plain.name + ".jinja")
    return jinja if jinja.is_file() and not plain.is_file() else plain


def committed(templates: Path, template: str) -> list[Revision]:
    """The template's migrations, oldest first."""
    revisions = []
    versions = templates / template / "files" / VERSIONS
    for path in sorted([*versions.glob("*.py"), *versions.glob("*.py.jinja")]):
        match = NAME.match(path.name)
        if not match:
            raise RegenError(f"{path}: not named NNNN_<slug>.py")
        text = path.read_text()
        if path.suffix == ".jinja":
            found = JINJA_MESSAGE.search(text)
            if found is None:
                raise RegenError(f"{path}: no docstring(MESSAGE, ...) macro call names its message")
            message = found.group(1)
        else:
            message = text.lstrip('"').splitlines()[0].strip()
        revisions.append(Revision(match.group(1), message))
    return revisions


def answer_sets(templates: Path, template: str) -> list[dict[str, str]]:
    """The answers to render with: the defaults, and each choice of a ``database`` question."""
    with (templates / template / "template.toml").open("rb") as f:
        questions = tomllib.load(f).get("questions", [])
    for question in questions:
        if question.get("name") == "database" and question.get("choices"):
            return [{"database": str(choice)} for choice in question["choices"]]
    return [{}]


#: Written on stdout and on stderr when a command of ``FLASK_COMMANDS`` has succeeded: what
#: comes before it is that command's output.
COMMAND_END = "\x1e webkit regen-migrations: end of a flask command \x1e\n"
#: ``python -c FLASK_COMMANDS COMMAND_END ARGS_JSON`` runs ``python -m flask ARGS`` for each
#: ARGS of the JSON list, in order, in one process: each is click's own run of Flask's CLI
#: (``flask.cli.main``), with the sys.path and sys.argv ``python -m flask`` gives it. The first
#: that fails ends the process as it would have ended its own.
FLASK_COMMANDS = """\
import json, os, sys

sys.path[0] = os.getcwd()  # python -m puts the folder there; -c puts ""
import flask
from flask.cli import cli

end, commands = sys.argv[1], json.loads(sys.argv[2])
main = os.path.join(os.path.dirname(flask.__file__), "__main__.py")
for i, args in enumerate(commands):
    sys.argv = [main, *args]
    try:
        cli.main(args, prog_name="python -m flask")
    except SystemExit as stop:
        if stop.code not in (0, None) or i == len(commands) - 1:
            raise
    for stream in sys.stdout, sys.stderr:
        stream.flush()
        stream.write(end)
        stream.flush()
"""


def run_flask(commands: list[list[str]], *, cwd: Path, env: dict[str, str]) -> None:
    """``python -m flask ARGS`` for each ARGS of ``commands``, one after the other, in one child
    process (Flask, SQLAlchemy and Alembic are imported once); the project's modules stay out of
    this one. The first that fails is a RegenError with that command and its output."""
    result = subprocess.run(
        [sys.executable, "-c", FLASK_COMMANDS, COMMAND_END, json.dumps(commands)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300 * len(commands),
        check=False,
    )
    if result.returncode != 0:
        stdout, stderr = result.stdout.split(COMMAND_END), result.stderr.split(COMMAND_END)
        done = min(len(stdout), len(stderr), len(commands)) - 1  # the commands that succeeded
        command = [sys.executable, "-m", "flask", *commands[done]]
        raise RegenError(f"{' '.join(command)} failed:\n{stdout[done]}{stderr[done]}")


def render(source: Path, answers: dict[str, str], parent: Path) -> None:
    """``webkit new regen-app --template SOURCE --dir PARENT --no-input --no-install --no-git``
    (``--data`` for each answer), through the function under it, in this process."""
    from webkit_cli._console import print_warning
    from webkit_cli.errors import WebkitError, report_bug
    from webkit_cli.scaffold import create_project
    from webkit_cli.scaffold.render import cache_root
    from webkit_cli.scaffold.template import resolve_template

    command = [sys.executable, "-m", "webkit_cli", "new", "regen-app", "--template", str(source),
               "--dir", str(parent), "--no-input", "--no-install", "--no-git"]  # fmt: skip
    for key, value in answers.items():
        command += ["--data", f"{key}={value}"]
    # What webkit new would print on stderr: its warnings, then its error.
    stderr = io.StringIO()
    try:
        create_project(
            template=resolve_template(str(source)),
            target=parent / "regen-app",
            name="regen-app",
            data=answers,
            cache_dir=cache_root(clean_env()),  # webkit new's, in the environment it had
            notify=lambda message: print_warning(message, file=stderr),
        )
    except Exception as error:
        if isinstance(error, WebkitError):
            error.show(file=stderr)
        else:  # what webkit's CLI says of an exception that escaped webkit's code
            report_bug(error, file=stderr)
        raise RegenError(f"{' '.join(command)} failed:\n{stderr.getvalue()}") from None


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBKIT_", "FLASK_"))
        and key not in {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL"}
    }
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def autogenerate(
    source: Path, answers: dict[str, str], revision: Revision, work: Path
) -> tuple[str, str | None]:
    """``revision`` of the template in ``source`` rendered with ``answers``, made from the
    models on top of the migrations before it, as it is committed; and the committed one as
    the template renders it (None when it has none yet)."""
    template = source.name
    parent = Path(tempfile.mkdtemp(prefix=f"{template}-", dir=work))
    render(source, answers, parent)
    project = parent / "regen-app"
    with (project / "pyproject.toml").open("rb") as f:
        package = str(tomllib.load(f)["tool"]["webkit"]["app"]).partition(":")[0]
    versions = project / "src" / package / "migrations" / "versions"
    versions.mkdir(exist_ok=True)
    target = versions / revision.filename
    rendered = target.read_text() if target.is_file() else None
    target.unlink(missing_ok=True)
    before = sorted(versions.glob("*.py"))
    env = clean_env(
        APP_ENV="development",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{parent / 'scratch.db'}",
        PYTHONPATH=str(project / "src"),
    )
    db = ["--app", package, "db"]
    migrate = [*db, "migrate", "-m", revision.message, "--rev-id", revision.id]
    run_flask([[*db, "upgrade"], migrate], cwd=project, env=env)
    made = sorted(set(versions.glob("*.py")) - set(before))
    if made != [target]:
        raise RegenError(
            f"{template}: expected versions/{revision.filename}, Alembic wrote "
            f"{[path.name for path in made] or 'nothing (the models match the migrations)'}"
        )
    text = re.sub(r"^Create Date: .*\n", "", target.read_text(), flags=re.MULTILINE)
    if re.search(rf"\b{re.escape(package)}\b", text):
        # The file is copied as is (no .jinja): it must not name the project's package.
        raise RegenError(
            f"{template}: the migration refers to the package {package!r} (a custom column "
            "type?): use SQLAlchemy's own types in models.py, or write the migration by hand."
        )
    return text, rendered


def regenerate(
    templates: Path, template: str, revision: Revision, work: Path
) -> tuple[str, str | None]:
    """The migration every answer set agrees on, and the committed one as rendered."""
    texts = {
        repr(answers): autogenerate(templates / template, answers, revision, work)
        for answers in answer_sets(templates, template)
    }
    if len(set(texts.values())) != 1:
        raise RegenError(f"{template}: the answers {', '.join(texts)} give different migrations")
    return next(iter(texts.values()))


def plan(templates: Path, template: str, new: str | None) -> Revision:
    """The revision to (re)generate: the newest, or the next one for ``--new``."""
    revisions = committed(templates, template)
    if new is not None:
        if not revisions:
            raise RegenError(f"{template} has no migration yet: run without --new first")
        return Revision(f"{int(revisions[-1].id) + 1:04d}", new)
    return revisions[-1] if revisions else Revision(*INITIAL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/regen-migrations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--new", metavar="MESSAGE", help="add the next migration, on top")
    parser.add_argument(
        "--templates", type=Path, default=DEFAULT_TEMPLATES, help="the project_templates folder"
    )
    parser.add_argument("names", nargs="*", metavar="TEMPLATE", default=list(BUILT_IN))
    options = parser.parse_args(argv)
    templates: Path = options.templates.resolve()
    if options.check and options.new:
        parser.error("--check and --new exclude each other")
    stale = []
    with tempfile.TemporaryDirectory(prefix="webkit-regen-") as tmp:
        for template in options.names:
            if template not in BUILT_IN:
                print(f"Error: {template!r} is not one of {', '.join(BUILT_IN)}", file=sys.stderr)
                return 2
            try:
                revision = plan(templates, template, options.new)
                text, rendered = regenerate(templates, template, revision, Path(tmp))
            except RegenError as error:
                print(f"Error: {error}", file=sys.stderr)
                return 1
            versions = templates / template / "files" / VERSIONS
            source = source_of(versions, revision)
            target = versions / revision.filename
            committed_text = source.read_text() if source.is_file() else None
            # A .py.jinja migration is what it renders (its partials filled in).
            current = rendered if source != target else committed_text
            shown = source.relative_to(templates.parent)
            if committed_text is not None and HAND_EDITED in committed_text:
                # A data migration written by hand (autogenerate cannot keep rows): it is
                # never overwritten; the projects' test_migrations checks its schema.
                print(f"{shown}: hand-edited, kept (its schema is checked by the projects' tests)")
            elif current == text:
                print(f"{shown}: up to date")
            elif options.check:
                print(f"{shown}: out of date with {template}'s models")
                stale.append(template)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                if source != target:
                    source.unlink()
                    print(f"{shown}: written as {target.name} (share its parts again by hand)")
                else:
                    print(f"{shown}: written")
    if stale:
        print(
            f"Run: scripts/regen-migrations {' '.join(stale)} (or --new MESSAGE to add one)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Regenerate the initial migration of the built-in templates from their models.

For each template: render it with ``webkit new`` (default answers, once per answer of a
``database`` question), delete the rendered migration, let Alembic autogenerate it against an
empty SQLite database (``flask db migrate``, whose ruff hooks format it), drop the one line that
changes on every run (``Create Date``), and write it to
``project_templates/<template>/files/src/{{ package }}/migrations/versions/``. The revision id
is fixed, so running it again without a model change changes nothing.

    scripts/regen-migrations [--check] [TEMPLATE ...]

``--check`` writes nothing and exits 1 when a committed migration is out of date.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "project_templates"
BUILT_IN = ("site", "ajax", "api")
REVISION = "0001"
MESSAGE = "initial schema"
FILENAME = f"{REVISION}_initial_schema.py"
VERSIONS = Path("src", "{{ package }}", "migrations", "versions")


class RegenError(Exception):
    """A step failed; the message says which and why."""


def answer_sets(template: str) -> list[dict[str, str]]:
    """The answers to render with: the defaults, and each choice of a ``database`` question."""
    with (TEMPLATES / template / "template.toml").open("rb") as f:
        questions = tomllib.load(f).get("questions", [])
    for question in questions:
        if question.get("name") == "database" and question.get("choices"):
            return [{"database": str(choice)} for choice in question["choices"]]
    return [{}]


def run(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RegenError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WEBKIT_", "FLASK_"))
        and key not in {"APP_ENV", "SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL"}
    }
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def autogenerate(template: str, answers: dict[str, str], work: Path) -> str:
    """The initial migration of ``template`` rendered with ``answers``, as committed."""
    parent = Path(tempfile.mkdtemp(prefix=f"{template}-", dir=work))
    command = [sys.executable, "-m", "webkit_cli", "new", "regen-app", "--template", template,
               "--dir", str(parent), "--no-input", "--no-install", "--no-git"]  # fmt: skip
    for key, value in answers.items():
        command += ["--data", f"{key}={value}"]
    run(command, cwd=work, env=clean_env())
    project = parent / "regen-app"
    with (project / "pyproject.toml").open("rb") as f:
        package = str(tomllib.load(f)["tool"]["webkit"]["app"]).partition(":")[0]
    versions = project / "src" / package / "migrations" / "versions"
    versions.mkdir(exist_ok=True)
    for old in versions.glob("*.py"):
        old.unlink()
    env = clean_env(
        APP_ENV="development",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{parent / 'scratch.db'}",
        PYTHONPATH=str(project / "src"),
    )
    run([sys.executable, "-m", "flask", "--app", package, "db", "migrate", "-m", MESSAGE,
         "--rev-id", REVISION], cwd=project, env=env)  # fmt: skip
    made = sorted(versions.glob("*.py"))
    if [path.name for path in made] != [FILENAME]:
        raise RegenError(f"{template}: expected versions/{FILENAME}, Alembic wrote {made}")
    text = re.sub(r"^Create Date: .*\n", "", made[0].read_text(), flags=re.MULTILINE)
    if re.search(rf"\b{re.escape(package)}\b", text):
        # The file is copied as is (no .jinja): it must not name the project's package.
        raise RegenError(
            f"{template}: the migration refers to the package {package!r} (a custom column "
            "type?): use SQLAlchemy's own types in models.py, or write the migration by hand."
        )
    return text


def regenerate(template: str, work: Path) -> str:
    """The migration every answer set agrees on."""
    texts = {
        repr(answers): autogenerate(template, answers, work) for answers in answer_sets(template)
    }
    if len(set(texts.values())) != 1:
        raise RegenError(f"{template}: the answers {', '.join(texts)} give different migrations")
    return next(iter(texts.values()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/regen-migrations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("templates", nargs="*", metavar="TEMPLATE", default=list(BUILT_IN))
    options = parser.parse_args(argv)
    stale = []
    with tempfile.TemporaryDirectory(prefix="webkit-regen-") as tmp:
        for template in options.templates:
            if template not in BUILT_IN:
                print(f"Error: {template!r} is not one of {', '.join(BUILT_IN)}", file=sys.stderr)
                return 2
            try:
                text = regenerate(template, Path(tmp))
            except RegenError as error:
                print(f"Error: {error}", file=sys.stderr)
                return 1
            folder = TEMPLATES / template / "files" / VERSIONS
            target = folder / FILENAME
            others = sorted(p.name for p in folder.glob("*.py") if p.name != FILENAME)
            if others:
                print(f"Error: {folder} holds more than the initial migration: {others}",
                      file=sys.stderr)  # fmt: skip
                return 1
            current = target.read_text() if target.is_file() else None
            shown = target.relative_to(ROOT)
            if current == text:
                print(f"{shown}: up to date")
            elif options.check:
                print(f"{shown}: out of date with {template}'s models")
                stale.append(template)
            else:
                folder.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                print(f"{shown}: written")
    if stale:
        print(f"Run: scripts/regen-migrations {' '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

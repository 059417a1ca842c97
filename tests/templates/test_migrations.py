"""The templates' migrations: current with the models, what CI runs, and on PostgreSQL.

``scripts/regen-migrations --check`` fails when a template's models.py changed and its
newest migration was not regenerated (and the script follows a model change, on a copy of
the templates); hand-edited data migrations are kept. The generated CI's migration step runs here
literally (the command and the environment of the workflow), passes on a fresh project and
fails once a model has no migration. The site and ajax suites (their migration tests
included) run against a real PostgreSQL, as the api's does in ``test_api.py``, and two
upgrades that start at once on one PostgreSQL database both succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable

from tests.templates._postgres import PostgresServer
from tests.templates.conftest import (
    assert_tests_catch,
    child_env,
    generate,
    project_package,
    run_flask,
    run_project_pytest,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ["site", "ajax", "api"]
SEARCH_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

#: A model without a migration: what `flask db check` in CI must refuse.
NEW_MODEL = """

class AddedWithoutMigration(Base):
    __tablename__ = "added_without_migration"

    id: Mapped[int] = mapped_column(primary_key=True)
"""


def test_the_committed_migrations_match_the_templates_models() -> None:
    """Regenerating the newest migrations from today's models changes nothing; the
    hand-edited data migrations (ajax's and api's 0002) are kept, never rewritten."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "regen-migrations"), "--check"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    versions = "files/src/{{ package }}/migrations/versions"
    # The migrations are .py.jinja: they render the parts they share from partials/.
    up_to_date = f"project_templates/site/{versions}/0002_accounts.py.jinja: up to date"
    assert up_to_date in result.stdout, result.stdout
    for template, migration in (
        ("ajax", "0002_accounts.py.jinja"),
        ("api", "0002_key_owners.py.jinja"),
    ):
        kept = f"project_templates/{template}/{versions}/{migration}: hand-edited, kept"
        assert kept in result.stdout, result.stdout
    assert result.stdout.count(": up to date") == 1, result.stdout
    assert result.stdout.count(": hand-edited, kept") == 2, result.stdout


#: The newest migration (0002 today: ajax's and api's are hand-edited data migrations). The
#: project's schema is what it leaves, and an older one's mutation can be undone by it (ajax's
#: 0002 rebuilds the todos table from its own copy of 0001's columns).
MIGRATION = "src/{package}/migrations/versions/<newest>"
#: The app making its own tables again, as 1.1.0 did (db.py differs between site/ajax and api).
CREATE_ALL = {
    "_web": (
        "    Migrate(app, MigrationTarget(",
        "    Base.metadata.create_all(engine)\n    Migrate(app, MigrationTarget(",
    ),
    "api": (
        "        return create_engine(self.url, pool_pre_ping=True)\n",
        "        engine = create_engine(self.url, pool_pre_ping=True)\n"
        "        Base.metadata.create_all(engine)\n        return engine\n",
    ),
}
MUTATIONS = [
    pytest.param(
        "src/{package}/db.py", "create_all", "test_the_app_creates_no_tables", id="create-all"
    ),
    pytest.param(
        MIGRATION,
        ("nullable=False", "nullable=True"),
        "test_the_migrations_match_the_models",
        id="migration-differs-from-models",
    ),
    pytest.param(
        MIGRATION,
        ("op.drop_table(", "print("),
        "test_the_migrations_go_down_and_up_again",
        id="downgrade-keeps-tables",
    ),
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(("path", "change", "failing_test"), MUTATIONS)
def test_project_tests_catch_a_broken_migration(
    mutation_project: Callable[[str], Path],
    template: str,
    path: str,
    change: str | tuple[str, str],
    failing_test: str,
) -> None:
    old, new = (
        CREATE_ALL["api" if template == "api" else "_web"] if change == "create_all" else change
    )
    project = mutation_project(template)
    if path == MIGRATION:
        path = MIGRATION.replace("<newest>", newest_migration(project).name)
    assert_tests_catch(project, path, old, new, failing_test)


def newest_migration(project: Path) -> Path:
    versions = project / "src" / project_package(project) / "migrations" / "versions"
    return sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]


def regen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "regen-migrations"), *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_regen_migrations_follows_a_model_change(tmp_path: Path) -> None:
    """On a copy of the templates: a new model makes --check fail; regenerating rewrites the
    newest migration (site's autogenerated 0002), once (a second run changes nothing); --new
    adds 0003 on top instead. A hand-edited migration (ajax's 0002) is never rewritten. The
    committed 0002 is a .py.jinja (it renders the users table from a partial): regenerating
    writes the new one as a plain .py in its place."""
    templates = tmp_path / "project_templates"
    shutil.copytree(
        ROOT / "project_templates", templates, ignore=shutil.ignore_patterns("_releases")
    )
    package = Path("files", "src", "{{ package }}")
    versions = templates / "site" / package / "migrations" / "versions"
    newest = versions / "0002_accounts.py"
    source = versions / "0002_accounts.py.jinja"
    committed = source.read_text()
    for template in ("site", "ajax"):
        models = templates / template / package / "models.py.jinja"  # it includes User
        models.write_text(models.read_text() + NEW_MODEL)
    where = ("--templates", str(templates))

    stale = regen("--check", *where, "site")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "0002_accounts.py.jinja: out of date with site's models" in stale.stdout
    assert source.read_text() == committed and not newest.exists()  # --check wrote nothing

    written = regen(*where, "site")
    assert written.returncode == 0, written.stdout + written.stderr
    regenerated = newest.read_text()
    assert not source.exists()
    assert '"added_without_migration"' in regenerated and "Create Date" not in regenerated
    assert '"users"' in regenerated  # still 0002's own change, on top of 0001
    again = regen(*where, "site")
    assert again.returncode == 0 and ": up to date" in again.stdout, again.stdout + again.stderr
    assert newest.read_text() == regenerated

    newest.unlink()
    source.write_text(committed)
    added = regen("--new", "add a table", *where, "site")
    assert added.returncode == 0, added.stdout + added.stderr
    assert sorted(p.name for p in versions.glob("*.py*")) == [
        "0001_initial_schema.py.jinja",
        "0002_accounts.py.jinja",
        "0003_add_a_table.py",
    ]
    assert 'down_revision = "0002"' in (versions / "0003_add_a_table.py").read_text()
    assert source.read_text() == committed
    assert regen("--check", *where, "site").returncode == 0

    ajax = templates / "ajax" / package / "migrations" / "versions" / "0002_accounts.py.jinja"
    hand_edited = ajax.read_text()
    kept = regen(*where, "ajax")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0002_accounts.py.jinja: hand-edited, kept" in kept.stdout
    assert ajax.read_text() == hand_edited


def ci_migration_step(project: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """The workflow's migration step, run as GitHub would: its ``flask`` commands joined by
    ``&&``, each run if the one before succeeded, with the step's env (each from the warm
    ``flask``, as the console script runs)."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["test"]
    step = next(s for s in job["steps"] if "db upgrade" in s.get("run", ""))
    env = {**job.get("env", {}), **step["env"], "DATABASE_URL": database_url}
    commands = [shlex.split(command) for command in step["run"].split("&&")]
    assert all(command[0] == "flask" for command in commands), step["run"]
    stdout = stderr = ""
    for command in commands:
        result = run_flask(
            command[1:],
            cwd=project,
            # `flask` from webkit's environment, which has the project's dependencies but not
            # the project itself: its src is the path.
            env=child_env({**env, "PYTHONPATH": str(project / "src"), "PATH": SEARCH_PATH}),
        )
        stdout, stderr = stdout + result.stdout, stderr + result.stderr
        if result.returncode != 0:
            break
    return subprocess.CompletedProcess(step["run"], result.returncode, stdout, stderr)


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_ci_migration_step_fails_for_a_model_without_a_migration(
    template: str, tmp_path: Path
) -> None:
    project = generate(template, tmp_path)
    passed = ci_migration_step(project, f"sqlite:///{tmp_path / 'scratch.db'}")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Running upgrade  -> 0001" in passed.stderr
    assert "No new upgrade operations detected" in passed.stdout + passed.stderr

    models = project / "src" / project_package(project) / "models.py"
    models.write_text(models.read_text() + NEW_MODEL)
    failed = ci_migration_step(project, f"sqlite:///{tmp_path / 'scratch-2.db'}")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "added_without_migration" in failed.stdout + failed.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("template", ["site", "ajax"])
def test_project_tests_pass_on_postgresql(
    template: str, tmp_path: Path, postgres: PostgresServer
) -> None:
    """The whole suite, its migrations up and down included, on a real PostgreSQL (its
    coverage is measured on SQLite, by ``own_suite``)."""
    project = generate(template, tmp_path)
    url = postgres.create_database(f"{template}_suite")
    env = {"TEST_DATABASE_URL": url}
    result, _ = run_project_pytest(project, env=env, coverage=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout
    assert " skipped" not in result.stdout and " failed" not in result.stdout
    assert "test_migrations.py" not in result.stdout  # no failure there either


@pytest.mark.postgres
@pytest.mark.parametrize("template", TEMPLATES)
def test_servers_that_start_at_once_upgrade_one_postgresql_database(
    template: str, tmp_path: Path, postgres: PostgresServer
) -> None:
    """Two ``flask db upgrade`` at the same moment (two containers starting) both succeed:
    the migrations take a PostgreSQL lock, so one waits for the other instead of failing."""
    import psycopg

    project = generate(template, tmp_path)
    url = postgres.create_database(f"{template}_race")
    env = child_env(
        {"APP_ENV": "development", "DATABASE_URL": url, "PYTHONPATH": str(project / "src")}
    )
    command = [sys.executable, "-m", "flask", "--app", project_package(project), "db", "upgrade"]
    upgrades = [
        subprocess.Popen(
            command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in upgrades]
    assert [process.returncode for process in upgrades] == [0, 0], outputs
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(newest_migration(project).name[:4],)]  # upgraded to the head, once

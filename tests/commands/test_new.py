"""``webkit new`` through click (CliRunner) and as a real process (SIGINT, a terminal)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.scaffold.helpers import make_template, tree
from webkit_cli.cli import cli
from webkit_cli.scaffold.template import builtin_template_names, load_template, resolve_template

requires_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Jinja bytecode cache of these runs (subprocesses too) is not the user's."""
    monkeypatch.setenv("WEBKIT_CACHE_DIR", str(tmp_path / "webkit-cache"))


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_template(tmp_path / "tpl")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def new(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, ["new", *args], catch_exceptions=False)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_list_shows_every_builtin_template(runner: CliRunner) -> None:
    result = new(runner, "--list")
    assert result.exit_code == 0
    names = builtin_template_names()
    assert names, "the built-in templates are found from an editable install"
    for name in names:
        assert name in result.output
        first_word = resolve_template(name).description.split()[0]
        assert first_word in result.output


def test_creates_a_project_without_asking(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(
        runner, "my-site", "-t", str(tiny), "--dir", str(out), "--no-git", "--author", "Ada"
    )
    assert result.exit_code == 0, result.output
    project = out / "my-site"
    assert (project / "src" / "my_site" / "__init__.py").is_file()
    assert "Created" in result.output and "template tiny 0.3.0 (6 files)" in result.output
    # Next steps: not installed (CliRunner's stdin is not a terminal, so --install is off).
    for step in ("Next steps", "cd ", "pip install -e '.[dev]'", "webkit run --reload"):
        assert step in result.output
    assert not (project / ".git").exists()


def test_next_steps_say_to_make_a_virtualenv_only_when_none_is_active(
    runner: CliRunner, tiny: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_line = "python -m venv .venv && . .venv/bin/activate"
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    bare = new(runner, "bare", "-t", str(tiny), "--dir", str(out), "--no-git", "--no-input")
    assert bare.exit_code == 0, bare.output
    steps = bare.output.split("Next steps")[1]
    assert steps.index(venv_line) < steps.index("pip install -e '.[dev]'")
    monkeypatch.setenv("VIRTUAL_ENV", str(out / "elsewhere" / ".venv"))
    active = new(runner, "active", "-t", str(tiny), "--dir", str(out), "--no-git", "--no-input")
    assert active.exit_code == 0, active.output
    assert venv_line not in active.output and "pip install -e '.[dev]'" in active.output


def test_an_api_project_says_how_to_get_a_key(runner: CliRunner, out: Path) -> None:
    result = new(runner, "notes-api", "-t", "api", "--dir", str(out), "--no-git", "--no-input")
    assert result.exit_code == 0, result.output
    assert "flask --app notes_api keys create --user you@example.com" in result.output
    site = new(runner, "web", "-t", "site", "--dir", str(out), "--no-git", "--no-input")
    assert "Next steps" in site.output and "keys create" not in site.output


def test_options_reach_the_template(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(
        runner,
        "blog",
        "-t",
        str(tiny),
        "--dir",
        str(out),
        "--package",
        "blog_core",
        "--description",
        "My blog",
        "--author",
        "Grace",
        "-d",
        "database=postgresql",
        "--data",
        "docker=yes",
        "--no-input",
        "--no-git",
    )
    assert result.exit_code == 0, result.output
    project = out / "blog"
    assert (project / "src" / "blog_core" / "__init__.py").is_file()
    assert (project / "Dockerfile").is_file()
    assert (project / "db" / "schema.sql").is_file()
    answers = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"]["template"][
        "answers"
    ]
    assert answers["description"] == "My blog"
    assert answers["author"] == "Grace"
    assert answers["database"] == "postgresql"
    assert answers["docker"] is True


def test_template_from_environment_variable(
    runner: CliRunner, tiny: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBKIT_NEW_TEMPLATE", str(tiny))
    result = new(runner, "proj", "--dir", str(out), "--no-git")
    assert result.exit_code == 0, result.output
    assert (out / "proj" / "src" / "proj").is_dir()


def test_missing_name_without_a_terminal_is_a_usage_error(runner: CliRunner) -> None:
    result = new(runner, "--no-git")
    assert result.exit_code == 2
    assert "Missing argument 'NAME'" in result.output


def test_overwrite_needs_force(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--overwrite")
    assert result.exit_code == 2
    assert "--overwrite only applies with --force" in result.output
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("class", "is a Python keyword"),
        ("2fast", "is not a Python identifier"),
        ("email", "standard-library module"),
        ("site", "standard-library module"),
        ("flask", "already importable"),
        ("test", "already importable"),
        ("a/b", "path separator"),
        ("../up", "path separator or '..'"),
        ("my site", "is not valid"),
    ],
)
def test_bad_names_give_one_error_line(
    runner: CliRunner, tiny: Path, out: Path, name: str, reason: str
) -> None:
    result = new(runner, name, "-t", str(tiny), "--dir", str(out), "--no-git")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1 and reason in lines[0], result.output
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []
    assert not (out.parent / "up").exists()


def test_empty_name_does_not_mean_here(
    runner: CliRunner, tiny: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(out)
    result = new(runner, "", "-t", str(tiny), "--no-git")
    assert result.exit_code == 1
    assert "The project name is empty" in error_lines(result)[0]
    assert list(out.iterdir()) == []


def test_unknown_template(runner: CliRunner, out: Path) -> None:
    result = new(runner, "p", "-t", "nosuchtemplate", "--dir", str(out))
    assert result.exit_code == 1
    assert "Unknown template 'nosuchtemplate'" in error_lines(result)[0]


def test_non_empty_target_and_file_target(runner: CliRunner, tiny: Path, out: Path) -> None:
    (out / "p").mkdir()
    (out / "p" / "keep.txt").write_text("mine")
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out))
    assert result.exit_code == 1
    assert "is not empty" in error_lines(result)[0] and "--force" in error_lines(result)[0]
    assert tree(out / "p") == {"keep.txt": b"mine"}
    (out / "f").write_text("file")
    result = new(runner, "f", "-t", str(tiny), "--dir", str(out))
    assert result.exit_code == 1
    assert "is a file" in error_lines(result)[0]


def test_jinja_syntax_error_names_file_and_line(
    runner: CliRunner, tmp_path: Path, out: Path
) -> None:
    tpl = make_template(
        tmp_path / "broken", files={"pyproject.toml": "", "x.py.jinja": "a\n{{ x\n"}
    )
    result = new(runner, "p", "-t", str(tpl), "--dir", str(out))
    assert result.exit_code == 1
    line = error_lines(result)[0]
    assert f"{tpl / 'files' / 'x.py.jinja'}:2: Jinja syntax error" in line
    assert list(out.iterdir()) == []


def test_escaping_template_is_refused(runner: CliRunner, tmp_path: Path, out: Path) -> None:
    tpl = make_template(tmp_path / "evil", files={"{{ '..' }}/pwned.txt": "x"})
    result = new(runner, "p", "-t", str(tpl), "--dir", str(out))
    assert result.exit_code == 1
    assert "outside the target folder" in error_lines(result)[0]
    assert not (out / "pwned.txt").exists()
    assert list(out.iterdir()) == []


def test_data_errors(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "-d", "colour=red")
    assert result.exit_code == 1
    assert "no question 'colour'" in error_lines(result)[0]
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "-d", "docker")
    assert "is not KEY=VALUE" in error_lines(result)[0]
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "-d", "db_name=not-ident")
    assert "--data db_name: 'not-ident' is not a Python identifier" in error_lines(result)[0]


def test_required_answer_without_input_names_the_option(
    runner: CliRunner, tmp_path: Path, out: Path
) -> None:
    toml = '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "domain"\n'
    tpl = make_template(tmp_path / "t", files={"a.txt.jinja": "{{ domain }}"}, toml=toml)
    # Not a terminal: it must fail rather than wait for an answer (with or without --no-input).
    for extra in ([], ["--no-input"]):
        result = new(runner, "p", "-t", str(tpl), "--dir", str(out), *extra)
        assert result.exit_code == 1
        assert "pass --data domain=VALUE" in error_lines(result)[0]
    result = new(runner, "p", "-t", str(tpl), "--dir", str(out), "-d", "domain=example.org")
    assert result.exit_code == 0, result.output
    assert (out / "p" / "a.txt").read_text() == "example.org"


def test_dry_run_prints_a_tree_and_writes_nothing(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--dry-run")
    assert result.exit_code == 0, result.output
    assert list(out.iterdir()) == []
    assert "├── " in result.output or "└── " in result.output
    for part in ("src/", "p/", "logo.png", "pyproject.toml", "nothing written"):
        assert part in result.output


def test_force_and_overwrite(runner: CliRunner, tiny: Path, out: Path) -> None:
    assert new(runner, "p", "-t", str(tiny), "--dir", str(out), "--no-git").exit_code == 0
    project = out / "p"
    (project / "README.md").write_text("mine\n")
    (project / "src" / "p" / "__init__.py").unlink()
    before = tree(project)

    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--force", "--dry-run")
    assert result.exit_code == 0
    assert "differs" in result.output and "new" in result.output
    assert "without --overwrite the real run stops" in result.output
    assert tree(project) == before

    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--force")
    assert result.exit_code == 1
    assert "1 existing file differs from the template: README.md" in error_lines(result)[0]
    assert tree(project) == before  # listed before anything was written: nothing added

    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--force", "--overwrite")
    assert result.exit_code == 0, result.output
    assert "1 added, 1 replaced" in result.output
    assert (project / "README.md").read_text().startswith("# p")
    assert (project / "src" / "p" / "__init__.py").is_file()


# --- git ----------------------------------------------------------------------------------


def _git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout


@requires_git
def test_git_is_on_by_default_with_an_initial_commit(
    runner: CliRunner, tiny: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unconfigured git (no user.name/email) must still commit.
    monkeypatch.setenv("HOME", str(out.parent))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(out.parent / "no-gitconfig"))
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--author", "Ada")
    assert result.exit_code == 0, result.output
    project = out / "p"
    assert "initial commit" in result.output
    log = _git(project, "log", "--format=%an|%s").splitlines()
    assert len(log) == 1
    assert log[0].startswith("Ada|Initial commit: webkit new p -t tiny")
    assert _git(project, "status", "--porcelain") == ""
    committed = set(_git(project, "ls-files").split())
    assert {"README.md", "pyproject.toml", "src/p/static/logo.png"} <= committed


@requires_git
def test_no_git(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--no-git")
    assert result.exit_code == 0
    assert not (out / "p" / ".git").exists()


@requires_git
def test_git_inside_another_repository_is_skipped_with_a_warning(
    runner: CliRunner, tiny: Path, out: Path
) -> None:
    _git(out, "init", "-q")
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--git")
    assert result.exit_code == 0
    assert "inside another git repository" in result.stderr
    assert not (out / "p" / ".git").exists()


# --- real processes -----------------------------------------------------------------------


def _webkit_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "webkit_cli", "new", *args]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_render_leaves_nothing(tmp_path: Path, out: Path, signum: int) -> None:
    files: dict[str, str | bytes] = {f"f{i:03}.txt": "x" * 100 for i in range(50)}
    # Rendered last (name order): a loop long enough to be interrupted inside.
    files["zz_slow.txt.jinja"] = (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done\n"
    )
    files["pyproject.toml"] = '[project]\nname = "p"\n'
    tpl = make_template(tmp_path / "slow", files=files)
    proc = subprocess.Popen(
        _webkit_argv("p", "-t", str(tpl), "--dir", str(out), "--no-git", "--no-input"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        staged: list[Path] = []
        while time.monotonic() < deadline and not staged:
            staged = [p for p in out.glob(".p.*webkit-tmp") if (p / "f049.txt").exists()]
            time.sleep(0.01)
        assert staged, "the render never reached the slow file"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    if signum == signal.SIGINT:
        assert "Aborted" in stderr
    else:
        assert proc.returncode == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_prompts_in_a_terminal(tmp_path: Path, out: Path) -> None:
    tiny = make_template(tmp_path / "tpl")
    tpl = load_template(tiny)
    assert [q.name for q in tpl.questions] == ["database", "docker", "db_name"]
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.Popen(
        _webkit_argv("-t", str(tiny), "--dir", str(out), "--no-git", "--no-install"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    # Name, package (a refused one, then the default), description, author, then the
    # questions: an invalid choice first (asked again), docker=y, db_name default.
    # Then the summary and "Write it?" (Enter: yes).
    answers = ["shop", "email", "", "A shop", "Ada", "mysql", "postgresql", "y", "", ""]
    output = b""
    try:
        for answer in answers:
            output += _read_until_prompt(master)
            os.write(master, answer.encode() + b"\n")
        output += _read_until_eof(master)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "Project name" in text and "(mysite)" in text
    assert "'email' is a standard-library module" in text  # asked again, not a crash
    assert "[sqlite/postgresql]" in text and "(sqlite)" in text
    assert "Please select one of the available options" in text
    project = out / "shop"
    answers_table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"][
        "template"
    ]["answers"]
    assert answers_table == {
        "name": "shop",
        "package": "shop",
        "description": "A shop",
        "author": "Ada",
        "database": "postgresql",
        "docker": True,
        "db_name": "shop_db",
    }
    assert (project / "Dockerfile").is_file()


def _read_until_prompt(fd: int, timeout: float = 20) -> bytes:
    """Read the terminal until a prompt (a line ending in ': ') is waiting for input."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if data.rstrip(b" ").endswith(b":"):
                return data
    raise AssertionError(f"no prompt: {data!r}")


def _read_until_eof(fd: int, timeout: float = 30) -> bytes:
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    return data


def test_template_questions_as_options(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(
        runner,
        "p",
        "-t",
        str(tiny),
        "--dir",
        str(out),
        "--database",
        "postgresql",
        "--db-name=shop_db",
        "--docker",
        "--no-git",
    )
    assert result.exit_code == 0, result.output
    project = out / "p"
    assert "Database: postgresql." in (project / "README.md").read_text()
    assert "DB_NAME=shop_db" in (project / ".env").read_text()
    assert (project / "Dockerfile").is_file()  # a bare bool option means yes
    assert (project / "db" / "schema.sql").is_file()
    answers = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["webkit"]
    assert answers["template"]["answers"]["database"] == "postgresql"


def test_question_options_are_validated_like_data(runner: CliRunner, tiny: Path, out: Path) -> None:
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--database", "mysql")
    assert result.exit_code == 1
    # The option the user typed, not the -d spelling.
    assert error_lines(result) == ["Error: --database: 'mysql' is not one of sqlite, postgresql."]
    assert list(out.iterdir()) == []
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--colour", "red")
    assert result.exit_code == 2
    assert "No such option: --colour" in result.output
    assert "--database, --docker, --db-name" in result.output
    result = new(runner, "p", "-t", str(tiny), "--dir", str(out), "--database")
    assert result.exit_code == 2
    assert "Option '--database' requires an argument" in result.output
    result = new(runner, "p", "extra", "-t", str(tiny), "--dir", str(out))
    assert result.exit_code == 2
    assert "unexpected extra argument (extra)" in result.output
    assert list(out.iterdir()) == []


def test_api_template_database_option(runner: CliRunner, out: Path) -> None:
    result = new(
        runner, "shop", "-t", "api", "--dir", str(out), "--database", "postgresql", "--no-git"
    )
    assert result.exit_code == 0, result.output
    pyproject = tomllib.loads((out / "shop" / "pyproject.toml").read_text())
    assert pyproject["tool"]["webkit"]["template"]["answers"]["database"] == "postgresql"
    assert any("psycopg" in dep for dep in pyproject["project"]["dependencies"])


def test_question_options_are_listed_in_help(runner: CliRunner, tiny: Path) -> None:
    result = new(runner, "-t", str(tiny), "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # click wraps the help column
    expected = "--database sqlite|postgresql Template 'tiny': Database engine. [default: sqlite]"
    assert expected in text
    assert "--docker yes|no" in text and "--db-name TEXT" in text
    # Without -t, the default template's own questions.
    assert "--database" in new(runner, "-t", "api", "--help").output
    assert "--db-name" not in new(runner, "--help").output


def test_question_options_follow_the_template_variable(
    runner: CliRunner, tiny: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBKIT_NEW_TEMPLATE", str(tiny))
    result = new(runner, "p", "--dir", str(out), "--docker", "no", "--db-name", "x", "--no-git")
    assert result.exit_code == 0, result.output
    assert not (out / "p" / "Dockerfile").exists()
    assert "DB_NAME=x" in (out / "p" / ".env").read_text()


def test_a_question_option_wins_over_data(runner: CliRunner, tiny: Path, out: Path) -> None:
    args = ["p", "-t", str(tiny), "--dir", str(out), "--no-git", "-d", "db_name=from_data"]
    result = new(runner, *args, "--db-name", "from_option")
    assert result.exit_code == 0, result.output
    assert "DB_NAME=from_option" in (out / "p" / ".env").read_text()
    result = new(runner, "q", "-t", str(tiny), "--dir", str(out), "-d", "database=mysql")
    assert error_lines(result)[0].startswith("Error: --data database: 'mysql' is not one of")


def test_a_question_named_like_a_builtin_option_is_answered_with_data(
    runner: CliRunner, tmp_path: Path, out: Path
) -> None:
    toml = (
        '[template]\nname = "t"\nversion = "1"\n'
        '[[questions]]\nname = "force"\ntype = "bool"\ndefault = false\n'
    )
    tpl = make_template(tmp_path / "t", files={"a.txt.jinja": "force={{ force }}"}, toml=toml)
    result = new(runner, "p", "-t", str(tpl), "--dir", str(out), "--no-git", "-d", "force=yes")
    assert result.exit_code == 0, result.output
    assert (out / "p" / "a.txt").read_text() == "force=True"
    # --force is still webkit's own option (into the existing folder), so the question
    # keeps its default, and a.txt would change.
    result = new(runner, "p", "-t", str(tpl), "--dir", str(out), "--no-git", "--force")
    assert error_lines(result) == [
        "Error: 1 existing file differs from the template: a.txt. Add --overwrite to replace "
        "them; nothing was written."
    ]


def test_a_mistyped_option_before_the_name_is_a_usage_error_with_a_suggestion(
    runner: CliRunner, out: Path
) -> None:
    result = new(runner, "--templat", "api", "x", "--dir", str(out), "--no-input")
    assert result.exit_code == 2
    assert "No such option: --templat. Did you mean --template?" in result.output
    assert list(out.iterdir()) == []  # not a project named "--templat", nor one named "api"
    result = new(runner, "-t", "api", "--datab", "mysql", "x", "--dir", str(out), "--no-input")
    assert result.exit_code == 2
    assert "Did you mean --data or --database?" in result.output
    assert "Template 'api' questions: --database." in result.output
    assert list(out.iterdir()) == []


def _complete(args: str, cwd: Path) -> list[str]:
    words = f"webkit new {args}"
    env = {
        **os.environ,
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "_WEBKIT_COMPLETE": "bash_complete",
    }
    webkit = str(Path(sys.executable).with_name("webkit"))
    proc = subprocess.run([webkit], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return proc.stdout.splitlines()


def test_completion_after_t_offers_template_names_and_folders(tmp_path: Path) -> None:
    assert _complete("-t ", tmp_path) == [
        *(f"plain,{name}" for name in builtin_template_names()),
        "dir,",
    ]
    # A prefix narrows the names; the shell still completes folders (its own tpl/, say).
    assert _complete("--template a", tmp_path) == ["plain,ajax", "plain,api", "dir,a"]


def _converse(argv: list[str], answers: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Drive ``argv`` on a pseudo-terminal: one answer per prompt; (exit code, screen text)."""
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1", "COLUMNS": "100"}
    # No git user.name: the author prompt is then optional, the same on every machine.
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, cwd=cwd
    )
    os.close(slave)
    output = b""
    try:
        for answer in answers:
            output += _read_until_prompt(master)
            os.write(master, answer.encode() + b"\n")
        output += _read_until_eof(master)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, output.decode(errors="replace").replace("\r", "")


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_interactive_new_describes_suggests_summarises_and_confirms(out: Path) -> None:
    argv = _webkit_argv("--dir", str(out), "--no-git", "--no-install")
    # Name "email"; the template list, then api; the offered package; no description;
    # no author; the api's database question; then the summary and "Write it?": no.
    code, text = _converse(argv, ["email", "api", "", "", "", "", "n"])
    assert code == 1, text
    lines = text.splitlines()
    assert lines[0] == "Creating a webkit project: press Enter to take the answer in brackets."
    listing = " ".join(text[: text.index("Template [")].split())
    for tpl in ("site", "api", "ajax"):
        # Each template with its one-line description (wrapped to the terminal maybe).
        assert f" {tpl} {' '.join(resolve_template(tpl).description.split())}" in listing
    assert "Template [ajax/api/site] (site):" in text
    # The refused default: why, where to change it (here, not --package), and a valid one.
    assert "Package name 'email' is a standard-library module" in text
    assert "with the prompt below" in text and "--package" not in text
    assert "Python package (email_app):" in text
    version = resolve_template("api").version
    assert re.search(
        rf"About to create \S*email:\n  template\s+api {re.escape(version)} \(\d+ files\)", text
    )
    summary = text[text.index("About to create") : text.index("Write it?")]
    assert re.search(r"package\s+email_app", summary)
    assert re.search(r"description\s+\(none\)", summary)
    assert re.search(r"database\s+sqlite", summary)
    assert "Nothing was written." in text
    assert list(out.iterdir()) == []

    code, text = _converse(argv, ["email", "api", "", "", "Ada", "postgresql", ""])
    assert code == 0, text
    project = out / "email"
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    answers = meta["tool"]["webkit"]["template"]["answers"]
    assert answers["package"] == "email_app" and answers["database"] == "postgresql"
    assert answers["description"] == "" and meta["project"]["description"] == ""
    # The template's blurb describes the template, not the user's project.
    assert resolve_template("api").description not in (project / "README.md").read_text()
    assert (project / "src" / "email_app" / "__init__.py").is_file()


def test_no_input_description_is_empty_unless_given(runner: CliRunner, out: Path) -> None:
    assert new(runner, "p", "-t", "site", "--dir", str(out), "--no-git").exit_code == 0
    blurb = resolve_template("site").description
    assert blurb not in (out / "p" / "README.md").read_text()
    assert tomllib.loads((out / "p" / "pyproject.toml").read_text())["project"]["description"] == ""
    result = new(runner, "q", "--dir", str(out), "--no-git", "--description", "My shop")
    assert result.exit_code == 0
    assert "My shop" in (out / "q" / "README.md").read_text()


def test_install_spinner_text_keeps_dev(tmp_path: Path) -> None:
    """rich markup would eat "[dev]" from the spinner's text."""
    import io

    from rich.console import Console

    from webkit_cli.scaffold import post

    shown: list[str] = []

    class Recorder(Console):
        def status(self, status: Any, *args: Any, **kwargs: Any) -> Any:
            render = Console(file=io.StringIO(), width=200, color_system=None)
            render.print(status)
            shown.append(render.file.getvalue())  # type: ignore[attr-defined]
            return super().status(status, *args, **kwargs)

    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 0\n")
    fake_python.chmod(0o755)
    post.install_project(tmp_path, Recorder(file=io.StringIO()), python=str(fake_python))
    assert shown and "pip install -e '.[dev]'" in shown[0]

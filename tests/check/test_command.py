"""``webkit check`` from the command line: exit codes, options, import failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.check.helpers import INIT_PY, PYPROJECT, VIEWS_PY, make_project
from webkit_cli.cli import cli

WARNING_ONLY = {
    "src/demo/templates/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
    "{{ bio|safe }}\n{% endblock %}\n"
}
TEMPLATE_ERROR = {"src/demo/templates/item.html": "{% if x %}\n"}
BROKEN_LINK = '\n\n@bp.route("/away")\ndef away():\n    return redirect(url_for("main.nowhere"))\n'


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    # a generous import timeout: a loaded machine may take seconds to start the child
    result = runner.invoke(cli, ["check", *args], env={"WEBKIT_IMPORT_TIMEOUT": "120"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_clean_project_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo")
    assert invoke(runner, str(root)) == (0, "All checks passed\n", "")


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}])
def test_a_clean_run_prints_what_rich_prints(
    runner: CliRunner, tmp_path: Path, env: dict[str, str]
) -> None:
    """Not a terminal: the line is printed without importing rich, as rich prints it;
    when rich would colour it, rich prints it."""
    import io

    from rich.console import Console

    from webkit_cli.check.reporters import ALL_PASSED

    root = make_project(tmp_path / "demo")
    result = runner.invoke(cli, ["check", str(root), "--no-import"], env=env)
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        console = Console(file=buffer, highlight=False, soft_wrap=False)
        console.print(f"[bold green]{ALL_PASSED}[/]")
    assert result.exit_code == 0
    assert result.stdout == buffer.getvalue()
    assert ("\x1b[" in result.stdout) == bool(env)


def test_error_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", TEMPLATE_ERROR)
    code, out, _ = invoke(runner, str(root))
    assert code == 1
    assert "T001" in out and "src/demo/templates/item.html" in out


def test_fail_level_decides_on_warnings(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", WARNING_ONLY)
    assert invoke(runner, str(root))[0] == 0
    assert invoke(runner, str(root), "--fail-level", "warning")[0] == 1
    pyproject = PYPROJECT + '\n[tool.webkit.check]\nfail-level = "warning"\n'
    root = make_project(tmp_path / "strict", {**WARNING_ONLY, "pyproject.toml": pyproject})
    assert invoke(runner, str(root))[0] == 1
    assert invoke(runner, str(root), "--fail-level", "error")[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--select", "S999"],
        ["--ignore", "nonsense-rule"],
        ["--format", "xml"],
        ["--fail-level", "fatal"],
        ["does/not/exist"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    root = make_project(tmp_path / "demo")
    runner_args = [str(root), *args] if args[0].startswith("-") else args
    code, _, err = invoke(runner, *runner_args)
    assert code == 2
    assert "Error" in err


def test_unknown_code_error_says_where_to_look(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo")
    _, _, err = invoke(runner, str(root), "--select", "S001,S999")
    assert "unknown rule code 'S999'" in err and "--list-rules" in err


def test_list_rules(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--list-rules")
    assert code == 0
    assert "S003" in out and "sql-string-formatting" in out and "H002" in out


def test_list_rules_as_json(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--list-rules", "--format", "json")
    rules = json.loads(out)
    assert code == 0
    assert rules[0] == {
        "code": "P001",
        "name": "invalid-pyproject",
        "severity": "error",
        "area": "project",
        "needs_app": False,
        "description": "pyproject.toml is not valid TOML.",
        "hint": "Fix the TOML syntax at the reported line.",
    }
    assert len({r["code"] for r in rules}) == len(rules) > 25


def test_app_that_cannot_be_imported(runner: CliRunner, tmp_path: Path) -> None:
    views = VIEWS_PY.replace("bp = Blueprint", "import demo.missing_module\nbp = Blueprint")
    root = make_project(tmp_path / "demo", {"src/demo/views.py": views, **TEMPLATE_ERROR})
    code, out, err = invoke(runner, str(root), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    found = {(f["code"], f["file"]) for f in doc["findings"]}
    assert found == {("P004", "src/demo/views.py"), ("T001", "src/demo/templates/item.html")}
    p004 = next(f for f in doc["findings"] if f["code"] == "P004")
    assert p004["line"] == views.splitlines().index("import demo.missing_module") + 1
    assert "ModuleNotFoundError" in p004["message"] and "demo.missing_module" in p004["message"]
    assert doc["notes"] == [
        "Rules that need the app (routes, links) were skipped: the app could not be imported."
    ]


def test_no_import_runs_only_static_rules(runner: CliRunner, tmp_path: Path) -> None:
    # The app would fail to import *and* has a dead link; --no-import sees neither.
    init = INIT_PY.replace("def create_app", 'raise SystemExit("no")\n\n\ndef create_app')
    views = VIEWS_PY.replace('".item"', '".nope"')
    files = {"src/demo/__init__.py": init, "src/demo/views.py": views, **TEMPLATE_ERROR}
    root = make_project(tmp_path / "demo", files)
    code, out, err = invoke(runner, str(root), "--no-import", "--format", "json")
    assert code == 1
    assert [f["code"] for f in json.loads(out)["findings"]] == ["T001"]
    assert json.loads(out)["notes"] == []
    code, out, _ = invoke(runner, str(root), "--format", "json")
    assert sorted(f["code"] for f in json.loads(out)["findings"]) == ["P004", "T001"]


def test_project_without_an_app_runs_static_rules_and_says_so(
    runner: CliRunner, tmp_path: Path
) -> None:
    root = make_project(
        tmp_path / "lib", {"pyproject.toml": '[project]\nname = "lib"\n', **WARNING_ONLY}
    )
    code, out, err = invoke(runner, str(root))
    assert code == 0
    assert "S004" in out
    assert "Rules that need the app (routes, links) were skipped: no app found" in err


def test_app_option_and_envvar(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", {"pyproject.toml": '[project]\nname = "demo"\n'})
    code, out, _ = invoke(runner, str(root), "--app", "demo:nothing", "--format", "json")
    assert code == 1 and [f["code"] for f in json.loads(out)["findings"]] == ["P003"]
    result = runner.invoke(
        cli, ["check", str(root), "--format", "json"], env={"WEBKIT_APP": "demo:create_app"}
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["notes"] == []


def test_output_file(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", WARNING_ONLY)
    target = tmp_path / "report.sarif"
    code, out, _ = invoke(runner, str(root), "--format", "sarif", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["runs"][0]["results"][0]["ruleId"] == (
        "S004"
    )


def test_plain_flask_project_found_by_convention(runner: CliRunner, tmp_path: Path) -> None:
    app_py = (
        "from flask import Flask, url_for\n\napp = Flask(__name__)\n\n\n"
        '@app.route("/")\ndef index():\n    return url_for("indx")\n'
    )
    root = tmp_path / "plain"
    root.mkdir()
    (root / "app.py").write_text(app_py, encoding="utf-8")
    code, out, _ = invoke(runner, str(root), "--format", "json")
    assert code == 1
    assert [(f["code"], f["file"], f["line"]) for f in json.loads(out)["findings"]] == [
        ("L001", "app.py", 8)
    ]


def test_in_a_real_process_from_the_project_directory(tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", {"src/demo/config.py": 'SECRET_KEY = "x"\n'})
    proc = subprocess.run(
        [sys.executable, "-m", "webkit_cli", "check", "--format", "github"],
        cwd=root / "src" / "demo",  # a subdirectory: the project is found by walking up
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("::error file=src/demo/config.py,line=1,col=1,title=S001 ")


def test_prints_of_the_app_do_not_corrupt_machine_output(runner: CliRunner, tmp_path: Path) -> None:
    init = INIT_PY.replace("    return app\n", '    print("starting up")\n    return app\n')
    root = make_project(tmp_path / "demo", {"src/demo/__init__.py": init})
    code, out, err = invoke(runner, str(root), "--format", "json")
    assert code == 0
    assert json.loads(out)["summary"]["total"] == 0
    assert "starting up" in err


def test_output_file_in_a_missing_folder_is_one_error_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "demo")
    code, out, err = invoke(runner, str(root), "-o", str(tmp_path / "no" / "such" / "r.json"))
    assert code == 1
    assert err.startswith("Error: Cannot write the report to ")
    assert "Traceback" not in err


def test_text_report_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", WARNING_ONLY)
    target = tmp_path / "report.txt"
    assert invoke(runner, str(root), "-o", str(target))[:2] == (0, "")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("src/demo/templates/item.html\n") and "S004" in text
    assert list(tmp_path.glob(".report.txt.*")) == []


def test_a_crashing_rule_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    from webkit_cli.check.registry import CheckRegistry, registry
    from webkit_cli.check.reporters import MACHINE_FORMATS
    from webkit_cli.check.runner import run_check

    def explode(ctx: object) -> list[object]:
        raise RuntimeError("rule bug")

    own = CheckRegistry()
    own.add(["H002"], explode)
    for item in registry:
        own.add(item.codes, item.func)
    root = make_project(tmp_path / "demo", {"src/demo/config.py": 'SECRET_KEY = "x"\n'})
    report = run_check(root, registry=own)
    doc = json.loads(MACHINE_FORMATS["json"](report))
    assert report.exit_code == 1
    assert [f["code"] for f in doc["findings"]] == ["S001"]
    assert doc["notes"] == [
        "webkit check could not run H002 on this project (RuntimeError: rule bug); "
        "please report it."
    ]


def test_a_child_started_early_imports_the_app(tmp_path: Path, spawned_children: None) -> None:
    """The CLI starts the app's child before it finds the project; it is told what to
    import then, and ends with the run."""
    from tests.check.helpers import check
    from webkit_cli.check.appimport import AppImport

    root = make_project(tmp_path / "demo", {"src/demo/views.py": VIEWS_PY + BROKEN_LINK})
    child = AppImport.prestart()
    report = check(root, child=child)
    assert [(f.code, f.file) for f in report.findings] == [("L001", "src/demo/views.py")]
    assert child.proc.poll() is not None


@pytest.mark.parametrize(
    "options",
    [{"select": ["S001"]}, {"app": "nowhere:create_app"}],
    ids=["no-app-rule", "bad-target"],
)
def test_a_child_started_early_and_not_needed_is_ended(
    tmp_path: Path, options: dict[str, object], spawned_children: None
) -> None:
    from tests.check.helpers import check
    from webkit_cli.check.appimport import AppImport

    root = make_project(tmp_path / "demo")
    child = AppImport.prestart()
    check(root, child=child, **options)
    assert child.proc.poll() is not None

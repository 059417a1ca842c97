"""The four output formats, each checked against what its consumer needs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from tests.check.helpers import VIEWS_PY, check, make_project
from webkit_cli.check import RULES, CheckReport
from webkit_cli.check.findings import finding
from webkit_cli.check.reporters import render_github, render_rules, render_text, to_json, to_sarif
from webkit_cli.check.rules import Severity

SCHEMA = Path(__file__).with_name("sarif-schema-2.1.0.json")

BROKEN = {
    "src/demo/config.py": 'import os\n\nSECRET_KEY = "a"\nDEBUG = True\n',
    "src/demo/templates/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
    "{{ bio|safe }}, 100%: done\n{% endblock %}\n",
    "src/demo/views.py": VIEWS_PY.replace('".item"', '".nope"'),
}


@pytest.fixture
def report(tmp_path: Path) -> CheckReport:
    return check(make_project(tmp_path / "demo", BROKEN))


def _text(report: CheckReport) -> str:
    out = io.StringIO()
    render_text(report, Console(file=out, width=100, color_system=None))
    return out.getvalue()


def test_text_groups_by_file_sorted_by_line_with_summary(report: CheckReport) -> None:
    text = _text(report)
    lines = text.splitlines()
    headers = [line for line in lines if line and not line.startswith(" ")]
    assert headers[:3] == [
        "src/demo/config.py",
        "src/demo/templates/item.html",
        "src/demo/views.py",
    ]
    config_block = text.split("src/demo/config.py")[1].split("src/demo/templates")[0]
    assert config_block.index("S001") < config_block.index("S002")
    assert "3:1" in config_block and "4:1" in config_block
    assert "fix: Read it from the environment" in config_block
    assert headers[-1] == "Found 4 problems (3 errors, 1 warning) in 6 files."
    assert "All checks passed" not in text


def test_text_clean_is_one_line(tmp_path: Path) -> None:
    assert _text(check(make_project(tmp_path / "demo"))) == "All checks passed\n"


def test_json_document(report: CheckReport) -> None:
    doc = json.loads(json.dumps(to_json(report)))
    assert doc["version"] == 1
    assert doc["summary"] == {
        "errors": 3, "warnings": 1, "total": 4, "files_checked": 6,
        "fail_level": "error", "failed": True,
    }  # fmt: skip
    first = doc["findings"][0]
    assert first == {
        "code": "S001",
        "name": "hardcoded-secret-key",
        "severity": "error",
        "message": "SECRET_KEY is set to a string literal.",
        "hint": RULES["S001"].hint,
        "file": "src/demo/config.py",
        "line": 3,
        "column": 1,
    }
    assert [f["code"] for f in doc["findings"]] == ["S001", "S002", "S004", "L001"]


def test_github_workflow_commands(report: CheckReport) -> None:
    lines = render_github(report).splitlines()
    assert lines[0].startswith(
        "::error file=src/demo/config.py,line=3,col=1,title=S001 hardcoded-secret-key::"
        "SECRET_KEY is set to a string literal. Fix: "
    )
    safe = [line for line in lines if "S004" in line]
    assert safe == [
        "::warning file=src/demo/templates/item.html,line=3,title=S004 safe-filter::"
        "|safe turns off escaping of a variable. Fix: " + RULES["S004"].hint
    ]
    assert len(lines) == 4


def test_github_escapes_data_and_properties(tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo", {"weird,name:50%.py.orig": "x\n"})
    (line,) = render_github(check(root)).splitlines()
    assert line.startswith("::warning file=weird%2Cname%3A50%25.py.orig,title=H002 ")
    assert "::Leftover patch or merge file weird,name:50%25.py.orig." in line


def test_github_clean(tmp_path: Path) -> None:
    assert render_github(check(make_project(tmp_path / "demo"))) == "All checks passed\n"


def test_sarif_validates_against_the_2_1_0_schema(report: CheckReport) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    doc = json.loads(json.dumps(to_sarif(report)))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["S001", "S002", "S004", "L001"]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc == {
        "artifactLocation": {"uri": "src/demo/config.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 1},
    }
    assert results[2]["level"] == "warning"
    rule_index = results[0]["ruleIndex"]
    assert run["tool"]["driver"]["rules"][rule_index]["id"] == "S001"


def test_sarif_schema_rejects_a_broken_log(report: CheckReport) -> None:
    """The vendored schema is really enforced (a test that cannot fail proves nothing)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    doc = to_sarif(report)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(doc)


def test_sarif_of_a_project_level_finding_still_has_a_location(tmp_path: Path) -> None:
    root = make_project(tmp_path / "demo")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    report = check(root, app="demo:nothing_here")
    assert [f.code for f in report.findings] == ["P003"]
    doc = json.loads(json.dumps(to_sarif(report)))
    jsonschema.Draft4Validator(schema).validate(doc)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"] == "pyproject.toml"


def test_list_rules_shows_every_rule() -> None:
    out = io.StringIO()
    render_rules(Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    for rule in RULES.values():
        assert rule.code in text and rule.name in text and rule.summary in text


def test_list_rules_in_a_terminal_is_a_table_and_piped_is_full_lines() -> None:
    longest = max(RULES.values(), key=lambda rule: len(rule.summary))
    out = io.StringIO()
    # Not a terminal (a pipe): one full line per rule, however long, at 80 columns too.
    render_rules(Console(file=out, width=80, color_system=None))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["code", "severity", "name", "needs", "app", "description"]
    assert len(lines) == len(RULES) + 1
    line = next(line for line in lines if line.startswith(longest.code + " "))
    assert line.endswith(longest.summary) and len(line) > 80
    out = io.StringIO()
    render_rules(Console(file=out, width=80, color_system=None, force_terminal=True))
    assert all(len(line) <= 80 for line in out.getvalue().splitlines())


LONG = (
    "render_template() names template 'missing.html', which does not exist in any "
    "templates folder of the app or of its blueprints"
)


def _one(tmp_path: Path, message: str, hint: str | None) -> CheckReport:
    item = finding("T003", "src/demo/views.py", 6, message, column=12, hint=hint)
    return CheckReport(root=tmp_path, findings=[item], fail_level=Severity.ERROR)


def test_text_wraps_with_a_hanging_indent_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    report = _one(tmp_path, LONG, "Fix the name (relative to a templates folder) or create it.")
    render_text(report, Console(file=out, width=80, color_system=None, force_terminal=True))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    message_at = lines[1].index("render_template")
    first = lines.index(next(line for line in lines if "render_template" in line))
    fix = next(i for i, line in enumerate(lines) if "fix:" in line)
    continued = lines[first + 1 : fix]
    assert continued
    assert all(line[:message_at].isspace() and line[message_at] != " " for line in continued)
    # Words are whole: the wrapped lines read back as the message.
    assert " ".join(line.strip() for line in [lines[first][message_at:], *continued]) == LONG


def test_text_is_one_line_per_message_when_piped(tmp_path: Path) -> None:
    out = io.StringIO()
    render_text(_one(tmp_path, LONG, None), Console(file=out, width=80, color_system=None))
    assert any(line.endswith(LONG) for line in out.getvalue().splitlines())


def test_a_message_that_says_its_fix_does_not_repeat_it(tmp_path: Path) -> None:
    out = io.StringIO()
    message = "Template 'x.html' is missing. Fix the name or create the template."
    report = _one(tmp_path, message, "Fix the name or create the template")
    render_text(report, Console(file=out, width=100, color_system=None))
    assert "fix:" not in out.getvalue()
    assert out.getvalue().count("create the template") == 1

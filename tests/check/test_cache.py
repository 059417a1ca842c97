"""The per-file cache: a cached run gives exactly the findings of a cold one, always."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.check.helpers import PYPROJECT, locations, make_project
from webkit_cli.check import filecache, run_check
from webkit_cli.check.filecache import FileCache
from webkit_cli.check.runner import CheckReport

#: one finding of each kind the per-file analysis yields: a rule's (S001, S004), a syntax
#: error (P005, T001) and a suppressed one (S009 on a `# webkit: ignore` line)
FINDINGS = {
    "src/demo/settings.py": 'SECRET_KEY = "hunter2-hunter2"\n'
    'app.run(host="0.0.0.0")  # webkit: ignore[S009]\n',
    "src/demo/broken.py": "def broken(:\n    pass\n",
    "src/demo/templates/unsafe.html": "{% extends 'base.html' %}{{ user_bio|safe }}\n",
    "src/demo/templates/bad.html": "{% if x %}\n",
    "src/demo/templates/debugging.html": "{% debug %}\n",
    # the project-wide rules whose per-file part is cached (T002, T003, S007)
    "src/demo/templates/refs.html": "{% include 'nowhere.html' %}\n"
    '<form method="post"><input name="q"></form>\n'
    '<form method="post">{{ csrf_token() }}</form>\n'
    '<form method="post">{% include "token.html" %}</form>\n',
    "src/demo/templates/token.html": '<input type="hidden" value="{{ csrf_token() }}">\n',
    "src/demo/pages.py": "from flask import render_template\n\n\n"
    "def page():\n    return render_template('missing.html')\n",
}


def _run(root: Path, cache: FileCache, **kwargs: object) -> CheckReport:
    return run_check(root, no_import=True, cache=cache, **kwargs)  # type: ignore[arg-type]


def _shown(report: CheckReport) -> list[tuple[str, str | None, int | None, str]]:
    return [(f.code, f.file, f.line, f.message) for f in report.findings]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "demo", FINDINGS)


def test_a_cached_run_reports_exactly_what_a_cold_run_does(project: Path, tmp_path: Path) -> None:
    cold = _run(project, FileCache(None))
    first = FileCache(tmp_path / "cache")
    filled = _run(project, first)
    warm = FileCache(tmp_path / "cache")  # a new process: only the disk layer
    cached = _run(project, warm)
    assert warm.misses == 0 and warm.hits == cached.files_checked
    assert _shown(cached) == _shown(filled) == _shown(cold)
    codes = {code for code, *_ in _shown(cold)}
    assert {"S001", "S004", "P005", "T001", "T002", "T003"} <= codes and "S009" not in codes
    s007 = [(file, line) for code, file, line, _ in _shown(cold) if code == "S007"]
    assert s007 == [("src/demo/templates/refs.html", 2)]


def test_an_edited_file_is_checked_again(project: Path, tmp_path: Path) -> None:
    _run(project, FileCache(tmp_path / "cache"))
    (project / "src/demo/settings.py").write_text("import os\n", encoding="utf-8")
    (project / "src/demo/templates/bad.html").write_text("{% if x %}{% endif %}\n", "utf-8")
    again = FileCache(tmp_path / "cache")
    report = _run(project, again)
    assert again.misses == 2
    assert ("S001", "src/demo/settings.py") not in [(c, f) for c, f, _ in locations(report)]
    assert "src/demo/templates/bad.html" not in {f for _, f, _ in locations(report)}
    assert _shown(report) == _shown(_run(project, FileCache(None)))


def test_a_project_wide_rule_sees_a_new_file_on_a_cached_run(project: Path, tmp_path: Path) -> None:
    before = _run(project, FileCache(tmp_path / "cache"))
    assert ("T002", "src/demo/templates/refs.html", 1) in locations(before)
    (project / "src/demo/templates/nowhere.html").write_text("<p>here</p>\n", "utf-8")
    after = _run(project, FileCache(tmp_path / "cache"))
    assert ("T002", "src/demo/templates/refs.html", 1) not in locations(after)
    assert _shown(after) == _shown(_run(project, FileCache(None)))


def test_a_new_rule_set_invalidates_every_entry(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(project, FileCache(tmp_path / "cache"))
    monkeypatch.setattr(filecache, "ruleset_fingerprint", lambda: "another webkit")
    again = FileCache(tmp_path / "cache")
    report = _run(project, again)
    assert again.hits == 0 and again.misses == report.files_checked
    assert _shown(report) == _shown(first)


def test_the_jinja_configuration_is_part_of_a_template_entry(project: Path, tmp_path: Path) -> None:
    before = _run(project, FileCache(tmp_path / "cache"))
    assert ("T001", "src/demo/templates/debugging.html", 1) in locations(before)
    (project / "pyproject.toml").write_text(
        PYPROJECT + '\n[tool.webkit.check]\njinja-extensions = ["jinja2.ext.debug"]\n', "utf-8"
    )
    after = _run(project, FileCache(tmp_path / "cache"))
    assert ("T001", "src/demo/templates/debugging.html", 1) not in locations(after)
    assert ("T001", "src/demo/templates/bad.html", 1) in locations(after)


def test_a_corrupt_entry_is_ignored(project: Path, tmp_path: Path) -> None:
    first = _run(project, FileCache(tmp_path / "cache"))
    entries = list((tmp_path / "cache").rglob("*.pickle"))
    assert len(entries) == first.files_checked
    for number, entry in enumerate(entries):
        # truncated, garbage, and a valid pickle of the wrong thing
        entry.write_bytes(
            [entry.read_bytes()[:20], b"\x80\x05garbage", b"\x80\x04K\x01."][number % 3]
        )
    again = FileCache(tmp_path / "cache")
    report = _run(project, again)
    assert again.hits == 0
    assert _shown(report) == _shown(first)


def test_the_process_pool_gives_the_same_findings(project: Path, tmp_path: Path) -> None:
    pooled = _run(project, FileCache(tmp_path / "pool"), pool_min=1)
    assert _shown(pooled) == _shown(_run(project, FileCache(None)))


def test_concurrent_runs_share_the_cache_without_corrupting_it(
    project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "shared"
    argv = [sys.executable, "-m", "webkit_cli", "check", "--no-import", "--format", "json"]
    env = {**__import__("os").environ, "WEBKIT_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert len(set(outputs)) == 1 and '"S001"' in outputs[0]
    assert not list(cache.rglob("*.tmp"))  # every write was renamed into place
    warm = FileCache(cache / "check")
    report = _run(project, warm)
    assert warm.misses == 0
    assert _shown(report) == _shown(_run(project, FileCache(None)))

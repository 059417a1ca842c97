"""The per-file cache: a cached run gives exactly the findings of a cold one, always."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.check.helpers import PYPROJECT, locations, make_project
from webkit_cli.check import filecache, run_check, runner
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


def _age(root: Path, seconds: int = 60) -> None:
    """Move every file's times into the past, as for files not saved just before a run
    (a signature recorded right after a save is not trusted: see ``RACY_NS``)."""
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            back = seconds * 1_000_000_000
            os.utime(path, ns=(st.st_atime_ns - back, st.st_mtime_ns - back))


def _index_files(cache: Path) -> list[Path]:
    return list((cache / "index").glob("*.pickle"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "demo", FINDINGS)


def test_a_cached_run_reports_exactly_what_a_cold_run_does(project: Path, tmp_path: Path) -> None:
    cold = _run(project, FileCache(None))
    first = FileCache(tmp_path / "cache")
    filled = _run(project, first)
    warm = FileCache(tmp_path / "cache")  # a new process: only the disk layer
    cached = _run(project, warm)
    # every file (the text ones too, for H001) is known: none is analysed again
    assert first.misses > cached.files_checked
    assert warm.misses == 0 and warm.hits == first.misses
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
    assert again.hits == 0 and again.misses > report.files_checked
    assert _shown(report) == _shown(first)


def test_another_webkit_version_invalidates_every_entry(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webkit_cli

    _age(project)
    first = _run(project, FileCache(tmp_path / "cache"))
    before = filecache.ruleset_fingerprint()
    monkeypatch.setattr(webkit_cli, "__version__", "99.0.0")
    filecache.ruleset_fingerprint.cache_clear()
    try:
        assert filecache.ruleset_fingerprint() != before
        again = FileCache(tmp_path / "cache")
        report = _run(project, again)
    finally:
        monkeypatch.undo()
        filecache.ruleset_fingerprint.cache_clear()
    assert again.hits == 0 and again.misses > report.files_checked
    assert _shown(report) == _shown(first)


def test_an_unchanged_file_is_not_read_again(project: Path, tmp_path: Path) -> None:
    _age(project)
    first = FileCache(tmp_path / "cache")
    filled = _run(project, first)
    assert first.reads == first.misses  # a cold run reads each file once
    warm = FileCache(tmp_path / "cache")
    cached = _run(project, warm)
    assert warm.reads == 0 and warm.misses == 0 and warm.hits == first.misses
    assert _shown(cached) == _shown(filled) == _shown(_run(project, FileCache(None)))
    # a save (same size, even the same mtime) changes the signature: read, found
    settings = project / "src/demo/settings.py"
    st = settings.stat()
    text = settings.read_text(encoding="utf-8").replace('"hunter2-hunter2"', 'os.getenv("KEY0")')
    settings.write_text(text, encoding="utf-8")
    os.utime(settings, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert settings.stat().st_size == st.st_size
    after = FileCache(tmp_path / "cache")
    report = _run(project, after)
    assert after.reads == 1 and after.misses == 1
    assert "S001" not in {code for code, *_ in _shown(report)}
    assert _shown(report) == _shown(_run(project, FileCache(None)))


def test_a_signature_taken_just_after_a_save_is_not_trusted(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two saves within one tick of the file system's clock can leave size, mtime and
    ctime equal; a signature recorded within RACY_NS of the last save is checked by
    content next time. (The test takes ctime and the inode out of the signature, as on a
    file system where they do not change, to leave only the racy-clean rule to catch it.)"""
    real = filecache.signature
    monkeypatch.setattr(filecache, "signature", lambda st: (*real(st)[:2], 0, 0, 0))
    settings = project / "src/demo/settings.py"
    st = settings.stat()
    assert ("S001", "src/demo/settings.py", 1) in locations(
        _run(project, FileCache(tmp_path / "cache"))
    )
    text = settings.read_text(encoding="utf-8").replace('"hunter2-hunter2"', 'os.getenv("KEY0")')
    settings.write_text(text, encoding="utf-8")
    os.utime(settings, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same tick
    again = FileCache(tmp_path / "cache")
    report = _run(project, again)
    assert again.reads > 0
    assert ("S001", "src/demo/settings.py", 1) not in locations(report)
    assert _shown(report) == _shown(_run(project, FileCache(None)))


def test_the_jinja_configuration_is_part_of_a_template_entry(project: Path, tmp_path: Path) -> None:
    before = _run(project, FileCache(tmp_path / "cache"))
    assert ("T001", "src/demo/templates/debugging.html", 1) in locations(before)
    (project / "pyproject.toml").write_text(
        PYPROJECT + '\n[tool.webkit.check]\njinja-extensions = ["jinja2.ext.debug"]\n', "utf-8"
    )
    after = _run(project, FileCache(tmp_path / "cache"))
    assert ("T001", "src/demo/templates/debugging.html", 1) not in locations(after)
    assert ("T001", "src/demo/templates/bad.html", 1) in locations(after)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda data: data[:20],  # truncated
        lambda data: b"\x80\x05garbage",
        lambda data: pickle.dumps(1),  # a valid pickle of the wrong thing
        lambda data: pickle.dumps({**pickle.loads(data), "results": {"k": "not a result"}}),
    ],
    ids=["truncated", "garbage", "wrong-type", "wrong-results"],
)
def test_a_corrupt_index_is_ignored(project: Path, tmp_path: Path, corrupt: object) -> None:
    first = _run(project, FileCache(tmp_path / "cache"))
    (index,) = _index_files(tmp_path / "cache")
    index.write_bytes(corrupt(index.read_bytes()))  # type: ignore[operator]
    again = FileCache(tmp_path / "cache")
    report = _run(project, again)
    assert again.hits == 0
    assert _shown(report) == _shown(first)
    # and it is rebuilt whole
    assert FileCache(tmp_path / "cache").index(project.resolve()).results


def test_an_entry_with_a_malformed_result_is_analysed_again(project: Path, tmp_path: Path) -> None:
    first = _run(project, FileCache(tmp_path / "cache"))
    (index,) = _index_files(tmp_path / "cache")
    data = pickle.loads(index.read_bytes())
    for result in data["results"].values():
        result.findings = {"x": ["not a finding"]}
    index.write_bytes(pickle.dumps(data))
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


def test_per_file_modules_register_only_per_file_checks() -> None:
    """A cached run does not import PER_FILE_MODULES: a project-wide check there would
    silently not run."""
    runner.load_rules()
    for chk in runner.default_checks():
        module = chk.func.__module__.rsplit(".", 1)[-1]
        assert module in runner.RULE_MODULES
        if module in runner.PER_FILE_MODULES:
            assert chk.per_file, f"{chk.func.__qualname__} of {module} is project-wide"


_WARM_RUN = """
import json, sys
from webkit_cli.commands.check import check_command
try:
    check_command.main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"jinja2", "rich"}
                        or m.startswith("webkit_cli.check.security") or m == "html.parser")))
"""


@pytest.mark.parametrize("options", [["--no-import"], []], ids=["no-import", "with-the-app"])
def test_a_cached_run_imports_neither_jinja_nor_rich_nor_the_per_file_rules(
    tmp_path: Path, options: list[str]
) -> None:
    clean = make_project(tmp_path / "clean")
    env = {**os.environ, "WEBKIT_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", _WARM_RUN, str(clean), *options]
    cold = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.splitlines()[0] == "All checks passed"
    assert "jinja2" in json.loads(cold.stdout.splitlines()[-1])  # a cold run parses
    warm = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.splitlines()[0] == "All checks passed"
    assert json.loads(warm.stdout.splitlines()[-1]) == []


def test_a_remembered_project_wide_finding_follows_the_files_it_came_from(
    tmp_path: Path,
) -> None:
    """S007 reads several files (a form, the template it includes, the code's protection)
    and is remembered whole: a change to any one of them is seen on the next cached run."""
    form = '{% extends "base.html" %}{% block body %}<form method="post">'
    form += '{% include "token.html" %}<button>go</button></form>{% endblock %}\n'
    root = make_project(
        tmp_path / "demo",
        {
            "src/demo/templates/form.html": form,
            "src/demo/templates/token.html": '<input name="csrf_token" value="{{ csrf_token() }}">',
        },
    )
    cache = tmp_path / "cache"
    assert "S007" not in {code for code, *_ in _shown(_run(root, FileCache(cache)))}
    (root / "src/demo/templates/token.html").write_text("<p>no token</p>\n", encoding="utf-8")
    report = _run(root, FileCache(cache))
    assert ("S007", "src/demo/templates/form.html", 1) in locations(report)
    assert _shown(report) == _shown(_run(root, FileCache(None)))
    # the protection comes from the code: without Flask-WTF it is S008, not S007
    init = (root / "src/demo/__init__.py").read_text(encoding="utf-8")
    init = (
        init.replace("from flask_wtf.csrf import CSRFProtect\n", "")
        .replace("csrf = CSRFProtect()\n", "")
        .replace("    csrf.init_app(app)\n", "")
    )
    (root / "src/demo/__init__.py").write_text(init, encoding="utf-8")
    report = _run(root, FileCache(cache))
    assert ("S008", "src/demo/templates/form.html", 1) in locations(report)
    assert _shown(report) == _shown(_run(root, FileCache(None)))


def test_runs_with_and_without_the_app_keep_their_own_remembered_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.check.helpers import check
    from webkit_cli.check import csrf

    root = make_project(tmp_path / "demo")
    computed: list[int] = []
    real = csrf._csrf_forms

    def counting(ctx: object) -> object:
        computed.append(1)
        return real(ctx)  # type: ignore[arg-type]

    monkeypatch.setattr(csrf, "_csrf_forms", counting)
    reports = [
        check(root, no_import=no_import, cache=FileCache(tmp_path / "cache"))
        for no_import in (False, True, False, True)
    ]
    assert len(computed) == 2  # once with the app, once without
    assert _shown(reports[2]) == _shown(reports[0]) and _shown(reports[3]) == _shown(reports[1])


@pytest.mark.parametrize("layout", ["src", "flat"])
def test_module_names_by_string_agree_with_module_name(tmp_path: Path, layout: str) -> None:
    from webkit_cli.check.context import _module_namer, module_name
    from webkit_cli.project import Project

    root = tmp_path / "proj"
    base = root / "src" if layout == "src" else root
    rels = [
        "pkg/__init__.py", "pkg/views.py", "pkg/sub/deep.py", "my-pkg/x.py", "pkg/a.b.py",
        "__init__.py", "top.py", ".py", "pkg/.hidden.py", "tests/test_x.py",
    ]  # fmt: skip
    paths = [base / rel for rel in rels] + [root / "outside.py", tmp_path / "elsewhere.py"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    project = Project(root=root)
    fast = _module_namer(project)
    assert [fast(p) for p in paths] == [module_name(project, p) for p in paths]


def test_every_module_that_registers_a_check_is_a_rule_module() -> None:
    """The runner imports RULE_MODULES by name (lazily): a rule module missing from the
    list would never register, and its rules would silently not run."""
    package = Path(runner.__file__).parent
    registering = {
        path.stem
        for path in package.glob("*.py")
        if "@register(" in path.read_text(encoding="utf-8") and path.stem != "registry"
    }
    assert registering and registering <= set(runner.RULE_MODULES)

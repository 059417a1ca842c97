"""``webkit update`` vs ``copier update`` on the same template, edits and versions.

The built-in ``site`` template as released (1.0.0, from ``project_templates/_releases``)
is put in two git repositories, one in webkit's format and one in copier's
(``copier.yml`` with the same variables, ``_subdirectory``, ``_skip_if_exists``, and the
answers file copier needs), each tagged v1.0.0. Both tools generate a project from
v1.0.0, the same local edits are committed to both (a new view, a changed stylesheet,
an edited README), then both templates get the same 2.0.0 release (a stylesheet rule, a
README line, a new module, a removed file, a renamed test) and each project is updated,
from the same committed state every run. Reported: median wall time of a whole
``webkit update --no-verify`` process and of ``copier update --defaults``, and whether
the two merged trees are the same. Target: webkit <= 0.5x copier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import REPO_ROOT, Result, bench_env, print_table, time_command, tool  # noqa: E402

ANSWERS = {
    "name": "proj",
    "package": "proj",
    "description": "A site",
    "author": "Bench Mark",
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.com",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.com",
}
COPIER_YML = """\
_subdirectory: template
_templates_suffix: .jinja
_skip_if_exists: [".env"]
name: {type: str, default: proj}
package: {type: str, default: proj}
description: {type: str, default: ""}
author: {type: str, default: ""}
year: {type: int, default: 2026, when: false}
secret_key: {type: str, default: "0000", when: false}
webkit_version: {type: str, default: "0", when: false}
template_name: {type: str, default: site, when: false}
template_version: {type: str, default: "1.0.0", when: false}
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def _release_site(into: Path) -> Path:
    from webkit_cli.update.releases import _extract_zip, archive_path

    path = archive_path("site", "1.0.0")
    assert path is not None
    _extract_zip(path, into)
    return into / "site"


def template_edits(files: Path) -> None:
    """The 2.0.0 release, applied to a ``files/`` (webkit) or ``template/`` (copier) tree."""
    pkg = files / "src" / "{{ package }}"
    css = pkg / "static" / "style.css"
    css.write_text(css.read_text() + "\n.notice {\n  border-left: 4px solid;\n}\n")
    readme = files / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nSee CHANGELOG.md for what changed.\n")
    (pkg / "health.py").write_text('"""Liveness."""\n\n\ndef ok() -> bool:\n    return True\n')
    (files / ".dockerignore").unlink()
    (files / "tests" / "test_session.py").rename(files / "tests" / "test_sessions.py")


def local_edits(project: Path) -> None:
    pkg = project / "src" / "proj"
    (pkg / "extra_views.py").write_text('"""My views."""\n\nNAME = "extra"\n')
    css = pkg / "static" / "style.css"
    text = css.read_text()
    css.write_text(text.replace(":root {", ":root {\n  --mine: purple;", 1))
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    lines[0] = lines[0].rstrip("\n") + " (my fork)\n"
    readme.write_text("".join(lines))


def setup(tmp: Path) -> tuple[Path, Path]:
    """Both template repositories at v1.0.0 and v2.0.0, and a project from each."""
    site = _release_site(tmp / "release")
    wk_repo, cp_repo = tmp / "wk-template", tmp / "cp-template"
    shutil.copytree(site, wk_repo / "site")
    (cp_repo).mkdir()
    shutil.copytree(site / "files", cp_repo / "template")
    (cp_repo / "copier.yml").write_text(COPIER_YML)
    (cp_repo / "template" / "{{ _copier_conf.answers_file }}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml -}}\n"
    )
    for repo in (wk_repo, cp_repo):
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "1.0.0")
        git(repo, "tag", "v1.0.0")
    env = bench_env()
    wk_project, cp_project = tmp / "wk" / "proj", tmp / "cp" / "proj"
    wk_project.parent.mkdir()
    cp_project.parent.mkdir()
    subprocess.run(
        [
            tool("webkit"),
            "new",
            "proj",
            "--template",
            str(wk_repo / "site"),
            "--no-input",
            "--description",
            ANSWERS["description"],
            "--author",
            ANSWERS["author"],
        ],
        cwd=wk_project.parent,
        check=True,
        capture_output=True,
        env=env,
    )
    data = [f"--data={k}={v}" for k, v in ANSWERS.items()]
    subprocess.run(
        [
            tool("copier"),
            "copy",
            "--defaults",
            "--vcs-ref",
            "v1.0.0",
            *data,
            str(cp_repo),
            str(cp_project),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    for project in (wk_project, cp_project):
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, "commit", "-qm", "new", "--allow-empty")
        local_edits(project)
        git(project, "add", "-A")
        git(project, "commit", "-qm", "local edits")
    # The 2.0.0 release of both.
    template_edits(wk_repo / "site" / "files")
    toml = wk_repo / "site" / "template.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    template_edits(cp_repo / "template")
    for repo in (wk_repo, cp_repo):
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "2.0.0")
        git(repo, "tag", "v2.0.0")
    return wk_project, cp_project


def _reset(project: Path) -> None:
    git(project, "reset", "-q", "--hard", "HEAD")
    git(project, "clean", "-qfdx")


def _tree(project: Path, skip: set[str]) -> dict[str, bytes]:
    out = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and ".git" not in path.relative_to(project).parts and rel not in skip:
            out[rel] = path.read_bytes()
    return out


def compare(wk_project: Path, cp_project: Path) -> list[str]:
    """Files whose merged content differs between the two tools (provenance aside)."""
    import re

    wk = _tree(wk_project, {".env"})
    cp = _tree(cp_project, {".env", ".copier-answers.yml"})
    provenance = re.compile(rb"\n\[tool\.webkit\.template\].*", re.S)
    wk["pyproject.toml"] = provenance.sub(b"\n", wk["pyproject.toml"])
    cp["pyproject.toml"] = provenance.sub(b"\n", cp["pyproject.toml"])
    wk["pyproject.toml"] = wk["pyproject.toml"].rstrip()
    cp["pyproject.toml"] = cp["pyproject.toml"].rstrip()
    return sorted(p for p in set(wk) | set(cp) if wk.get(p) != cp.get(p))


def run(quick: bool = False) -> list[Result]:
    repeat = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        wk_project, cp_project = setup(Path(tmp))
        webkit_argv = [tool("webkit"), "update", "--no-verify"]
        copier_argv = [tool("copier"), "update", "--defaults", "--conflict", "inline"]
        wk_ms = time_command(
            webkit_argv,
            repeat=repeat,
            warmup=1,
            cwd=wk_project,
            before=lambda: _reset(wk_project),
        )
        cp_ms = time_command(
            copier_argv,
            repeat=repeat,
            warmup=1,
            cwd=cp_project,
            before=lambda: _reset(cp_project),
        )
        _reset(wk_project)
        _reset(cp_project)
        subprocess.run(webkit_argv, cwd=wk_project, capture_output=True, env=bench_env())
        subprocess.run(copier_argv, cwd=cp_project, capture_output=True, env=bench_env())
        differing = compare(wk_project, cp_project)
        _reset(wk_project)
        verify_ms = time_command(
            [tool("webkit"), "update"],
            repeat=3 if quick else 5,
            warmup=0,
            cwd=wk_project,
            before=lambda: _reset(wk_project),
        )
    note = "same merged files" if not differing else "differ: " + ", ".join(differing)
    return [
        Result(
            "webkit update (site, 2 local edits)",
            "ms",
            wk_ms,
            "copier update",
            cp_ms,
            "<= 0.5x",
            note,
        ),
        Result(
            "webkit update with verification",
            "ms",
            verify_ms,
            "copier update",
            cp_ms,
            "(reported)",
            "runs the project's tests and webkit check first",
        ),
    ]


if __name__ == "__main__":
    del REPO_ROOT
    print_table(run(quick="--quick" in sys.argv))

"""``webkit new`` vs cookiecutter rendering the same template, whole process.

The built-in ``site`` template is converted on the fly into cookiecutter's format
(``cookiecutter.json`` + a ``{{cookiecutter.name}}/`` tree, variables written
``{{ cookiecutter.x }}``, the files webkit copies verbatim listed in
``_copy_without_render``), so both tools render the same ``.jinja`` files and copy the
same plain files. Without the site template (or with ``--synthetic``) a 20-file
template is generated instead. Target: webkit <= 0.5x cookiecutter.

webkit keeps compiled templates in Jinja's bytecode cache (``WEBKIT_CACHE_DIR``, pointed
at a temporary folder here): the main figures are with a warm cache (every run after the
first on a machine), and a "cold cache" figure empties it before each run (the first
``webkit new`` of a template, or after editing every file of it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import REPO_ROOT, Result, print_table, tool  # noqa: E402

CONTEXT = {
    "name": "demo",
    "package": "demo",
    "description": "A demo project",
    "author": "Bench Mark",
    "year": 2026,
    "secret_key": "0" * 64,
    "webkit_version": "0",
    "template_name": "site",
    "template_version": "1.0.0",
}
_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.S)


Run = tuple[list[str], Callable[[], None]]


def _run_once(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from wait4) of one run, in ms."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with exit code {proc.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def time_pair(
    a: Run, b: Run, *, repeat: int, warmup: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median (wall, CPU) ms of two commands run alternately, so load spikes hit both.

    CPU time is reported too: on a busy machine it moves far less than wall time.
    """
    walls: tuple[list[float], list[float]] = ([], [])
    cpus: tuple[list[float], list[float]] = ([], [])
    for i in range(warmup + repeat):
        for side, (argv, before) in enumerate((a, b)):
            before()
            wall, cpu = _run_once(argv)
            if i >= warmup:
                walls[side].append(wall)
                cpus[side].append(cpu)
    med = statistics.median
    return (med(walls[0]), med(cpus[0])), (med(walls[1]), med(cpus[1]))


def synthetic_template(root: Path) -> Path:
    """A 20-file template: 10 rendered files, 10 copied ones."""
    files = root / "files"
    pkg = files / "src" / "{{ package }}"
    pkg.mkdir(parents=True)
    (root / "template.toml").write_text(
        '[template]\nname = "bench"\nversion = "1.0.0"\ndescription = "bench"\n'
    )
    (files / "pyproject.toml.jinja").write_text(
        '[project]\nname = "{{ name }}"\nversion = "0.1.0"\n\n[tool.webkit]\n'
        'app = "{{ package }}:create_app"\n'
    )
    for i in range(9):
        (pkg / f"module{i}.py.jinja").write_text(
            f'"""Module {i} of {{{{ name }}}} by {{{{ author }}}}."""\n' * 20
        )
    for i in range(10):
        (pkg / f"static{i}.css").write_text("body { color: black; }\n" * 40)
    return root


def to_cookiecutter(template: Path, dest: Path) -> Path:
    """Write ``template`` (webkit's format) as an equivalent cookiecutter template: its own
    files over its bases' (``extends``), and its partials in ``templates/`` beside the project
    folder, where cookiecutter's loader finds an ``{% include %}``."""
    from webkit_cli.scaffold.template import load_template

    tpl = load_template(template)

    def convert(text: str) -> str:
        def fix_tag(m: re.Match[str]) -> str:
            tag = m.group(0)
            for var in CONTEXT:
                tag = re.sub(rf"(?<![.\w]){var}\b", f"cookiecutter.{var}", tag)
            return tag.replace("| toml", "| tojson")

        return _TAG.sub(fix_tag, text)

    dest.mkdir(parents=True)
    (dest / "cookiecutter.json").write_text("{}")  # filled below
    top = dest / "{{cookiecutter.name}}"
    verbatim: list[str] = []
    written: set[str] = set()
    for files in tpl.files_dirs:  # own first: a base's file of the same output path is shadowed
        for src in sorted(files.rglob("*")):
            if src.is_dir():
                continue
            rel = convert(src.relative_to(files).as_posix())
            output = rel.removesuffix(".jinja")
            if output in written:
                continue
            written.add(output)
            out = top / output
            out.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".jinja"):
                out.write_text(convert(src.read_text()))
            else:
                out.write_bytes(src.read_bytes())
                verbatim.append(rel)
    for folder in reversed(tpl.include_dirs):  # the nearest partial of a name written last
        if folder.name == "partials":
            for src in sorted(folder.rglob("*")):
                if src.is_file():
                    out = dest / "templates" / src.relative_to(folder)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(convert(src.read_text()))
    # cookiecutter renders every file unless told not to; webkit copies non-.jinja files.
    config = {**CONTEXT, "_copy_without_render": verbatim}
    (dest / "cookiecutter.json").write_text(json.dumps(config, indent=2))
    return dest


def _allow_bytecode() -> None:
    """Measure as installed: with .pyc files (the warm-up runs write them for a checkout).

    With PYTHONDONTWRITEBYTECODE set, an editable install recompiles webkit's modules on
    every run while the anchors' site-packages already have their .pyc from pip.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def run(quick: bool = False, synthetic: bool = False) -> list[Result]:
    _allow_bytecode()
    saved = os.environ.get("WEBKIT_CACHE_DIR")
    try:
        return _run(quick, synthetic)
    finally:  # the temporary cache folder is gone: later benchmarks use the user's
        if saved is None:
            os.environ.pop("WEBKIT_CACHE_DIR", None)
        else:
            os.environ["WEBKIT_CACHE_DIR"] = saved


def _run(quick: bool, synthetic: bool) -> list[Result]:
    repeat = 5 if quick else 20
    site = REPO_ROOT / "project_templates" / "site"
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if synthetic or not (site / "template.toml").is_file():
            template = synthetic_template(base / "webkit-template")
            label = "20-file synthetic template"
        else:
            template = site
            label = "site template"
        cc_template = to_cookiecutter(template, base / "cc-template")
        out_webkit = base / "out-webkit"
        out_cc = base / "out-cc"
        out_webkit.mkdir()
        out_cc.mkdir()

        cache = base / "webkit-cache"
        os.environ["WEBKIT_CACHE_DIR"] = str(cache)

        def clean_webkit() -> None:
            shutil.rmtree(out_webkit / "demo", ignore_errors=True)

        def clean_webkit_cold() -> None:
            clean_webkit()
            shutil.rmtree(cache, ignore_errors=True)

        def clean_cc() -> None:
            shutil.rmtree(out_cc / "demo", ignore_errors=True)

        webkit_argv = [tool("webkit"), "new", "demo", "-t", str(template), "--dir", str(out_webkit)]
        webkit_argv += ["--no-input", "--no-install", "--no-git", "--author", "Bench Mark"]
        cc_argv = [tool("cookiecutter"), "--no-input", "-o", str(out_cc), str(cc_template)]
        (webkit, webkit_cpu), (cc, cc_cpu) = time_pair(
            (webkit_argv, clean_webkit), (cc_argv, clean_cc), repeat=repeat, warmup=3
        )
        (webkit_cold, webkit_cold_cpu), (cc2, cc2_cpu) = time_pair(
            (webkit_argv, clean_webkit_cold), (cc_argv, clean_cc), repeat=repeat, warmup=1
        )
        # Sanity: both produced the same set of files.
        webkit_files = {p.relative_to(out_webkit).as_posix() for p in out_webkit.rglob("*")}
        cc_files = {p.relative_to(out_cc).as_posix() for p in out_cc.rglob("*")}
        if webkit_files != cc_files:
            raise SystemExit(f"outputs differ: {sorted(webkit_files ^ cc_files)}")
        count = sum(1 for p in out_webkit.rglob("*") if p.is_file())
    return [
        Result(
            "webkit new (whole process)",
            "ms",
            webkit,
            "cookiecutter",
            cc,
            "<= 0.5x",
            note=f"{label}, {count} files",
        ),
        Result(
            "webkit new (CPU time, user+sys)",
            "ms",
            webkit_cpu,
            "cookiecutter",
            cc_cpu,
            "<= 0.5x",
            note=f"{label}, {count} files",
        ),
        Result(
            "webkit new, cold Jinja cache (whole process)",
            "ms",
            webkit_cold,
            "cookiecutter",
            cc2,
            "<= 0.5x",
            note=f"{label}, first run: every file compiled",
        ),
        Result(
            "webkit new, cold Jinja cache (CPU time)",
            "ms",
            webkit_cold_cpu,
            "cookiecutter",
            cc2_cpu,
            "<= 0.5x",
            note=f"{label}, first run: every file compiled",
        ),
    ]


if __name__ == "__main__":
    results = run(quick="--quick" in sys.argv)
    if "--synthetic" in sys.argv or "--both" in sys.argv:
        results += run(quick="--quick" in sys.argv, synthetic=True)
    print_table(results)

"""``webkit check`` on each generated project and on a 200-template, 200-module project.

Anchor: ``flask routes`` on the same project, whole process. Any linter that checks
``url_for`` targets and route conflicts against the real app must pay what ``flask
routes`` pays (Python start-up, importing Flask and the project, running the factory),
so the ratio is exactly what webkit's static analysis of every file and template adds
on top. (``ruff check`` was considered and not used: it is a Rust binary that never
imports the app, so a ratio to it measures the Python interpreter, not webkit.)
A row with the in-process time of ``run_check`` shows the analysis without start-up, and
one compares the full run with ``--no-import`` (the app is imported in a child process
while the parent parses, so the two should be close).

Target: the generated projects stay well under a second, whole process.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import REPO_ROOT, Result, print_table, tool  # noqa: E402

TEMPLATES = ("site", "api", "ajax")
N_MODULES = 200
N_TEMPLATES = 200


def _generate(parent: Path, template: str) -> Path:
    name = f"bench{template}"
    subprocess.run(
        [tool("webkit"), "new", name, "-t", template, "--dir", str(parent),
         "--no-input", "--no-install", "--no-git"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return parent / name


def _synthetic(root: Path) -> Path:
    """200 view modules (a blueprint, two routes, url_for calls) and 200 templates."""
    pkg = root / "src" / "big"
    (pkg / "views").mkdir(parents=True)
    (pkg / "templates").mkdir()
    (pkg / "static").mkdir()
    (pkg / "static" / "app.css").write_text("body{}\n", encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "big"\n\n[tool.webkit]\napp = "big:create_app"\n', encoding="utf-8"
    )
    imports = "\n".join(f"    from big.views import v{i}" for i in range(N_MODULES))
    registers = "\n".join(f"    app.register_blueprint(v{i}.bp)" for i in range(N_MODULES))
    (pkg / "__init__.py").write_text(
        "from flask import Flask\n\n\ndef create_app(config=None):\n"
        "    app = Flask(__name__)\n    app.config.update(config or {})\n"
        f"{imports}\n{registers}\n    return app\n",
        encoding="utf-8",
    )
    (pkg / "views" / "__init__.py").write_text("", encoding="utf-8")
    for i in range(N_MODULES):
        (pkg / "views" / f"v{i}.py").write_text(
            "from flask import Blueprint, render_template, url_for\n\n"
            f'bp = Blueprint("v{i}", __name__, url_prefix="/v{i}")\n\n\n'
            '@bp.route("/")\ndef index():\n'
            f'    return render_template("page{i}.html")\n\n\n'
            '@bp.route("/<int:item_id>")\ndef item(item_id):\n'
            '    return url_for(".index") + url_for(".item", item_id=item_id)\n',
            encoding="utf-8",
        )
    (pkg / "templates" / "base.html").write_text(
        "<!doctype html><html><head><link rel=stylesheet "
        "href=\"{{ url_for('static', filename='app.css') }}\"></head>"
        "<body>{% block body %}{% endblock %}</body></html>\n",
        encoding="utf-8",
    )
    for i in range(N_TEMPLATES):
        (pkg / "templates" / f"page{i}.html").write_text(
            '{% extends "base.html" %}\n{% block body %}\n'
            f"<h1>Page {i}</h1>\n"
            f"<a href=\"{{{{ url_for('v{i}.item', item_id=1) }}}}\">item</a>\n"
            "{% for x in items %}<p>{{ x.name }}</p>{% endfor %}\n"
            '<form method="get" action="/search"><input name="q"></form>\n'
            "{% endblock %}\n",
            encoding="utf-8",
        )
    return root


def _assert_clean(root: Path) -> None:
    """A benchmark of a run that fails early would flatter webkit: insist on a clean pass."""
    proc = subprocess.run(
        [tool("webkit"), "check", "--format", "json"], cwd=root, capture_output=True, text=True
    )
    if proc.returncode != 0 or '"total": 0' not in proc.stdout:
        raise SystemExit(f"webkit check is not clean on {root}:\n{proc.stdout}{proc.stderr}")


def _alternating(
    a: list[str], b: list[str], *, repeat: int, cwd: Path, env_b: dict[str, str]
) -> tuple[float, float]:
    """Median ms of ``a`` and ``b``, run in turn: a load spike on a shared machine hits both."""
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(repeat + 1):
        for argv, env, out in ((a, None, samples[0]), (b, env_b, samples[1])):
            start = time.perf_counter()
            subprocess.run(
                argv, cwd=cwd, env={**os.environ, **(env or {})},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            if i:  # the first round warms the file cache
                out.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


def _in_process_ms(root: Path, repeat: int) -> float:
    sys.path.insert(0, str(REPO_ROOT))
    from webkit_cli.check import run_check

    samples = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        run_check(root)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples[1:])  # the first run pays for imports


def run(quick: bool = False) -> list[Result]:
    repeat = 3 if quick else 15
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        parent = Path(tmp)
        projects = {t: _generate(parent, t) for t in TEMPLATES}
        projects["200 templates + 200 modules"] = _synthetic(parent / "big")
        for label, root in projects.items():
            _assert_clean(root)
            env = {"PYTHONPATH": str(root / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
            app = "big:create_app" if label.startswith("200") else f"bench{label}:create_app"
            webkit, flask = _alternating(
                [tool("webkit"), "check"],
                [tool("flask"), "--app", app, "routes"],
                repeat=repeat,
                cwd=root,
                env_b=env,
            )
            results.append(
                Result(
                    f"webkit check, {label} (whole process)", "ms", webkit,
                    "flask routes", flask, "< 1000 ms" if label in TEMPLATES else "-",
                )
            )  # fmt: skip
        big = projects["200 templates + 200 modules"]
        # The app is imported in a child process while the parent parses: the full run
        # should cost about max(import, parse), not their sum; --no-import shows the parse.
        full, static = _alternating(
            [tool("webkit"), "check"],
            [tool("webkit"), "check", "--no-import"],
            repeat=repeat,
            cwd=big,
            env_b={},
        )
        results.append(
            Result(
                "webkit check, 200 + 200, app imported in its child", "ms", full,
                "webkit check --no-import", static, "-",
                note="the ratio is what the app import adds beside the parse",
            )
        )  # fmt: skip
        results.append(
            Result(
                "run_check() in process, 200 + 200", "ms", _in_process_ms(big, repeat),
                "-", None, "-", note="analysis only, no start-up",
            )
        )  # fmt: skip
    return results


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))

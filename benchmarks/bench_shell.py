"""``webkit shell -c 'pass'`` vs ``flask shell`` (stdin closed), whole process.

Both open a shell on the same freshly generated ``api`` project (Flask, SQLAlchemy 2
models) and leave at once: webkit runs ``-c 'pass'``; ``flask shell`` reads end-of-file
from a closed stdin, so ``code.interact`` returns immediately. webkit does more (it parses
the project for models and imports them); flask's shell only holds ``app`` and ``g``.
Target (DESIGN.md): webkit <= 0.3x flask. Measured alternately (see bench_new.time_pair
for the method), wall and CPU time.

``--profile`` also prints ``-X importtime``'s ten slowest imports of each side.
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

from _harness import Result, bench_env, print_table, tool  # noqa: E402


def _run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed in {cwd}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def _project(parent: Path) -> Path:
    subprocess.run(
        [tool("webkit"), "new", "shop", "-t", "api", "--no-input", "--no-install", "--no-git"],
        cwd=parent,
        check=True,
        stdout=subprocess.DEVNULL,
        env=bench_env(),
    )
    return parent / "shop"


def _slowest_imports(argv: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line[12:].split("|"))
            if not name.startswith(" "):
                rows.append((int(cumulative), name))
    rows.sort(reverse=True)
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in rows[:10]]


# Runs in a fresh interpreter: imports what the dev server's warm process would (the
# project's third-party imports, found as webkit_cli.server._imports finds them), then
# forks one shell per sample and times fork -> `-c 'pass'` done, as a `webkit shell` forked
# from `webkit run`'s warm process would be. Not wired to the server yet: a simulation.
_FORKED = """
import os, statistics, sys, time
from pathlib import Path
root = Path(sys.argv[1]); repeat = int(sys.argv[2])
from webkit_cli.project import find_project
from webkit_cli.server import _imports
project = find_project(root)
own = _imports.own_top_level_names(project.source_dirs)
for name in sorted(_imports.imported_names(_imports.project_python_files(root))):
    if name.split(".")[0] not in own:
        try:
            __import__(name)
        except Exception:
            pass
import webkit_cli.shell, webkit_cli.project, click
samples = []
for _ in range(repeat):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        from webkit_cli import shell
        from webkit_cli.project import ProjectContext
        ctx = ProjectContext.from_options(project_dir=root)
        app = ctx.load_app()
        with app.app_context():
            ns = shell.build_namespace(app, shell.find_models(ctx.project.source_dirs))
            code = shell.run_command("pass", ns.names)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    samples.append((time.perf_counter() - start) * 1000)
print(statistics.median(samples))
"""


def _forked_from_warm(project: Path, repeat: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _FORKED, str(project), str(repeat)],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def run(quick: bool = False) -> list[Result]:
    repeat = 5 if quick else 20
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp))
        env = bench_env({"NO_COLOR": "1", "WEBKIT_CACHE_DIR": str(Path(tmp) / "cache")})
        flask_env = {**env, "FLASK_APP": "shop:create_app", "PYTHONPATH": str(project / "src")}
        webkit = [tool("webkit"), "shell", "-c", "pass"]
        flask = [tool("flask"), "shell"]
        samples: dict[str, tuple[list[float], list[float]]] = {
            "webkit": ([], []),
            "flask": ([], []),
        }
        for i in range(2 + repeat):
            for side, argv, side_env in (("webkit", webkit, env), ("flask", flask, flask_env)):
                wall, cpu = _run_once(argv, project, side_env)
                if i >= 2:
                    samples[side][0].append(wall)
                    samples[side][1].append(cpu)
        forked = _forked_from_warm(project, repeat, env)
        if "--profile" in sys.argv:
            for label, argv, side_env in (
                ("webkit", ["-m", "webkit_cli", "shell", "-c", "pass"], env),
                ("flask", ["-m", "flask", "shell"], flask_env),
            ):
                print(f"slowest imports, {label}:", file=sys.stderr)
                for row in _slowest_imports(argv, project, side_env):
                    print("  " + row, file=sys.stderr)
    med = statistics.median
    return [
        Result(
            "webkit shell -c pass (api project)",
            "ms",
            med(samples["webkit"][0]),
            "flask shell",
            med(samples["flask"][0]),
            "<= 0.3x",
        ),
        Result(
            "webkit shell -c pass (CPU time)",
            "ms",
            med(samples["webkit"][1]),
            "flask shell",
            med(samples["flask"][1]),
            "<= 0.3x",
        ),
        Result(
            "shell forked from a warm process (simulated, not wired to webkit run)",
            "ms",
            forked,
            "flask shell",
            med(samples["flask"][0]),
            "<= 0.3x",
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))

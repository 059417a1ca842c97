"""``webkit shell -c 'print(app.name)'`` vs ``flask shell`` fed the same line, whole process.

On two projects: the generated ``site`` (``webkit new -t site``) and the large synthetic
one of ``bench_reload_large`` (≈ 165 modules, SQLAlchemy models, 60 blueprints). For each,
alternately, one sample at a time (median of N):

* ``webkit shell`` with a ``webkit run`` of the project running: forked from its warm
  process (the libraries imported; the shell imports the project and calls the factory);
* the same once the run has built its layer (after one save: the unchanged modules are
  imported too; the shell imports what changed and calls the factory);
* ``webkit shell --no-warm``: what it does without a run (imports everything itself);
* ``flask shell`` with ``print(app.name)`` on stdin.

Each webkit side is checked once for who served it (the shell's parent pid against the
run's socket names). Target (DESIGN.md): webkit ≤ 0.3× ``flask shell``.

    python benchmarks/bench_shell.py [--quick] [--markdown]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, bench_env, markdown_table, print_table, tool  # noqa: E402
from bench_reload import (  # noqa: E402
    Project,
    Running,
    free_port,
    get,
    has_marker,
    make_project,
    set_marker,
    wait_up,
)
from bench_reload_large import make_large_project  # noqa: E402

CODE = "print(app.name)"


def _once(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip
    wall = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed in {cwd}:\n{proc.stderr}")
    return wall


def _pids(root: Path, role: str) -> list[int]:
    from webkit_cli.server import _shellsock

    directory = _shellsock.runtime_dir(create=False)
    if directory is None:
        return []
    return [pid for r, pid, _ in _shellsock.candidates(directory, root) if r == role]


def _wait_for(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _answers(port: int, n: int) -> bool:
    try:
        return has_marker(get(port)[1], n)
    except OSError:
        return False


def _served_by(project: Project, env: dict[str, str]) -> int:
    out = subprocess.run(
        [tool("webkit"), "shell", "-c", "import os; print(os.getppid())"],
        cwd=project.root, env=env, capture_output=True, text=True, check=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return int(out.stdout.strip())


def _measure(project: Project, package: str, repeat: int, tmp: Path) -> list[Result]:
    runtime = Path(tempfile.mkdtemp(prefix="wkb"))
    env = bench_env({"NO_COLOR": "1", "XDG_RUNTIME_DIR": str(runtime)})
    env.pop("PYTHONSTARTUP", None)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)  # for _pids, in this process
    flask_env = {**env, "FLASK_APP": project.app, "PYTHONPATH": project.pythonpath}
    webkit = [tool("webkit"), "shell", "-c", CODE]
    sides: dict[str, tuple[list[str], dict[str, str], str | None]] = {
        "fallback": ([*webkit, "--no-warm"], env, None),
        "flask": ([tool("flask"), "shell"], flask_env, CODE + "\n"),
    }
    port = free_port()
    server = Running(
        [tool("webkit"), "run", "--port", str(port)], project, tmp / f"{package}-run.log"
    )
    samples: dict[str, list[float]] = {}
    try:
        wait_up(port, server.proc, timeout=120)
        _wait_for(lambda: _pids(project.root, "warm"), "the warm process's socket")
        (warm,) = _pids(project.root, "warm")
        assert _served_by(project, env) == warm, "not served by the warm process"

        def run_round(names: list[str], rounds: int) -> None:
            for i in range(2 + rounds):
                for name in names:
                    argv, side_env, stdin = sides.get(name, (webkit, env, None))
                    wall = _once(argv, project.root, side_env, stdin)
                    if i >= 2:
                        samples.setdefault(name, []).append(wall)

        run_round(["warm", "fallback", "flask"], repeat)
        # One save: the run reloads, then builds its layer, which then serves shells.
        set_marker(project, 1)
        _wait_for(lambda: _answers(port, 1), "the reload")
        _wait_for(lambda: _pids(project.root, "layer"), "the layer's socket")
        (layer,) = _pids(project.root, "layer")
        assert _served_by(project, env) == layer, "not served by the layer"
        run_round(["layer", "flask"], repeat)
    finally:
        server.stop()
        shutil.rmtree(runtime, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in samples.items()}
    flask = med["flask"]
    where = project.kind
    return [
        Result(
            f"webkit shell -c, webkit run's warm process ({where})",
            "ms", med["warm"], "flask shell", flask, "<= 0.3x",
        ),
        Result(
            f"webkit shell -c, webkit run's layer, after a save ({where})",
            "ms", med["layer"], "flask shell", flask, "<= 0.3x",
        ),
        Result(
            f"webkit shell -c --no-warm, no run ({where})",
            "ms", med["fallback"], "flask shell", flask, "(today's fallback)",
        ),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Result]:
    repeat = 5 if quick else 15
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "site").mkdir()
        (base / "large").mkdir()
        site = make_project(base / "site")
        results += _measure(site, "site", repeat, base)
        large = make_large_project(base / "large")
        results += _measure(large, "large", repeat, base)
    return results


if __name__ == "__main__":
    figures = run(quick="--quick" in sys.argv)
    print_table(figures)
    if "--markdown" in sys.argv:
        print(markdown_table(figures))

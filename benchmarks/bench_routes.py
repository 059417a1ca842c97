"""``webkit routes`` vs ``flask routes`` on a generated 5000-route app, whole process.

The app has 50 blueprints of 100 routes each, with a mix of converters (int, string,
path, uuid, float, any) and methods, a few decorated views and class-based views.
Both commands import the same app and print to a pipe; the import dominates, so the
ratio shows what webkit's extra work (source locations, conflict analysis, layout)
costs. Target: <= 1.05x. Both wall time and the child's CPU time are reported, each
the best of N alternating runs: other work on the machine only ever adds time, so
the minimum is the steadiest estimate, and CPU time is steadier than wall time.

python benchmarks/bench_routes.py [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, markdown_table, print_table, tool  # noqa: E402

BLUEPRINTS = 50
READY_MARK = "webkit-bench-app-ready"
ROUTES_PER_BLUEPRINT = 100

_RULES = (
    ("/items/<int:item_id>", ("GET",), "item_id"),
    ("/items/<int:item_id>/edit", ("GET", "POST"), "item_id"),
    ("/pages/<path:page>", ("GET",), "page"),
    ("/users/<uuid:user_id>", ("GET", "PUT", "DELETE"), "user_id"),
    ("/tags/<string:tag>", ("GET",), "tag"),
    ("/price/<float:amount>", ("GET",), "amount"),
    ("/kind/<any(a, b, c):kind>", ("GET", "PATCH"), "kind"),
    ("/list", ("GET", "POST"), None),
)


def _blueprint_module(index: int) -> str:
    lines = [
        "import functools",
        "from flask import Blueprint",
        "from flask.views import MethodView",
        "",
        f'bp = Blueprint("bp{index:02d}", __name__, url_prefix="/bp{index:02d}")',
        "",
        "",
        "def logged(view):",
        "    @functools.wraps(view)",
        "    def wrapper(*args, **kwargs):",
        "        return view(*args, **kwargs)",
        "    return wrapper",
        "",
    ]
    for n in range(ROUTES_PER_BLUEPRINT - 2):
        rule, methods, arg = _RULES[n % len(_RULES)]
        methods_list = ", ".join(f'"{m}"' for m in methods)
        params = arg or ""
        lines += [
            "",
            f'@bp.route("/r{n}{rule}", methods=[{methods_list}])',
            *(["@logged"] if n % 7 == 0 else []),
            f"def view_{n}({params}):",
            f'    return "view {n}"',
        ]
    lines += [
        "",
        "",
        "class Things(MethodView):",
        "    def get(self, thing_id=None):",
        '        return "list" if thing_id is None else "one"',
        "",
        "    def post(self):",
        '        return "made"',
        "",
        "",
        'things = Things.as_view("things")',
        'bp.add_url_rule("/things/", defaults={"thing_id": None}, view_func=things, '
        'methods=["GET"])',
        'bp.add_url_rule("/things/", view_func=things, methods=["POST"], endpoint="things_new")',
        "",
    ]
    return "\n".join(lines)


def generate_app(root: Path) -> str:
    """Write the package ``benchapp`` under ``root``; returns its import string."""
    package = root / "benchapp"
    package.mkdir(parents=True, exist_ok=True)
    for i in range(BLUEPRINTS):
        (package / f"bp{i:02d}.py").write_text(_blueprint_module(i), encoding="utf-8")
    imports = "\n".join(
        f"from benchapp.bp{i:02d} import bp as bp{i:02d}" for i in range(BLUEPRINTS)
    )
    registers = "\n".join(f"    app.register_blueprint(bp{i:02d})" for i in range(BLUEPRINTS))
    (package / "__init__.py").write_text(
        "import sys\n"
        "import time\n\n"
        "from flask import Flask\n"
        f"{imports}\n\n\n"
        "def create_app():\n"
        "    app = Flask(__name__)\n"
        f"{registers}\n"
        "    # The benchmark subtracts this from the process's CPU time: what is left is\n"
        "    # what the tool did with the app (and its exit), the import being the same.\n"
        f"    print('{READY_MARK}', time.process_time() * 1000, file=sys.stderr)\n"
        "    return app\n",
        encoding="utf-8",
    )
    return "benchapp:create_app"


def _measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall ms, CPU ms of the child (user + system), CPU ms after its app was built)."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{argv} exited with {process.returncode}:\n{stderr}")
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    ready = next(
        float(line.split()[1]) for line in stderr.splitlines() if line.startswith(READY_MARK)
    )
    return wall, cpu, cpu - ready


# Run in a child process: import the app once, then time what each tool does with it.
_OWN_WORK = """
import contextlib, gc, io, sys, time
sys.path.insert(0, sys.argv[1])
import benchapp
from flask.cli import routes_command
from webkit_cli.routes import build_table, collect_routes, find_problems, problems_for
from webkit_cli.routes import PathDisplay, select_routes
app = benchapp.create_app()
gc.freeze()

def flask_routes():
    # The command body itself (with_appcontext needs a click context around it).
    with app.app_context(), contextlib.redirect_stdout(io.StringIO()):
        routes_command.callback.__wrapped__(sort="endpoint", all_methods=False)

def webkit_routes():
    routes = collect_routes(app)
    problems = find_problems(app, routes)
    shown = select_routes(routes)
    problems_for(problems, shown)
    table = build_table(shown, total=len(routes), fit=False, paths=PathDisplay(sys.argv[1]))
    io.StringIO().write(table.plain())

best = {}
for _ in range(int(sys.argv[2])):
    for name, work in (("flask", flask_routes), ("webkit", webkit_routes)):
        start = time.process_time()
        work()
        spent = (time.process_time() - start) * 1000
        best[name] = min(best.get(name, spent), spent)
print(best["webkit"], best["flask"])
"""


def _own_work(root: Path, repeat: int) -> tuple[float, float]:
    """(webkit, flask) CPU ms of the work after the app import, best of ``repeat``."""
    out = subprocess.run(
        [sys.executable, "-c", _OWN_WORK, str(root), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def run(quick: bool = False, keep: Path | None = None) -> list[Result]:
    repeat = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="webkit-bench-routes-") as tmp:
        root = keep or Path(tmp)
        target = generate_app(root)
        # The 5000-route import takes 4 s of CPU and over 20 s of wall time on a loaded
        # machine: no import timeout, as flask has none.
        env = {**os.environ, "NO_COLOR": "1", "WEBKIT_IMPORT_TIMEOUT": "3600"}
        flask = [tool("flask"), "--app", target, "routes"]
        webkit = [tool("webkit"), "routes", "--app", target]
        results = []
        # FORCE_COLOR: webkit renders for a colour terminal (rich, styles, hyperlinks)
        # although its stdout is a pipe; flask routes has no colour mode to compare.
        colour = {**env, "FORCE_COLOR": "1", "COLUMNS": "200"}
        colour.pop("NO_COLOR")
        variants = (
            ("", [], env),
            (" --all-methods", ["--all-methods"], env),
            (" (webkit in colour)", [], colour),
        )
        for label, extra, webkit_env in variants:
            _measure(flask + extra, root, env)  # warm-up: bytecode caches, page cache
            _measure(webkit + extra, root, webkit_env)
            samples: dict[str, list[tuple[float, float, float]]] = {"flask": [], "webkit": []}
            # Alternate the two commands so that load from elsewhere hits both alike.
            for _ in range(repeat):
                samples["flask"].append(_measure(flask + extra, root, env))
                samples["webkit"].append(_measure(webkit + extra, root, webkit_env))
            kinds = ((1, "CPU time"), (0, "wall time"), (2, "CPU time after the app is built"))
            for index, kind in kinds:
                results.append(
                    Result(
                        name=f"routes, 5000-route app{label}, {kind}",
                        unit="ms",
                        webkit=min(s[index] for s in samples["webkit"]),
                        anchor_name="flask routes",
                        anchor=min(s[index] for s in samples["flask"]),
                        target="<= 1.05x",
                        note=f"{BLUEPRINTS} blueprints, whole process, best of {repeat}",
                    )
                )
        webkit_ms, flask_ms = _own_work(root, 5 if quick else 15)
        results.append(
            Result(
                name="routes, work after the app import (in-process, CPU time)",
                unit="ms",
                webkit=webkit_ms,
                anchor_name="flask routes",
                anchor=flask_ms,
                target="informative",
                note="webkit: model + problems + table; flask: its routes command",
            )
        )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--keep", type=Path, help="generate the app here and keep it")
    args = parser.parse_args()
    results = run(quick=args.quick, keep=args.keep)
    print_table(results)
    print(markdown_table(results))


if __name__ == "__main__":
    main()

"""Save → new code on a large project: webkit (layered), webkit without the layer,
``flask run --reload`` and ``uvicorn --reload``, side by side in one run.

The project is generated here: ``bigsite`` with SQLAlchemy models, services that compile
regular expressions and build tables at import, blueprints with templates, and a factory
that imports and registers every blueprint (≥ 150 modules, importing it takes ≥ 300 ms).
Each reload edits one leaf view (the marker of ``/__bench``) and polls on new
connections until the new marker answers. The first reload of each server is a warm-up
(webkit's layer, built at start, holds the edited view: the next layer leaves it out) and
is not counted. Also reported: the resident and
proportional memory (RSS, PSS) of webkit's supervisor, warm process and layer.

    python benchmarks/bench_reload_large.py [--quick]
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, print_table, tool  # noqa: E402
from bench_reload import (  # noqa: E402
    Project,
    Running,
    Stats,
    free_port,
    has_marker,
    load_average,
    poll,
    print_latency_table,
    set_marker,
    wait_up,
)

PACKAGE = "bigsite"
MODELS = 60  # modules, two models each
SERVICES = 40
VIEWS = 60
LEAF = VIEWS - 1


def _model_module(i: int) -> str:
    columns = "\n".join(
        f"    c{k} = Column(String({20 + k}), index={k % 3 == 0})" for k in range(8)
    )
    return f'''"""Models, group {i}."""
from sqlalchemy import Column, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from {PACKAGE}.db import Base


class Item{i}(Base):
    __tablename__ = "item_{i}"
    id = Column(Integer, primary_key=True)
    body = Column(Text)
{columns}
    notes = relationship("Note{i}", back_populates="item")


class Note{i}(Base):
    __tablename__ = "note_{i}"
    id = Column(Integer, primary_key=True)
    item_id = Column(ForeignKey("item_{i}.id"))
    item = relationship("Item{i}", back_populates="notes")
{columns}
'''


def _service_module(i: int) -> str:
    return f'''"""Services, group {i}: validation rules compiled at import time."""
import re

from {PACKAGE}.models import m{i % MODELS} as models

RULES = [re.compile(r"^(?P<k{i}_%d>[a-z]{{%d,%d}})-(\\d+)-[A-Z]+{i}$" % (n, n % 5 + 1, n + 6))
         for n in range(12)]
TABLE = {{f"key{{n}}": sorted(str(n * m) for m in range(20)) for n in range(50)}}


def check(value):
    return any(rule.match(value) for rule in RULES)


def count():
    return len(TABLE) + len(models.Item{i % MODELS}.__table__.columns)
'''


def _view_module(i: int) -> str:
    bench = (
        """

@bp.get("/__bench")
def bench_marker():
    return "MARKER-0"
"""
        if i == LEAF
        else ""
    )
    prefix = None if i == LEAF else f"/v{i}"  # the leaf view serves /__bench
    return f'''"""Views, group {i}."""
from flask import Blueprint, render_template

from {PACKAGE}.services import s{i % SERVICES} as service

bp = Blueprint("v{i}", __name__, url_prefix={prefix!r})


@bp.get("/")
def index():
    return render_template("v{i}/page.html", n=service.count())


@bp.get("/check/<value>")
def check(value):
    return {{"ok": service.check(value)}}
{bench}'''


FACTORY = '''"""The large generated site: a factory that registers every blueprint."""
from flask import Flask


def create_app():
    app = Flask(__name__)
{imports}
    for module in ({names},):
        app.register_blueprint(module.bp)
    return app
'''


def make_large_project(parent: Path) -> Project:
    root = parent / PACKAGE
    pkg = root / PACKAGE
    files: dict[str, str] = {
        "db.py": "from sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n",
        "models/__init__.py": "",
        "services/__init__.py": "",
        "views/__init__.py": "",
    }
    for i in range(MODELS):
        files[f"models/m{i}.py"] = _model_module(i)
    for i in range(SERVICES):
        files[f"services/s{i}.py"] = _service_module(i)
    for i in range(VIEWS):
        files[f"views/v{i}.py"] = _view_module(i)
        files[f"templates/v{i}/page.html"] = f"<html><body><h1>v{i}</h1>{{{{ n }}}}</body></html>\n"
    imports = "\n".join(f"    from {PACKAGE}.views import v{i}" for i in range(VIEWS))
    names = ", ".join(f"v{i}" for i in range(VIEWS))
    files["__init__.py"] = FACTORY.replace("{imports}", imports).replace("{names}", names)
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "0"\n\n'
        f'[tool.webkit]\napp = "{PACKAGE}:create_app"\n'
    )
    return Project(
        root,
        pkg / "views" / f"v{LEAF}.py",
        f"{PACKAGE}:create_app",
        True,
        str(root),
        f"generated: {MODELS + SERVICES + VIEWS + 5} modules, {VIEWS} templates",
    )


def import_ms(project: Project) -> float:
    """Median time to import the project and call its factory, in a fresh interpreter."""
    code = (
        "import time, flask, sqlalchemy.orm; t = time.perf_counter(); import bigsite; "
        "bigsite.create_app(); print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=project.root,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": project.pythonpath},
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def commands(project: Project, port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    webkit = [tool("webkit"), "run", "--reload", "--port", str(port)]
    return {
        "webkit (layer)": (webkit, {}),
        "webkit (no layer)": (webkit, {"WEBKIT_LAYER": "0"}),
        "flask run --reload": (
            [tool("flask"), "--app", project.app, "run", "--reload", "--port", str(port)],
            {},
        ),
        "uvicorn --reload": (
            [
                tool("uvicorn"),
                "--factory",
                project.app,
                "--interface",
                "wsgi",
                "--reload",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            {},
        ),
    }


def _status_kb(pid: int, key: str, file: str = "status") -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def webkit_memory(supervisor: int) -> dict[str, tuple[int | None, int | None]]:
    """(RSS, PSS) in kB of the supervisor, the warm process and the layer."""
    found: dict[str, tuple[int | None, int | None]] = {}

    def mem(pid: int) -> tuple[int | None, int | None]:
        return _status_kb(pid, "VmRSS"), _status_kb(pid, "Pss", "smaps_rollup")

    found["supervisor"] = mem(supervisor)
    for warm in _children(supervisor):
        if b"_warm" not in Path(f"/proc/{warm}/cmdline").read_bytes():
            continue
        found["warm process"] = mem(warm)
        for child in _children(warm):
            if _children(child):  # the layer: the current worker is its child
                found["layer"] = mem(child)
    return found


def measure(
    project: Project, argv: list[str], env: dict[str, str], port: int, reloads: int, log: Path
) -> tuple[Stats, dict[str, tuple[int | None, int | None]]]:
    stats = Stats()
    memory: dict[str, tuple[int | None, int | None]] = {}
    set_marker(project, 0)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        server = Running(argv, project, log)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        wait_up(port, server.proc, timeout=60)
        time.sleep(1.2)  # flask's stat reloader takes its first snapshot
        for n in range(1, reloads + 2):
            set_marker(project, n)
            start = time.perf_counter()
            while True:
                body = poll(port, stats)
                elapsed = time.perf_counter() - start
                if has_marker(body, n):
                    if n > 1:  # the first is the warm-up
                        stats.latencies.append(elapsed * 1000)
                    break
                if elapsed > 30:
                    raise RuntimeError(f"no new code after 30 s ({argv[0]})")
                time.sleep(0.001)
            time.sleep(2.0 if n == 1 else 0.5)
        if argv[0].endswith("webkit"):
            memory = webkit_memory(server.proc.pid)
    finally:
        server.stop()
    return stats, memory


def run(quick: bool = False) -> list[Result]:
    reloads = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="webkit-bench-large-") as tmp:
        project = make_large_project(Path(tmp))
        imported = import_ms(project)
        print(f"  import + create_app: {imported:.0f} ms", file=sys.stderr)
        table: dict[str, Stats] = {}
        memory: dict[str, tuple[int | None, int | None]] = {}
        for name, (argv, env) in commands(project, free_port()).items():
            port = int(argv[argv.index("--port") + 1])
            print(f"  {name}: {reloads} reloads (load {load_average()}) ...", file=sys.stderr)
            stats, mem = measure(project, argv, env, port, reloads, Path(tmp) / "server.log")
            table[name] = stats
            if name == "webkit (layer)":
                memory = mem

    print(
        f"\nproject: {project.kind}; import {imported:.0f} ms; {reloads} reloads each; "
        f"load average now {load_average()}",
        file=sys.stderr,
    )
    print_latency_table(table)
    for name, (rss, pss) in memory.items():
        print(f"memory, {name}: RSS {rss} kB, PSS {pss} kB", file=sys.stderr)

    layered = statistics.median(table["webkit (layer)"].latencies)
    results = [
        Result(
            name="large project: save → new code, median",
            unit="ms",
            webkit=layered,
            anchor_name=anchor,
            anchor=statistics.median(table[anchor].latencies),
            target=target,
            note=project.kind,
        )
        for anchor, target in (
            ("webkit (no layer)", "≤ 0.25×"),
            ("flask run --reload", "≤ 0.05×"),
            ("uvicorn --reload", "-"),
        )
    ]
    layer = memory.get("layer")
    if layer is not None and layer[0] is not None:
        sup = memory.get("supervisor", (None, None))[0]
        results.append(
            Result(
                name="large project: layer RSS (PSS)",
                unit="kB",
                webkit=float(layer[0]),
                anchor_name=f"supervisor RSS {sup} kB; layer PSS {layer[1]} kB",
                anchor=None,
                target="one process",
            )
        )
    return results


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))

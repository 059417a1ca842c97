"""``webkit check`` on each generated project, a 200-template, 200-module project, a
CTFd-sized tree and (``--ctfd``) CTFd itself.

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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import REPO_ROOT, Result, bench_env, print_table, tool  # noqa: E402

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
        [tool("webkit"), "check", "--format", "json"], cwd=root, capture_output=True, text=True,
        env=bench_env(),
    )  # fmt: skip
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
                argv, cwd=cwd, env=bench_env(env),
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
    return _run_generated(quick) + run_ctfd_sized(quick)


def _run_generated(quick: bool = False) -> list[Result]:
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


# --- a tree the size of CTFd: ~250 modules and ~250 templates ---------------------------

N_AREAS = 12
MODULES_PER_AREA = 20  # a views module plus helpers, models and forms
TEMPLATES_PER_AREA = 20

_HELPER = """\
from __future__ import annotations

import hashlib
import os
import re

from flask import current_app, request

PATTERN_{n} = re.compile(r"^[a-z0-9_-]{{3,64}}$")


class Record{n}:
    \"\"\"A model-like record with a handful of fields and methods.\"\"\"

    def __init__(self, name: str, value: int = 0, tags: list[str] | None = None) -> None:
        self.name = name
        self.value = value
        self.tags = list(tags or [])

    def digest(self) -> str:
        return hashlib.sha256(f"{{self.name}}:{{self.value}}".encode()).hexdigest()

    def to_dict(self) -> dict[str, object]:
        return {{"name": self.name, "value": self.value, "tags": self.tags}}

    def matches(self, query: str) -> bool:
        return query.lower() in self.name.lower() or any(query in t for t in self.tags)

"""

_FUNC = """\
def helper_{n}_{k}(items: list[int], limit: int = {k}) -> list[int]:
    \"\"\"Filter and sort, as business logic does.\"\"\"
    kept = [item for item in items if item % (limit + 1) != 0]
    if request and request.args.get("reverse"):
        kept.reverse()
    total = sum(kept)
    if total > limit * 100:
        current_app.logger.debug("large total %s", total)
    return sorted(kept)[: max(limit, 1)]


"""

_VIEWS = """\
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from arena.area{a} import helpers0

bp = Blueprint("area{a}", __name__, url_prefix="/area{a}")

{routes}
"""

_ROUTE = """\
@bp.route("/page{t}", methods=["GET", "POST"])
def page{t}():
    if request.method == "POST":
        return redirect(url_for(".page{t}"))
    items = helpers0.helper_0_1(list(range(20)))
    return render_template("area{a}/page{t}.html", items=items)


"""

_PAGE = """\
{{% extends "base.html" %}}
{{% from "macros.html" import field %}}
{{% block title %}}Area {a} page {t}{{% endblock %}}
{{% block body %}}
<h1>Area {a}, page {t}</h1>
{{% include "partials/nav.html" %}}
<ul>
{{% for item in items %}}
  <li class="{{{{ loop.cycle('odd', 'even') }}}}">{{{{ item }}}}</li>
{{% else %}}
  <li>Nothing yet.</li>
{{% endfor %}}
</ul>
<form method="post" action="{{{{ url_for('area{a}.page{t}') }}}}">
  <input type="hidden" name="csrf_token" value="{{{{ csrf_token() }}}}">
  {{{{ field("name") }}}}
  <button type="submit">Save</button>
</form>
<a href="{{{{ url_for('area{a}.page{other}') }}}}">next</a>
<img src="{{{{ url_for('static', filename='logo.png') }}}}" alt="">
{{% endblock %}}
"""


def ctfd_sized(root: Path) -> Path:
    """A Flask project the size of CTFd (~500 Python and template files) that checks clean."""
    pkg = root / "src" / "arena"
    (pkg / "templates" / "partials").mkdir(parents=True)
    (pkg / "static").mkdir()
    (pkg / "static" / "logo.png").write_bytes(b"\x89PNG\r\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "arena"\n\n[tool.webkit]\napp = "arena:create_app"\n', "utf-8"
    )
    imports = "\n".join(f"    from arena.area{a} import views as v{a}" for a in range(N_AREAS))
    registers = "\n".join(f"    app.register_blueprint(v{a}.bp)" for a in range(N_AREAS))
    (pkg / "__init__.py").write_text(
        "import os\n\nfrom flask import Flask\nfrom flask_wtf.csrf import CSRFProtect\n\n"
        "csrf = CSRFProtect()\n\n\ndef create_app(config=None):\n"
        "    app = Flask(__name__)\n"
        '    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")\n'
        "    app.config.update(config or {})\n    csrf.init_app(app)\n"
        f"{imports}\n{registers}\n    return app\n",
        encoding="utf-8",
    )
    templates = pkg / "templates"
    (templates / "base.html").write_text(
        "<!doctype html><html><head><title>{% block title %}{% endblock %}</title></head>"
        "<body>{% block body %}{% endblock %}</body></html>\n",
        encoding="utf-8",
    )
    (templates / "macros.html").write_text(
        '{% macro field(name) %}<label>{{ name }} <input name="{{ name }}"></label>'
        "{% endmacro %}\n",
        encoding="utf-8",
    )
    (templates / "partials" / "nav.html").write_text(
        "<nav>{% for a in range(3) %}<span>{{ a }}</span>{% endfor %}</nav>\n", "utf-8"
    )
    for a in range(N_AREAS):
        area = pkg / f"area{a}"
        area.mkdir()
        (area / "__init__.py").write_text("", encoding="utf-8")
        for m in range(MODULES_PER_AREA - 2):
            body = _HELPER.format(n=m) + "".join(_FUNC.format(n=m, k=k) for k in range(8))
            (area / f"helpers{m}.py").write_text(body, encoding="utf-8")
        routes = "".join(_ROUTE.format(a=a, t=t) for t in range(TEMPLATES_PER_AREA))
        (area / "views.py").write_text(_VIEWS.format(a=a, routes=routes), encoding="utf-8")
        (templates / f"area{a}").mkdir()
        for t in range(TEMPLATES_PER_AREA):
            other = (t + 1) % TEMPLATES_PER_AREA
            (templates / f"area{a}" / f"page{t}.html").write_text(
                _PAGE.format(a=a, t=t, other=other), encoding="utf-8"
            )
    return root


def _count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.suffix in {".py", ".html"})


def _round_robin(
    commands: dict[str, tuple[list[str], dict[str, str] | None, Callable[[], None] | None]],
    *,
    repeat: int,
    cwd: Path,
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall ms and median CPU ms (the process and its children: user + system) of
    each command, run in turn each round (a load spike hits them all)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(repeat + 1):
        for name, (argv, env, before) in commands.items():
            if before is not None:
                before()
            start, times = time.perf_counter(), os.times()
            subprocess.run(
                argv, cwd=cwd, env=bench_env(env), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            after = os.times()
            if i:
                samples[name].append((time.perf_counter() - start) * 1000)
                used = after.children_user + after.children_system
                cpu[name].append((used - times.children_user - times.children_system) * 1000)
    return (
        {name: statistics.median(values) for name, values in samples.items()},
        {name: statistics.median(values) for name, values in cpu.items()},
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} / {five:.1f}"


def _watch_latency_ms(root: Path, cache: Path, rounds: int) -> float:
    """Median ms from a one-file save to the ``new``/``fixed`` line of ``--watch``."""
    import queue
    import threading

    proc = subprocess.Popen(
        [tool("webkit"), "check", "--watch", "--no-import"], cwd=root,
        env=bench_env({"WEBKIT_CACHE_DIR": str(cache)}), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.perf_counter(), line))

    threading.Thread(target=read, daemon=True).start()

    def wait_for(prefix: str) -> float:
        while True:
            stamp, line = lines.get(timeout=60)
            if line.startswith(prefix):
                return stamp

    samples = []
    target = root / "src" / "arena" / "area0" / "helpers0.py"
    clean = target.read_text(encoding="utf-8")
    try:
        wait_for("Watching")
        for i in range(rounds):
            dirty = i % 2 == 0
            text = clean + ('\nSECRET_KEY = "not-so-secret"\n' if dirty else "")
            time.sleep(0.3)
            start = time.perf_counter()
            target.write_text(text, encoding="utf-8")
            samples.append((wait_for("new" if dirty else "fixed") - start) * 1000)
    finally:
        target.write_text(clean, encoding="utf-8")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return statistics.median(samples)


def _pool_break_even(root: Path, repeat: int) -> list[Result]:
    """Cold in-process analysis with and without the pool, on part and all of the tree."""
    sys.path.insert(0, str(REPO_ROOT))
    from webkit_cli.check import run_check
    from webkit_cli.check.filecache import FileCache

    def cold(pool_min: int) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            run_check(root, no_import=True, cache=FileCache(None), pool_min=pool_min)
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    cold(10**9)  # imports
    serial, pooled = cold(10**9), cold(1)
    return [
        Result(
            f"run_check cold, {_count_files(root)} files, process pool", "ms", pooled,
            "serial", serial, "-",
            note=f"{os.cpu_count()} cores, shared; the pool starts from POOL_MIN_FILES",
        )
    ]  # fmt: skip


def _anchors(files: list[str]) -> dict[str, tuple[list[str], dict[str, str] | None, None]]:
    """bandit, flake8 and ruff (every rule) on the same Python files, each as installed."""
    anchors: dict[str, tuple[list[str], dict[str, str] | None, None]] = {
        "bandit": ([tool("bandit"), "-q", *files], None, None),
        "ruff": ([tool("ruff"), "check", "--no-cache", "--select", "ALL", "--exit-zero",
                  "--quiet", *files], None, None),
    }  # fmt: skip
    if shutil.which(tool("flake8")):
        anchors["flake8"] = ([tool("flake8"), "--exit-zero", *files], None, None)
    return anchors


def _static_results(
    label: str, n: int, times: dict[str, float], cpu: dict[str, float], load: str
) -> list[Result]:
    flake8 = times.get("flake8")
    return [
        Result(f"webkit check --no-import, {label} ({n} files), cold cache", "ms",
               times["cold"], "bandit (cold)", times["bandit"], "<= 0.5x",
               note=f"CPU {cpu['cold']:.0f} ms vs bandit {cpu['bandit']:.0f} ms; {load}"),
        Result(f"webkit check --no-import, {label}, warm cache", "ms", times["warm"],
               "bandit (cold)", times["bandit"], "<= 150 ms",
               note=f"CPU {cpu['warm']:.0f} ms; the remembered run replayed (check.runmemo) "
               f"when no file changed; {load}"),
        Result(f"webkit check --no-import, {label}, cold cache", "ms", times["cold"],
               "flake8", flake8, "-", note="flake8 not installed" if flake8 is None else load),
        Result(f"webkit check --no-import, {label}, warm cache", "ms", times["warm"],
               "ruff --select ALL --no-cache", times["ruff"], "-",
               note=f"ruff is a Rust binary: for scale; ruff CPU {cpu['ruff']:.0f} ms"),
    ]  # fmt: skip


def run_ctfd_sized(quick: bool = False) -> list[Result]:
    repeat = 3 if quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        root = ctfd_sized(Path(tmp) / "arena")
        _assert_clean(root)
        files = sorted(str(p) for p in (root / "src").rglob("*.py"))
        warm = Path(tmp) / "warm-cache"
        for _ in range(2):  # the second run records trusted signatures (see RACY_NS)
            subprocess.run(
                [tool("webkit"), "check"], cwd=root, check=False,
                env=bench_env({"WEBKIT_CACHE_DIR": str(warm)}), stdout=subprocess.DEVNULL,
            )  # fmt: skip
            subprocess.run(
                [tool("webkit"), "check", "--no-import"], cwd=root, check=False,
                env=bench_env({"WEBKIT_CACHE_DIR": str(warm)}), stdout=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(2.1)
        cold_dir = Path(tmp) / "cold-cache"

        def empty_cache() -> None:
            shutil.rmtree(cold_dir, ignore_errors=True)

        cold_env = {"WEBKIT_CACHE_DIR": str(cold_dir)}
        warm_env = {"WEBKIT_CACHE_DIR": str(warm)}
        app_env = {"FLASK_APP": "arena:create_app", "PYTHONPATH": str(root / "src")}
        load_before = _load()
        times, cpu = _round_robin(
            {
                **_anchors(files),
                "cold": ([tool("webkit"), "check", "--no-import"], cold_env, empty_cache),
                "warm": ([tool("webkit"), "check", "--no-import"], warm_env, None),
                "full cold": ([tool("webkit"), "check"], cold_env, empty_cache),
                "full warm": ([tool("webkit"), "check"], warm_env, None),
                "flask routes": ([tool("flask"), "routes"], app_env, None),
            },
            repeat=repeat,
            cwd=root,
        )  # fmt: skip
        load = f"{load_before} before, {_load()} after"
        n = _count_files(root)
        results = _static_results("CTFd-sized tree", n, times, cpu, load)
        results += [
            Result("webkit check (app imported), CTFd-sized tree, cold cache", "ms",
                   times["full cold"], "flask routes (same app import)",
                   times["flask routes"], "<= 1500 ms", note=f"CPU {cpu['full cold']:.0f} ms"),
            Result("webkit check (app imported), CTFd-sized tree, warm cache", "ms",
                   times["full warm"], "flask routes (same app import)",
                   times["flask routes"], "<= 1500 ms",
                   note=f"CPU {cpu['full warm']:.0f} ms vs flask routes "
                   f"{cpu['flask routes']:.0f} ms"),
            Result("webkit check --watch: one-file save -> new/fixed line", "ms",
                   _watch_latency_ms(root, warm, 6 if quick else 12), "-", None, "<= 100 ms",
                   note=_load()),
        ]  # fmt: skip
        results += _pool_break_even(root, repeat=2 if quick else 3)
    return results


#: CTFd's own source (``fetch github:CTFd/CTFd``) with its dependencies in ``.venv``, as
#: the issue on real projects set it up; ``--ctfd-path`` / ``WEBKIT_BENCH_CTFD`` override.
CTFD = Path(os.environ.get("WEBKIT_BENCH_CTFD", "/work/real/CTFd"))


def run_real_ctfd(path: Path = CTFD, quick: bool = False) -> list[Result]:
    """webkit check on CTFd itself, with CTFd's interpreter (its dependencies) running this
    checkout's webkit; the anchors on the Python files git tracks. Nothing is written into
    the tree (the caches are temporary folders)."""
    python = path / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{path} has no .venv with CTFd's dependencies")
    listed = subprocess.run(
        ["git", "-C", str(path), "ls-files", "*.py"], capture_output=True, text=True, check=True
    )
    files = [str(path / name) for name in listed.stdout.split()]
    repeat = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm-cache"
        cold_dir = Path(tmp) / "cold-cache"
        webkit = [str(python), "-m", "webkit_cli", "check", "--app", "CTFd:create_app()"]
        env = {"PYTHONPATH": str(REPO_ROOT)}
        warm_env = {**env, "WEBKIT_CACHE_DIR": str(warm)}
        for _ in range(2):  # the second run records trusted signatures (see RACY_NS)
            for extra in ([], ["--no-import"]):
                subprocess.run(
                    [*webkit, *extra], cwd=path, env=bench_env(warm_env),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                )  # fmt: skip
            time.sleep(2.1)

        def empty_cache() -> None:
            shutil.rmtree(cold_dir, ignore_errors=True)

        cold_env = {**env, "WEBKIT_CACHE_DIR": str(cold_dir)}
        flask = str(path / ".venv" / "bin" / "flask")
        load_before = _load()
        times, cpu = _round_robin(
            {
                **_anchors(files),
                "cold": ([*webkit, "--no-import"], cold_env, empty_cache),
                "warm": ([*webkit, "--no-import"], warm_env, None),
                "full cold": (webkit, cold_env, empty_cache),
                "full warm": (webkit, warm_env, None),
                "flask routes": ([flask, "routes"], {"FLASK_APP": "CTFd:create_app()"}, None),
            },
            repeat=repeat,
            cwd=path,
        )  # fmt: skip
    load = f"{load_before} before, {_load()} after"
    n = len(files) + len(
        subprocess.run(["git", "-C", str(path), "ls-files", "*.html"], capture_output=True,
                       text=True, check=True).stdout.split()
    )  # fmt: skip
    return _static_results("CTFd", n, times, cpu, load) + [
        Result(f"webkit check (app imported), CTFd, {kind} cache", "ms", times[name],
               "flask routes (same app import)", times["flask routes"], "<= 1500 ms",
               note=f"CPU {cpu[name]:.0f} ms vs flask routes {cpu['flask routes']:.0f} ms")
        for kind, name in (("cold", "full cold"), ("warm", "full warm"))
    ]  # fmt: skip


def _print(results: list[Result]) -> None:
    from _harness import markdown_table

    print_table(results)
    if "--markdown" in sys.argv:
        print(markdown_table(results))
    else:
        for r in results:
            if r.note:
                print(f"- {r.name}: {r.note}")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--ctfd" in sys.argv:
        # the CTFd-sized synthetic tree, then CTFd itself when it is there
        found = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--ctfd-path=")]
        ctfd = Path(found[0]) if found else CTFD
        rows = run_ctfd_sized(quick)
        if (ctfd / ".venv").is_dir():
            rows += run_real_ctfd(ctfd, quick)
        _print(rows)
    else:
        _print(run(quick))

"""Shared pieces of the side-by-side benchmarks.

Every ``benchmarks/bench_<topic>.py`` module exposes ``run(quick: bool) -> list[Result]``
and can be run alone (``python benchmarks/bench_help.py``); ``benchmarks/run.py``
runs them all and prints one table of webkit vs anchor ratios. Both sides are
measured in the same run on the same machine: absolute times vary, ratios hold.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Result:
    """One figure: webkit's value, the anchor's, and the target for their ratio."""

    name: str
    unit: str
    webkit: float
    anchor_name: str
    anchor: float | None
    target: str  # e.g. "<= 0.5x" or "<= 100 ms"; free text shown in the table
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.anchor in (None, 0):
            return None
        return self.webkit / self.anchor  # type: ignore[operator]


def tool(name: str) -> str:
    """Path of a console script installed next to this interpreter (the .venv)."""
    path = BIN / name
    return str(path) if path.exists() else name


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for measured processes: as installed, so bytecode caching is on.

    A shell with PYTHONDONTWRITEBYTECODE set would make every run of an editable install
    recompile its modules, which measures the compiler rather than the tool.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def time_command(
    argv: Sequence[str],
    *,
    repeat: int = 20,
    warmup: int = 2,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None,
) -> float:
    """Median wall time in milliseconds of running ``argv`` to completion."""
    full_env = bench_env(env)
    samples = []
    for i in range(warmup + repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        elapsed = (time.perf_counter() - start) * 1000
        if i >= warmup:
            samples.append(elapsed)
    return statistics.median(samples)


def _anchor_cell(r: Result) -> str:
    if r.anchor is None:
        return r.anchor_name
    return f"{r.anchor_name} {r.anchor:.1f} {r.unit}"


def print_table(results: Sequence[Result]) -> None:
    """Print the results as a rich table (and as Markdown with ``--markdown``)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="webkit vs anchors (same machine, same run)")
    for col in ("figure", "webkit", "anchor", "ratio", "target"):
        table.add_column(col)
    for r in results:
        anchor = _anchor_cell(r)
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        table.add_row(r.name, f"{r.webkit:.1f} {r.unit}", anchor, ratio, r.target)
    Console().print(table)


def markdown_table(results: Sequence[Result]) -> str:
    lines = ["| figure | webkit | anchor | ratio | target |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "–"
        note = f" ({r.note})" if r.note else ""
        cells = [f"{r.name}{note}", f"{r.webkit:.1f} {r.unit}", _anchor_cell(r), ratio, r.target]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

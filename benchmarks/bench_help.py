"""``webkit --help`` vs ``flask --help``, whole process (start-up included).

Target: webkit <= 0.5x flask. Both run in an empty folder so flask finds no app, and
alternately (see bench_new.time_pair), with wall and CPU time reported.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, print_table, tool  # noqa: E402
from bench_new import time_pair  # noqa: E402


def _allow_bytecode() -> None:
    """Measure as installed: with .pyc files (the warm-up runs write them for a checkout)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _nothing() -> None:
    pass


def run(quick: bool = False) -> list[Result]:
    _allow_bytecode()
    repeat = 5 if quick else 30
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        try:
            (webkit, webkit_cpu), (flask, flask_cpu) = time_pair(
                ([tool("webkit"), "--help"], _nothing),
                ([tool("flask"), "--help"], _nothing),
                repeat=repeat,
                warmup=3,
            )
            (new, new_cpu), _ = time_pair(
                ([tool("webkit"), "new", "--help"], _nothing),
                ([tool("webkit"), "--version"], _nothing),
                repeat=repeat,
                warmup=3,
            )
        finally:
            os.chdir(cwd)
    return [
        Result("webkit --help (whole process)", "ms", webkit, "flask --help", flask, "<= 0.5x"),
        Result("webkit --help (CPU time)", "ms", webkit_cpu, "flask --help", flask_cpu, "<= 0.5x"),
        Result("webkit new --help (loads the command)", "ms", new, "flask --help", flask, "-"),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))

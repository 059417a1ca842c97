"""``webkit --help`` vs ``flask --help``, whole process (start-up included).

Target: webkit <= 0.5x flask. Both run in an empty folder so flask finds no app.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, print_table, time_command, tool  # noqa: E402


def _allow_bytecode() -> None:
    """Measure as installed: with .pyc files (the warm-up runs write them for a checkout).

    With PYTHONDONTWRITEBYTECODE set, an editable install recompiles webkit's modules on
    every run while the anchors' site-packages already have their .pyc from pip.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def run(quick: bool = False) -> list[Result]:
    _allow_bytecode()
    repeat = 5 if quick else 30
    with tempfile.TemporaryDirectory() as empty:
        cwd = Path(empty)
        webkit = time_command([tool("webkit"), "--help"], repeat=repeat, cwd=cwd)
        flask = time_command([tool("flask"), "--help"], repeat=repeat, cwd=cwd)
        webkit_new = time_command([tool("webkit"), "new", "--help"], repeat=repeat, cwd=cwd)
    return [
        Result("webkit --help (whole process)", "ms", webkit, "flask --help", flask, "<= 0.5x"),
        Result(
            "webkit new --help (loads the command)", "ms", webkit_new, "flask --help", flask, "-"
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))

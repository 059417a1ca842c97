"""Run every benchmark and print one table.

python benchmarks/run.py [--quick] [--markdown] [names...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import markdown_table, print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="bench modules to run (help, new, routes, ...)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()
    # Measure webkit as installed: with bytecode caching (see _harness.bench_env).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    here = Path(__file__).resolve().parent
    names = args.names or sorted(p.stem[len("bench_") :] for p in here.glob("bench_*.py"))
    results = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        print(f"running bench_{name} ...", file=sys.stderr)
        results.extend(module.run(quick=args.quick))
    print_table(results)
    if args.markdown:
        print(markdown_table(results))


if __name__ == "__main__":
    main()

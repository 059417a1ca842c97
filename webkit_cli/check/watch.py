"""``webkit check --watch``: check again on every save and print what changed.

Each run goes through :func:`~webkit_cli.check.runner.run_check` with one
:class:`~webkit_cli.check.filecache.FileCache` kept for the whole session, so a save
re-analyses only the files whose bytes changed (their parse and per-file rules); the
project-wide rules (routes, ``url_for`` targets, referenced templates, CSRF) run again
on every save, since any file can change what they report. The difference with the
previous run is printed as ``new``/``fixed`` lines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli.check.filecache import FileCache
from webkit_cli.check.findings import Finding
from webkit_cli.check.runner import CheckReport, run_check

if TYPE_CHECKING:
    from webkit_cli.check.appimport import AppImport

#: watchfiles groups the events of one save (an editor writes, renames, touches): wait
#: this long for quiet, polling every STEP_MS.
DEBOUNCE_MS = 40
STEP_MS = 5
#: How often the watch wakes with nothing to do (the first wake says it is set up).
READY_MS = 1000


def describe(item: Finding) -> str:
    where = item.file or "-"
    if item.line is not None:
        where += f":{item.line}"
        if item.column is not None:
            where += f":{item.column}"
    return f"{where}: {item.code} {item.message}"


def difference(before: Iterable[Finding], after: Iterable[Finding]) -> list[str]:
    """``new``/``fixed`` lines, in report order (findings compare by place and message)."""
    old, new = list(before), list(after)
    old_set, new_set = set(old), set(new)
    lines = [f"fixed  {describe(item)}" for item in old if item not in new_set]
    lines += [f"new    {describe(item)}" for item in new if item not in old_set]
    return lines


def watch_check(
    path: Path | str | None,
    *,
    echo: Callable[[str], None],
    stop: threading.Event | None = None,
    **options: Any,
) -> None:
    """Check, then check again on each save until Ctrl-C (or ``stop``), echoing changes."""
    import watchfiles

    from webkit_cli._paths import display_path, drop_stale_bytecode
    from webkit_cli.server.watch import ProjectFilter

    # One cache for the session, in memory; written to disk once each change is printed.
    cache = FileCache.default(defer_writes=True)
    report: CheckReport = run_check(path, cache=cache, child=_spare(options), **options)
    for item in report.findings:
        echo(describe(item))
    cache.write()
    root = report.root
    watching = False
    # The next run's app child, started (Python and Flask loaded) while nothing happens:
    # a save then costs only the import of the project itself.
    spare = _spare(options)
    try:
        for changes in watchfiles.watch(
            root,
            watch_filter=ProjectFilter(root),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
            raise_interrupt=False,
            ignore_permission_denied=True,
            # The first (empty) batch comes once the watch is set up: only then is it true
            # that no save is missed, so only then does "Watching" appear.
            rust_timeout=READY_MS,
            yield_on_timeout=True,
        ):
            if not watching:
                watching = True
                echo(
                    f"Watching {display_path(root, Path.cwd())} ({report.files_checked} "
                    f"files, {len(report.findings)} findings). Press Ctrl-C to stop."
                )
            if not changes:
                continue
            # The app child would trust a .pyc of a file saved twice in one second.
            drop_stale_bytecode(tuple(Path(changed) for _change, changed in changes))
            child, spare = spare, None
            latest = run_check(root, cache=cache, child=child, **options)
            lines = difference(report.findings, latest.findings)
            for line in lines:
                echo(line)
            for note in latest.notes:
                if note not in report.notes:
                    echo(f"note   {note}")
            if lines:
                echo(f"{len(latest.findings)} findings.")
            report = latest
            cache.write()
            spare = _spare(options)
    finally:
        if spare is not None:
            spare.close(wait=False)  # told nothing: nothing of the user's ran in it


def _spare(options: Mapping[str, Any]) -> AppImport | None:
    """A child for the next run's app import (none under ``--no-import``)."""
    if options.get("no_import"):
        return None
    from webkit_cli.check.appimport import AppImport

    return AppImport.prestart()

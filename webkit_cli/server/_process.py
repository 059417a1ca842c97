"""Processes of webkit's own (workers, the warm process): how they start, how they fail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from webkit_cli.errors import BUG_EXIT_CODE, report_bug
from webkit_cli.server.config import ServerConfig


def spawn_module(
    module: str, config: ServerConfig, fds: Sequence[int], *args: str
) -> subprocess.Popen[bytes]:
    """``python -m MODULE CONFIG_JSON FD... ARGS...``, inheriting exactly ``fds``.

    Every other descriptor is closed in the child (``close_fds``), so a worker never
    holds a socket or pipe it was not given; the child reads the descriptors' numbers
    from its argument list, in the order given.
    """
    return subprocess.Popen(
        [sys.executable, "-m", module, config.to_json(), *(str(fd) for fd in fds), *args],
        pass_fds=tuple(fds),
    )


#: Exit code of a worker whose failure is in webkit's own code (``EX_SOFTWARE``), the
#: same as the CLI's for webkit's own bugs.
INTERNAL_ERROR_EXIT = BUG_EXIT_CODE


def print_internal_error() -> None:
    """Report the exception being handled as what it is: a bug in webkit, not in the app."""
    exc = sys.exc_info()[1]
    if exc is not None:
        report_bug(exc)
    sys.stderr.flush()

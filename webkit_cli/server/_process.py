"""Processes of webkit's own (workers, the warm process): how they start, how they fail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

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


#: Exit code of a worker whose failure is in webkit's own code (``EX_SOFTWARE``).
INTERNAL_ERROR_EXIT = 70


def print_internal_error() -> None:
    """Print the exception being handled as what it is: a bug in webkit, not in the app."""
    import traceback

    print(
        "webkit crashed: this is a bug in webkit, not in your app. "
        "Please report it with the traceback below.",
        file=sys.stderr,
    )
    traceback.print_exc()
    sys.stderr.flush()

"""The child process that imports the app for ``webkit check`` (see :mod:`.appimport`).

Protocol: one JSON object per line. The child writes ``{"type": "started"}`` when Python
and webkit are loaded (the import timeout counts from there), ``{"type": "facts", ...}`` once the
app is imported (or ``{"type": "failed", ...}`` and exits), then answers each
``{"type": "resolve", "names": [...]}`` with ``{"type": "resolved", "found": {...}}``
(and ``parse``, ``drift`` likewise) until its request pipe closes. The user's prints go
to stderr: the protocol has its own pipe, so nothing the app writes can corrupt it.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO, Any

#: Innermost frames kept from a failed import: the user's frame is found among them, and
#: an import that recursed a million frames deep is not formatted in full.
MAX_FRAMES = 200


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _frames(exc: BaseException) -> list[tuple[str, int]]:
    """(file, line) of the innermost :data:`MAX_FRAMES` frames, innermost last."""
    frames: collections.deque[tuple[str, int]] = collections.deque(maxlen=MAX_FRAMES)
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return [(exc.filename, exc.lineno)]
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        frames.append((frame.f_code.co_filename, lineno))
    return list(frames)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a user's __str__ may raise too
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text[:1000]}"


def _raised_by_webkit(exc: BaseException) -> bool:
    """The innermost frame is webkit's own (not the user's code): a webkit bug, not P004."""
    import webkit_cli

    package = str(Path(webkit_cli.__file__).parent)
    last = None
    for frame, _lineno in traceback.walk_tb(exc.__traceback__):
        last = frame.f_code.co_filename
    if last is None or isinstance(exc, KeyboardInterrupt | SystemExit):
        return False
    # werkzeug's LocalProxy raising inside webkit's probing counts as webkit's too
    return last.startswith(package) or any(
        frame.f_code.co_filename.startswith(package)
        for frame, _ in list(traceback.walk_tb(exc.__traceback__))[-3:]
    )


def _failure(kind: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    return {
        "type": "failed",
        "kind": kind,
        "message": message,
        "frames": _frames(exc) if exc is not None else [],
    }


def _load(spec: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """The app, or the failure message to send (``kind``: import, locate or unavailable)."""
    from webkit_cli.errors import AppImportError, NoAppError, WebkitError
    from webkit_cli.project import Project, ProjectContext

    # The parent's Project, as it found it (a broken pyproject.toml was already reported).
    project = Project(
        root=Path(spec["root"]),
        pyproject=Path(spec["pyproject"]) if spec["pyproject"] else None,
        config=spec["config"],
        metadata=spec["metadata"],
    )
    context = ProjectContext(project=project, app_target=spec["target"], dotenv=spec["dotenv"])
    try:
        return context.load_app(), None
    except AppImportError as exc:
        return None, _failure("import", _describe(exc.original), exc.original)
    except NoAppError as exc:
        kind = "unavailable" if spec["target"] is None else "locate"
        return None, _failure(kind, str(exc.format_message()))
    except WebkitError as exc:
        return None, _failure("locate", str(exc.format_message()))
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt, SystemExit: all P004
        kind = "bug" if _raised_by_webkit(exc) else "import"
        return None, _failure(kind, _describe(exc), exc)


def serve(spec: dict[str, Any], requests: IO[str], replies: IO[str]) -> None:
    """Import the app, send its facts, answer template look-ups until ``requests`` ends."""
    from webkit_cli.check.appfacts import parse_templates, read_app, resolve_templates

    _send(replies, {"type": "started"})  # the parent's import timeout counts from here
    app, failure = _load(spec)
    if failure is not None:
        _send(replies, failure)
        return
    try:
        facts = read_app(app)
    except Exception as exc:  # noqa: BLE001 - a user's property raised while read
        _send(replies, _failure("read", _describe(exc), exc))
        return
    _send(replies, {"type": "facts", "facts": facts.to_json()})
    for line in requests:
        request = json.loads(line)
        if request.get("type") == "resolve":
            _send(replies, {"type": "resolved", "found": resolve_templates(app, request["names"])})
        elif request.get("type") == "parse":
            _send(replies, {"type": "parsed", "errors": parse_templates(app, request["templates"])})
        elif request.get("type") == "drift":
            from webkit_cli.check._drift import compare_app

            _send(replies, {"type": "drift", "drift": compare_app(app, spec["root"]).to_json()})


def _preload() -> None:
    """Import what every app import needs (webkit's side of it, and Flask when installed)
    while the parent finds the project: the spec arrives when that is done."""
    import importlib.util

    import webkit_cli.check.appfacts
    import webkit_cli.errors
    import webkit_cli.project
    import webkit_cli.routes  # noqa: F401 - read_app's route analysis

    try:
        if importlib.util.find_spec("flask") is not None:
            import flask  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken Flask fails again in the app's import: P004
        pass


def main(argv: list[str]) -> None:
    """``python -c ... <requests fd> <replies fd>``; the first request line is the spec
    (the project, the target), written once the parent has found them."""
    requests = os.fdopen(int(argv[1]), "r", encoding="utf-8")
    replies = os.fdopen(int(argv[2]), "w", encoding="utf-8")
    status = 0
    try:
        _preload()
        line = requests.readline()
        if not line:
            return  # the parent did not need the app after all (finally: exit)
        spec = json.loads(line)
        os.chdir(spec["root"])  # as if started there: the app may open relative paths
        serve(spec, requests, replies)
    except BaseException:  # noqa: BLE001 - a bug of webkit's own: show it, then exit
        traceback.print_exc()
        status = 70  # EX_SOFTWARE
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit: the app's non-daemon threads and atexit hooks must not keep the
        # process (and with it ``webkit check``) waiting once its job is done.
        os._exit(status)

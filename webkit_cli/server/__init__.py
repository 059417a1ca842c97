"""``webkit run``: a supervisor that binds the socket once and workers that serve on it.

``run(config)`` is the whole public API; the click command only builds the config.
Modules: ``config`` (settings), ``supervisor`` (socket, reload loop, shutdown),
``worker`` (serves the app), ``_warm`` (forks workers from a warm process), ``watch``
(file watching and change classification), ``banner`` (terminal output); the in-worker
WSGI pieces are ``wsgi``, ``accesslog``, ``livereload`` and ``errorpage``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from webkit_cli.server.config import ServerConfig

__all__ = ["run"]


def describe_app(config: ServerConfig) -> str:
    """The app the workers will import, and where that choice came from (for the banner)."""
    from webkit_cli.project import find_project, resolve_app_target

    # The supervisor never loads .env itself: resolve_app_target reads the files.
    return resolve_app_target(find_project(config.project_dir), config.app).describe()


def run(config: ServerConfig, *, console: Console | None = None) -> int:
    """Serve the project until Ctrl-C / SIGTERM; returns the process exit code.

    Raises :class:`~webkit_cli.errors.WebkitError` for what the user must fix before
    anything can be served (busy explicit port, bad host, no project directory).
    """
    import sys

    from webkit_cli._console import make_console, print_warning
    from webkit_cli.errors import WebkitError
    from webkit_cli.project import find_project
    from webkit_cli.server.banner import BannerInfo, build_banner
    from webkit_cli.server.supervisor import Supervisor, bind_socket
    from webkit_cli.server.watch import ProjectWatcher

    if sys.platform == "win32":
        # Workers inherit the listening socket by file descriptor, which Windows lacks.
        raise WebkitError(
            "webkit run does not run on Windows yet (its workers inherit the listening socket "
            "by file descriptor). Use WSL, or 'flask run' meanwhile."
        )
    console = console or make_console(stderr=True)
    project = find_project(config.project_dir)
    root = project.root
    if config.project_dir is None:
        from dataclasses import replace

        config = replace(config, project_dir=str(root))
    app = describe_app(config)
    if not config.is_loopback:
        print_warning(
            f"Listening on {config.host}: anyone who can reach this machine can use the "
            "development server. Use it on trusted networks only; the default, 127.0.0.1, "
            "keeps it local."
        )
    sock, note = bind_socket(config)
    port = sock.getsockname()[1]
    if note:
        print_warning(note)
    watcher = None
    if config.reload:
        from pathlib import Path

        watcher = ProjectWatcher(
            root,
            extra=[Path(p) for p in config.watch],
            exclude=config.exclude,
            poll=config.poll,
            on_batch=lambda batch: None,
            on_error=lambda message: None,
        )
    import shutil
    import tempfile
    from dataclasses import replace

    # Private to this run: the workers share compiled templates through it.
    cache_dir = tempfile.mkdtemp(prefix="webkit-run-")
    config = replace(config, cache_dir=cache_dir)
    supervisor = Supervisor(config, sock, console, root=root, watcher=watcher)
    from webkit_cli.server._warm import fork_supported

    mode = "workers forked from a warm process" if config.warm and fork_supported() else "spawn"
    from webkit_cli.project import flask_debug

    info = BannerInfo(
        url=config.url(port),
        app=app,
        project=str(root),
        mode=mode,
        watched=watcher.described_roots if watcher else (),
        flask_debug=flask_debug(project),
    )
    console.print(build_banner(config, info))
    try:
        return supervisor.run()
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)

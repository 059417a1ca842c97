"""``webkit run``: a supervisor that binds the socket once and workers that serve on it.

``run(config)`` is the whole public API; the click command only builds the config.
Modules: ``config`` (settings), ``sockets`` (binding the listening socket),
``supervisor`` (the reload loop, shutdown) fed by ``events``, with one ``handles`` entry
per worker process; ``worker`` (serves the app); ``_warm`` (forks workers from a warm
process), ``_imports`` (what it may import, what it must never hold) and ``_layer`` (a
process that also holds the project's unchanged modules, and when it may serve);
``_shellsock`` and ``_shellclient`` (``webkit shell`` forked from either, over a Unix
socket); ``_process`` (starting webkit's own processes); ``watch`` (file watching and
change classification); ``banner`` (terminal output). The in-worker WSGI pieces are
``wsgi``, ``accesslog``, ``livereload``, ``errorpage`` and ``tracebacks`` (the user's frames
first).
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
    from webkit_cli.server._warm import fork_supported
    from webkit_cli.server.banner import BannerInfo, build_banner, network_url, require_an_app
    from webkit_cli.server.sockets import bind_socket
    from webkit_cli.server.supervisor import Supervisor

    if sys.platform == "win32":
        # Workers inherit the listening socket by file descriptor, which Windows lacks.
        raise WebkitError(
            "webkit run does not run on Windows yet (its workers inherit the listening socket "
            "by file descriptor). Use WSL, or 'flask run' meanwhile."
        )
    console = console or make_console(stderr=True)
    project = find_project(config.project_dir)
    require_an_app(project, config.app)
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
    trust: list[str] = []
    if config.https:
        from webkit_cli.server.tls import prepare

        config, trust = prepare(config)
    sock, note = bind_socket(config)
    port = sock.getsockname()[1]
    if note:
        print_warning(note)
    supervisor = Supervisor(config, sock, console, root=root)
    mode = "workers forked from a warm process" if config.warm and fork_supported() else "spawn"
    from webkit_cli.project import flask_debug

    info = BannerInfo(
        url=config.url(port),
        app=app,
        project=str(root),
        mode=mode,
        watched=supervisor.watcher.described_roots if supervisor.watcher else (),
        flask_debug=flask_debug(project),
        network_url=network_url(config, port),
    )
    console.print(build_banner(config, info))
    for line in trust:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if config.open_browser:
        from webkit_cli.server.browser import open_when_answering

        stop = open_when_answering(config.url(port), port, tls=config.https)
        try:
            return supervisor.run()
        finally:
            stop.set()
    return supervisor.run()

"""``webkit run``: a thin click shim over :func:`webkit_cli.server.run`."""

from __future__ import annotations

import click

from webkit_cli.commands._options import project_options
from webkit_cli.server.config import LOG_FORMATS


@click.command(
    "run",
    epilog=(
        "Every option can also be set with an environment variable: WEBKIT_HOST, WEBKIT_PORT "
        "(or PORT), WEBKIT_RELOAD, WEBKIT_DEBUG, WEBKIT_APP, WEBKIT_PROJECT, WEBKIT_WATCH, "
        "WEBKIT_EXCLUDE, WEBKIT_LIVE_RELOAD, WEBKIT_ACCESS_LOG, WEBKIT_LOG_FORMAT, WEBKIT_POLL, "
        "WEBKIT_ALLOWED_HOSTS, WEBKIT_OPEN, WEBKIT_HTTPS."
    ),
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="WEBKIT_HOST",
    help="Interface to listen on; 0.0.0.0 exposes the server to the network.",
)
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    envvar=["WEBKIT_PORT", "PORT"],
    help="Port to listen on; 0 picks a free one. When not given and busy, the next is tried.",
)
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    envvar="WEBKIT_RELOAD",
    help="Reload on file changes.",
)
@click.option(
    "--debug/--no-debug",
    default=False,
    show_default=True,
    envvar="WEBKIT_DEBUG",
    help="Werkzeug's interactive debugger on errors (refused on a non-loopback host).",
)
@project_options
@click.option(
    "--watch",
    multiple=True,
    type=click.Path(exists=True, resolve_path=True),
    envvar="WEBKIT_WATCH",
    help="Extra path to watch (repeatable).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    envvar="WEBKIT_EXCLUDE",
    help="Glob of files or folders to ignore, e.g. 'data/*' (repeatable).",
)
@click.option(
    "--live-reload/--no-live-reload",
    default=None,
    envvar="WEBKIT_LIVE_RELOAD",
    help="Refresh the browser on changes [default: on with --reload].",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    envvar="WEBKIT_ACCESS_LOG",
    help="Print one line per request.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="rich",
    show_default=True,
    envvar="WEBKIT_LOG_FORMAT",
    help="Request log format; json prints one object per line.",
)
@click.option(
    "--poll",
    is_flag=True,
    default=False,
    envvar="WEBKIT_POLL",
    help="Poll for changes instead of OS events (Docker, VMs, WSL, network drives).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    envvar="WEBKIT_ALLOWED_HOSTS",
    help="Also answer requests for this Host (repeatable; '.NAME' adds its subdomains, '*' "
    "any host). Loopback names, IP addresses and --host are always answered.",
)
@click.option(
    "--open",
    "open_browser",
    is_flag=True,
    default=False,
    envvar="WEBKIT_OPEN",
    help="Open the browser once the server answers (BROWSER picks which).",
)
@click.option(
    "--https",
    is_flag=True,
    default=False,
    envvar="WEBKIT_HTTPS",
    help="Serve TLS with a certificate from webkit's local CA, made once per machine "
    "(needs webkit-cli[https]); says how to trust it.",
)
@click.option(
    "--warm/--no-warm",
    default=True,
    hidden=True,
    envvar="WEBKIT_WARM",
    help="Fork workers from a warm process (off: spawn a fresh interpreter per reload).",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    host: str,
    port: int,
    reload: bool,
    debug: bool,
    app: str | None,
    project_dir: str | None,
    watch: tuple[str, ...],
    exclude: tuple[str, ...],
    live_reload: bool | None,
    access_log: bool,
    log_format: str,
    poll: bool,
    warm: bool,
    allowed_hosts: tuple[str, ...],
    open_browser: bool,
    https: bool,
) -> None:
    """Serve the project with a reloading development server.

    Saving a .py file swaps in a new worker in a few tens of milliseconds without
    refusing a single connection; saving a template or a stylesheet refreshes the
    browser. Errors in your code never stop the server: the page shows the traceback
    until you save a fix.

    \b
      webkit run                      http://127.0.0.1:8000/, reloading
      webkit run --port 0             any free port (the URL is printed)
      webkit run --host 0.0.0.0       reachable from the network (a warning says so)
      webkit run --open               and open it in the browser
      webkit run --https              https://127.0.0.1:8000/ (local CA, trusted once)
      webkit run --no-reload --log-format json
    """
    import os
    import secrets

    from click.core import ParameterSource

    from webkit_cli.server import run
    from webkit_cli.server.config import ServerConfig
    from webkit_cli.server.editor import TOKEN_ENV

    source = ctx.get_parameter_source("port")
    try:
        config = ServerConfig.from_options(
            host=host,
            port=port,
            port_explicit=source is not ParameterSource.DEFAULT,
            reload=reload,
            debug=debug,
            app=app,
            project_dir=project_dir,
            watch=watch,
            exclude=exclude,
            live_reload=live_reload,
            access_log=access_log,
            log_format=log_format,
            poll=poll,
            warm=warm,
            allowed_hosts=allowed_hosts,
            open_browser=open_browser,
            https=https,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc), ctx) from exc
    # This run's token (editor links, retry): inherited by the warm process and workers.
    os.environ[TOKEN_ENV] = secrets.token_urlsafe(24)
    # This run's token (editor links, retry): inherited by the warm process and workers.
    os.environ[TOKEN_ENV] = secrets.token_urlsafe(24)
    ctx.exit(run(config))

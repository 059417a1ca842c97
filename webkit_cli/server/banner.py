"""What ``webkit run`` prints itself: the start banner (once) and one line per reload.

Pure builders return rich renderables; the supervisor prints them through its Console.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from webkit_cli.project import EnvSetting, Project
    from webkit_cli.server.config import ServerConfig


@dataclass(frozen=True)
class BannerInfo:
    """Facts only the supervisor knows at start: the bound port, the app, what is watched."""

    url: str
    app: str
    project: str
    mode: str  # "warm fork" or "spawn"
    watched: Sequence[str] = ()
    #: FLASK_DEBUG as the app will read it (from the environment, .env or .flaskenv), or
    #: FLASK_ENV when an older Flask (< 2.3) decides by it
    flask_debug: EnvSetting | None = None
    #: the URL other machines use, when bound to every interface (0.0.0.0, ::)
    network_url: str | None = None


def lan_address() -> str | None:
    """This machine's address on its network (the interface of the default route).

    A UDP socket's ``connect`` only picks the route: no packet is sent.
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith(("0.", "127.")) else address


def network_url(config: ServerConfig, port: int, address: str | None = None) -> str | None:
    """``http://192.168.1.20:8000/`` when bound to every interface, else None."""
    if config.host not in ("0.0.0.0", "::", ""):
        return None
    address = address or lan_address()
    if address is None:
        return None
    scheme = config.url(port).split("://", 1)[0]
    return f"{scheme}://{address}:{port}/"


def require_an_app(project: Project, app_option: str | None) -> None:
    """Raise the one ``Error:`` line when Flask's conventions have nothing to find, before
    a banner that would say the app was found by them (the worker would only tell after).
    """
    from webkit_cli.project import (
        CONVENTIONAL_MODULES,
        AppSource,
        locate_conventional_app,
        resolve_app_target,
    )

    if resolve_app_target(project, app_option).source is not AppSource.CONVENTION:
        return
    if not any((project.root / f"{name}.py").is_file() for name in CONVENTIONAL_MODULES):
        locate_conventional_app(project)  # raises NoAppError: there is nothing to import


def build_banner(config: ServerConfig, info: BannerInfo) -> RenderableType:
    """The start panel: URL (a link in terminals that support it), app, reload state, watches."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("URL", f"[bold cyan][link={info.url}]{escape(info.url)}[/link][/]")
    if info.network_url:
        url = escape(info.network_url)
        grid.add_row("Network", f"[cyan][link={info.network_url}]{url}[/link][/]")
    grid.add_row("App", escape(info.app))
    grid.add_row("Project", escape(info.project))
    if config.reload:
        grid.add_row("Reload", f"[green]on[/] ({escape(info.mode)})")
        grid.add_row(
            "Live reload",
            "[green]on[/] (pages refresh on save)" if config.live_reload else "[dim]off[/]",
        )
        grid.add_row("Watching", escape(", ".join(info.watched)) or "-")
    else:
        grid.add_row("Reload", "[dim]off[/] (--reload to turn it on)")
    grid.add_row("Debugger", "[yellow]on[/] (interactive, local only)" if config.debug else "off")
    if info.flask_debug is not None:
        from webkit_cli.project import is_flask_debug_on

        state = "[yellow]on[/]" if is_flask_debug_on(info.flask_debug) else "off"
        grid.add_row(
            "Flask debug",
            f"{state} ({escape(info.flask_debug.name)}={escape(info.flask_debug.value)} "
            f"from {escape(info.flask_debug.origin)})",
        )
    return Panel.fit(grid, title="[bold]webkit run[/]", subtitle="Ctrl+C to stop", padding=(0, 1))


def format_elapsed(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def reload_line(files: str, action: str, seconds: float | None, *, status: str = "ok") -> str:
    """One line of rich markup for a reload: the changed files, what happened, how long."""
    from rich.markup import escape

    stamp = time.strftime("%H:%M:%S")
    took = f" in {format_elapsed(seconds)}" if seconds is not None else ""
    what = {
        "worker": f"reloaded{took}",
        "full": f"restarted (environment or dependencies changed){took}",
        "reload": "browser refreshed",
        "css": "stylesheet swapped",
        "crash": f"worker restarted after a crash{took}",
    }.get(action, action)
    if status == "error":
        what = f"[red]import failed[/] (traceback above), serving the error page{took}"
    elif status == "noapp":
        what = f"[red]app not found[/] (see the error above){took}"
    changed = f"[bold]{escape(files)}[/] changed · " if files else ""
    return f"[dim]{stamp}[/] [cyan]↻[/] {changed}{what}"

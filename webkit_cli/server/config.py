"""The resolved settings of ``webkit run``: built once from the CLI options, then passed down.

``ServerConfig`` is frozen and JSON-serialisable (``to_json`` / ``from_json``) because it
crosses process boundaries: the supervisor hands it to the warm process and to each worker.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

#: The request log's formats (``--log-format``).
LOG_FORMATS = ("rich", "plain", "json")
DEFAULT_PORT = 8000


def env_flag(value: str | None) -> bool:
    """An environment switch as watchfiles reads one: unset, empty, ``0``, ``false`` are off."""
    return (value or "").strip().lower() not in ("", "0", "false")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` only reaches this machine (127.0.0.0/8, ::1, ``localhost``)."""
    bare = host.strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(bare, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _url_host(host: str) -> str:
    """The host as it appears in a URL a browser can open."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@dataclass(frozen=True)
class ServerConfig:
    """Everything the supervisor, warm process and workers need to know.

    ``live_reload`` is the *effective* flag: it is never true without ``reload``.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    port_explicit: bool = False
    reload: bool = True
    debug: bool = False
    app: str | None = None
    project_dir: str | None = None
    watch: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    live_reload: bool = True
    access_log: bool = True
    log_format: str = "rich"
    poll: bool = False
    warm: bool = True
    #: a layer (``_layer``) also holds the project's unchanged modules (``WEBKIT_LAYER=0``: off)
    layer: bool = True
    #: seconds an old worker may take to finish in-flight requests after a reload
    reload_grace: float = 3.0
    #: seconds a worker may take to stop on Ctrl-C / SIGTERM (the whole stop must take < 1 s)
    shutdown_grace: float = 0.3
    #: a folder private to this run, shared by its workers (compiled templates)
    cache_dir: str | None = None
    #: --allowed-host names answered besides loopback names, IPs and the bound host (hosts.py)
    allowed_hosts: tuple[str, ...] = ()
    #: --open: open the browser once the first worker answers
    open_browser: bool = False
    #: --https: TLS with a certificate from webkit's local CA (tls.py)
    https: bool = False
    #: the server certificate and key files the workers load (set by run())
    tls_cert: str | None = None
    tls_key: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        port_explicit: bool = False,
        reload: bool = True,
        debug: bool = False,
        app: str | None = None,
        project_dir: str | Path | None = None,
        watch: Iterable[str | Path] = (),
        exclude: Iterable[str] = (),
        live_reload: bool | None = None,
        access_log: bool = True,
        log_format: str = "rich",
        poll: bool = False,
        warm: bool = True,
        allowed_hosts: Iterable[str] = (),
        layer: bool = True,
        open_browser: bool = False,
        https: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> ServerConfig:
        """Normalise the options; raise ``ValueError`` with the fix for impossible combinations.

        ``environ`` (``os.environ`` by default) is read here and nowhere deeper:
        ``WATCHFILES_FORCE_POLLING`` (set in Docker images and on network file systems)
        turns polling on as ``--poll`` does; ``WEBKIT_LAYER=0`` turns the layer off.
        """
        from webkit_cli.server.hosts import normalize_allowed_hosts

        environ = os.environ if environ is None else environ
        host = (host or "127.0.0.1").strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if port is None:
            port = DEFAULT_PORT
        if not 0 <= port <= 65535:
            raise ValueError(f"Port {port} is out of range: use 0-65535 (0 picks a free port).")
        if log_format not in LOG_FORMATS:
            raise ValueError(
                f"Unknown log format {log_format!r}: use one of {', '.join(LOG_FORMATS)}."
            )
        if debug and not is_loopback_host(host):
            raise ValueError(
                f"--debug is refused on host {host}: the interactive debugger lets anyone who "
                "can reach the server run code on this machine. Bind to 127.0.0.1 (the default) "
                "to use it, or drop --debug."
            )
        return cls(
            host=host,
            port=port,
            port_explicit=port_explicit,
            reload=reload,
            debug=debug,
            app=app or None,
            project_dir=str(Path(project_dir).resolve()) if project_dir is not None else None,
            watch=tuple(str(Path(p).resolve()) for p in watch),
            exclude=tuple(exclude),
            live_reload=reload if live_reload is None else (live_reload and reload),
            access_log=access_log,
            log_format=log_format,
            poll=poll or env_flag(environ.get("WATCHFILES_FORCE_POLLING")),
            warm=warm,
            allowed_hosts=normalize_allowed_hosts(allowed_hosts),
            layer=layer and env_flag(environ.get("WEBKIT_LAYER", "1")),
            open_browser=open_browser,
            https=https,
        )

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def url(self, port: int | None = None) -> str:
        """The URL to open, with the actually bound port when given."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port if port is None else port}/"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        data = json.loads(text)
        data["watch"] = tuple(data.get("watch", ()))
        data["exclude"] = tuple(data.get("exclude", ()))
        data["allowed_hosts"] = tuple(data.get("allowed_hosts", ()))
        return cls(**data)

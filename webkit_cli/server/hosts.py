"""Which ``Host`` values the dev server answers: the defence against DNS rebinding.

A web page the developer visits can point a name it controls (``rebind.attacker.example``)
at 127.0.0.1 and then read the dev server's answers as its own origin: the traceback page
with source and paths, the interactive debugger. The browser still sends the attacker's
name in ``Host``, so answering only names that belong to this server stops it.

The rule is the one Vite adopted (``server.allowedHosts``, GHSA-vg6x-rcgg-rjx6):

- ``localhost`` and every ``*.localhost`` name (browsers resolve them to loopback
  themselves, RFC 6761);
- every IP address literal, IPv4 or ``[IPv6]``: a rebinding attack needs a *name* whose
  address the attacker controls; a page at ``http://192.168.1.5:8000/`` that the
  browser opened by address is that origin already. So with ``--host 0.0.0.0`` the
  machine's own LAN addresses work with no option;
- the name the server is bound to (``--host myhost.local``);
- each ``--allowed-host NAME`` (or ``WEBKIT_ALLOWED_HOSTS``): ``.example.test`` allows
  ``example.test`` and every name under it; ``*`` answers any ``Host`` (not recommended).

A request without ``Host`` (HTTP/1.0 tools) is answered: browsers always send one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ANY_HOST: Final = "*"
#: Hosts remembered per worker; a client sending endless random names cannot grow memory.
_CACHE_SIZE: Final = 256


def normalize_allowed_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """``--allowed-host`` values (repeatable, each may hold a comma list), lower-cased.

    Raises ``ValueError`` with the fix for a value that cannot be a host name.
    """
    hosts: list[str] = []
    for value in values:
        for part in value.split(","):
            raw = part.strip()
            if not raw:
                continue
            name = raw.lower()
            if name != ANY_HOST:
                # "myapp.test." is the same name, fully qualified.
                name = name[:-1] if name.endswith(".") else name
                if (
                    not name.strip(".")
                    or ".." in name
                    or any(c.isspace() or c in "/\\?#@*:[]" for c in name)
                ):
                    raise ValueError(
                        f"--allowed-host {raw!r} is not a host name: give a name like "
                        "'myapp.test', '.myapp.test' for it and its subdomains, or '*' for "
                        "any host."
                    )
            hosts.append(name)
    return tuple(dict.fromkeys(hosts))


def host_name(header: str) -> str:
    """The name in a ``Host`` header: no port, no IPv6 brackets, lower case, no final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else header
    name, _, port = header.rpartition(":")
    if name and port.isdigit():
        header = name
    return header.rstrip(".") if header != "." else header


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Decides whether a ``Host`` header names this server (see the module docstring)."""

    def __init__(self, bound_host: str, allowed: Iterable[str] = ()) -> None:
        names = set(normalize_allowed_hosts(allowed))
        self.any = ANY_HOST in names
        bound = host_name(bound_host)
        if bound and not _is_ip(bound):
            names.add(bound)
        self.exact = frozenset(n for n in names if not n.startswith("."))
        #: ".example.test" -> the name itself and everything under it
        self.suffixes = tuple(n for n in names if n.startswith("."))
        self._cache: dict[str, bool] = {}

    def allows(self, header: str | None) -> bool:
        if self.any or not header:
            return True
        cached = self._cache.get(header)
        if cached is not None:
            return cached
        result = self._decide(host_name(header))
        if len(self._cache) < _CACHE_SIZE:
            self._cache[header] = result
        return result

    def _decide(self, name: str) -> bool:
        if name == "localhost" or name.endswith(".localhost") or name in self.exact:
            return True
        if any(name == s[1:] or name.endswith(s) for s in self.suffixes):
            return True
        return _is_ip(name)


def blocked_message(header: str) -> str:
    """The text of the 403 answer: what was refused and the option that allows it."""
    name = host_name(header)
    shown = name.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return (
        f"Blocked request: this server does not answer Host {shown!r}.\n\n"
        "webkit run answers localhost, *.localhost, IP addresses and the host it is bound "
        "to, so that a web page cannot read your app through DNS rebinding.\n\n"
        f"If {shown!r} is a name of this machine that you trust, allow it:\n\n"
        f"    webkit run --allowed-host {shown}\n"
        f"    (or WEBKIT_ALLOWED_HOSTS={shown}; '.{shown}' also allows its subdomains)\n\n"
        "--allowed-host '*' answers any host: not recommended, it lets any web page "
        "read this server.\n"
    )


class HostCheck:
    """WSGI layer: a ``403`` (plain text, nothing of the app) for a ``Host`` not allowed."""

    def __init__(self, app: WSGIApplication, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_HOST")
        if self.policy.allows(header):
            return self.app(environ, start_response)
        body = blocked_message(header or "").encode()
        start_response(
            "403 FORBIDDEN",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

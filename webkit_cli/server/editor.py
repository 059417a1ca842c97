"""Open-in-editor links on the error page, and the endpoint that runs a terminal editor.

The editor is ``WEBKIT_EDITOR``, else ``$EDITOR``. Editors with a URL scheme get a
direct link (VS Code ``vscode://file/PATH:LINE``, JetBrains ``idea://open?file=&line=``,
Sublime ``subl://open?url=file://PATH&line=``); a ``WEBKIT_EDITOR`` holding ``{file}`` and
``{line}`` is used as a URL template. Any other editor is a command (``emacsclient -n``,
``gvim --remote-silent``, ``nvim --server ADDR --remote``) that the dev server runs as
``COMMAND +LINE FILE`` when ``/__webkit/open`` is asked - only from loopback, only for
files inside the project, and only with this run's token: a page of another site can
make the browser request that URL, but cannot know the token (CSRF).

The per-run token lives in ``WEBKIT_RUN_TOKEN``: ``webkit run`` sets a fresh one, and the
warm process and every worker inherit it, so a link made by one worker still works in
the next.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shlex
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, quote, urlencode

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TOKEN_ENV: Final = "WEBKIT_RUN_TOKEN"
OPEN_PATH: Final = "/__webkit/open"

_VSCODE: Final = ("code", "code-insiders", "codium", "vscodium", "vscode", "cursor")
_JETBRAINS: Final = (
    "idea",
    "pycharm",
    "charm",
    "pycharm-community",
    "pycharm-professional",
    "webstorm",
    "jetbrains",
)
_SUBLIME: Final = ("subl", "sublime", "sublime_text")


def run_token() -> str:
    """This run's token (made, and inherited by child processes, on first use)."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        token = os.environ[TOKEN_ENV] = secrets.token_urlsafe(24)
    return token


def editor_setting() -> str:
    return (os.environ.get("WEBKIT_EDITOR") or os.environ.get("EDITOR") or "").strip()


def editor_kind(setting: str) -> str:
    """``vscode``, ``jetbrains``, ``sublime``, ``template``, ``command`` or ``""`` (none)."""
    if not setting:
        return ""
    if "{file}" in setting:
        return "template"
    try:
        words = shlex.split(setting)
    except ValueError:
        words = setting.split()
    name = Path(words[0]).name.lower() if words else ""
    name = name.removesuffix(".exe").removesuffix(".sh")
    if name in _VSCODE:
        return "vscode"
    if name in _JETBRAINS or name.endswith(".app") and "pycharm" in name:
        return "jetbrains"
    if name in _SUBLIME:
        return "sublime"
    return "command"


def editor_link(path: str, line: int, *, setting: str | None = None) -> str | None:
    """The href that opens ``path`` (absolute) at ``line``, or None without an editor."""
    setting = editor_setting() if setting is None else setting
    kind = editor_kind(setting)
    line = max(1, line)
    if kind == "vscode":
        return f"vscode://file{quote(path)}:{line}"
    if kind == "jetbrains":
        return "idea://open?" + urlencode({"file": path, "line": line})
    if kind == "sublime":
        return "subl://open?" + urlencode({"url": f"file://{path}", "line": line})
    if kind == "template":
        return setting.replace("{file}", quote(path)).replace("{line}", str(line))
    if kind == "command":
        return f"{OPEN_PATH}?" + urlencode({"file": path, "line": line, "token": run_token()})
    return None


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


class EditorOpen:
    """Serves ``/__webkit/open?file=&line=&token=`` in front of ``app``."""

    def __init__(self, app: WSGIApplication, root: str | Path) -> None:
        self.app = app
        self.root = Path(root).resolve()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != OPEN_PATH:
            return self.app(environ, start_response)
        status, message = self.open(environ)
        body = message.encode() + b"\n"
        start_response(
            status,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [body]

    def open(self, environ: WSGIEnvironment) -> tuple[str, str]:
        if not _is_loopback(str(environ.get("REMOTE_ADDR", ""))):
            return "403 Forbidden", "Opening an editor is only allowed from this machine."
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        token = (query.get("token") or [""])[0]
        if not secrets.compare_digest(token.encode(), run_token().encode()):
            return "403 Forbidden", "Wrong or missing token: use the link on the error page."
        setting = editor_setting()
        if editor_kind(setting) != "command":
            return "404 Not Found", "No command editor is set (WEBKIT_EDITOR or EDITOR)."
        try:
            line = int((query.get("line") or ["1"])[0])
            path = Path((query.get("file") or [""])[0]).resolve()
        except (ValueError, OSError):
            return "400 Bad Request", "file and line are required."
        if not _inside(path, self.root) or not path.is_file():
            return "403 Forbidden", "Only files inside the project can be opened."
        try:
            command = shlex.split(setting)
        except ValueError:
            return "400 Bad Request", f"WEBKIT_EDITOR/EDITOR cannot be parsed: {setting!r}."
        try:
            proc = subprocess.Popen(
                [*command, f"+{max(1, line)}", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,
            )
        except OSError as exc:
            return "500 Internal Server Error", f"Could not run {command[0]!r}: {exc.strerror}."
        # Reaped in the background: an editor left as a zombie would outlive nothing, but
        # would sit in the worker's process table until it exits.
        threading.Thread(target=proc.wait, name="webkit-editor", daemon=True).start()
        return "200 OK", f"Opened {path.name}:{line} in {command[0]}."

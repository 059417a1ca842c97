"""The 500 page a worker serves when the user's code failed.

Two uses: :func:`error_app` answers *every* request while the app cannot be loaded
(a syntax error, an import error, a factory that raised), so the server keeps
listening and the page recovers by itself once a fix is saved (the live-reload
middleware adds its script to this page too); :func:`error_response` answers one
request whose view raised an exception that escaped the app.

The response follows the ``Accept`` header: HTML for browsers, JSON for
``application/json`` (e.g. ``fetch`` from an API client), plain text when asked.
Every piece of exception text is escaped: a message may hold user input. The frames of
webkit, Werkzeug and Flask's dispatch above the user's first frame are folded (see
``tracebacks``): a collapsed list on the page, a count in the text and JSON.
"""

from __future__ import annotations

import html
import io
import json
import linecache
import re
import secrets
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Final

from webkit_cli._paths import display_path, is_ignored_dir
from webkit_cli.server.editor import editor_link
from webkit_cli.server.tracebacks import (
    fold_note,
    format_exception,
    framework_prefix,
    is_framework_file,
    is_library_file,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Lines of source shown around the failing line of each frame.
CONTEXT_LINES: Final = 3
LOAD_TITLE: Final = "The app failed to load"
REQUEST_TITLE: Final = "The request failed"


@dataclass
class Frame:
    """One stack frame of the user's traceback."""

    file: str
    line: int
    function: str
    code: str
    #: (line number, source text) around ``line``
    context: list[tuple[int, str]] = field(default_factory=list)
    #: False for installed libraries (site-packages) and the standard library
    own: bool = True
    #: inside the project (not a library, not webkit/Werkzeug/Flask): shown first
    project: bool = False
    #: ``file`` relative to the project root when inside it
    path: str = ""
    #: the open-in-editor href (editor.py), on project frames only
    editor: str | None = None


@dataclass
class ExceptionInfo:
    """One exception of a chain: its type, message, frames, and the syntax error spot."""

    type: str
    message: str
    #: from the user's first frame on
    frames: list[Frame]
    #: the outermost frames, webkit's, Werkzeug's and Flask's dispatch: shown folded
    folded: list[Frame] = field(default_factory=list)
    #: every frame once, outermost first (the same frame object reached twice, as Flask's
    #: ``wsgi_app`` is when it re-raises, is kept at its innermost line)
    stack: list[Frame] = field(default_factory=list)
    #: text placed before this exception, e.g. "The above exception was the direct cause..."
    link: str = ""
    syntax: dict[str, Any] | None = None


def _walk(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    """(frame, line) of a traceback, outermost first, each frame object once."""
    entries = [(frame, lineno or 0) for frame, lineno in traceback.walk_tb(tb)]
    last: dict[int, int] = {}
    for index, (frame, _) in enumerate(entries):
        last[id(frame)] = index
    return [entry for index, entry in enumerate(entries) if last[id(entry[0])] == index]


def in_project(filename: str, root: Path | None) -> bool:
    """True for a file of the user's (under ``root``, outside its virtualenv and the
    installed packages, not webkit's, Werkzeug's or Flask's)."""
    if is_library_file(filename) or is_framework_file(filename) or filename.startswith("<"):
        return False
    if root is None:
        return True
    try:
        relative = Path(filename).resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return not any(is_ignored_dir(part) for part in relative.parts[:-1])


def _frames(
    tb: TracebackType | None, root: Path | None, *, links: bool = True
) -> tuple[list[Frame], list[Frame]]:
    """(folded framework frames, the rest) of ``tb``, outermost first."""
    frames = []
    for summary_frame, lineno in _walk(tb):
        filename = summary_frame.f_code.co_filename
        # importlib's machinery says nothing about the user's bug.
        if filename.startswith("<frozen importlib"):
            continue
        context = []
        for number in range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1):
            text = linecache.getline(filename, number)
            if not text and number > lineno:
                break
            context.append((number, text.rstrip("\n")))
        project = in_project(filename, root)
        frames.append(
            Frame(
                file=filename,
                line=lineno,
                function=summary_frame.f_code.co_name,
                code=linecache.getline(filename, lineno).strip(),
                context=context,
                own=not is_library_file(filename),
                project=project,
                path=display_path(filename, root) if root is not None else filename,
                editor=editor_link(str(Path(filename).resolve()), lineno)
                if project and links
                else None,
            )
        )
    count = framework_prefix([frame.file for frame in frames])
    return frames[:count], frames[count:]


def describe(
    error: BaseException, root: str | Path | None = None, *, links: bool = True
) -> list[ExceptionInfo]:
    """The exception chain, oldest first (as Python prints it), ready to render.

    ``root`` (the project folder) makes paths relative and tells the user's frames from
    the libraries'; without it every frame outside webkit, Werkzeug, Flask and the
    installed packages counts as the user's.
    """
    base = Path(root).resolve() if root is not None else None
    chain: list[ExceptionInfo] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        folded, frames = _frames(current.__traceback__, base, links=links)
        info = ExceptionInfo(
            type=_type_name(type(current)),
            message=str(current),
            frames=frames,
            folded=folded,
            link=link,
            stack=folded + frames,
        )
        if isinstance(current, SyntaxError):
            info.message = current.msg or str(current)
            info.syntax = {
                "file": current.filename,
                "line": current.lineno,
                "offset": current.offset,
                "text": (current.text or "").rstrip("\n"),
            }
        chain.append(info)
        if current.__cause__ is not None:
            link = "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    chain.reverse()
    # Each link sentence belongs between an exception and the next (newer) one.
    sentences = [info.link for info in chain]
    for info, text in zip(chain, ["", *sentences[:-1]], strict=True):
        info.link = text
    return chain


def _type_name(cls: type[BaseException]) -> str:
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def render_text(error: BaseException) -> str:
    """The traceback as Python prints it, the framework's outermost frames folded."""
    return format_exception(error)


def render_json(error: BaseException, *, title: str) -> dict[str, Any]:
    """The JSON body: ``{"error": {"title", "type", "message", "traceback", "frames",
    "framework_frames"}}`` (``frames`` from the user's first; how many were folded)."""
    chain = describe(error)
    last = chain[-1]
    return {
        "error": {
            "title": title,
            "type": last.type,
            "message": last.message,
            "traceback": render_text(error),
            "frames": [
                {"file": f.file, "line": f.line, "function": f.function, "code": f.code}
                for f in last.frames
            ],
            "framework_frames": len(last.folded),
        }
    }


_CSS: Final = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1d1d1f; --muted: #6e6e73;
  --card: #f5f5f7; --accent: #c62828; --hl: #fde7e9; --border: #d2d2d7; }
@media (prefers-color-scheme: dark) { :root { --bg: #111; --fg: #eee; --muted: #9a9aa0;
  --card: #1c1c1e; --accent: #ff6b6b; --hl: #3a1d20; --border: #333; } }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.1rem; color: var(--accent); margin: 0 0 .25rem; text-transform: uppercase;
  letter-spacing: .04em; }
h2 { font-size: 1.5rem; margin: 0 0 .5rem; word-break: break-word; }
h2 code { font-size: 1.4rem; }
.hint { color: var(--muted); margin: 0 0 1.5rem; }
.link { color: var(--muted); font-style: italic; margin: 2rem 0 1rem; }
.frame { background: var(--card); border: 1px solid var(--border); border-radius: 8px;
  margin: .75rem 0; overflow: hidden; }
.frame.lib { opacity: .6; }
.where { padding: .5rem .9rem; font-size: .9rem; border-bottom: 1px solid var(--border); }
.where b { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; padding: .5rem 0; overflow-x: auto;
  font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre span { display: block; padding: 0 .9rem; white-space: pre; }
pre span.hl { background: var(--hl); }
pre span i { color: var(--muted); font-style: normal; user-select: none; }
details { margin-top: 2rem; }
summary { cursor: pointer; color: var(--muted); }
details.fold { margin: .75rem 0; }
details.fold .frame { opacity: .6; }
.frame.lead { border-color: var(--accent); }
a.open { float: right; color: var(--accent); font-size: .85rem; }
table.request { border-collapse: collapse; margin: 0 0 1.5rem; font-size: .9rem; }
table.request th { text-align: left; color: var(--muted); font-weight: normal;
  padding: .1rem 1rem .1rem 0; vertical-align: top; }
table.request td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; }
form.retry { margin: 0 0 1.5rem; }
form.retry button { font: inherit; padding: .3rem .9rem; border-radius: 6px;
  border: 1px solid var(--accent); background: var(--bg); color: var(--accent); cursor: pointer; }
"""


def _frame_html(frame: Frame, syntax: dict[str, Any] | None = None, *, lead: bool = False) -> str:
    esc = html.escape
    rows = []
    for number, text in frame.context:
        cls = ' class="hl"' if number == frame.line else ""
        rows.append(f"<span{cls}><i>{number:>5} </i>{esc(text)}</span>")
    if syntax and syntax.get("offset"):
        rows.append(f"<span><i>{'':>5} </i>{' ' * (int(syntax['offset']) - 1)}^</span>")
    code = "".join(rows) or f"<span>{esc(frame.code)}</span>"
    classes = "frame" + ("" if frame.own else " lib") + (" lead" if lead else "")
    shown = frame.path or frame.file
    where = f"<b>{esc(shown)}</b>, line {frame.line}, in <b>{esc(frame.function)}</b>"
    if frame.editor:
        where += f' <a class="open" href="{esc(frame.editor)}">Open in editor</a>'
    return f'<div class="{classes}"><div class="where">{where}</div><pre>{code}</pre></div>'


def _ordered(info: ExceptionInfo) -> tuple[list[Frame], list[Frame]]:
    """(the user's frames, the raising one first; every other frame, outermost first).

    Without a single frame of the user's (an error inside a library or webkit itself),
    the stack keeps its order, the framework's outermost frames folded as before.
    """
    mine = [frame for frame in info.stack if frame.project]
    if not mine:
        return info.frames, info.folded
    others = [frame for frame in info.stack if not frame.project]
    return list(reversed(mine)), others


def _syntax_frame(syntax: dict[str, Any], root: str | Path | None = None) -> Frame:
    """A frame for the place a SyntaxError points at (it is not on the stack)."""
    filename = str(syntax.get("file") or "<unknown>")
    lineno = int(syntax.get("line") or 0)
    context = []
    for number in range(max(1, lineno - CONTEXT_LINES), lineno + 1):
        text = linecache.getline(filename, number)
        context.append((number, text.rstrip("\n")))
    if not any(text for _, text in context):
        context = [(lineno, str(syntax.get("text") or ""))]
    base = Path(root).resolve() if root is not None else None
    project = in_project(filename, base)
    return Frame(
        file=filename,
        line=lineno,
        function="<module>",
        code="",
        context=context,
        project=project,
        path=display_path(filename, base) if base is not None else filename,
        editor=editor_link(str(Path(filename).resolve()), lineno) if project else None,
    )


def render_html(
    error: BaseException,
    *,
    title: str,
    hint: str,
    nonce: str,
    root: str | Path | None = None,
    request: list[tuple[str, str]] | None = None,
    actions: str = "",
) -> str:
    """A self-contained page (one ``<style nonce>``, no script of its own).

    Each exception leads with the frame of the user's code that raised, then their other
    frames (innermost first); the frames of the framework and the libraries are folded
    behind "N framework frames". ``request`` (label, value) rows are the summary of the
    request that failed; ``actions`` is trusted HTML (the retry form).
    """
    esc = html.escape
    parts = []
    chain = describe(error, root)
    for info in chain:
        if info.link:
            parts.append(f'<p class="link">{esc(info.link)}</p>')
        parts.append(f"<h2><code>{esc(info.type)}</code>: {esc(info.message)}</h2>")
        if info.syntax is not None:
            syntax = _syntax_frame(info.syntax, root)
            parts.append(_frame_html(syntax, info.syntax, lead=True))
        shown, folded = _ordered(info)
        for index, frame in enumerate(shown):
            parts.append(_frame_html(frame, lead=index == 0 and info.syntax is None))
        if folded:
            inner = "".join(_frame_html(frame) for frame in folded)
            summary = esc(fold_note(len(folded)).strip("[]"))
            if not all(is_framework_file(frame.file) for frame in folded):
                summary += " and libraries"
            parts.append(f'<details class="fold"><summary>{summary}</summary>{inner}</details>')
    body = "\n".join(parts)
    last = chain[-1]
    summary_html = ""
    if request:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in request)
        summary_html = f'<table class="request">{rows}</table>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}: {esc(last.type)}</title>
<style nonce="{nonce}">{_CSS}</style>
</head>
<body>
<main>
<h1>{esc(title)}</h1>
<p class="hint">{esc(hint)}</p>
{summary_html}{actions}
{body}
<details><summary>Plain traceback</summary><pre>{esc(render_text(error))}</pre></details>
</main>
</body>
</html>
"""


#: Field names whose values the page never shows (password, api_key, csrf_token, ...).
SECRET_NAME: Final = re.compile(
    r"pass|pwd|token|secret|key|csrf|xsrf|auth|session|cookie|credential|otp|pin|cvv|card|ssn",
    re.IGNORECASE,
)
#: The longest value shown in the request summary.
VALUE_LIMIT: Final = 80


def _shown_value(name: str, value: object) -> str:
    if SECRET_NAME.search(name):
        return "(hidden)"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def request_rows(environ: WSGIEnvironment, body: bytes | None) -> list[tuple[str, str]]:
    """The summary of a request: method and URL, then its form or JSON fields.

    Values of secret-looking fields (see :data:`SECRET_NAME`) are hidden; cookies and
    headers are not shown at all.
    """
    from urllib.parse import parse_qsl

    method = str(environ.get("REQUEST_METHOD", "GET"))
    url = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "/"))
    if not url.isascii():
        url = url.encode("latin-1").decode("utf-8", "replace")
    query = str(environ.get("QUERY_STRING", ""))
    rows = [("Request", f"{method} {url}")]
    for name, value in parse_qsl(query, keep_blank_values=True):
        rows.append((f"query {name}", _shown_value(name, value)))
    ctype = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    if not body:
        return rows
    if ctype == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", "replace")
        for name, value in parse_qsl(text, keep_blank_values=True):
            rows.append((f"form {name}", _shown_value(name, value)))
    elif ctype == "application/json" or ctype.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError:
            rows.append(("JSON", f"(not valid JSON, {len(body)} bytes)"))
        else:
            if isinstance(data, dict):
                for name, value in data.items():
                    rows.append((f"json {name}", _shown_value(str(name), value)))
            else:
                rows.append(("JSON", f"({type(data).__name__}, {len(body)} bytes)"))
    elif ctype == "multipart/form-data":
        from werkzeug.formparser import parse_form_data

        copy = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        _, form, files = parse_form_data(copy)
        for name, value in form.items(multi=True):
            rows.append((f"form {name}", _shown_value(name, value)))
        for name, upload in files.items(multi=True):
            rows.append((f"file {name}", upload.filename or "(no name)"))
    else:
        rows.append(("Body", f"{ctype or 'no Content-Type'}, {len(body)} bytes"))
    return rows


def page_csp(nonce: str) -> str:
    """The error page's policy: its one nonce'd style, same-origin scripts (live reload)
    and event stream, and forms posting to this origin only (the retry button)."""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'self'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'"
    )


def retry_form(entry_id: str) -> str:
    """The "Retry this request" button: replays the failed request (errorstore.py)."""
    from webkit_cli.server.editor import run_token
    from webkit_cli.server.errorstore import RETRY_PREFIX

    esc = html.escape
    return (
        f'<form class="retry" method="post" action="{RETRY_PREFIX}{esc(entry_id)}">'
        f'<input type="hidden" name="token" value="{esc(run_token())}">'
        '<button type="submit">Retry this request</button> '
        '<span class="hint">sends it again (method, form or JSON body, cookies) to the '
        "current code: save your fix first.</span></form>"
    )


def stored_page(
    error: BaseException,
    environ: WSGIEnvironment,
    body: bytes | None,
    *,
    root: str | Path | None,
    entry_id: str,
) -> tuple[str, str]:
    """(HTML, CSP) of the traceback page kept for the overlay's link."""
    nonce = secrets.token_urlsafe(16)
    page = render_html(
        error,
        title=REQUEST_TITLE,
        hint="The traceback is also in the terminal running webkit.",
        nonce=nonce,
        root=root,
        request=request_rows(environ, body),
        actions=retry_form(entry_id),
    )
    return page, page_csp(nonce)


def summary_line(error: BaseException) -> str:
    """``KeyError: 'x'`` as a header value: ASCII, one line, at most 200 characters."""
    text = f"{type(error).__name__}: {error}"
    text = " ".join(text.split()).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= 200 else text[:199] + "~"


def negotiate(environ: WSGIEnvironment) -> str:
    """``text/html``, ``application/json`` or ``text/plain`` for this request's ``Accept``."""
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    if not accept:
        return "text/html"
    # HTML first: a browser's "*/*;q=0.8" must not turn the page into JSON.
    return accept.best_match(["text/html", "application/json", "text/plain"]) or "text/html"


def error_response(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    error: BaseException,
    *,
    title: str,
    hint: str,
    exc_info: Any = None,
    root: str | Path | None = None,
    body: bytes | None = None,
    actions: str = "",
    retry_id: str | None = None,
) -> list[bytes]:
    """Answer one request with a 500 describing ``error``.

    ``root`` is the project folder (relative paths, the user's frames first); ``body`` the
    request's body as read before the app ran, for the summary at the top.
    """
    mimetype = negotiate(environ)
    headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
    actions = actions or (retry_form(retry_id) if retry_id else "")
    if mimetype == "application/json":
        content = json.dumps(render_json(error, title=title), indent=2).encode() + b"\n"
        headers.append(("Content-Type", "application/json"))
    elif mimetype == "text/plain":
        content = f"{title}\n{hint}\n\n{render_text(error)}".encode()
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    else:
        nonce = secrets.token_urlsafe(16)
        rows = request_rows(environ, body) if title == REQUEST_TITLE else None
        content = render_html(
            error, title=title, hint=hint, nonce=nonce, root=root, request=rows, actions=actions
        ).encode()
        headers.append(("Content-Type", "text/html; charset=utf-8"))
        # The page's only style is nonce'd; scripts may come from this origin only (the
        # live-reload script) and it may open its event stream.
        headers.append(("Content-Security-Policy", page_csp(nonce)))
    headers.append(("Content-Length", str(len(content))))
    start_response("500 Internal Server Error", headers, exc_info)
    return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [content]


def error_app(
    error: BaseException, *, reload: bool, live_reload: bool, root: str | Path | None = None
) -> WSGIApplication:
    """A WSGI app that answers every request with the 500 page of a failed app load."""
    if live_reload:
        hint = "webkit is still serving: save a fix and this page reloads by itself."
    elif reload:
        hint = "webkit is still serving: save a fix, then reload this page."
    else:
        hint = "Fix the error, then restart webkit run (it was started with --no-reload)."

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return error_response(
            environ, start_response, error, title=LOAD_TITLE, hint=hint, root=root
        )

    return app

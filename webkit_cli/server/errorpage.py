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
import json
import linecache
import secrets
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from webkit_cli.server.tracebacks import fold_note, format_exception, framework_prefix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Lines of source shown around the failing line of each frame.
CONTEXT_LINES: Final = 3


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


@dataclass
class ExceptionInfo:
    """One exception of a chain: its type, message, frames, and the syntax error spot."""

    type: str
    message: str
    #: from the user's first frame on
    frames: list[Frame]
    #: the outermost frames, webkit's, Werkzeug's and Flask's dispatch: shown folded
    folded: list[Frame] = field(default_factory=list)
    #: text placed before this exception, e.g. "The above exception was the direct cause..."
    link: str = ""
    syntax: dict[str, Any] | None = None


def _is_library(filename: str) -> bool:
    return (
        "site-packages" in filename
        or "dist-packages" in filename
        or filename.startswith("<frozen ")
        or filename.startswith(traceback.__file__.rsplit("/", 1)[0])
    )


def _frames(stack: traceback.StackSummary) -> tuple[list[Frame], list[Frame]]:
    """(folded framework frames, the rest) of ``stack``, outermost first."""
    frames = []
    for summary in stack:
        filename = summary.filename
        # importlib's machinery says nothing about the user's bug.
        if filename.startswith("<frozen importlib"):
            continue
        lineno = summary.lineno or 0
        context = []
        for number in range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1):
            text = linecache.getline(filename, number)
            if not text and number > lineno:
                break
            context.append((number, text.rstrip("\n")))
        frames.append(
            Frame(
                file=filename,
                line=lineno,
                function=summary.name,
                code=(summary.line or "").strip(),
                context=context,
                own=not _is_library(filename),
            )
        )
    count = framework_prefix([frame.file for frame in frames])
    return frames[:count], frames[count:]


def describe(error: BaseException) -> list[ExceptionInfo]:
    """The exception chain, oldest first (as Python prints it), ready to render."""
    chain: list[ExceptionInfo] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        te = traceback.TracebackException.from_exception(current, capture_locals=False)
        folded, frames = _frames(te.stack)
        info = ExceptionInfo(
            type=_type_name(type(current)),
            message=str(current),
            frames=frames,
            folded=folded,
            link=link,
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
    links = [info.link for info in chain]
    for info, text in zip(chain, ["", *links[:-1]], strict=True):
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
"""


def _frame_html(frame: Frame, syntax: dict[str, Any] | None = None) -> str:
    esc = html.escape
    rows = []
    for number, text in frame.context:
        cls = ' class="hl"' if number == frame.line else ""
        rows.append(f"<span{cls}><i>{number:>5} </i>{esc(text)}</span>")
    if syntax and syntax.get("offset"):
        rows.append(f"<span><i>{'':>5} </i>{' ' * (int(syntax['offset']) - 1)}^</span>")
    code = "".join(rows) or f"<span>{esc(frame.code)}</span>"
    lib = "" if frame.own else " lib"
    return (
        f'<div class="frame{lib}"><div class="where"><b>{esc(frame.file)}</b>, '
        f"line {frame.line}, in <b>{esc(frame.function)}</b></div><pre>{code}</pre></div>"
    )


def _syntax_frame(syntax: dict[str, Any]) -> Frame:
    """A frame for the place a SyntaxError points at (it is not on the stack)."""
    filename = str(syntax.get("file") or "<unknown>")
    lineno = int(syntax.get("line") or 0)
    context = []
    for number in range(max(1, lineno - CONTEXT_LINES), lineno + 1):
        text = linecache.getline(filename, number)
        context.append((number, text.rstrip("\n")))
    if not any(text for _, text in context):
        context = [(lineno, str(syntax.get("text") or ""))]
    return Frame(file=filename, line=lineno, function="<module>", code="", context=context)


def render_html(error: BaseException, *, title: str, hint: str, nonce: str) -> str:
    """A self-contained page (one ``<style nonce>``, no script of its own)."""
    esc = html.escape
    parts = []
    for info in describe(error):
        if info.link:
            parts.append(f'<p class="link">{esc(info.link)}</p>')
        parts.append(f"<h2><code>{esc(info.type)}</code>: {esc(info.message)}</h2>")
        if info.folded:
            folded = "".join(_frame_html(frame) for frame in info.folded)
            summary = esc(fold_note(len(info.folded)).strip("[]"))
            parts.append(f'<details class="fold"><summary>{summary}</summary>{folded}</details>')
        parts.extend(_frame_html(frame) for frame in info.frames)
        if info.syntax is not None:
            parts.append(_frame_html(_syntax_frame(info.syntax), info.syntax))
    body = "\n".join(parts)
    last = describe(error)[-1]
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
{body}
<details><summary>Plain traceback</summary><pre>{esc(render_text(error))}</pre></details>
</main>
</body>
</html>
"""


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
) -> list[bytes]:
    """Answer one request with a 500 describing ``error``."""
    mimetype = negotiate(environ)
    headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
    if mimetype == "application/json":
        body = json.dumps(render_json(error, title=title), indent=2).encode() + b"\n"
        headers.append(("Content-Type", "application/json"))
    elif mimetype == "text/plain":
        body = f"{title}\n{hint}\n\n{render_text(error)}".encode()
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    else:
        nonce = secrets.token_urlsafe(16)
        body = render_html(error, title=title, hint=hint, nonce=nonce).encode()
        headers.append(("Content-Type", "text/html; charset=utf-8"))
        # The page's only style is nonce'd; scripts may come from this origin only (the
        # live-reload script) and it may open its event stream.
        headers.append(
            (
                "Content-Security-Policy",
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'self'; "
                "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
            )
        )
    headers.append(("Content-Length", str(len(body))))
    start_response("500 Internal Server Error", headers, exc_info)
    return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


LOAD_TITLE: Final = "The app failed to load"
REQUEST_TITLE: Final = "The request failed"


def error_app(error: BaseException, *, reload: bool, live_reload: bool) -> WSGIApplication:
    """A WSGI app that answers every request with the 500 page of a failed app load."""
    if live_reload:
        hint = "webkit is still serving: save a fix and this page reloads by itself."
    elif reload:
        hint = "webkit is still serving: save a fix, then reload this page."
    else:
        hint = "Fix the error, then restart webkit run (it was started with --no-reload)."

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        return error_response(environ, start_response, error, title=LOAD_TITLE, hint=hint)

    return app

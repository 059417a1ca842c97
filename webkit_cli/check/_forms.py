"""The POST forms of a template's HTML, for the CSRF rules (:mod:`.csrf`).

Its own module so that :mod:`html.parser` is imported only when a form is looked at: a
cached run looks at none.
"""

from __future__ import annotations

from html.parser import HTMLParser


class FormFinder(HTMLParser):
    """Collects ``<form method=post>`` spans (start offset, end offset, line, action)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)
        self.open: list[tuple[int, int, bool]] = []
        self.forms: list[tuple[int, int, int]] = []
        self.length = len(text)

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "form":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        method = values.get("method", "get").strip().lower()
        action = values.get("action", "").strip().lower()
        external = action.startswith(("http://", "https://", "//"))
        post = method == "post" and not external
        self.open.append((self._offset(), self.getpos()[0], post))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open:
            start, line, post = self.open.pop()
            if post:
                self.forms.append((start, self._offset(), line))

    def finish(self) -> list[tuple[int, int, int]]:
        self.close()
        for start, line, post in self.open:  # unclosed: runs to the end
            if post:
                self.forms.append((start, self.length, line))
        return self.forms

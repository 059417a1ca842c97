"""The route table: an aligned layout printed through rich, or as plain text for pipes.

The table is laid out here rather than with ``rich.table.Table``: rich's Table measured
1.6 s for 5000 rows (it measures and wraps every cell), more than the whole of
``flask routes`` on that app, whereas this layout, one line per route, costs ~20 ms
coloured and ~5 ms plain. Nothing here imports rich at module level: plain output to a
pipe never needs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webkit_cli.routes.model import VARIABLE_RE, RouteInfo
from webkit_cli.routes.paths import PathDisplay

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.style import Style

METHOD_STYLES = {
    "GET": "green",
    "POST": "yellow",
    "PUT": "cyan",  # not blue: dim on dark backgrounds
    "PATCH": "magenta",
    "DELETE": "red",
    "HEAD": "dim",
    "OPTIONS": "dim",
}

_GAP = "  "
_ELLIPSIS = "…"

# A cell is a run of fragments: (text, rich style name or None, hyperlink URL or None).
Fragment = tuple[str, str | None, str | None]
Cell = tuple[Fragment, ...]


def _rule_cell(rule: str) -> Cell:
    """The rule with each ``<converter:variable>`` as its own, highlighted fragment."""
    if "<" not in rule:
        return ((rule, None, None),)
    fragments: list[Fragment] = []
    pos = 0
    for match in VARIABLE_RE.finditer(rule):
        if match.start() > pos:
            fragments.append((rule[pos : match.start()], None, None))
        fragments.append((match.group(0), "cyan", None))
        pos = match.end()
    if pos < len(rule):
        fragments.append((rule[pos:], None, None))
    return tuple(fragments)


def _methods_cell(text: str) -> Cell:
    """``"GET, POST"`` with each method in its colour."""
    if text == "ANY":
        return (("ANY", "bold", None),)
    fragments: list[Fragment] = []
    for i, method in enumerate(text.split(", ")):
        if i:
            fragments.append((", ", None, None))
        fragments.append((method, METHOD_STYLES.get(method, "bold"), None))
    return tuple(fragments)


def _cell_len(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _width(cell: Cell) -> int:
    return sum(_cell_len(text) for text, _, _ in cell)


def _truncate(cell: Cell, width: int, *, keep_end: bool) -> Cell:
    """Cut ``cell`` to ``width`` columns with an ellipsis, keeping its start or its end."""
    if width <= 0:
        return ()
    if _width(cell) <= width:
        return cell
    budget = width - 1
    kept: list[Fragment] = []
    for text, style, link in reversed(cell) if keep_end else cell:
        if budget <= 0:
            break
        size = _cell_len(text)
        if size > budget:
            text = _chop(text, budget, keep_end=keep_end)
            size = _cell_len(text)
        kept.append((text, style, link))
        budget -= size
    if keep_end:
        kept.reverse()
        return ((_ELLIPSIS, "dim", None), *kept)
    return (*kept, (_ELLIPSIS, "dim", None))


def _chop(text: str, width: int, *, keep_end: bool) -> str:
    if text.isascii():
        return text[-width:] if keep_end else text[:width]
    from rich.cells import cell_len

    chars = list(reversed(text)) if keep_end else list(text)
    out: list[str] = []
    for ch in chars:
        if cell_len("".join(out) + ch) > width:
            break
        out.append(ch)
    return "".join(reversed(out)) if keep_end else "".join(out)


class _Column:
    """One column: each cell's plain text and width, computed once; its styled fragments
    only when a colour terminal asks (plain output, the common case for 5000 routes in a
    pipe, never builds them)."""

    __slots__ = (
        "header",
        "texts",
        "sizes",
        "styles",
        "links",
        "fragment",
        "min_width",
        "keep_end",
        "tail_sep",
    )

    def __init__(
        self,
        header: str,
        min_width: int,
        *,
        keep_end: bool,
        fragment: Callable[[str], Cell] | None = None,
        tail_sep: str | None = None,
    ) -> None:
        self.header = header
        self.texts: list[str] = []
        self.sizes: list[int] = []
        self.styles: list[str | None] = []
        self.links: list[str | None] = []
        self.fragment = fragment  # text -> fragments, for columns styled piece by piece
        self.min_width = min_width  # shrinking stops here
        self.keep_end = keep_end  # truncate on the left (paths, dotted names), else right
        # A cell cut on the left still says enough while its last segment after this
        # separator shows whole (helpers.py:71 of a path, the function of a dotted view).
        self.tail_sep = tail_sep

    def add(self, text: str, style: str | None = None, link: str | None = None) -> None:
        self.texts.append(text)
        self.sizes.append(len(text) if text.isascii() else _cell_len(text))
        self.styles.append(style)
        self.links.append(link)

    def needs_full(self, row: int, width: int) -> bool:
        """Whether the cell of ``row``, cut to ``width``, must also be shown in full."""
        if self.sizes[row] <= width:
            return False
        if self.tail_sep is None:
            return True
        return _cell_len(self.texts[row].rsplit(self.tail_sep, 1)[-1]) > width - 1

    def cell(self, row: int) -> Cell:
        text = self.texts[row]
        if self.fragment is not None:
            return self.fragment(text)
        return ((text, self.styles[row], self.links[row]),)

    @property
    def natural_width(self) -> int:
        return max(len(self.header), max(self.sizes, default=0))


#: Columns shortened to fit, in this order; Methods and Rule never are (a cut rule is a
#: wrong rule). Past the comfortable minimums, View then Source are hidden rather than
#: cut to a few characters each.
_SHRINK_ORDER = ("View", "Source", "Endpoint", "Host", "Subdomain")
_HIDE_ORDER = ("View", "Source")
#: The second line of a row whose cells were cut starts with this, under the Rule.
_MORE = "↳ "

# One printed line: (cell, its width, the column's width) per visible column.
Line = list[tuple[Cell, int, int]]


@dataclass(frozen=True)
class Layout:
    """The columns shown and their widths; ``hidden`` names the columns left out."""

    columns: list[_Column]
    widths: list[int]
    hidden: tuple[str, ...] = ()
    #: columns before the Rule (their widths and gaps): where a row's second line starts
    indent: int = 0


@dataclass
class RouteTable:
    """The route table as a layout: headers, cells and a summary line.

    Print it with a rich Console (``console.print(table, soft_wrap=True)``): it fits the
    console width on a terminal. Methods and Rule are never shortened; View, Source,
    Endpoint then Host shrink to a comfortable minimum, then View and Source are hidden;
    a row whose cells were cut gets a second line with them in full. :meth:`plain` gives
    the same layout as text, for pipes.
    """

    columns: list[_Column]
    summary: str
    fit: bool = True

    @property
    def row_count(self) -> int:
        return len(self.columns[0].texts) if self.columns else 0

    def widths(self, max_width: int | None) -> list[int]:
        """Widths of the columns :meth:`layout` shows (hidden ones left out)."""
        return self.layout(max_width).widths

    def layout(self, max_width: int | None) -> Layout:
        """The columns and widths that fit ``max_width`` (everything when ``None``)."""
        if max_width is None:
            return Layout(self.columns, [c.natural_width for c in self.columns])
        attempts: list[tuple[tuple[str, ...], str]] = [((), "comfortable")]
        hidden: tuple[str, ...] = ()
        for header in _HIDE_ORDER:
            if any(c.header == header for c in self.columns):
                hidden = (*hidden, header)
                attempts.append((hidden, "comfortable"))
        attempts.append((hidden, "header"))
        # A layout that fits and cuts few rows (each cut row takes a second line) wins;
        # else the one that cuts fewest: hiding View is better than a second line for
        # every row, and Source is kept whenever only a few long paths are cut.
        tolerated = max(2, self.row_count // 4)
        best: tuple[int, tuple[str, ...], list[_Column], list[int]] | None = None
        for hide, floor in attempts:
            shown = [c for c in self.columns if c.header not in hide]
            widths, excess = _shrink(shown, max_width, floor)
            if excess > 0 and floor == "comfortable":
                continue
            cut = _cut_rows(shown, widths)
            if best is None or cut < best[0]:
                best = (cut, hide, shown, widths)
            if cut <= tolerated:
                break
        assert best is not None  # the last attempt is always taken
        _, hide, shown, widths = best
        rule_at = next((i for i, c in enumerate(shown) if c.header == "Rule"), 0)
        indent = sum(widths[:rule_at]) + len(_GAP) * rule_at
        return Layout(shown, widths, hide, indent)

    def _row(self, layout: Layout, row: int) -> tuple[Line, list[Cell]]:
        """One row's cells fitted to ``layout``, and the cut cells in full."""
        line: Line = []
        cut: list[Cell] = []
        for column, width in zip(layout.columns, layout.widths, strict=True):
            cell, size = column.cell(row), column.sizes[row]
            if size > width:
                if column.needs_full(row, width):
                    cut.append(cell)
                cell = _truncate(cell, width, keep_end=column.keep_end)
                size = _width(cell)
            line.append((cell, size, width))
        return line, cut

    def lines(self, max_width: int | None) -> Iterator[Line]:
        """Each line: the header, a rule, the rows (each maybe followed by its full cells)."""
        layout = self.layout(max_width)
        yield [
            (((c.header, "bold", None),), len(c.header), w)
            for c, w in zip(layout.columns, layout.widths, strict=True)
        ]
        yield [((("-" * w, "dim", None),), w, w) for w in layout.widths]
        for row in range(self.row_count):
            line, cut = self._row(layout, row)
            yield line
            if cut:
                more: list[Fragment] = [(" " * layout.indent + _MORE, "dim", None)]
                for i, cell in enumerate(cut):
                    more.extend([(_GAP, None, None)] if i else [])
                    more.extend(cell)
                yield [(tuple(more), _width(tuple(more)), 0)]

    def footer(self, max_width: int | None) -> str:
        """The summary, saying which columns were hidden to fit."""
        hidden = self.layout(max_width).hidden
        if not hidden:
            return self.summary
        names = " and ".join(hidden)
        return f"{self.summary} ({names} hidden to fit the width)"

    def plain(self, max_width: int | None = None) -> str:
        """The table and summary as aligned plain text (no trailing spaces)."""
        if max_width is None:
            return self._plain_full()
        out = []
        for line in self.lines(max_width):
            parts = []
            for cell, size, width in line:
                text = "".join(f[0] for f in cell)
                parts.append(text + " " * (width - size) if size < width else text)
            out.append(_GAP.join(parts).rstrip())
        return "\n".join([*out, "", self.footer(max_width)]) + "\n"

    def _plain_full(self) -> str:
        # The pipe's path (5000 routes in ~5 ms): nothing is cut, no fragments are built.
        widths = [c.natural_width for c in self.columns]
        out = [
            _GAP.join(c.header.ljust(w) for c, w in zip(self.columns, widths, strict=True)),
            _GAP.join("-" * w for w in widths),
        ]
        columns = [(c.texts, c.sizes, w) for c, w in zip(self.columns, widths, strict=True)]
        for row in range(self.row_count):
            parts = []
            for texts, sizes, width in columns:
                text, size = texts[row], sizes[row]
                parts.append(text + " " * (width - size) if size < width else text)
            out.append(_GAP.join(parts).rstrip())
        out[0] = out[0].rstrip()
        out.append("")
        out.append(self.summary)
        return "\n".join(out) + "\n"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        max_width = options.max_width if self.fit else None
        if console.no_color or console.color_system is None:
            # No styles to apply: one segment is ~30x cheaper than one per fragment.
            yield Segment(self.plain(max_width))
            return
        styles: dict[tuple[str | None, str | None], Style | None] = {}

        def style_for(name: str | None, link: str | None) -> Style | None:
            key = (name, link)
            if key not in styles:
                from rich.style import Style

                style = console.get_style(name) if name else None
                if link:
                    style = (style or Style()) + Style(link=link)
                styles[key] = style
            return styles[key]

        gap = Segment(_GAP)
        newline = Segment.line()
        for line in self.lines(max_width):
            last = len(line) - 1
            for i, (cell, size, width) in enumerate(line):
                if i:
                    yield gap
                for text, name, link in cell:
                    yield Segment(text, style_for(name, link))
                if size < width and i < last:
                    yield Segment(" " * (width - size))
            yield newline
        yield newline
        yield Segment(self.footer(max_width), style_for("dim", None))
        yield newline


def _cut_rows(columns: list[_Column], widths: list[int]) -> int:
    """How many rows have a cell wider than its column."""
    cut = [False] * (len(columns[0].sizes) if columns else 0)
    for column, width in zip(columns, widths, strict=True):
        if column.natural_width > width:
            for row in range(len(cut)):
                if not cut[row] and column.needs_full(row, width):
                    cut[row] = True
    return sum(cut)


def _shrink(columns: list[_Column], max_width: int, floor: str) -> tuple[list[int], int]:
    """Widths of ``columns`` cut in :data:`_SHRINK_ORDER` towards ``floor``; the excess left."""
    widths = [c.natural_width for c in columns]
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - max_width
    by_header = {c.header: i for i, c in enumerate(columns)}
    # First down to each column's comfortable minimum, then (floor "header", a very narrow
    # terminal) down to its header's width.
    for level in ("comfortable", "header") if floor == "header" else ("comfortable",):
        for header in _SHRINK_ORDER:
            if excess <= 0:
                return widths, excess
            i = by_header.get(header)
            if i is None:
                continue
            minimum = len(header)
            if level == "comfortable":
                minimum = max(columns[i].min_width, minimum)
            cut = min(widths[i] - minimum, excess)
            if cut > 0:
                widths[i] -= cut
                excess -= cut
    return widths, excess


def summary_line(shown: Sequence[RouteInfo], total: int) -> str:
    """``12 routes: app 3, blog 5, blog.admin 4`` (``3 of 12 routes`` when filtered)."""
    count = Counter(r.blueprint or "app" for r in shown)
    noun = "route" if total == 1 else "routes"
    head = f"{len(shown)} {noun}" if len(shown) == total else f"{len(shown)} of {total} {noun}"
    if not shown:
        return head
    # The app's own routes first, then blueprints alphabetically.
    names = sorted(count, key=lambda n: (n != "app" or "app" not in count, n))
    return head + ": " + ", ".join(f"{name} {count[name]}" for name in names)


def build_table(
    routes: Sequence[RouteInfo],
    *,
    root: Path | str | None = None,
    all_methods: bool = False,
    total: int | None = None,
    fit: bool = True,
    paths: PathDisplay | None = None,
) -> RouteTable:
    """The route table for ``routes`` in the given order (sort them first).

    Columns: Methods, [Host | Subdomain], Rule, Endpoint, View, Source; Host/Subdomain
    only when some route uses one. Redirect rules show ``→ target`` as their view.
    """
    paths = paths or PathDisplay(root)
    domain_header = None
    if any(r.host for r in routes):
        domain_header = "Host"
    elif any(r.subdomain for r in routes):
        domain_header = "Subdomain"
    methods = _Column("Methods", 3, keep_end=False, fragment=_methods_cell)
    domains = _Column(domain_header or "", 12, keep_end=False, fragment=_rule_cell)
    rules = _Column("Rule", 16, keep_end=False, fragment=_rule_cell)
    endpoints = _Column("Endpoint", 12, keep_end=False)
    views = _Column("View", 12, keep_end=True, tail_sep=".")
    sources = _Column("Source", 12, keep_end=True, tail_sep="/")
    for r in routes:
        shown_methods = r.methods if all_methods else r.visible_methods()
        methods.add(", ".join(shown_methods) if shown_methods else "ANY")
        if domain_header:
            domains.add(r.host or r.subdomain or "")
        rules.add(r.rule)
        endpoints.add(r.endpoint)
        if r.redirect_to is not None:
            views.add("→ " + r.redirect_to, "yellow")
        elif r.view is None:
            views.add("(no view)", "red")
        else:
            views.add(r.view.replace(":", ".", 1))
        if r.source_file:
            file = r.source_file
            # Not blue: ANSI blue is hard to read on a dark background. Dim default text
            # reads on dark and light terminals alike.
            sources.add(f"{paths.relative(file)}:{r.source_line}", "dim", paths.uri(file))
        else:
            sources.add("")
    columns = [methods, *([domains] if domain_header else []), rules, endpoints, views, sources]
    summary = summary_line(routes, len(routes) if total is None else total)
    return RouteTable(columns=columns, summary=summary, fit=fit)

"""The room list's rows — section headers and rooms — as a Line API view.

Only the rows on screen are drawn, and each drawn line is cached under everything it shows
(the row, its :class:`RoomLook`, the width, the cursor), so a redraw after a sync renders only
the rows whose content changed. New rows keep the cursor on the same row (else the same room)
and the viewport where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tuimatrix.core.sections import Node, RoomRef
from tuimatrix.widgets.room_row import (
    Layout,
    RoomLook,
    fit_columns,
    join_cells,
    room_cells,
    titles_line,
)


class HeaderRow(NamedTuple):
    """A section's header: ``▾ Favourites (3)``."""

    id: tuple[object, ...]
    section: str
    title: str
    size: int
    folded: bool


class RoomRow(NamedTuple):
    """A room in a section (in the Spaces tree, at its depth under its spaces)."""

    id: tuple[object, ...]
    section: str
    ref: RoomRef
    depth: int
    path: tuple[str, ...]
    #: a space with children under it, and whether they are folded away
    has_children: bool
    folded: bool


Row = HeaderRow | RoomRow


def header_row(section: str, title: str, count: int, folded: bool) -> HeaderRow:
    return HeaderRow(("header", section), section, title, count, folded)


def room_row(section: str, node: Node, folded: bool) -> RoomRow:
    return RoomRow(
        ("room", section, node.path, node.ref),
        section,
        node.ref,
        node.depth,
        node.path,
        node.has_children,
        folded,
    )


#: the room's look for a row, or None while the room is unknown
LookUp = Callable[[RoomRow], RoomLook | None]


class RoomTree(ScrollView, can_focus=True):
    """Section headers and rooms, with a cursor; the first line holds the column titles."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "room-tree--cursor",
        "room-tree--header",
        "room-tree--titles",
    }
    DEFAULT_CSS = """
    RoomTree {
        scrollbar-gutter: stable;
        overflow-x: hidden;
        overflow-y: auto;
        & > .room-tree--cursor { background: $block-cursor-blurred-background; }
        &:focus > .room-tree--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .room-tree--header { color: $text-accent; text-style: bold; }
        & > .room-tree--titles { color: $text-muted; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("enter", "activate", "Open", show=False),
        Binding("space", "fold_header", "Fold", show=False),
        Binding("left", "fold", "Fold", show=False),
        Binding("right", "unfold", "Unfold", show=False),
    ]

    @dataclass
    class Activated(Message):
        """Enter (or a click on the cursor's row) on a row."""

        row: Row

    @dataclass
    class FoldRequested(Message):
        """Fold (True), unfold (False) or toggle (None) a section or a space's subtree."""

        row: Row
        fold: bool | None

    def __init__(self, look_up: LookUp, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._look_up = look_up
        self._rows: list[Row] = []
        self._cursor = 0
        self._columns: tuple[str, ...] = ("name",)
        self._account_width = 0
        self._layout: Layout = ()
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._base: Style | None = None
        self._width = 0
        #: how many lines were rendered (not served from the cache), for the benchmark
        self.rendered = 0
        #: the user has moved the cursor (until then the screen may place it)
        self.user_moved = False

    # -- public API ------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[Row]:
        return self._rows

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def cursor_row(self) -> Row | None:
        return self._rows[self._cursor] if 0 <= self._cursor < len(self._rows) else None

    def set_columns(self, columns: Sequence[str], account_width: int) -> None:
        """Which columns to show (in order) and how wide the account column wants to be."""
        if (tuple(columns), account_width) != (self._columns, self._account_width):
            self._columns, self._account_width = tuple(columns), account_width
            self._relayout()

    def set_rows(self, rows: list[Row], *, cursor: tuple[object, ...] | None = None) -> None:
        """Show ``rows``, keeping the cursor on the same row — or on the same room elsewhere,
        or else at the same index — and the viewport on the same content.

        ``cursor`` (a row id) puts the cursor on that row instead, if it is there.
        """
        old = self.cursor_row
        height = self._body_height()
        first = self.scroll_offset.y
        old_offset = self._cursor - first
        cursor_visible = 0 <= old_offset < height
        top = self._rows[first] if first < len(self._rows) else None
        shown = self._rows[first : first + height], self._cursor, first
        self._rows = rows
        if cursor is not None:
            target = self._find_id(cursor)
        elif old is None:
            target = None
        else:
            target = self._find_row(old, self._cursor)
            if target is None and isinstance(old, RoomRow):
                target = self._find_ref(old.ref)
        self._cursor = self._clamp(self._cursor if target is None else target)
        self.virtual_size = Size(self.virtual_size.width, len(rows) + 1)
        if cursor is not None:
            self._scroll_cursor_into_view()
        elif cursor_visible:
            self._scroll_y_to(self._cursor - old_offset)
        elif top is not None and (i := self._find_row(top, self.scroll_offset.y)) is not None:
            self._scroll_y_to(i)
        first = self.scroll_offset.y
        if shown != (rows[first : first + height], self._cursor, first):
            # Something on screen changed: redraw (unchanged lines come from the cache).
            self.refresh()

    def refresh_refs(self, refs: Iterable[RoomRef]) -> None:
        """Redraw the rows of these rooms that are on screen (only those lines)."""
        wanted = set(refs)
        first = self.scroll_offset.y
        for i in range(first, min(len(self._rows), first + self._body_height())):
            row = self._rows[i]
            if isinstance(row, RoomRow) and row.ref in wanted:
                self.refresh_line(i + 1)

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row ``index`` (clamped) and scroll it into view."""
        old, self._cursor = self._cursor, self._clamp(index)
        if old != self._cursor:
            self.refresh_line(old + 1)
            self.refresh_line(self._cursor + 1)
        self._scroll_cursor_into_view()

    def move_to_ref(self, ref: RoomRef) -> bool:
        """Put the cursor on the first row of room ``ref``; False if it is not shown."""
        i = self._find_ref(ref)
        if i is not None:
            self.move_cursor(i)
        return i is not None

    def first_room(self) -> int | None:
        return next((i for i, r in enumerate(self._rows) if isinstance(r, RoomRow)), None)

    # -- actions ---------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.user_moved = True
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.user_moved = True
        self.move_cursor(self._cursor + 1)

    def action_cursor_first(self) -> None:
        self.user_moved = True
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.user_moved = True
        self.move_cursor(len(self._rows) - 1)

    def action_page_up(self) -> None:
        self.user_moved = True
        self.move_cursor(self._cursor - max(1, self._body_height() - 1))

    def action_page_down(self) -> None:
        self.user_moved = True
        self.move_cursor(self._cursor + max(1, self._body_height() - 1))

    def action_activate(self) -> None:
        if (row := self.cursor_row) is not None:
            self.post_message(self.Activated(row))

    def action_fold_header(self) -> None:
        """Space folds on a header; on a room it is the screen's key (next unread)."""
        row = self.cursor_row
        if not isinstance(row, HeaderRow):
            raise SkipAction()
        self.post_message(self.FoldRequested(row, None))

    def action_fold(self) -> None:
        """Fold the header or space under the cursor; on a room, go up to its parent."""
        row = self.cursor_row
        if row is None:
            return
        if isinstance(row, HeaderRow) or (row.has_children and not row.folded):
            if not (isinstance(row, HeaderRow) and row.folded):
                self.post_message(self.FoldRequested(row, True))
            return
        for i in range(self._cursor - 1, -1, -1):
            above = self._rows[i]
            if isinstance(above, HeaderRow) or above.depth < row.depth:
                self.move_cursor(i)
                return

    def action_unfold(self) -> None:
        row = self.cursor_row
        if row is not None and row.folded:
            self.post_message(self.FoldRequested(row, False))

    # -- Line API --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the view: the column titles, then the rows from the scroll offset."""
        if self._width != self.scrollable_content_region.width:
            # The first frame is painted before the first Resize arrives: lay out now, or
            # that frame would show no rooms.
            self._relayout()
        width = self._width
        if y == 0:
            key: tuple[object, ...] = ("titles", self._layout, width)
            strip = self._strips.get(key)
            if strip is None:
                style = self.get_component_rich_style("room-tree--titles")
                strip = self._strip(titles_line(self._layout), width, style)
                self._strips.set(key, strip)
            return strip
        i = self.scroll_offset.y + y - 1
        if not 0 <= i < len(self._rows):
            return Strip.blank(width, self._base_style())
        row = self._rows[i]
        look = self._look_up(row) if isinstance(row, RoomRow) else None
        selected = i == self._cursor
        key = (row, look, width, self._layout, selected, selected and self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(row, look, width, selected)
            self._strips.set(key, strip)
        return strip

    def _render_row(self, row: Row, look: RoomLook | None, width: int, selected: bool) -> Strip:
        self.rendered += 1
        if isinstance(row, HeaderRow):
            marker = "▸" if row.folded else "▾"
            line = Text(f"{marker} {row.title} ({row.size})", no_wrap=True, end="")
            style = self.get_component_rich_style("room-tree--header")
        else:
            cells = room_cells(look) if look is not None else {"name": Text("  …")}
            line = join_cells(cells, self._layout)
            style = Style()
        if selected:
            style += self.get_component_rich_style("room-tree--cursor")
        return self._strip(line, width, style)

    def _strip(self, line: Text, width: int, style: Style) -> Strip:
        """The line as a strip of exactly ``width`` cells, over the widget's own style."""
        line.truncate(width, overflow="ellipsis")
        segments = Segment.apply_style(line.render(self.app.console), style)
        base = self._base_style()
        return Strip(list(segments)).adjust_cell_length(width, style).apply_style(base)

    def notify_style_update(self) -> None:
        """Colours come from component classes: a theme or focus change redraws."""
        super().notify_style_update()
        self._strips.clear()
        self._base = None

    def _base_style(self) -> Style:
        # Computing rich_style walks the DOM: once per style change, not once per line.
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()
        self._scroll_cursor_into_view()

    def on_focus(self) -> None:
        self.refresh_line(self._cursor + 1)

    def on_blur(self) -> None:
        self.refresh_line(self._cursor + 1)

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor; a click on the cursor's row opens it, as enter does."""
        if event.y < 1:
            return
        i = self.scroll_offset.y + event.y - 1
        if 0 <= i < len(self._rows):
            if i == self._cursor:
                self.action_activate()
            else:
                self.user_moved = True
                self.move_cursor(i)

    # -- internals -------------------------------------------------------------------------

    def _relayout(self) -> None:
        self._width = width = self.scrollable_content_region.width
        layout = fit_columns(self._columns, width, self._account_width)
        if layout != self._layout:
            self._layout = layout
            self.refresh()
        self.virtual_size = Size(width, len(self._rows) + 1)

    def _body_height(self) -> int:
        """Rows visible under the column titles."""
        return max(1, self.scrollable_content_region.height - 1)

    def _clamp(self, index: int) -> int:
        return max(0, min(index, len(self._rows) - 1))

    def _find_row(self, row: Row, near: int) -> int | None:
        """Where ``row`` is now: the same row (looked for near where it was, then anywhere),
        else a row with its id."""
        rows = self._rows
        for lo, hi in ((max(0, near - 64), near + 64), (0, len(rows))):
            try:
                return rows.index(row, lo, hi)
            except ValueError:
                pass
        return self._find_id(row.id)

    def _find_id(self, row_id: tuple[object, ...]) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == row_id), None)

    def _find_ref(self, ref: RoomRef) -> int | None:
        return next(
            (i for i, r in enumerate(self._rows) if isinstance(r, RoomRow) and r.ref == ref),
            None,
        )

    def _scroll_y_to(self, y: int) -> None:
        # force: the scrollbars are only re-evaluated at the next layout, which has not run yet.
        self.scroll_to(y=max(0, y), animate=False, force=True, immediate=True)

    def _scroll_cursor_into_view(self) -> None:
        if self.scrollable_content_region.height < 2:
            return  # not laid out yet: the first resize brings the cursor into view
        top, height = self.scroll_offset.y, self._body_height()
        if self._cursor < top:
            self._scroll_y_to(self._cursor)
        elif self._cursor >= top + height:
            self._scroll_y_to(self._cursor - height + 1)

"""The room timeline: a Line API view that renders only the rows on screen.

Every item's height is known (cheaply: most messages fit on one line and need no wrapping), so
a prefix sum of heights maps a screen row to its item by bisection. Only the items that reach
the screen are rendered to ``Strip``s, and those are cached per item and width: a room with
10,000 events costs what one with 50 costs per frame.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from itertools import accumulate
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.color import Color
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.style import Style as VisualStyle

from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.timeline import (
    FAILED,
    FORMATS,
    SENDING,
    TimelineItem,
    membership_run,
    merge_runs,
)
from tuimatrix.ui import idle_gc
from tuimatrix.ui.textual_private import (
    divide_line,
    hovered_click_link,
    install_vertical_scrollbar,
    made_vertical_scrollbar,
)
from tuimatrix.widgets.inline_image import image_rows, image_strips
from tuimatrix.widgets.scrollbar import ThriftyScrollBar

#: after this much quiet a sender's next message gets a fresh header
HEADER_GAP_MS = 10 * 60 * 1000
#: within this many rows of the top the view asks for older events
NEAR_TOP_ROWS = 2
#: body and notice indent, in cells
INDENT = 2
#: IRC format: the sender column's width, and the time column's (" HH:MM")
IRC_NAME = 14
IRC_TIME = 6
#: mid-tone colours that stay readable on both dark and light backgrounds
SENDER_COLOURS = (
    "#2f7fd8",  # blue
    "#2e9e4f",  # green
    "#c9771a",  # amber
    "#d0457b",  # pink
    "#8a5cd6",  # violet
    "#1c9bb0",  # cyan
    "#d2523c",  # red
    "#6e9a1f",  # olive
    "#b847c2",  # magenta
    "#17998a",  # teal
)

#: a message body taller than this many rows shows only them and a "… N more lines" row,
#: until the user expands it: one message of 30,000 lines would otherwise be 30,000 rows
MAX_BODY_ROWS = 40
#: characters of a collapsed body wrapped per shown row (a row's cells, each with up to four
#: combining marks): enough to fill the shown rows without wrapping the rest
_CHARS_PER_CELL = 5

#: the fully-read marker's line, under the last event the user had read
MARKER_LABEL = "── new messages ──"

# (item, width, format, date line, header line, marker line, receipts label, selected, strips):
# valid while all the inputs before the strips are the same. The strips are final (cut or
# padded to the width, selection and base style applied): a frame that shows them again does
# no work per row, so a page step pays only for the items it brings into view.
_Rendered = tuple[TimelineItem, int, str, bool, bool, bool, str, bool, list[Strip]]


def sender_colour(sender_id: str) -> str:
    """A stable colour for a user: the same id gets the same colour in every session."""
    # crc32 rather than hash(): str hashes are salted per process.
    return SENDER_COLOURS[zlib.crc32(sender_id.encode("utf-8", "replace")) % len(SENDER_COLOURS)]


@lru_cache(maxsize=4096)
def sender_style(sender_id: str) -> Style:
    """The bold, coloured style of a sender's name (one ``Style`` per sender, not per header)."""
    return Style(bold=True, color=sender_colour(sender_id))


def local_time(ts: int) -> datetime:
    """``ts`` (ms since the epoch, from the server, so possibly absurd) as a local datetime."""
    try:
        return datetime.fromtimestamp(ts / 1000)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0)


def _day(ts: int) -> int:
    return local_time(ts).toordinal()


def _heads(prev: TimelineItem | None, item: TimelineItem, new_day: bool) -> tuple[bool, bool]:
    """Whether ``item`` after ``prev`` gets a date line and a sender header."""
    if item.is_notice:
        return new_day, False
    header = (
        new_day
        or prev is None
        or prev.is_notice
        or prev.sender_id != item.sender_id
        or item.ts - prev.ts >= HEADER_GAP_MS
    )
    return new_day, header


def _extra_rows(item: TimelineItem) -> int:
    """The reply quote above a message, the reactions and thread summary lines below it."""
    extra = int(item.reply is not None) + int(bool(item.reactions)) + int(item.thread is not None)
    return extra + (image_rows(item) if item.media is not None else 0)


def _suffixes(item: TimelineItem) -> list[tuple[str, bool]]:
    """The annotations after a body, each with whether it is an error."""
    out: list[tuple[str, bool]] = []
    if item.edited:
        out.append((" (edited)", False))
    if item.e2ee_warning:
        out.append((f" ⚠ {item.e2ee_warning}", False))
    if item.state == SENDING:
        out.append((" (sending…)", False))
    elif item.state == FAILED:
        # Says what can be done about it: the commands (their keys are the user's to change).
        reason = clean_line(item.error) or "unknown error"
        out.append((f" ✗ not sent: {reason} (retry-send, discard-send)", True))
    return out


class TimelineView(ScrollView, can_focus=True):
    """A room's timeline, oldest at the top; follows new messages while scrolled to the bottom."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--dim",
        "timeline--error",
        "timeline--marker",
        "timeline--selected",
    }

    DEFAULT_CSS = """
    TimelineView {
        /* A stable gutter keeps the wrap width from changing when the scrollbar appears. */
        scrollbar-gutter: stable;
        overflow-x: hidden;
        overflow-y: auto;
        & > .timeline--dim { color: $text-muted; }
        & > .timeline--error { color: $text-error; }
        & > .timeline--marker { color: $accent; text-style: bold; }
        & > .timeline--selected { background: $accent 30%; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "scroll_to_latest", "Latest", show=False, id="timeline-latest"),
        # With the timeline focused, the arrows select messages (reply, edit, delete, react).
        Binding("up", "select_previous", "Previous", show=False, id="timeline-previous"),
        Binding("down", "select_next", "Next", show=False, id="timeline-next"),
        # A long message shows its first rows only; this shows all of it (and folds it again).
        Binding("space", "toggle_expanded", "Expand", show=False, id="timeline-expand"),
    ]

    class NearTop(Message):
        """The view came within a couple of rows of the top: time to load older events."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._items: list[TimelineItem] = []
        self._index: dict[str, int] = {}
        # Parallel to _items, valid for _width (0 until the first layout): rows per item and
        # whether it starts with a date line / header.
        self._blocks: list[int] = []
        self._heads: list[tuple[bool, bool]] = []
        self._offsets: list[int] = [0]
        self._width = 0
        self._strips: LRUCache[str, _Rendered] = LRUCache(1024)
        self._base: Style | None = None
        self._blank: Strip | None = None
        self._gutter: tuple[Color, Style] | None = None
        # (width, first content row) while a frame renders: see render_lines.
        self._frame: tuple[int, int] | None = None
        self._loading = False
        self._at_start = False
        self._follow = True
        # NearTop waits for the first set_items: an empty view at mount is not a room at its top.
        self._near_top_posted = True
        self._selected: str | None = None
        #: rows a long message body shows until expanded, and the messages expanded
        self._max_body_rows = MAX_BODY_ROWS
        self._expanded: set[str] = set()
        self._format = "elemental"
        # Event ids folded into a membership run -> the run's item key.
        self._aliases: dict[str, str] = {}
        # Item key -> "✓ alice, bob +3"; and the item the fully-read line sits under.
        self._receipts: dict[str, str] = {}
        self._marker: str | None = None

    # -- public API ------------------------------------------------------------------------

    @property
    def items(self) -> list[TimelineItem]:
        """The items shown, oldest first (a copy)."""
        return list(self._items)

    def set_items(self, items: list[TimelineItem]) -> None:
        """Replace everything and scroll to the bottom."""
        self._items = []
        self._index = {}
        self._aliases = {}
        for item in items:
            if item.key not in self._index:
                self._index[item.key] = len(self._items)
                self._items.append(item)
                self._alias_run(item)
        self._strips.clear()
        self._near_top_posted = False
        self._follow = True
        if self._laid_out:
            self._blocks = [0] * len(self._items)
            self._heads = [(False, False)] * len(self._items)
            self._measure(0, len(self._items))
        self._reflow(None, follow=True)

    def append(self, items: Iterable[TimelineItem]) -> None:
        """Add newer items; follow them if the view was at the bottom, else stay put.

        An item whose key is already shown replaces it in place.
        """
        follow = self._follow
        anchor = None if follow else self._anchor()
        start = len(self._items)
        changed: list[int] = []
        for item in items:
            i = self._index.get(item.key)
            if i is None and item.key in self._aliases:
                continue  # already shown, inside a membership run
            if i is None and self._items and membership_run(item) is not None:
                # A membership event after a run joins it: one line per run, at any seam.
                last = self._items[-1]
                merged = merge_runs(last, item, keep=last)
                if merged is not None:
                    self._items[-1] = merged
                    self._alias_run(item, merged.key)
                    if len(self._items) - 1 < start:
                        changed.append(len(self._items) - 1)
                    continue
            if i is None:
                self._index[item.key] = len(self._items)
                self._items.append(item)
                self._alias_run(item)
            else:
                self._items[i] = item
                self._strips.discard(item.key)
                changed.append(i)
        if self._laid_out:
            added = len(self._items) - start
            self._blocks.extend([0] * added)
            self._heads.extend([(False, False)] * added)
            for i in changed:
                self._measure(i, i + 2, offsets=False)
            # From the old last item: its fully-read line shows once something follows it.
            self._measure(max(start - 1, 0), len(self._items))
        self._reflow(anchor, follow)

    def prepend(self, items: Iterable[TimelineItem]) -> None:
        """Add older items above; what the user sees stays where it is.

        Items already shown are skipped. Even an empty call re-arms :class:`NearTop`, so a page
        of only hidden events leads to the next page; call :meth:`set_at_start` at the start.
        """
        new: list[TimelineItem] = []
        seen = set(self._index)
        for item in items:
            if item.key not in seen and item.key not in self._aliases:
                seen.add(item.key)
                new.append(item)
        self._near_top_posted = False
        follow = self._follow
        anchor = None if follow else self._anchor()
        if new and self._items:
            # Older membership events just above a run join it (the run keeps its key).
            first = self._items[0]
            merged = merge_runs(new[-1], first, keep=first)
            if merged is not None:
                self._alias_run(new.pop(), merged.key)
                self._items[0] = merged
                if not new:
                    if self._laid_out:
                        self._measure(0, 1)
                    self._reflow(anchor, follow)
                    return
        if not new:
            self._check_near_top()
            return
        for item in new:
            self._alias_run(item)
        self._items[:0] = new
        self._reindex()
        if self._laid_out:
            self._blocks[:0] = [0] * len(new)
            self._heads[:0] = [(False, False)] * len(new)
            # One more than the new items: the first old item's header depends on the seam.
            self._measure(0, len(new) + 1)
        self._reflow(anchor, follow)

    def upsert(self, item: TimelineItem, replace_key: str | None = None) -> None:
        """Update the item keyed ``replace_key or item.key`` in place, or append it if absent.

        With a ``replace_key`` (a local echo's transaction id) whose event is already shown
        (sync delivered it first), the echo is dropped and the event updated where it is.
        """
        old_key = replace_key or item.key
        if old_key != item.key and item.key in self._index:
            if old_key in self._index:
                self.remove_item(old_key)
            old_key = item.key
        i = self._index.get(old_key)
        if i is None:
            self.append([item])
            return
        follow = self._follow
        anchor = None if follow else self._anchor()
        self._items[i] = item
        del self._index[old_key]
        self._index[item.key] = i
        self._strips.discard(old_key)
        self._strips.discard(item.key)
        if self._laid_out:
            self._measure(i, i + 2)
        self._reflow(anchor, follow)

    def remove_item(self, key: str) -> None:
        """Remove the item with ``key``, if shown."""
        i = self._index.get(key)
        if i is None:
            return
        follow = self._follow
        anchor = None if follow else self._anchor(avoid=key)
        del self._items[i]
        self._reindex()
        self._strips.discard(key)
        if self._laid_out:
            del self._blocks[i]
            del self._heads[i]
            # From the item before: it may now be the last (a fully-read line hides there).
            self._measure(max(i - 1, 0), i + 1)
        self._reflow(anchor, follow)

    def shows(self, item: TimelineItem) -> bool:
        """Whether ``item`` itself (not an item rebuilt since with its key) is shown."""
        i = self._index.get(item.key)
        return i is not None and self._items[i] is item

    def item_key_for(self, event_id: str) -> str | None:
        """The key of the item showing ``event_id`` (itself, or the membership run it is in)."""
        if event_id in self._index:
            return event_id
        key = self._aliases.get(event_id)
        return key if key is not None and key in self._index else None

    @property
    def fully_read_key(self) -> str | None:
        """The item the fully-read line sits under (None: no line)."""
        return self._marker

    def set_fully_read(self, key: str | None) -> None:
        """Draw the fully-read line under the item ``key`` (hidden while it is the last one)."""
        if key == self._marker:
            return
        old, self._marker = self._marker, key
        self._redecorate({k for k in (old, key) if k is not None})

    def set_receipts(self, labels: dict[str, str]) -> None:
        """Others' read receipts: item key -> a short label drawn right-aligned on its line."""
        old, self._receipts = self._receipts, dict(labels)
        changed = {k for k in old.keys() | labels.keys() if old.get(k) != labels.get(k)}
        self._redecorate(changed)

    @property
    def receipts(self) -> dict[str, str]:
        """The receipt labels shown, by item key (a copy)."""
        return dict(self._receipts)

    def show_item(self, key: str, *, end: bool = False) -> bool:
        """Scroll so the item ``key`` (its last row with ``end``) is a third down the view;
        False if it is not shown."""
        i = self._index.get(key)
        if i is None or not self._laid_out:
            return False
        row = self._top_rows + (self._offsets[i + 1] - 1 if end else self._offsets[i])
        target = max(0, row - self.scrollable_content_region.height // 3)
        self._follow = target >= self.max_scroll_y
        self._scroll_y_to(target)
        self.refresh()
        return True

    def recheck_top(self) -> None:
        """Post :class:`NearTop` again if the view is (still) near the top.

        For a room screen whose last request for older events found nothing to ask for yet.
        """
        self._near_top_posted = False
        self._check_near_top()

    @property
    def message_format(self) -> str:
        return self._format

    def set_format(self, message_format: str) -> None:
        """Switch between "elemental" and "irc"; what the user sees stays in place."""
        if message_format not in FORMATS:
            raise ValueError(f"unknown message format {message_format!r}")
        if message_format == self._format:
            return
        follow = self._follow
        anchor = None if follow else self._anchor()
        self._format = message_format
        self._strips.clear()
        if self._laid_out:
            self._measure(0, len(self._items))
        self._reflow(anchor, follow)
        self.refresh()

    @property
    def selected_item(self) -> TimelineItem | None:
        """The selected message, if any (and still shown)."""
        i = self._index.get(self._selected) if self._selected else None
        return self._items[i] if i is not None else None

    def select(self, key: str | None) -> None:
        """Select the item ``key`` (None clears) and bring it into view."""
        self._selected = key if key in self._index else None
        i = self._index.get(self._selected) if self._selected else None
        if i is not None and self._laid_out:
            top = self._offsets[i] + self._top_rows
            bottom = self._offsets[i + 1] + self._top_rows
            if top < self.scroll_y:
                self._follow = False
                self._scroll_y_to(top)
            elif bottom > self.scroll_y + self.scrollable_content_region.height:
                self._scroll_y_to(bottom - self.scrollable_content_region.height)
        self.refresh()

    def action_select_previous(self) -> None:
        self._select_step(-1)

    def action_select_next(self) -> None:
        self._select_step(1)

    def action_toggle_expanded(self) -> None:
        """Show all of the selected message's long body, or only its first rows again."""
        key = self._selected
        i = self._index.get(key) if key else None
        if key is None or i is None:
            return
        if key in self._expanded:
            self._expanded.discard(key)
        elif self._laid_out and self._hidden_rows(self._items[i], self._body_width()):
            self._expanded.add(key)
        else:
            return  # short enough to show whole: nothing to fold
        follow = self._follow
        anchor = None if follow else self._anchor()
        self._strips.discard(key)
        self._measure(i, i + 1)
        self._reflow(anchor, follow)
        self.select(key)  # folding a long message must not leave it above the view

    def set_max_body_rows(self, rows: int) -> None:
        """Show at most ``rows`` rows of a message body until it is expanded (at least 1)."""
        rows = max(1, rows)
        if rows == self._max_body_rows:
            return
        follow = self._follow
        anchor = None if follow else self._anchor()
        self._max_body_rows = rows
        self._strips.clear()
        if self._laid_out:
            self._measure(0, len(self._items))
        self._reflow(anchor, follow)

    def _select_step(self, step: int) -> None:
        """Move the selection to the previous/next message (notices are skipped)."""
        messages = [i for i, item in enumerate(self._items) if not item.is_notice]
        if not messages:
            return
        current = self._index.get(self._selected) if self._selected else None
        if current is None:
            target = messages[-1]
        else:
            later = [i for i in messages if (i > current if step > 0 else i < current)]
            if not later:
                if step < 0:
                    self.scroll_to(y=0, animate=False)  # at the oldest: older ones load
                return
            target = later[0] if step > 0 else later[-1]
        self.select(self._items[target].key)

    def set_loading(self, loading: bool) -> None:
        """Show (or hide) a "loading older messages…" line at the very top."""
        if loading != self._loading:
            self._set_status(loading=loading, at_start=self._at_start)

    def set_at_start(self, at_start: bool) -> None:
        """Mark that the room's first event is shown: a "start of the room" line, no NearTop."""
        if at_start != self._at_start:
            self._set_status(loading=self._loading, at_start=at_start)

    def scroll_to_latest(self) -> None:
        """Jump to the newest item and follow new ones from now on."""
        self._follow = True
        self._scroll_y_to(self.max_scroll_y)

    def action_scroll_to_latest(self) -> None:
        """Key binding target for :meth:`scroll_to_latest`."""
        self.scroll_to_latest()

    # -- the format: one place that decides how an item looks -----------------------------

    def item_height(
        self, item: TimelineItem, *, date: bool, header: bool, width: int, marker: bool = False
    ) -> int:
        """The number of rows :meth:`render_item` returns, computed without rendering.

        An item with receipts is the exception: whether its label fits on the last line is
        known only from the rendered rows (only a few items, one per reader, have one).
        """
        if item.key in self._receipts:
            return len(self.render_item(item, date=date, header=header, width=width)) + marker
        if item.is_notice:
            return date + 1 + marker
        if self._format == "irc":
            rows = self._body_rows(item, width - IRC_NAME - 1 - IRC_TIME)
            return date + rows + _extra_rows(item) + marker
        return date + header + self._body_rows(item, width - INDENT) + _extra_rows(item) + marker

    def render_item(
        self, item: TimelineItem, *, date: bool, header: bool, width: int, marker: bool = False
    ) -> list[Strip]:
        """Render one item to ``width``-cell rows; exactly :meth:`item_height` of them.

        Elemental: date line, then a header (sender in their colour, dim time), then the body
        wrapped and indented; a notice is one dim, indented, truncated line. Others' receipts
        go right-aligned on the last line (or a line of their own when it is full), and
        ``marker`` adds the fully-read line under everything.
        """
        rows = self._item_body_rows(item, date=date, header=header, width=width)
        label = self._receipts.get(item.key)
        if label:
            # IRC: a one-line message ends with its time column; the label goes before it.
            quoted = item.reply is not None
            timed = self._format == "irc" and not item.is_notice and len(rows) == date + quoted + 1
            rows = self._with_receipts(rows, label, width, IRC_TIME if timed else 0)
        if marker:
            style = self.get_component_rich_style("timeline--marker")
            rows.append(self._line(Text(MARKER_LABEL, style=style, justify="center"), width))
        return rows

    def _with_receipts(
        self, rows: list[Strip], label: str, width: int, right: int = 0
    ) -> list[Strip]:
        """The receipt label right-aligned on the last row (before its last ``right`` cells),
        or on a row of its own when that one is full."""
        dim = self.get_component_rich_style("timeline--dim")
        text = Text(label, style=dim)
        text.truncate(max(1, width - INDENT), overflow="ellipsis")
        tag = Strip(self._segments(text))
        end = max(0, width - right)
        last, tail = rows[-1].crop(0, end), rows[-1].crop(end, width)
        # Wrapped lines come padded to the width: what counts is up to the last visible cell.
        used = cell_len(last.text.rstrip())
        if used + 1 + tag.cell_length <= end:
            gap = Strip([Segment(" " * (end - used - tag.cell_length))])
            rows[-1] = Strip.join([last.crop(0, used), gap, tag, tail])
        else:
            rows.append(Strip([Segment(" " * (width - tag.cell_length)), *tag]).crop(0, width))
        return rows

    def _item_body_rows(
        self, item: TimelineItem, *, date: bool, header: bool, width: int
    ) -> list[Strip]:
        dim = self.get_component_rich_style("timeline--dim")
        when = local_time(item.ts)
        rows: list[Strip] = []
        if date:
            label = f"── {when:%A} {when.day} {when:%B %Y} ──"
            rows.append(self._line(Text(label, style=dim, justify="center"), width))
        if self._format == "irc":
            rows.extend(self._irc_rows(item, width, when, dim))
            return rows
        if item.is_notice:
            line = Text(" " * INDENT, style=dim)
            line.append_text(item.body.split("\n")[0] if "\n" in item.body.plain else item.body)
            rows.append(self._line(line, self._notice_width(item, width)))
            return rows
        if header:
            rows.append(self._header_row(item, f"  {when:%H:%M}", width, dim))
        pad = Segment(" " * INDENT)
        reply = self._reply_line(item, dim)
        if reply is not None:
            rows.append(self._line(Text(" " * INDENT) + reply, width))
        body = item.body
        plain = body.plain
        if (
            plain
            and not _suffixes(item)
            and "\n" not in plain
            and "\t" not in plain
            and (cells := cell_len(plain)) <= width - INDENT
        ):
            # Most messages: one line that fits, drawn from the body as it is (no copy to
            # annotate, none to wrap). What _wrap would add, the padding, _finish adds.
            segments = [pad, *self._segments(body)]
            if body.style:  # the padding carries the body's own style, as Text.wrap's does
                style = self.app.console.get_style(body.style)
                segments.append(Segment(" " * (width - INDENT - cells), style))
                cells = width - INDENT
            rows.append(Strip(segments, INDENT + cells))
        else:
            for line in self._body_lines(item, width - INDENT):
                rows.append(Strip([pad, *self._segments(line)]).crop(0, width))
        rows.extend(image_strips(self, item, INDENT, width, dim))
        reactions = self._reactions_line(item, dim)
        if reactions is not None:
            rows.append(self._line(Text(" " * INDENT) + reactions, width))
        thread = self._thread_line(item, dim)
        if thread is not None:
            rows.append(self._line(Text(" " * INDENT) + thread, width))
        return rows

    def _header_row(self, item: TimelineItem, stamp: str, width: int, dim: Style) -> Strip:
        """The sender's name in their colour, then the dim time; cut with an ellipsis."""
        name = item.sender or clean_line(item.sender_id)
        style = sender_style(item.sender_id)
        cells = cell_len(name) + len(stamp)
        if name and cells <= width:  # the usual case: no Text to build, truncate and render
            return Strip([Segment(name, style), Segment(stamp, dim)], cells)
        return self._line(Text.assemble((name, style), (stamp, dim)), width)

    def _notice_width(self, item: TimelineItem, width: int) -> int:
        """A notice with receipts is cut short enough to leave room for their label."""
        label = self._receipts.get(item.key)
        if not label:
            return width
        return max(INDENT + 8, width - 1 - min(cell_len(label), width - INDENT))

    def _reply_line(self, item: TimelineItem, dim: Style) -> Text | None:
        """``╭ Alice: what they said`` above a reply (dim; the text is already sanitised)."""
        if item.reply is None:
            return None
        if item.reply.preview is None:
            return Text("╭ in reply to an older message", style=dim)
        line = Text("╭ ", style=dim) + item.reply.preview
        line.stylize(dim)
        return line

    def _reactions_line(self, item: TimelineItem, dim: Style) -> Text | None:
        """``👍 2  ❤ 1`` under a message; the user's own reactions stand out."""
        if not item.reactions:
            return None
        line = Text()
        for n, (key, count, own) in enumerate(item.reactions):
            if n:
                line.append("  ")
            line.append(f"{key} {count}", Style(bold=True, reverse=True) if own else dim)
        return line

    def _irc_rows(self, item: TimelineItem, width: int, when: datetime, dim: Style) -> list[Strip]:
        """IRC format: the sender right-aligned in a left column, the time in a right one."""
        body_width = max(1, width - IRC_NAME - 1 - IRC_TIME)
        if item.is_notice:
            line = Text(f"{'*':>{IRC_NAME}} ", style=dim)
            line.append_text(item.body.split("\n")[0] if "\n" in item.body.plain else item.body)
            return [self._line(line, self._notice_width(item, width))]
        name = item.sender or clean_line(item.sender_id)
        if cell_len(name) > IRC_NAME:
            name = name[: IRC_NAME - 1] + "…"
        sender = Text(name.rjust(IRC_NAME), style=sender_style(item.sender_id))
        pad = Segment(" " * (IRC_NAME + 1))
        rows = []
        indent = Text(" " * (IRC_NAME + 1))
        reply = self._reply_line(item, dim)
        if reply is not None:
            rows.append(self._line(indent + reply, width))
        reactions = self._reactions_line(item, dim)
        for n, line in enumerate(self._body_lines(item, body_width)):
            body = Strip(self._segments(line)).adjust_cell_length(body_width)
            if n == 0:
                left = Strip([*self._segments(sender), Segment(" ")])
                right = Strip(self._segments(Text(f" {when:%H:%M}", style=dim)))
                rows.append(Strip.join([left, body, right]).crop(0, width))
            else:
                rows.append(Strip([pad, *body]).crop(0, width))
        rows.extend(image_strips(self, item, IRC_NAME + 1, width, dim))
        if reactions is not None:
            rows.append(self._line(indent + reactions, width))
        thread = self._thread_line(item, dim)
        if thread is not None:
            rows.append(self._line(indent + thread, width))
        return rows

    def _thread_line(self, item: TimelineItem, dim: Style) -> Text | None:
        """``└ 💬 3 replies · last: Alice: …`` under a thread's root (already sanitised)."""
        if item.thread is None:
            return None
        return Text("└ ", style=dim) + item.thread.text

    # -- Line API --------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """A frame's rows: what they share is worked out once, not once per row."""
        self._frame = self._frame_geometry()
        try:
            if not self._plain_box():
                return super().render_lines(crop)
            return self._render_plain_lines(crop)
        finally:
            self._frame = None

    def _plain_box(self) -> bool:
        """Whether the widget's box adds nothing to its lines: no border, padding, outline,
        tint, opacity or hatch (the timeline's own CSS sets none of them)."""
        styles = self.styles
        if (
            self.BLANK
            or styles.gutter.width
            or styles.gutter.height
            or any(edge for edge, _ in styles.outline)
            or styles.tint.a
            or self.opacity != 1.0
            or styles.text_opacity != 1.0
            or (styles.has_rule("hatch") and styles.hatch != "none")
        ):
            return False
        hover = self.hover_style
        # Textual restyles hovered @click links: none are drawn here, but should one be, let it.
        return not (self.auto_links and hovered_click_link(hover))

    def _render_plain_lines(self, crop: Region) -> list[Strip]:
        """What Textual's StylesCache does for a plain box, keyed by the rows' content.

        It caches lines by their position on screen, so after a scroll every line is new to it:
        it copies each one into a new Strip, pads it over the scrollbar gutter and runs the
        app's line filters on it, 3 new Strips per row per frame. Here the rows are the
        timeline's cached Strips, and padding and filters are cached on them (``Strip`` keeps
        both results), so a row pays for them once, not on every frame that shows it.
        """
        width = self.size.width
        base_background, background = self.background_colors
        inner = self._gutter_style(base_background + background)
        filters = self.get_line_filters()
        strips = []
        for y in crop.line_range:
            strip = self.render_line(y).adjust_cell_length(width, inner)
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            strips.append(strip)
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def _gutter_style(self, background: Color) -> Style:
        """The style of the cells past the content (under the scrollbar), as Textual pads."""
        cached = self._gutter
        if cached is None or cached[0] != background:
            cached = self._gutter = (background, VisualStyle(background=background).rich_style)
        return cached[1]

    def render_line(self, y: int) -> Strip:
        """Row ``y`` of the viewport: find the item by bisection, render it if not cached."""
        width, top = self._frame or self._frame_geometry()
        strip = self._row(top + y)
        if strip.cell_length != width:  # resized, and not laid out again yet
            base = self._base_style()
            strip = strip.adjust_cell_length(width, base).apply_style(base)
        return strip

    def _frame_geometry(self) -> tuple[int, int]:
        """The viewport's width, and the content row shown on its first line."""
        region = self.scrollable_content_region
        # A timeline shorter than the view sits at the bottom, as chats do: then older
        # messages arriving above push nothing the user is reading out of place.
        pad = max(0, region.height - self.virtual_size.height) if self._laid_out else 0
        return region.width, self.scroll_offset.y - pad

    def notify_style_update(self) -> None:
        """Colours come from component classes: a theme change re-renders."""
        super().notify_style_update()
        self._strips.clear()
        self._base = None
        self._blank = None

    def _base_style(self) -> Style:
        # rich_style walks up the DOM: once per style change, not once per line (it was a
        # fifth of the timeline's part of a scrolled frame).
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def on_resize(self, event: events.Resize) -> None:
        """Re-wrap for a new width, keeping the view on the same content."""
        width = self.scrollable_content_region.width
        if width > 0 and width != self._width:
            anchor = None if self._follow else self._anchor()
            self._width = width
            self._strips.clear()
            self._blocks = [0] * len(self._items)
            self._heads = [(False, False)] * len(self._items)
            self._measure(0, len(self._items))
            self._reflow(anchor, self._follow)
        elif self._follow:
            # Taller or shorter, the newest line stays at the bottom.
            self._scroll_y_to(self.max_scroll_y)
        self._check_near_top()

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """The vertical scrollbar (created on first use, as Textual does): one that repaints
        only the rows its thumb changes, not all of them on every scroll step."""
        bar = made_vertical_scrollbar(self)
        if bar is None:
            bar = ThriftyScrollBar(
                vertical=True, name="vertical", thickness=self.scrollbar_size_vertical
            )
            bar.display = False
            # Where the view already is: scrolled before the bar first shows (a room opens at
            # its newest message), the thumb would otherwise sit at the top until a scroll.
            bar.set_reactive(ThriftyScrollBar.position, bar.validate_position(self.scroll_y))
            install_vertical_scrollbar(self, bar)
        return bar

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Track whether we follow the bottom, and ask for history near the top."""
        super().watch_scroll_y(old_value, new_value)
        idle_gc.touch()  # no full garbage collection in the middle of a scroll
        self._follow = new_value >= self.max_scroll_y - 1
        if new_value <= NEAR_TOP_ROWS:
            self._check_near_top()

    # -- internals -------------------------------------------------------------------------

    @property
    def _laid_out(self) -> bool:
        return self._width > 0

    @property
    def _top_rows(self) -> int:
        return 1 if self._loading or self._at_start else 0

    def _reindex(self) -> None:
        self._index = {item.key: i for i, item in enumerate(self._items)}

    def _alias_run(self, item: TimelineItem, key: str | None = None) -> None:
        """Remember the events of a membership run ``item`` as shown by the item ``key``."""
        run = membership_run(item)
        if run is not None:
            target = key or item.key
            for event_id in run.event_ids:
                if event_id != target:
                    self._aliases[event_id] = target

    def _redecorate(self, keys: set[str]) -> None:
        """Re-measure the items whose receipts or fully-read line changed."""
        indexes = [i for k in keys if (i := self._index.get(k)) is not None]
        if not indexes or not self._laid_out:
            return
        follow = self._follow
        anchor = None if follow else self._anchor()
        for i in indexes:
            self._measure(i, i + 1, offsets=False)
        self._offsets = [0, *accumulate(self._blocks)]
        self._reflow(anchor, follow)

    def _marker_at(self, i: int) -> bool:
        """Whether the fully-read line shows under item ``i``: only with newer items below."""
        return (
            self._marker is not None
            and i < len(self._items) - 1
            and (self._items[i].key == self._marker)
        )

    def _measure(self, start: int, stop: int, *, offsets: bool = True) -> None:
        """Recompute heads and heights of ``items[start:stop]``, then the prefix sums."""
        items = self._items
        stop = min(stop, len(items))
        prev = items[start - 1] if start > 0 else None
        prev_day = _day(prev.ts) if prev is not None else None
        for i in range(start, stop):
            item = items[i]
            day = _day(item.ts)
            date_line, header = heads = _heads(prev, item, new_day=day != prev_day)
            self._heads[i] = heads
            self._blocks[i] = self.item_height(
                item, date=date_line, header=header, width=self._width, marker=self._marker_at(i)
            )
            prev, prev_day = item, day
        if offsets:
            self._offsets = [0, *accumulate(self._blocks)]

    def _body_width(self) -> int:
        """The width bodies wrap to in the current format."""
        if self._format == "irc":
            return max(1, self._width - IRC_NAME - 1 - IRC_TIME)
        return max(1, self._width - INDENT)

    def _body_rows(self, item: TimelineItem, width: int) -> int:
        """Rows of the body as shown: all of them, or the first ones and a "more" row."""
        return (
            self._max_body_rows + 1
            if self._hidden_rows(item, width)
            else self._full_rows(item, width)
        )

    def _hidden_rows(self, item: TimelineItem, width: int) -> int:
        """How many rows of ``item``'s body are folded away at ``width`` (0: none)."""
        if item.key in self._expanded or item.is_notice:
            return 0
        plain = item.body.plain
        # A bound on the rows (a character is at most two cells, and word wrapping wastes
        # less than half of a row): within it, most messages stop here without wrapping.
        if plain.count("\n") + 1 + 4 * len(plain) // max(width, 1) <= self._max_body_rows:
            return 0
        return max(0, self._full_rows(item, width) - self._max_body_rows)

    def _full_rows(self, item: TimelineItem, width: int) -> int:
        """Rows of the wrapped body, counted the way rich wraps but without building ``Text``s."""
        width = max(width, 1)
        plain = item.body.plain
        if "\t" in plain:  # tabs expand per line: rare enough to let rich do all of it
            return len(self._wrap(self._annotated(item), width))
        text = plain + "".join(suffix for suffix, _ in _suffixes(item))
        # A paragraph that fits is one row (the common case); else rich's own line breaker.
        return sum(
            1 if cell_len(para) <= width else len(divide_line(para, width, fold=True)) + 1
            for para in text.split("\n")
        )

    def _body_lines(self, item: TimelineItem, width: int) -> list[Text]:
        """The body's rows at ``width``: all of them, or the first ones and a dim "… N more
        lines" row that carries the annotations ("(edited)", warnings) instead."""
        hidden = self._hidden_rows(item, width)
        if not hidden:
            return self._wrap(self._annotated(item), width)
        shown = self._max_body_rows
        body = item.body
        # Wrap only a prefix that fills the shown rows: the rest may be megabytes.
        limit = shown * max(width, 1) * _CHARS_PER_CELL
        cut = -1
        for _ in range(shown):
            cut = body.plain.find("\n", cut + 1, limit)
            if cut < 0:
                break
        if cut < 0:
            cut = limit
        lines = self._wrap(body[:cut], width)
        if len(lines) < shown:  # zero-width characters filled the prefix: wrap it all
            lines = self._wrap(body, width)
        dim = self.get_component_rich_style("timeline--dim")
        more = Text(f"… {hidden:,} more line{'s' if hidden != 1 else ''}", style=dim)
        for suffix, is_error in _suffixes(item):
            more.append(
                suffix, self.get_component_rich_style("timeline--error") if is_error else dim
            )
        return [*lines[:shown], *self._wrap(more, width)[:1]]

    def _annotated(self, item: TimelineItem) -> Text:
        """The body with its "(edited)", "(sending…)" or "(failed: …)" annotations."""
        dim = self.get_component_rich_style("timeline--dim")
        error = self.get_component_rich_style("timeline--error")
        body = item.body.copy()
        for suffix, is_error in _suffixes(item):
            body.append(suffix, error if is_error else dim)
        return body

    def _wrap(self, body: Text, width: int) -> list[Text]:
        width = max(width, 1)
        plain = body.plain
        if "\n" not in plain and "\t" not in plain and cell_len(plain) <= width:
            # Most messages are one line that fits: the same result as Text.wrap below (a copy
            # padded to the width), without its line breaker, a third of a page's rendering.
            line = body.copy()
            line.truncate(width, overflow="fold", pad=True)
            return [line]
        # overflow="fold" matches the divide_line(fold=True) that _body_rows counts with.
        lines = body.wrap(self.app.console, max(width, 1), justify="left", overflow="fold")
        return list(lines) or [Text()]

    def _line(self, text: Text, width: int) -> Strip:
        """One row: ``text`` cut to ``width`` with an ellipsis, never wrapped."""
        text.truncate(width, overflow="ellipsis")
        if text.justify == "center":
            text.align("center", width)
        return Strip(self._segments(text)).crop(0, width)

    def _segments(self, text: Text) -> list[Segment]:
        """``text`` as segments, its base style included (``Text.render`` leaves that out)."""
        console = self.app.console
        segments = text.render(console)
        if not text.style:
            return list(segments)
        return list(Segment.apply_style(segments, console.get_style(text.style)))

    def _row(self, row: int) -> Strip:
        """Content row ``row`` as drawn (blank outside the content)."""
        if row < 0:
            return self._blank_row()
        if self._top_rows:
            if row == 0:
                return self._finish([self._status_line()], range(0))[0]
            row -= 1
        if not self._laid_out or len(self._blocks) != len(self._items):
            return self._blank_row()
        if row >= self._offsets[-1]:
            return self._blank_row()
        i = bisect_right(self._offsets, row) - 1
        rows = self._item_rows(i)
        k = row - self._offsets[i]
        return rows[k] if k < len(rows) else self._blank_row()

    def _item_rows(self, i: int) -> list[Strip]:
        """Item ``i``'s rows as drawn, rendered only when one of their inputs changed."""
        item = self._items[i]
        date_line, header = self._heads[i]
        marker = self._marker_at(i)
        label = self._receipts.get(item.key, "")
        selected = item.key == self._selected
        width, message_format = self._width, self._format
        cached = self._strips.get(item.key)
        # Identity, not equality: an upsert brings a new object, and comparing bodies is slow.
        # Field by field: no key tuple is built for the common case, a hit.
        if (
            cached is not None
            and cached[0] is item
            and cached[1] == width
            and cached[2] == message_format
            and cached[3] == date_line
            and cached[4] == header
            and cached[5] == marker
            and cached[6] == label
            and cached[7] == selected
        ):
            return cached[8]
        rows = self.render_item(item, date=date_line, header=header, width=width, marker=marker)
        # The date line belongs to the day and the fully-read line to the room: not selected.
        highlight = range(date_line, len(rows) - marker) if selected else range(0)
        rows = self._finish(rows, highlight)
        entry = (item, width, message_format, date_line, header, marker, label, selected, rows)
        self._strips.set(item.key, entry)
        return rows

    def _finish(self, rows: list[Strip], highlight: range) -> list[Strip]:
        """``rows`` as drawn: cut or padded to the width, the ``highlight`` ones selected, and
        the widget's own style (its colours) beneath everything."""
        width, base = self._width, self._base_style()
        # base + (selected + s) == (base + selected) + s: Style addition is associative.
        selected = base + self.get_component_rich_style("timeline--selected") if highlight else base
        out = []
        for k, strip in enumerate(rows):
            cells = strip.cell_length
            if cells > width:
                strip, cells = strip.crop(0, width), width
            add = (selected if k in highlight else base).__add__
            # One new Strip per row (Strip.adjust_cell_length and apply_style make one each).
            segments = [
                Segment(text, None if control else add(style), control)
                for text, style, control in strip
            ]
            if cells < width:
                segments.append(Segment(" " * (width - cells), add(None)))
            out.append(Strip(segments, width))
        return out

    def _blank_row(self) -> Strip:
        """An empty row as drawn, made once per width and style."""
        blank = self._blank
        if blank is None or blank.cell_length != self._width:
            blank = self._blank = Strip.blank(self._width, self._base_style())
        return blank

    def _status_line(self) -> Strip:
        dim = self.get_component_rich_style("timeline--dim")
        if self._loading:
            text = Text(" " * INDENT + "loading older messages…", style=dim)
        else:
            text = Text("— start of the room —", style=dim, justify="center")
        return self._line(text, self.scrollable_content_region.width)

    def _set_status(self, *, loading: bool, at_start: bool) -> None:
        old_rows = self._top_rows
        follow = self._follow
        # At the very top a new status line is meant to be seen, so let it push content down.
        keep = not follow and not (old_rows == 0 and self.scroll_offset.y == 0)
        anchor = self._anchor() if keep else None
        self._loading, self._at_start = loading, at_start
        if self._top_rows != old_rows:
            self._reflow(anchor, follow)
        else:
            self.refresh()
        if not loading and not at_start:
            self._check_near_top()

    def _anchor(self, avoid: str | None = None) -> tuple[str, int] | None:
        """The item at the viewport's top row, and that row relative to the item's body.

        Relative to the body, not the block: a header that disappears at a seam then takes
        its row away from above the anchor instead of shifting the text the user reads.
        """
        if not self._items or not self._laid_out or len(self._blocks) != len(self._items):
            return None
        row = self.scroll_offset.y - self._top_rows
        i = min(max(bisect_right(self._offsets, row) - 1, 0), len(self._items) - 1)
        if self._items[i].key == avoid:
            if i + 1 < len(self._items):
                i += 1
            elif i > 0:
                i -= 1
            else:
                return None
        return self._items[i].key, row - self._body_start(i)

    def _body_start(self, i: int) -> int:
        date_line, header = self._heads[i]
        return self._offsets[i] + date_line + header

    def _reflow(self, anchor: tuple[str, int] | None, follow: bool) -> None:
        """After rows changed: new virtual size, and the viewport back on its content."""
        if not self._laid_out:
            return  # the first resize lays everything out
        self._set_virtual_size(Size(self._width, self._top_rows + self._offsets[-1]))
        if follow:
            self._scroll_y_to(self.max_scroll_y)
        elif anchor is not None and (i := self._index.get(anchor[0])) is not None:
            self._scroll_y_to(self._top_rows + self._body_start(i) + anchor[1])
        self.refresh()
        self._check_near_top()

    def _set_virtual_size(self, size: Size) -> None:
        """Set the virtual size, without a layout of the whole screen where none is needed.

        ``virtual_size`` is a layout reactive: every change (older events above, the "loading"
        line) re-lays out the screen and repaints every widget on it, which made the frames
        after a page of history arrived the slowest. When only the height changes and the
        scrollbar stays shown, all that layout would do here is tell the scrollbar (Textual's
        ``_scroll_update``), so this does that itself. Anything else takes the usual way.
        """
        old = self.virtual_size
        if size == old:
            return
        height = self.container_size.height - self.scrollbar_size_horizontal
        bar = made_vertical_scrollbar(self)
        if (
            size.width != old.width
            or bar is None
            or not self.show_vertical_scrollbar
            or self.styles.overflow_y != "auto"
            or old.height <= height
            or size.height <= height
        ):
            self.virtual_size = size
            return
        self.set_reactive(TimelineView.virtual_size, size)
        bar.window_virtual_size = size.height
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _scroll_y_to(self, y: float) -> None:
        # force: the scrollbars are only re-evaluated at the next layout, which has not run yet.
        self.scroll_to(y=max(0, y), animate=False, force=True)

    def _check_near_top(self) -> None:
        if (
            self._near_top_posted
            or self._loading
            or self._at_start
            or not self.size.height
            or self.scroll_y > NEAR_TOP_ROWS
        ):
            return
        self._near_top_posted = True
        self.post_message(self.NearTop())

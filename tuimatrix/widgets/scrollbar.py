"""A vertical scrollbar that repaints only the rows its thumb leaves or reaches.

Textual's ``ScrollBar`` repaints every one of its rows whenever its position changes. On a
page step through a long timeline the thumb moves by a row or two, yet repainting the whole
bar cost a fifth of the frame (each row goes through the widget's style pipeline).
"""

from __future__ import annotations

from math import ceil

from rich.segment import Segment
from textual.geometry import Region
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar


class ThriftyScrollBar(ScrollBar):
    """A ``ScrollBar`` whose position changes repaint only the rows that look different."""

    # No repaint of its own: watch_position asks for the rows that changed.
    position: Reactive[float] = Reactive(0.0, repaint=False)

    #: the last bar worked out, and what it was worked out for: a step's "before" is the
    #: previous step's "after"
    _last: tuple[tuple[float, ...], list[Segment]] | None = None

    def watch_position(self, old: float, new: float) -> None:
        rows = self.changed_rows(old, new)
        if rows is None:
            self.refresh()
        elif rows:
            self.refresh(Region(0, rows.start, self.size.width, len(rows)))

    def changed_rows(self, old: float, new: float) -> range | None:
        """The rows (from the first to the last) whose cells differ between the bar drawn at
        ``old`` and at ``new``; None when that cannot be worked out (repaint it all)."""
        if not self.vertical or not self.size.height:
            return None
        before, after = self._bar(old), self._bar(new)
        if before is None or after is None or len(before) != len(after):
            return None
        changed = [y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        return range(changed[0], changed[-1] + 1) if changed else range(0)

    def _bar(self, position: float) -> list[Segment] | None:
        """One segment per row, as the renderer draws the bar at ``position``."""
        render_bar = getattr(self.renderer, "render_bar", None)
        if render_bar is None:  # a renderer of someone else's: no way to compare
            return None
        window = self.window_size if self.window_size < self.window_virtual_size else 0
        size, virtual = self.size.height, ceil(self.window_virtual_size)
        position = self.validate_position(position)
        key = (size, virtual, ceil(window), position, self.thickness)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        bar = render_bar(
            size=size,
            virtual_size=virtual,
            window_size=ceil(window),
            position=position,
            thickness=self.thickness,
            vertical=True,
        )
        segments = getattr(bar, "segments", None)
        if not isinstance(segments, list):
            return None
        self._last = (key, segments)
        return segments

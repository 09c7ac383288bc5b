"""TimelineView's caches: drawn rows are reused across frames, and redrawn whenever what they
show changes (edits, redactions, reactions, selection, width, format, spoilers, receipts, theme).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from test_widgets_timeline import TimelineApp, chat, item, shown, started, visible
from textual.app import App, ComposeResult
from textual.filter import Monochrome
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from tuimatrix.core.timeline import Reaction, TimelineItem
from tuimatrix.widgets.scrollbar import ThriftyScrollBar
from tuimatrix.widgets.timeline import TimelineView


def count_renders(view: TimelineView, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the items ``view`` renders from now on, in order."""
    rendered: list[str] = []
    render_item: Callable[..., Any] = view.render_item

    def counting(it: TimelineItem, **kw: Any) -> Any:
        rendered.append(it.key)
        return render_item(it, **kw)

    monkeypatch.setattr(view, "render_item", counting)
    return rendered


def row_of(view: TimelineView, text: str) -> Strip:
    """The first viewport row whose text starts with ``text`` (after stripping)."""
    for y in range(view.size.height):
        strip = view.render_line(y)
        if strip.text.strip().startswith(text):
            return strip
    raise AssertionError(f"no row shows {text!r}: {visible(view)}")


def backgrounds(strip: Strip) -> set[Color | None]:
    return {segment.style.bgcolor if segment.style else None for segment in strip}


def last_background(strip: Strip) -> Color | None:
    """The background of a row's last cell."""
    style = list(strip)[-1].style
    return style.bgcolor if style else None


def cells(strips: list[Strip]) -> list[list[Segment]]:
    return [list(strip) for strip in strips]


async def test_a_page_step_renders_each_new_item_once_and_going_back_renders_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(2000))
        rendered = count_renders(view, monkeypatch)
        view.refresh()
        await pilot.pause()
        assert rendered == []  # the same frame again: all cached
        for _ in range(3):
            view.scroll_page_up(animate=False)
            await pilot.pause()
        assert rendered  # new rows were drawn…
        assert len(rendered) == len(set(rendered))  # …each item once, not once per row
        rendered.clear()
        for _ in range(3):
            view.scroll_page_down(animate=False)
            await pilot.pause()
        assert rendered == []
        assert view.scroll_y == view.max_scroll_y


async def test_edits_redactions_and_reactions_redraw_their_item() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(40))
        target = view.items[-2]
        assert row_of(view, "m message 38")
        view.upsert(dataclasses.replace(target, body=Text("better words"), edited=True))
        await pilot.pause()
        assert row_of(view, "better words").text.rstrip().endswith("better words (edited)")
        assert not any("m message 38" in row for row in visible(view))

        edited = view.items[-2]
        view.upsert(dataclasses.replace(edited, reactions=(Reaction("👍", 2, False),)))
        await pilot.pause()
        rows = [row.strip() for row in visible(view)]
        assert rows[rows.index("better words (edited)") + 1] == "👍 2"
        view.upsert(dataclasses.replace(edited, reactions=(Reaction("👍", 3, True),)))
        await pilot.pause()
        rows = [row.strip() for row in visible(view)]
        assert rows[rows.index("better words (edited)") + 1] == "👍 3"

        redacted = dataclasses.replace(
            view.items[-2],
            body=Text("(message deleted)"),
            redacted=True,
            edited=False,
            reactions=(),
        )
        view.upsert(redacted)
        await pilot.pause()
        rows = [row.strip() for row in visible(view)]
        assert "(message deleted)" in rows
        assert not any("better words" in row or "👍" in row for row in rows)


async def test_a_spoiler_revealed_and_hidden_again_redraws() -> None:
    hidden = Text("the butler did it")
    hidden.stylize(Style(reverse=True, color="black", bgcolor="black"))
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$s", "alice", 0, hidden)])
        assert Color.parse("black") in backgrounds(row_of(view, "the butler"))
        # As reveal-spoiler does: a copy of the item with the revealed body, under its key.
        view.upsert(dataclasses.replace(view.items[0], body=Text("the butler did it")))
        await pilot.pause()
        assert Color.parse("black") not in backgrounds(row_of(view, "the butler"))
        view.upsert(dataclasses.replace(view.items[0], body=hidden))
        await pilot.pause()
        assert Color.parse("black") in backgrounds(row_of(view, "the butler"))


async def test_selection_highlights_the_message_not_its_date_line() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(4))
        selected = view.get_component_rich_style("timeline--selected").bgcolor
        assert selected is not None

        def highlighted(text: str) -> bool:
            return selected in backgrounds(row_of(view, text))

        view.select("$m0")
        await pilot.pause()
        assert highlighted("Alice") and highlighted("m message 0")
        assert not highlighted("──")  # the date line belongs to the day
        assert not highlighted("m message 1")
        view.select("$m1")
        await pilot.pause()
        assert highlighted("m message 1") and not highlighted("m message 0")
        view.select(None)
        await pilot.pause()
        assert not highlighted("m message 1")


async def test_a_width_change_redraws_at_the_new_width() -> None:
    long = " ".join(f"word{i}" for i in range(30))
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [*chat(3), item("$long", "bob", 9, long)])
        wide = [row for row in visible(view) if "word" in row]
        await pilot.resize_terminal(50, 24)
        await pilot.pause()
        width = view.scrollable_content_region.width
        narrow = [row for row in visible(view) if "word" in row]
        assert len(narrow) > len(wide)
        assert " ".join(row.strip() for row in narrow) == long
        assert all(view.render_line(y).cell_length == width for y in range(24))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert [row for row in visible(view) if "word" in row] == wide


async def test_a_format_change_redraws_every_item() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        elemental = visible(view)
        view.set_format("irc")
        await pilot.pause()
        irc = [row for row in visible(view) if "message" in row]
        assert irc and all(row.startswith(" " * 9 + "Alice m message") for row in irc)
        view.set_format("elemental")
        await pilot.pause()
        assert visible(view) == elemental


async def test_receipt_labels_redraw_as_they_change() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        view.set_receipts({"$m1": "✓ bob"})
        await pilot.pause()
        assert row_of(view, "m message 1").text.rstrip().endswith("✓ bob")
        view.set_receipts({"$m1": "✓ bob, carol"})
        await pilot.pause()
        assert row_of(view, "m message 1").text.rstrip().endswith("✓ bob, carol")
        view.set_receipts({"$m2": "✓ bob"})
        await pilot.pause()
        assert "✓" not in row_of(view, "m message 1").text
        assert row_of(view, "m message 2").text.rstrip().endswith("✓ bob")


async def test_a_theme_change_redraws_in_the_new_colours() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        before = backgrounds(row_of(view, "m message 1"))
        pilot.app.theme = "textual-light"
        await pilot.pause()
        after = backgrounds(row_of(view, "m message 1"))
        assert after != before
        assert after == {view.rich_style.bgcolor}


async def _frames_match_textual(pilot: Pilot[None], view: TimelineView) -> None:
    """The lines the timeline hands the compositor are the ones Textual's own StylesCache
    would make of its rows (the timeline skips it where the box is plain)."""
    for _ in range(2):
        view.scroll_page_up(animate=False)
        await pilot.pause()
        crop = Region(0, 0, *view.size)
        ours = view.render_lines(crop)
        view._styles_cache.clear()
        textual = view._styles_cache.render_widget(view, crop)
        assert cells(ours) == cells(textual)


async def test_lines_are_what_textual_would_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(300))
        view.select("$m290")
        await _frames_match_textual(pilot, view)
        # With a line filter on (as TEXTUAL_FILTERS=dim, or NO_COLOR, would turn on).
        monkeypatch.setattr(pilot.app, "get_line_filters", lambda: [Monochrome()])
        view.refresh()
        await _frames_match_textual(pilot, view)
        for strip in view.render_lines(Region(0, 0, *view.size)):
            for segment in strip:
                for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                    if colour is not None:
                        red, green, blue = colour.get_truecolor()
                        assert red == green == blue  # grey: the filter ran


class PaddedTimelineApp(App[None]):
    CSS = "TimelineView { padding: 0 2; border: round red; }"

    def compose(self) -> ComposeResult:
        yield TimelineView()


async def test_a_box_with_padding_and_border_still_draws() -> None:
    async with PaddedTimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(300))
        crop = Region(0, 0, *view.outer_size)
        lines = [strip.text for strip in view.render_lines(crop)]
        assert lines[0].startswith("╭") and lines[-1].startswith("╰")
        assert lines[-2].startswith("│    m message 299")


async def test_the_scrollbar_repaints_only_what_its_thumb_changes() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(2000))
        bar = view.vertical_scrollbar
        assert isinstance(bar, ThriftyScrollBar) and bar.display
        # The room opened at its newest message: the thumb is at the bottom already.
        assert bar.position == view.scroll_y == view.max_scroll_y
        region = Region(0, 0, *bar.size)
        at_bottom = cells(bar.render_lines(region))
        old = bar.position
        for _ in range(4):
            view.scroll_page_up(animate=False)
            await pilot.pause()
        # Thousands of rows: a page moves the thumb by less than a row, so few rows change.
        changed = bar.changed_rows(old, bar.position)
        assert changed is not None and 0 < len(changed) <= 3
        partial = cells(bar.render_lines(region))
        assert partial != at_bottom
        bar.refresh()  # everything, as Textual's ScrollBar would
        assert cells(bar.render_lines(region)) == partial


async def test_history_above_resizes_the_scrollbar_without_a_screen_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(300, start=2000))
        view.scroll_to(y=50, animate=False)
        await pilot.pause()
        before = visible(view)
        layouts: list[object] = []
        refresh_layout = pilot.app.screen._refresh_layout

        def counting(*args: Any, **kwargs: Any) -> None:
            layouts.append(args)
            refresh_layout(*args, **kwargs)

        monkeypatch.setattr(pilot.app.screen, "_refresh_layout", counting)
        view.set_loading(True)
        await pilot.pause()
        view.prepend(chat(300, start=-24 * 60, prefix="o"))
        view.set_loading(False)
        await pilot.pause()
        assert layouts == []
        assert visible(view) == before
        bar = view.vertical_scrollbar
        assert bar.window_virtual_size == view.virtual_size.height
        assert view.max_scroll_y == view.virtual_size.height - view.size.height
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert shown(view)[1] == "Alice  09:00" or "o message 0" in " ".join(shown(view))


async def test_one_line_bodies_and_headers_draw_as_the_general_path_does() -> None:
    """The shortcuts for the common rows (a header, a body that fits on one line) keep what
    the wrapping path draws: a body's own style runs to the end of its row, and a name too
    long for the row ends in an ellipsis."""
    red = Style(bgcolor="red")
    long_name = "Bartholomew-" * 8
    async with TimelineApp().run_test(size=(40, 24)) as pilot:
        view = await started(
            pilot,
            [
                item("$red", "alice", 0, Text("alarm", style=red)),
                item("$wrapped", "alice", 1, Text("alarm " * 12, style=red)),
                item("$long", long_name, 2, "hi"),
            ],
        )
        one_line = row_of(view, "alarm")
        assert one_line.text.rstrip() == "  alarm"
        assert last_background(one_line) == red.bgcolor
        wrapped = [row for row in map(view.render_line, range(24)) if "alarm alarm" in row.text]
        assert len(wrapped) > 1
        assert all(last_background(row) == red.bgcolor for row in wrapped)
        header = row_of(view, "Bartholomew").text
        assert header.rstrip().endswith("…") and len(header) == view.scrollable_content_region.width

"""TimelineView: renders only what is on screen, groups by sender, and holds still on prepend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from tuimatrix.core.timeline import (
    FAILED,
    FORMATS,
    SENDING,
    Reaction,
    ReplyQuote,
    TimelineItem,
)
from tuimatrix.widgets.timeline import TimelineView, local_time

# Local time, so the HH:MM and day names the widget shows are predictable in any time zone.
BASE = int(datetime(2026, 11, 24, 10, 0).timestamp() * 1000)
MINUTE = 60_000


def item(
    key: str,
    sender: str = "alice",
    minute: int = 0,
    body: str | Text = "hello",
    **kw: Any,
) -> TimelineItem:
    """A timeline item from ``@sender:x`` ``minute`` minutes after 10:00 on Tuesday."""
    return TimelineItem(
        key=key,
        sender_id=f"@{sender}:x",
        sender=sender.capitalize(),
        ts=BASE + minute * MINUTE,
        body=body if isinstance(body, Text) else Text(body),
        **kw,
    )


def chat(n: int, start: int = 0, prefix: str = "m") -> list[TimelineItem]:
    """``n`` messages a minute apart, the sender changing every third message."""
    senders = ("alice", "bob", "carol")
    return [
        item(f"${prefix}{i}", senders[(i // 3) % 3], start + i, f"{prefix} message {i}")
        for i in range(n)
    ]


class TimelineApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.near_top = 0

    def compose(self) -> ComposeResult:
        yield TimelineView()

    def on_timeline_view_near_top(self, _message: TimelineView.NearTop) -> None:
        self.near_top += 1


def visible(view: TimelineView) -> list[str]:
    """The viewport's rows as plain text."""
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


def without_blank_top(rows: list[str]) -> list[str]:
    """``rows`` without the blank ones above a timeline shorter than the screen."""
    return rows[next((i for i, row in enumerate(rows) if row), len(rows)) :]


def shown(view: TimelineView) -> list[str]:
    """The viewport's non-blank part: short timelines sit at the bottom."""
    return without_blank_top(visible(view))


async def started(pilot: Pilot[None], items: list[TimelineItem]) -> TimelineView:
    view = pilot.app.query_one(TimelineView)
    view.set_items(items)
    await pilot.pause()
    return view


async def test_ten_thousand_items_render_only_what_is_visible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = pilot.app.query_one(TimelineView)
        rendered: list[str] = []
        render_item: Callable[..., Any] = view.render_item

        def counting(it: TimelineItem, **kw: Any) -> Any:
            rendered.append(it.key)
            return render_item(it, **kw)

        monkeypatch.setattr(view, "render_item", counting)
        view.set_items(chat(10_000))
        await pilot.pause()
        assert 0 < len(rendered) <= 24
        assert len(view._strips) <= 24
        assert set(rendered) <= {f"$m{i}" for i in range(10_000 - 24, 10_000)}
        assert view.scroll_y == view.max_scroll_y
        assert visible(view)[-1] == "  m message 9999"
        # Another frame of the same view renders nothing new: the strips are cached.
        rendered.clear()
        view.refresh()
        await pilot.pause()
        assert rendered == []


async def test_headers_on_sender_change_gap_notice_and_day() -> None:
    items = [
        item("$1", "alice", 0, "one"),
        item("$2", "alice", 1, "two"),
        item("$3", "bob", 2, "three"),
        item("$4", "bob", 13, "four"),
        item("$5", "carol", 14, Text("Carol joined", style="dim"), is_notice=True),
        item("$6", "bob", 15, "five"),
        item("$7", "bob", 24 * 60 - 60, "six"),  # the next day, 09:00
    ]
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, items)
        assert [line.strip() for line in shown(view)] == [
            "── Tuesday 24 November 2026 ──",
            "Alice  10:00",
            "one",
            "two",
            "Bob  10:02",
            "three",
            "Bob  10:13",
            "four",
            "Carol joined",
            "Bob  10:15",
            "five",
            "── Wednesday 25 November 2026 ──",
            "Bob  09:00",
            "six",
        ]
        assert shown(view)[2] == "  one"
        assert shown(view)[8] == "  Carol joined"
        # Short timelines sit at the bottom of the view, like any chat.
        assert visible(view)[-1] == "  six"


async def test_prepend_keeps_the_visible_content_in_place() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(200, start=100))
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        before, top = visible(view), view.scroll_y
        # From the day before, by another sender: the seam keeps its date line and header, so
        # every row on screen must stay exactly as it was.
        older = chat(50, start=-24 * 60, prefix="o")
        assert older[-1].sender_id != view.items[0].sender_id
        view.prepend(older)
        await pilot.pause()
        assert visible(view) == before
        assert view.scroll_y > top
        assert [it.key for it in view.items[:2]] == ["$o0", "$o1"]

        # Also from the middle of the timeline, where the prepended rows are far off screen.
        view.scroll_to(y=120, animate=False)
        await pilot.pause()
        before = visible(view)
        view.prepend(chat(30, start=-40, prefix="p"))
        await pilot.pause()
        assert visible(view) == before


async def test_loading_then_prepend_keeps_the_text_in_place() -> None:
    """The room screen's cycle: NearTop, loading line, older page, loading line gone."""
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(100, start=100))
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        view.set_loading(True)
        await pilot.pause()
        loading = visible(view)
        assert loading[0] == "  loading older messages…"
        view.prepend(chat(40, start=-24 * 60, prefix="o"))
        view.set_loading(False)
        await pilot.pause()
        # Only the loading row changed: it now shows the newest of the older messages.
        assert visible(view)[1:] == loading[1:]
        assert visible(view)[0] == "  o message 39"


async def test_prepend_to_a_short_room_keeps_it_in_place() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(4, start=100))
        before = visible(view)
        view.prepend(chat(30, start=-24 * 60, prefix="o"))
        await pilot.pause()
        kept = without_blank_top(before)
        assert visible(view)[-len(kept) :] == kept
        assert len(shown(view)) == 24


async def test_prepend_by_the_same_sender_moves_the_header_up() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$new", "alice", 5, "new")])
        assert shown(view)[1:] == ["Alice  10:05", "  new"]
        view.prepend([item("$old", "alice", 0, "old")])
        await pilot.pause()
        assert shown(view)[1:] == ["Alice  10:00", "  old", "  new"]

        # Ten minutes apart (or another sender) the existing header stays.
        view.set_items([item("$new", "alice", 20, "new")])
        view.prepend([item("$old", "alice", 0, "old")])
        await pilot.pause()
        assert shown(view)[1:] == ["Alice  10:00", "  old", "Alice  10:20", "  new"]


async def test_append_follows_at_the_bottom() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(100))
        view.append([item("$a", "dave", 200, "fresh")])
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        assert visible(view)[-2:] == ["Dave  13:20", "  fresh"]

        # One row short of the bottom still counts as the bottom.
        view.scroll_to(y=view.max_scroll_y - 1, animate=False)
        await pilot.pause()
        view.append([item("$b", "dave", 201, "fresher")])
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        assert visible(view)[-1] == "  fresher"


async def test_append_does_not_move_a_view_scrolled_up() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(100))
        view.scroll_to(y=40, animate=False)
        await pilot.pause()
        before = visible(view)
        view.append(chat(20, start=100, prefix="n"))
        await pilot.pause()
        assert view.scroll_y == 40
        assert visible(view) == before
        assert view.scroll_y < view.max_scroll_y


async def test_upsert_turns_the_local_echo_into_the_event() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        view.upsert(item("txn1", "alice", 10, "hi there", state=SENDING))
        await pilot.pause()
        assert shown(view)[-1] == "  hi there (sending…)"

        view.upsert(item("$real", "alice", 10, "hi there"), replace_key="txn1")
        await pilot.pause()
        assert [it.key for it in view.items][-1] == "$real"
        assert "txn1" not in [it.key for it in view.items]
        assert shown(view)[-1] == "  hi there"

        view.upsert(item("$real", "alice", 10, "hi there", edited=True))
        view.upsert(item("txn2", "alice", 11, "lost", state=FAILED, error="M_FORBIDDEN"))
        await pilot.pause()
        assert shown(view)[-2:] == [
            "  hi there (edited)",
            "  lost ✗ not sent: M_FORBIDDEN (retry-send, discard-send)",
        ]


async def test_upsert_drops_the_echo_when_sync_delivered_the_event_first() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("txn1", "alice", 0, "hi", state=SENDING)])
        view.append([item("$real", "alice", 0, "hi")])
        view.upsert(item("$real", "alice", 0, "hi"), replace_key="txn1")
        await pilot.pause()
        assert [it.key for it in view.items] == ["$real"]
        assert shown(view)[1:] == ["Alice  10:00", "  hi"]


async def test_remove_takes_an_item_out() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        view.remove_item("$m1")
        view.remove_item("$not-there")
        await pilot.pause()
        assert [it.key for it in view.items] == ["$m0", "$m2"]
        assert shown(view)[1:] == ["Alice  10:00", "  m message 0", "  m message 2"]


async def test_near_top_is_posted_once_until_more_history_arrives() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        app = pilot.app
        assert isinstance(app, TimelineApp)
        view = await started(pilot, chat(300, start=100))
        assert app.near_top == 0
        view.focus()
        await pilot.press("home")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert view.scroll_y == 0
        assert app.near_top == 1

        await pilot.press("down", "up")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert app.near_top == 1

        view.prepend(chat(50, prefix="o"))
        await pilot.pause()
        assert app.near_top == 1  # the view stayed on its content, rows away from the top
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert app.near_top == 2

        view.set_at_start(True)
        view.prepend([])
        view.scroll_to(y=50, animate=False)
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert app.near_top == 2
        assert visible(view)[0].strip() == "— start of the room —"


async def test_a_short_room_asks_for_history_at_once() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        app = pilot.app
        assert isinstance(app, TimelineApp)
        await started(pilot, chat(3))
        assert app.near_top == 1


async def test_loading_line_shows_at_the_top() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        view.set_loading(True)
        await pilot.pause()
        assert shown(view)[0] == "  loading older messages…"
        assert shown(view)[2] == "Alice  10:00"
        view.set_at_start(True)
        await pilot.pause()
        assert shown(view)[0] == "  loading older messages…"
        view.set_loading(False)
        await pilot.pause()
        assert shown(view)[0].strip() == "— start of the room —"
        view.set_at_start(False)
        await pilot.pause()
        assert shown(view)[1] == "Alice  10:00"


async def test_end_key_returns_to_the_latest() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(200))
        view.scroll_to(y=10, animate=False)
        view.focus()
        await pilot.press("end")
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y
        view.append([item("$z", "zed", 500, "last")])
        await pilot.pause()
        assert visible(view)[-1] == "  last"


async def test_markup_in_a_body_is_shown_literally() -> None:
    body = "[@click=app.quit]click me[/] [b]x[/b]"
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$1", "[b]eve[/b]", 0, body)])
        assert shown(view)[1:] == ["[b]eve[/b]  10:00", "  " + body]
        for y in range(view.size.height):
            for segment in view.render_line(y):
                assert segment.style is None or not segment.style.meta


async def test_rows_wrap_to_the_width_and_rewrap_on_resize() -> None:
    long = " ".join(f"word{i}" for i in range(40))
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, [item("$1", "alice", 0, long)])
        rows = [r for r in visible(view) if r.startswith("  word")]
        assert " ".join(r.strip() for r in rows) == long
        assert all(len(r) <= view.scrollable_content_region.width for r in rows)
        narrow_before = len(rows)
        await pilot.resize_terminal(40, 24)
        await pilot.pause()
        rows = [r for r in visible(view) if r.startswith("  word")]
        assert " ".join(r.strip() for r in rows) == long
        assert len(rows) > narrow_before


async def test_styles_reach_the_screen() -> None:
    items = [
        item("$1", "alice", 0, Text("loud", style="bold")),
        item("$2", "alice", 1, "quiet", edited=True),
    ]
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, items)
        first = 24 - len(shown(view))

        def style_of(y: int, text: str) -> Style:
            for segment in view.render_line(y):
                if segment.text.strip() == text:
                    assert segment.style is not None
                    return segment.style
            raise AssertionError(f"{text!r} not on row {y}")

        assert style_of(first + 2, "loud").bold
        dim = style_of(first + 1, "10:00").color
        assert dim is not None
        assert style_of(first, "── Tuesday 24 November 2026 ──").color == dim
        assert style_of(first + 3, "(edited)").color == dim
        assert style_of(first + 3, "quiet").color != dim
        assert style_of(first + 1, "Alice").bold


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("width", [8, 31, 78])
async def test_measured_height_matches_the_rendered_rows(width: int, fmt: str) -> None:
    bodies = [
        "",
        "short",
        "x" * 200,
        "a line\nand another\n",
        "tab\tseparated\tcolumns " * 5,
        "漢字とかなの長い文章です。" * 6,
        "emoji 🎉🎉 " * 20,
        "   leading and trailing spaces   " * 4,
    ]
    items = [item(f"${i}", "alice", i, body) for i, body in enumerate(bodies)]
    quoted = item("$q", "carol", 52, "a reply " * 12)
    quoted.reply = ReplyQuote("$question", Text("Alice: the question " * 8))
    quoted.reactions = (Reaction("👍", 2, True),)
    waiting = item("$w", "carol", 53, "answer")
    waiting.reply = ReplyQuote("$elsewhere")
    items += [
        quoted,
        waiting,
        item("$e", "bob", 50, "y" * 70, edited=True, state=FAILED, error="x" * 40),
        item("$n", "bob", 51, Text("notice\nwith a break " * 10), is_notice=True),
    ]
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = pilot.app.query_one(TimelineView)
        view.set_format(fmt)
        for it in items:
            for date, header in [(False, False), (True, True)]:
                rows = view.render_item(it, date=date, header=header, width=width)
                assert len(rows) == view.item_height(it, date=date, header=header, width=width)
                assert all(row.cell_length <= width for row in rows)


async def test_irc_format_puts_sender_and_time_in_columns() -> None:
    items = [item("$1", "alice", 0, "hello"), item("$2", "bob", 1, "x " * 60)]
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = pilot.app.query_one(TimelineView)
        view.set_items(items)
        view.set_format("irc")
        await pilot.pause()
        rows = [view.render_line(y).text for y in range(24)]
        hello = next(r for r in rows if "hello" in r)
        assert hello.startswith(" " * 9 + "Alice hello")
        assert hello.rstrip().endswith(local_time(items[0].ts).strftime("%H:%M"))
        wrapped = [r for r in rows if r.strip().startswith("x")]
        assert len(wrapped) == 2 and wrapped[1].startswith(" " * 15 + "x")
        assert not any(r.strip() == "Alice" for r in rows)  # no header lines in IRC
        with pytest.raises(ValueError):
            view.set_format("html")


async def test_fully_read_line_sits_under_its_item_until_it_is_the_last() -> None:
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, chat(3))
        view.set_fully_read("$m1")
        await pilot.pause()
        rows = shown(view)
        at = rows.index("  m message 1")
        assert rows[at + 1].strip() == "── new messages ──"
        assert rows[at + 2] == "  m message 2"
        # Under the newest item there is nothing new: no line, until something arrives.
        view.set_fully_read("$m2")
        await pilot.pause()
        assert not any("new messages" in row for row in shown(view))
        view.append([item("$m3", "carol", 9, "fresh")])
        await pilot.pause()
        rows = shown(view)
        assert rows[rows.index("  m message 2") + 1].strip() == "── new messages ──"


async def test_receipts_go_right_aligned_on_the_line_or_under_a_full_one() -> None:
    async with TimelineApp().run_test(size=(60, 24)) as pilot:
        view = await started(pilot, chat(2))
        width = view.scrollable_content_region.width
        long_body = "w" * (width - 2)  # fills its line exactly
        view.set_items([*chat(2), item("$long", "bob", 5, long_body)])
        await pilot.pause()
        before = len(shown(view))
        view.set_receipts({"$m0": "✓ bob, carol +2", "$long": "✓ dave"})
        await pilot.pause()
        rows = shown(view)
        m0 = next(row for row in rows if row.startswith("  m message 0"))
        assert m0.endswith("✓ bob, carol +2") and len(m0) == width
        # The long line is full: its label gets a line of its own, right-aligned.
        assert rows[rows.index("  " + long_body) + 1].endswith("✓ dave")
        assert len(rows) == before + 1
        assert view.receipts == {"$m0": "✓ bob, carol +2", "$long": "✓ dave"}
        view.set_receipts({})
        await pilot.pause()
        assert len(shown(view)) == before and not any("✓" in row for row in shown(view))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_measured_height_counts_receipts_and_the_marker(fmt: str) -> None:
    items = [
        item("$a", "alice", 0, "short"),
        item("$b", "alice", 1, "x" * 200),
        item("$n", "bob", 2, "someone joined", is_notice=True),
    ]
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        view = await started(pilot, items)
        view.set_format(fmt)
        view.set_receipts({"$a": "✓ carol", "$b": "✓ " + "z" * 90, "$n": "✓ dave, eve +1"})
        for width in (12, 40, 78):
            for it in items:
                for marker in (False, True):
                    kw: dict[str, Any] = {"date": True, "header": True, "width": width}
                    rows = view.render_item(it, marker=marker, **kw)
                    assert len(rows) == view.item_height(it, marker=marker, **kw)
                    assert all(row.cell_length <= width for row in rows)


async def test_membership_runs_join_across_append_and_prepend_seams() -> None:
    from test_timeline_reading import member

    from tuimatrix.core.timeline import build_items

    names = {"@a:x": "alice", "@b:x": "bob", "@c:x": "carol", "@d:x": "dave"}
    async with TimelineApp().run_test(size=(80, 24)) as pilot:
        run = build_items([member(2, "@b:x", "join"), member(3, "@c:x", "join")], names)
        view = await started(pilot, run)
        view.append(build_items([member(4, "@d:x", "leave", prev="join")], names))
        await pilot.pause()
        assert shown(view)[1:] == ["  2 joined (bob, carol); dave left"]
        view.prepend(build_items([member(1, "@a:x", "join")], names))
        await pilot.pause()
        assert shown(view)[1:] == ["  3 joined (bob, carol, alice); dave left"]
        assert len(view.items) == 1
        key = view.items[0].key
        assert {view.item_key_for(f"$m{n}") for n in (1, 2, 3, 4)} == {key}
        # The same event again (scrollback and sync overlap) changes nothing.
        view.append(build_items([member(4, "@d:x", "leave", prev="join")], names))
        await pilot.pause()
        assert shown(view)[1:] == ["  3 joined (bob, carol, alice); dave left"]

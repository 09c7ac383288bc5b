"""Hostile HTML and names from another user, through the room screen (against Synapse): what
the timeline renders holds no control byte, no live markup, no unsafe link, and the app keeps
running. (The sanitiser's own cases are in test_sanitize.py; the real terminal's bytes in
test_smoke_tmux.py.)"""

from __future__ import annotations

import re

from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_media_search import Peer, select, send, shared_room
from test_room_actions import open_room
from textual.strip import Strip
from textual.widgets import Label

from tuimatrix.app import TuimatrixApp
from tuimatrix.paths import get_paths
from tuimatrix.screens.links import LinkPickerScreen
from tuimatrix.widgets.timeline import TimelineView

#: every C0 control but \n, DEL, C1, and bidi embeddings/overrides/isolates
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE_NAME = "Mallory\x1b]0;PWNED\x07\x1b[31m\u202e[@click=app.quit][b]boss[/b]"
SHOWN_NAME = "Mallory[@click=app.quit][b]boss[/b]"
DEPTH = 1000  # of <blockquote><b>: 2,000 nested tags
HOSTILE_HTML = (
    '<font data-mx-color="red; evil" color="#ff0000\x1b[31m">colour</font> '
    '<script>alert("PWNED")</script>'
    '<img src=x onerror="alert(\'PWNED\')" alt="pic\x1b]0;PWNED\x07">'
    "<a href=\"javascript:alert('PWNED')\">click me</a> "
    '<a href="https://example.org/\x1b[2Jsafe" title="\x07\x9b\x1b[6n">ok link</a> '
    '<span data-mx-bg-color="#00ff00\x07" data-mx-spoiler="\x1b]52;c;UFdORUQ=\x07">secret</span>'
    + "<blockquote><b>" * DEPTH
    + "deep [@click=app.quit]"
    + "</b></blockquote>" * DEPTH
)


def all_strips(view: TimelineView) -> list[Strip]:
    """Every row of the timeline as rendered (not just the visible ones)."""
    return [view._row(r) for r in range(view.virtual_size.height)]


def assert_inert(strips: list[Strip]) -> None:
    """No control byte, no click action, and only web links in what the timeline renders."""
    for strip in strips:
        for segment in strip:
            assert not UNSAFE.search(segment.text), repr(segment.text)
            style = segment.style
            if style is not None:
                assert not any(key.startswith("@") for key in style.meta), style.meta
                assert style.link is None or style.link.startswith("https://"), style.link


async def test_hostile_html_and_name_are_shown_inert(make_user: MakeUser, peer: Peer) -> None:
    b, room_id = await shared_room(make_user, peer, "Hostile")
    await b.client.set_displayname(HOSTILE_NAME)
    assert await b.client.get_displayname(b.client.mxid) == HOSTILE_NAME  # stored as sent
    event_id = await send(
        b,
        room_id,
        {
            "msgtype": "m.text",
            "body": "plain \x1b[2J fallback",
            "format": "org.matrix.custom.html",
            "formatted_body": HOSTILE_HTML,
        },
    )
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = await select(pilot, screen, event_id)
        item = next(i for i in timeline.items if i.key == event_id)
        assert item.sender == SHOWN_NAME
        assert item.body.plain.split("\n")[0] == ("colour [image: pic]click me ok link ██████")
        # The 2,000-deep nesting shows capped: eight quote bars, the text bold, not parsed.
        assert item.body.plain.split("\n")[1] == "│ " * 8 + "deep [@click=app.quit]"

        # Others' receipts and typing carry the name too.
        await b.mark_read(room_id, event_id, fully_read=False)
        await b.set_typing(room_id, True)
        await until(pilot, lambda: timeline.receipts.get(event_id, "").startswith("✓ Mallory"))
        typing = screen.query_one("#typing", Label)
        await until(pilot, lambda: "is typing" in typing.render().plain)  # type: ignore[union-attr]
        assert typing.render().plain == f"{SHOWN_NAME} is typing…"  # type: ignore[union-attr]

        strips = all_strips(timeline)
        assert_inert(strips)
        text = "\n".join(strip.text for strip in strips)
        assert SHOWN_NAME in text and "deep [@click=app.quit]" in text
        assert "PWNED" not in text and "alert" not in text and "evil" not in text
        # The colour with junk after it is ignored, the link keeps only its clean target.
        links = {
            seg.style.link for strip in strips for seg in strip if seg.style and seg.style.link
        }
        assert links == {"https://example.org/safe"}

        # Clicking the would-be action does nothing but select; the app runs on.
        y = next(
            y for y in range(timeline.size.height) if "[@click" in timeline.render_line(y).text
        )
        x = timeline.render_line(y).text.index("[@click")
        await pilot.click(TimelineView, offset=(x + 2, y))
        await pilot.pause()
        assert app.is_running and app.screen is screen

        # The link picker offers the clean web link only, never javascript:.
        await select(pilot, screen, event_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LinkPickerScreen))
        picker = app.screen
        assert isinstance(picker, LinkPickerScreen)
        assert picker.links == ["https://example.org/safe"]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert app.is_running

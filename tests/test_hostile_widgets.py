"""Hostile names, topics, reaction keys and file names from another user (against Synapse),
through every place a network string meets Textual outside the timeline: the room list, the
command palette (its hits, help and highlight parse markup unless given ``Content``), the room
header, the reactions toast, the pickers and prompts, the invite and space screens. Each is
opened with Pilot; the app must keep running, and what it renders must hold no control byte,
no click action and no link. (The timeline's own case is test_hostile_screen.py.)"""

from __future__ import annotations

from typing import Any

from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_hostile_screen import UNSAFE
from test_media_search import Peer, select, send, shared_room
from test_room_actions import open_room
from textual.command import CommandInput, CommandList, CommandPalette
from textual.containers import Vertical
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import DataTable

from tuimatrix.app import TuimatrixApp
from tuimatrix.commands import REGISTRY, load_commands
from tuimatrix.core.room_names import fuzzy_offsets
from tuimatrix.core.session import load_sessions
from tuimatrix.paths import get_paths
from tuimatrix.screens.invite import InviteScreen
from tuimatrix.screens.keys import KeysScreen
from tuimatrix.screens.prompts import (
    ConfirmScreen,
    RoomPickerScreen,
    TextPromptScreen,
)
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.search import SearchResultsScreen
from tuimatrix.screens.space import SpaceScreen
from tuimatrix.screens.thread import ThreadPickerScreen

#: Markup that crashes a parser, binds a click action, plants a file link; then terminal
#: controls: an OSC 8 link, a screen clear, a C1 CSI, an OSC 52 clipboard write, a bidi override.
MARKUP = '[/] boom [@click=app.quit]x[/] [link="file:///etc/passwd"]y[/link]'
CONTROLS = "\x1b]8;;file:///etc/passwd\x07z\x1b]8;;\x07\x1b[2J\x9b31m\x1b]52;c;UFdORUQ=\x07\u202e"
HOSTILE = MARKUP + CONTROLS
SHOWN = MARKUP + "z"  # what is left to see: the markup as literal text
#: A topic as long as an event may be (Synapse refuses events over 64 KiB), and a name made
#: to repeat a likely query's letters (Textual's fuzzy matcher tries every combination).
LONG_TOPIC = HOSTILE + " topic" * 9_000
LONG_NAME = HOSTILE + " rooms open" * 3_000
#: Where no server limits the size (a member list, a local prompt): 100 kB.
HUGE = HOSTILE * 800


def screen_strips(app: TuimatrixApp) -> list[Strip]:
    """Every line of the screen as the terminal would get it (modals over their background)."""
    return app.screen._compositor.render_strips()


def screen_text(app: TuimatrixApp) -> str:
    return "\n".join(strip.text for strip in screen_strips(app))


def assert_screen_inert(app: TuimatrixApp) -> None:
    """The app runs, and the screen holds no control, no click action and no link at all.

    (Textual's own scrollbars carry ``@mouse.down`` meta: only ``@click`` is an action.)"""
    assert app.is_running
    for strip in screen_strips(app):
        for segment in strip:
            assert not UNSAFE.search(segment.text), repr(segment.text)
            if segment.style is not None:
                assert "@click" not in segment.style.meta, segment.style.meta
                assert segment.style.link is None, segment.style.link


async def hostile_world(make_user: MakeUser, peer: Peer) -> dict[str, str]:
    """Bob, hostile in every name he controls, shares a room, a space and an invite with a
    fresh user whose session is saved. Returns the ids of what he made."""
    b, room_id = await shared_room(make_user, peer, LONG_NAME)
    [session] = load_sessions(get_paths())
    me = session.user_id
    await b.client.set_displayname(HOSTILE[:200])  # Synapse caps display names at 256
    await b.set_topic(room_id, LONG_TOPIC)
    file_event = await send(b, room_id, {"msgtype": "m.file", "body": HOSTILE, "url": "mxc://x/y"})
    message = await send(b, room_id, {"msgtype": "m.text", "body": "react to me"})
    root = await send(b, room_id, {"msgtype": "m.text", "body": "thread " + HOSTILE})
    thread = {"rel_type": "m.thread", "event_id": root}
    await send(b, room_id, {"msgtype": "m.text", "body": "in it", "m.relates_to": thread})
    echo = await b.react(room_id, message, HOSTILE)
    assert (await b.send_queue.wait(echo.txn_id)).event_id
    space_id = await b.create_space(HOSTILE, topic=HOSTILE)
    await b.add_space_child(space_id, room_id)
    await b.invite(space_id, me)
    invite_id = await b.create_room(HOSTILE + " invite", topic=HOSTILE, invite=[me])
    ids = {"room": room_id, "file": file_event, "message": message, "space": space_id}
    return ids | {"invite": invite_id}


def modal_text(app: TuimatrixApp) -> str:
    """The text of the modal's own box (its screen also shows the one below, dimmed)."""
    boxes = app.screen.query(Vertical)
    if not boxes:
        return ""
    r = boxes.first().region
    return "\n".join(strip.crop(r.x, r.right).text for strip in screen_strips(app)[r.y : r.bottom])


async def wait_modal_text(pilot: Pilot[None], text: str) -> None:
    await until(pilot, lambda: text in modal_text(pilot.app))  # type: ignore[arg-type]


def room_hit(hits: CommandList) -> int | None:
    """The index of the hostile room's entry among the palette's hits."""
    for index in range(hits.option_count):
        if "rooms: Open " + SHOWN[:20] in str(hits.get_option_at_index(index).prompt):
            return index
    return None


async def wait_text(pilot: Pilot[None], text: str) -> None:
    try:
        await until(pilot, lambda: text in screen_text(pilot.app))  # type: ignore[arg-type]
    except TimeoutError:
        print(screen_text(pilot.app))  # type: ignore[arg-type]
        raise


async def test_hostile_strings_are_inert_in_every_widget(make_user: MakeUser, peer: Peer) -> None:
    ids = await hostile_world(make_user, peer)
    load_commands()
    app = TuimatrixApp(get_paths())
    # Toasts and tooltips are off under run_test unless asked for.
    async with app.run_test(size=SIZE, notifications=True, tooltips=True) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: ids["invite"] in account.rooms.summaries)
        await until(pilot, lambda: ids["space"] in account.rooms.summaries)
        await wait_text(pilot, "[/] boom")
        assert_screen_inert(app)  # the room list: names, the invite, the space

        # The palette: discovery (the empty query) shows every room with its topic as help.
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.focused, CommandInput))
        hits = app.screen.query_one(CommandList)
        await until(pilot, lambda: room_hit(hits) is not None)
        hits.highlighted = room_hit(hits)  # scrolled into view
        await wait_text(pilot, "rooms: Open " + SHOWN[:20])
        assert_screen_inert(app)
        # A query that matches the name, its topic shown (cut to one line) as the help.
        await pilot.press(*"room open")
        await wait_text(pilot, "topic topic topic")
        assert_screen_inert(app)
        assert "[@click=app.quit]x[/]" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette))

        screen = await open_room(pilot, app, ids["room"])
        await select(pilot, screen, ids["file"])
        await wait_text(pilot, "[@click=app.quit]x[/]")
        assert_screen_inert(app)  # the header (name and topic), the timeline, the status

        # The reactions toast: the key and the name, as text.
        app.run_command(REGISTRY["show-reactions"], {"event": ids["message"]})
        await wait_text(pilot, "Reactions")
        assert_screen_inert(app)
        # An error toast whose text came from the server.
        app.notify_status("server said: " + HOSTILE, error=True)
        await wait_text(pilot, "server said: [/] boom")
        assert_screen_inert(app)

        # Search results (sender, snippet, room in the title) and the thread picker.
        for command, args, shown in [
            ("search", {"query": "boom"}, SearchResultsScreen),
            ("threads", {}, ThreadPickerScreen),
        ]:
            app.run_command(REGISTRY[command], args)
            await until(pilot, lambda: isinstance(app.screen, shown))  # noqa: B023
            await wait_modal_text(pilot, "[/] boom")
            assert_screen_inert(app)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)

        # Pickers and prompts: room names, suggestions (member names), choices, questions.
        screens: list[Any] = [
            RoomPickerScreen("Open " + HOSTILE, app.accounts),
            TextPromptScreen("Who " + HOSTILE, suggestions=[HOSTILE, "@" + HOSTILE, HUGE]),
            TextPromptScreen("Which", choices=(MARKUP, "plain")),
            TextPromptScreen("Edit", initial="[/] boom" + CONTROLS),  # an edit starts from the text
            ConfirmScreen("Leave " + HOSTILE + "?"),
            KeysScreen([("room", "x", MARKUP, HOSTILE)]),
            InviteScreen(account, account.rooms.summaries[ids["invite"]]),
            SpaceScreen(account, account.rooms.summaries[ids["space"]]),
        ]
        for modal in screens:
            app.push_screen(modal)
            await until(pilot, lambda: app.screen is modal)  # noqa: B023
            await wait_modal_text(pilot, "[/] boom")
            if isinstance(modal, SpaceScreen):
                await wait_modal_text(pilot, "1 rooms")  # the hierarchy came, its names with it
                assert modal.query_one(DataTable).row_count == 1
            assert_screen_inert(app)
            app.pop_screen()
            await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        assert app.is_running and app.screen is screen


def test_palette_and_pickers_match_long_hostile_names() -> None:
    """Textual's matcher tries every combination of positions: "rooms open" repeated in a
    name held the palette for seconds per keystroke. Ours finds the leftmost letters in one
    left-to-right pass (linear by construction; no wall-clock bound in a unit test)."""
    name = "rooms open " * 10_000  # 110 kB
    assert fuzzy_offsets("ro on", name) == [0, 1, 5, 6, 9]
    assert fuzzy_offsets("rooms open", name) == list(range(10))
    assert fuzzy_offsets("rooms xyz", name) is None

"""Acting on the selected message from a room screen: reply, edit, react, delete (keys)."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import MakeUser
from helpers import palette_search, until
from test_app import SIZE
from textual.pilot import Pilot

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.paths import get_paths
from tuimatrix.screens.emoji_picker import EmojiPickerScreen
from tuimatrix.screens.prompts import ConfirmScreen, TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView


async def server_events(account: Account, room_id: str) -> list[dict[str, Any]]:
    resp = await account.client.api.request(
        "GET",  # type: ignore[arg-type]
        f"/_matrix/client/v3/rooms/{room_id}/messages",
        query_params={"dir": "b", "limit": "50"},
    )
    return list(reversed(resp["chunk"]))


async def room_with(make_user: MakeUser, name: str, *texts: str) -> str:
    """A room of a fresh user (whose session is saved) holding ``texts``."""
    user = make_user("alice")
    me = (await auth.login(get_paths(), user.user_id, user.password)).account
    room_id = await me.create_room(name)
    for text in texts:
        await me.send_queue.wait((await me.send_text(room_id, text)).txn_id)
    await me.close()
    return room_id


async def open_room(pilot: Pilot[None], app: TuimatrixApp, room_id: str) -> RoomScreen:
    """Wait for the account to be live, open ``room_id`` and wait for its timeline."""
    account = next(iter(app.accounts))
    await until(pilot, lambda: account.status.state == LIVE)
    app.open_room(account, room_id)
    await until(pilot, lambda: isinstance(app.screen, RoomScreen))
    screen = app.screen
    assert isinstance(screen, RoomScreen)
    await until(pilot, lambda: bool(screen.query(TimelineView)))
    return screen


async def test_select_and_reply_edit_react_delete(make_user: MakeUser) -> None:
    room_id = await room_with(make_user, "Actions", "first", "second")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.query_one(TimelineView)
        await until(pilot, lambda: any(i.body.plain == "second" for i in timeline.items))

        # Select with the arrows in the focused timeline.
        timeline.focus()
        await pilot.press("up", "up")  # "second", then "first"
        assert timeline.selected_item is not None
        assert timeline.selected_item.body.plain == "first"
        first_id = timeline.selected_item.key

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"agreed", "enter")

        async def has(predicate: Any) -> bool:
            return any(predicate(e) for e in await server_events(account, room_id))

        async with asyncio.timeout(20):
            while not await has(
                lambda e: (
                    e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                    == first_id
                    and e["content"]["body"] == "agreed"
                )
            ):
                await pilot.pause(0.1)

        # The reply shows a quote of what it answers.
        await until(
            pilot,
            lambda: any(
                i.body.plain == "agreed"
                and i.reply is not None
                and "first" in str(getattr(i.reply.preview, "plain", ""))
                for i in timeline.items
            ),
        )

        # Edit starts from the current text.
        timeline.focus()
        timeline.select(first_id)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        prompt = app.screen
        assert isinstance(prompt, TextPromptScreen) and prompt.initial == "first"
        await pilot.press("end", *" (fixed)", "enter")
        async with asyncio.timeout(20):
            while not await has(
                lambda e: e["content"].get("m.new_content", {}).get("body") == "first (fixed)"
            ):
                await pilot.pause(0.1)
        await until(pilot, lambda: any(i.edited for i in timeline.items))

        timeline.focus()
        timeline.select(first_id)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, EmojiPickerScreen))
        await pilot.press(*":+1:", "enter")
        async with asyncio.timeout(20):
            while not await has(
                lambda e: (
                    e["type"] == "m.reaction"
                    and e["content"]["m.relates_to"]
                    == {
                        "rel_type": "m.annotation",
                        "event_id": first_id,
                        "key": "👍",
                    }
                )
            ):
                await pilot.pause(0.1)

        await until(
            pilot,
            lambda: any(
                i.key == first_id and i.reactions == (("👍", 1, True),) for i in timeline.items
            ),
        )
        rendered = [timeline.render_line(y).text for y in range(timeline.size.height)]
        assert any("👍 1" in row for row in rendered)
        assert any("╭ " in row and "first" in row for row in rendered)

        timeline.focus()
        timeline.select(first_id)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        async with asyncio.timeout(20):
            while not await has(
                lambda e: e["type"] == "m.room.redaction" and e.get("redacts") == first_id
            ):
                await pilot.pause(0.1)
        await until(pilot, lambda: any(i.redacted for i in timeline.items))

        # Typing those letters in the composer types them, and runs nothing.
        screen.query_one(Composer).focus()
        await pilot.press("r", "e", "d", "a")
        assert screen.query_one(Composer).text == "reda"
        assert isinstance(app.screen, RoomScreen)


async def test_set_format_switches_the_open_room_and_sticks(make_user: MakeUser) -> None:
    room_id = await room_with(make_user, "Formats", "columns please")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        await palette_search(pilot, "message format")
        await pilot.press("enter")
        # The choices are mounted, the first highlighted and focused.
        await until(
            pilot, lambda: isinstance(app.screen, TextPromptScreen) and bool(app.screen.focused)
        )
        await pilot.press("down", "enter")  # from elemental to irc
        await until(pilot, lambda: screen.timeline.message_format == "irc")
        # Reopened later, the room keeps its format.
        app.close_room(account, room_id)
        app.open_room(account, room_id)
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        reopened = app.screen
        assert isinstance(reopened, RoomScreen) and reopened is not screen
        await until(pilot, lambda: bool(reopened.query(TimelineView)))
        assert reopened.timeline.message_format == "irc"

"""The app end to end: Pilot drives the UI against the real Synapse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from conftest import MakeUser
from helpers import TestUser, palette_search, until
from textual.pilot import Pilot
from textual.widgets import Input

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.paths import get_paths
from tuimatrix.screens.invite import InviteScreen
from tuimatrix.screens.login import LoginScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView

SIZE = (110, 36)


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[TestUser], asyncio.Future[Account]]]:
    """Another user's account, driven by the test (logged in under a separate profile)."""
    opened: list[Account] = []

    async def make(user: TestUser) -> Account:
        paths = get_paths()
        peer_paths = type(paths)(
            *(
                p.parent / "peer" / p.name
                for p in (paths.config_dir, paths.data_dir, paths.state_dir, paths.cache_dir)
            )
        )
        account = (await auth.login(peer_paths, user.user_id, user.password)).account
        opened.append(account)
        return account

    yield make  # type: ignore[misc]
    for account in opened:
        await account.close()


def row_keys(app: TuimatrixApp) -> list[str]:
    """``user_id|room_id`` of every room row the room list shows (a room may repeat)."""
    return app.room_list.room_keys()


def timeline_text(screen: RoomScreen) -> list[str]:
    views = screen.query(TimelineView)  # none until the screen has been composed
    return [item.body.plain for view in views for item in view.items]


async def log_in_through_the_screen(pilot: Pilot[None], user: TestUser) -> None:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, LoginScreen))
    app.screen.query_one("#user", Input).value = user.user_id
    app.screen.query_one("#password", Input).value = user.password
    app.screen.query_one("#password", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, RoomListScreen) and len(app.accounts) == 1)  # type: ignore[attr-defined]
    account = next(iter(app.accounts))  # type: ignore[attr-defined]
    await until(pilot, lambda: account.status.state == LIVE)


async def test_login_chat_invite_scrollback_and_resume(
    make_user: MakeUser, peer: Callable[[TestUser], asyncio.Future[Account]]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b = await peer(bob)
    history = await b.create_room("History", invite=[alice.user_id])
    for i in range(120):
        await b.send_text(history, f"old {i}")
    await b.send_queue.flush()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        await log_in_through_the_screen(pilot, alice)
        me = next(iter(app.accounts))
        history_key = f"{alice.user_id}|{history}"
        await until(pilot, lambda: history_key in row_keys(app))

        # A room another user creates now appears live, as an invite.
        live_room = await b.create_room("Live", invite=[alice.user_id])
        live_key = f"{alice.user_id}|{live_room}"
        await until(pilot, lambda: live_key in row_keys(app))

        # Accept it from the room list.
        assert app.room_list.move_to(me, live_room)
        app.room_list.room_tree.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, InviteScreen))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        room_screen = app.screen
        assert isinstance(room_screen, RoomScreen) and room_screen.room_id == live_room
        await b.sync_once()

        # Send a message: the server has it.
        await pilot.press(*"hello", "space", *"bob", "enter")
        async with asyncio.timeout(30):
            while True:
                await b.sync_once(timeout_ms=1000)
                got = await b.store.latest_events(live_room, 20)
                if any(e["content"].get("body") == "hello bob" for e in got):
                    break
        assert "hello bob" in timeline_text(room_screen)
        assert room_screen.query_one(Composer).text == ""

        # Receive one.
        echo = await b.send_text(live_room, "hi alice")
        await b.send_queue.wait(echo.txn_id)
        await until(pilot, lambda: "hi alice" in timeline_text(room_screen))

        # Scroll back past the first page of a long room.
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        await me.join(history)
        app.open_room(me, history)
        await until(
            pilot, lambda: isinstance(app.screen, RoomScreen) and app.screen.room_id == history
        )
        history_screen = app.screen
        assert isinstance(history_screen, RoomScreen)
        await until(pilot, lambda: "old 119" in timeline_text(history_screen))
        assert "old 0" not in timeline_text(history_screen)
        timeline = history_screen.query_one(TimelineView)
        try:
            async with asyncio.timeout(60):
                while "old 0" not in timeline_text(history_screen):
                    timeline.scroll_home(animate=False)
                    await pilot.pause(0.2)
        except TimeoutError:
            shown = timeline_text(history_screen)
            raise AssertionError(
                f"scrollback stuck: {len(shown)} items, first {shown[:3]}, "
                f"loading={history_screen._loading_older} "
                f"start={history_screen.timeline_model.at_start} "
                f"scroll_y={timeline.scroll_y} max={timeline.max_scroll_y}"
            ) from None
        texts = [t for t in timeline_text(history_screen) if t.startswith("old ")]
        assert texts == [f"old {i}" for i in range(120)]

    # Quit and start again: the session resumes, no login screen.
    app2 = TuimatrixApp(get_paths())
    async with app2.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app2.accounts) == 1)
        await until(pilot, lambda: isinstance(app2.screen, RoomListScreen))
        assert isinstance(app2.screen, RoomListScreen)
        assert f"{alice.user_id}|{history}" in row_keys(app2)  # from the store at once
        account = next(iter(app2.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        assert account.sync_log[0] is not None  # an incremental sync, not a full one


async def test_wrong_password_on_the_login_screen_is_one_line(make_user: MakeUser) -> None:
    user = make_user("carol")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen))
        app.screen.query_one("#user", Input).value = user.user_id
        app.screen.query_one("#password", Input).value = "wrong"
        app.screen.query_one("#password", Input).focus()
        await pilot.press("enter")
        error = app.screen.query_one("#error")
        await until(pilot, lambda: "wrong user name or password" in str(error.render()))
        assert isinstance(app.screen, LoginScreen)
        assert len(app.accounts) == 0


async def test_palette_opens_a_room_by_part_of_its_name(
    make_user: MakeUser, peer: Callable[[TestUser], asyncio.Future[Account]]
) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Gardening club")
    await me.create_room("Knitting circle")
    await me.close()
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        await palette_search(pilot, "garden")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        assert isinstance(app.screen, RoomScreen) and app.screen.room_id == room_id
        # The room list is one screen that is switched back to, never stacked twice.
        await palette_search(pilot, "room list")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        assert sum(isinstance(s, RoomListScreen) for s in app.screen_stack) == 1
        app.open_room(account, room_id)
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        app.action_show_room_list()
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        assert sum(isinstance(s, RoomListScreen) for s in app.screen_stack) == 1
        assert len(app.screen_stack) == 2  # the default screen and the room list

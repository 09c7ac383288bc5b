"""config.toml keys, the palette of commands, the universal prefix (Pilot + real Synapse)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import MakeUser
from helpers import busy, palette_search, until
from test_app import SIZE

from tuimatrix.app import TuimatrixApp
from tuimatrix.config import load_config, valid_key
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.paths import get_paths
from tuimatrix.screens.prompts import ConfirmScreen, RoomPickerScreen, TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.ui.keymap import DEFAULT_KEYS, merged_keys
from tuimatrix.widgets.status import status_text


def write_config(text: str) -> Path:
    path = get_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_config_keys_macros_unbinding_and_errors() -> None:
    path = write_config(
        """
[keys]
"ctrl+f" = "tag-room favourite"
"f6" = ["sync-now", "room-list"]
"ctrl+nope" = "sync-now"
"f7" = "no-such-command"
[keys.room]
"escape" = ""
"f8" = "tag-room --order x favourite"
[keys.elsewhere]
"a" = "sync-now"
"""
    )
    config = load_config(path)
    assert config.keys["global"]["ctrl+f"] == ["tag-room favourite"]
    assert config.keys["global"]["f6"] == ["sync-now", "room-list"]
    assert config.keys["room"]["escape"] == []
    errors = "\n".join(config.errors)
    assert f"{path}:5: 'ctrl+nope' is not a key" in errors
    assert f"{path}:6: f7: unknown command 'no-such-command'" in errors
    assert f"{path}:9: f8: --order: not a number" in errors
    assert "unknown keys section [keys.elsewhere]" in errors
    table = merged_keys(config)
    assert "escape" not in table["room"]  # unbound
    assert table["room-list"] == DEFAULT_KEYS["room-list"]
    assert table["global"]["ctrl+f"] == ["tag-room favourite"]


def test_a_broken_file_is_reported_not_fatal() -> None:
    config = load_config(write_config("[keys\n"))
    assert len(config.errors) == 1 and "ignored" in config.errors[0]


def test_key_names() -> None:
    assert valid_key("ctrl+f") and valid_key("f5") and valid_key("a") and valid_key("shift+enter")
    assert not valid_key("ctrl+") and not valid_key("hyperspace+x") and not valid_key("ctrl+nope")


async def prepared(make_user: MakeUser, *names: str) -> tuple[Account, dict[str, str]]:
    user = make_user("alice")
    account = (await auth.login(get_paths(), user.user_id, user.password)).account
    rooms = {name: await account.create_room(name) for name in names}
    await account.close()
    return account, rooms


async def server_tags(app: TuimatrixApp, room_id: str) -> dict[str, object]:
    account = next(iter(app.accounts))
    return await account.get_tags(room_id)


async def test_config_key_and_macro_run_commands(make_user: MakeUser) -> None:
    write_config(
        """
[keys.room-list]
"ctrl+f" = "tag-room work"
"ctrl+g" = ["tag-room u.one", "tag-room u.two"]
"ctrl+nope" = "sync-now"
"""
    )
    _, rooms = await prepared(make_user, "Only")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        assert "ctrl+nope" in app.status_message  # reported, and the rest still applies
        await until(pilot, lambda: app.room_list.selected() is not None)
        await pilot.press("ctrl+f")
        async with asyncio.timeout(20):
            while "u.work" not in await server_tags(app, rooms["Only"]):
                await pilot.pause(0.1)
        await pilot.press("ctrl+g")
        async with asyncio.timeout(20):
            while not {"u.one", "u.two"} <= set(await server_tags(app, rooms["Only"])):
                await pilot.pause(0.1)


async def test_keys_and_macros_run_the_read_commands(make_user: MakeUser) -> None:
    write_config(
        """
[keys.room-list]
"ctrl+g" = ["sync-now", "rooms"]
"ctrl+y" = "members"
"ctrl+b" = "accounts"
"""
    )
    await prepared(make_user, "Attic", "Cellar")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        await until(pilot, lambda: app.room_list.selected() is not None)
        assert app.status_message == ""  # the bindings are valid: no error reported

        def status() -> str:
            return status_text(app.accounts, app.status_message).plain

        await pilot.press("ctrl+g")  # a macro ending in rooms: its summary on the status line
        await until(pilot, lambda: status().endswith("2 rooms"))
        await pilot.press("ctrl+b")
        await until(pilot, lambda: status().endswith("1 account"))
        await pilot.press("ctrl+y")  # an alias, on the room under the cursor
        await until(pilot, lambda: ": 1 members" in status())


async def test_prefix_asks_for_the_room_while_another_is_open(make_user: MakeUser) -> None:
    _, rooms = await prepared(make_user, "Kitchen", "Garage")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        app.open_room(account, rooms["Kitchen"])
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        await pilot.press("ctrl+u")
        app.run_lines(["tag-room favourite"])
        await until(pilot, lambda: isinstance(app.screen, RoomPickerScreen))
        await pilot.press(*"garage", "enter")
        async with asyncio.timeout(20):
            while "m.favourite" not in await server_tags(app, rooms["Garage"]):
                await pilot.pause(0.1)
        assert "m.favourite" not in await server_tags(app, rooms["Kitchen"])
        assert isinstance(app.screen, RoomScreen) and app.screen.room_id == rooms["Kitchen"]


async def test_leave_asks_first_from_the_palette(make_user: MakeUser) -> None:
    _, rooms = await prepared(make_user, "Porch")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        await until(pilot, lambda: app.room_list.selected() is not None)
        for answer in ("n", "y"):
            await palette_search(pilot, "leave room")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press(answer)
            await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
            await until(pilot, lambda: not busy(app, "commands"))  # the leave, if any, is done
            joined = await account.client.get_joined_rooms()
            assert (rooms["Porch"] in joined) == (answer == "n")


async def test_palette_offers_commands_with_their_keys(make_user: MakeUser) -> None:
    await prepared(make_user, "Shed")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        from tuimatrix.ui.palette import CommandsProvider

        provider = CommandsProvider(app.screen)
        offered = {title: help_text for title, help_text, _ in provider._commands()}
        assert "tags: Toggle tag" in offered
        assert (
            "view: Next unread room" in offered and "[space]" in offered["view: Next unread room"]
        )


async def test_missing_space_and_tag_are_picked_fuzzily(make_user: MakeUser) -> None:
    user = make_user("alice")
    account = (await auth.login(get_paths(), user.user_id, user.password)).account
    space_id = await account.create_space("Workshop")
    room_id = await account.create_room("Bench")
    await account.close()
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        me = next(iter(app.accounts))
        await until(pilot, lambda: me.status.state == LIVE)
        app.open_room(me, room_id)
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))

        app.run_lines(["toggle-space"])
        await until(pilot, lambda: isinstance(app.screen, RoomPickerScreen))
        picker = app.screen
        assert isinstance(picker, RoomPickerScreen)
        assert [label for _, _, label in picker.candidates] == ["Workshop"]  # spaces only
        await pilot.press(*"wksh", "enter")
        async with asyncio.timeout(20):
            while not await me.get_state(space_id, "m.space.child", room_id):
                await pilot.pause(0.1)

        app.run_lines(["tag-room"])
        await until(
            pilot, lambda: isinstance(app.screen, TextPromptScreen) and bool(app.screen.focused)
        )
        await pilot.press(*"fav", "down", "enter")  # the suggestion, not the typed "fav"
        async with asyncio.timeout(20):
            while "m.favourite" not in await me.get_tags(room_id):
                await pilot.pause(0.1)
        assert "u.fav" not in await me.get_tags(room_id)

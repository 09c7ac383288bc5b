"""Every command group from keys in the app (config.toml macros), checked on the server."""

from __future__ import annotations

import secrets
from typing import Any

from conftest import MakeUser
from helpers import eventually, until
from mautrix.api import Method
from test_app import SIZE
from test_keymap import write_config

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.paths import Paths, get_paths
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.room_list import RoomListScreen


async def state(account: Account, room_id: str, kind: str, key: str = "") -> dict[str, Any]:
    return await account.get_state(room_id, kind, key) or {}


async def test_commands_from_keys(make_user: MakeUser) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    peer_root = get_paths().data_dir.parent / "peer"
    peer_paths = Paths(*(peer_root / n for n in ("config", "data", "state", "cache")))
    b = (await auth.login(peer_paths, bob.user_id, bob.password)).account
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    await me.close()
    server = alice.user_id.split(":", 1)[1]
    tag = secrets.token_hex(3)
    alias = f"#k{tag}:{server}"
    bobs_room = await b.create_room("From Bob", invite=[alice.user_id])
    write_config(
        f"""
[keys]
"f2" = ["create-room Keyed --alias k{tag}", "create-space Keyspace"]
"f3" = [
  "set-topic --room {alias} all about keys",
  "set-room-name --room {alias} Keyed Up",
  "invite {bob.user_id} --room {alias}",
  "ban {bob.user_id} --room {alias} --yes",
  "unban {bob.user_id} --room {alias}",
  "tag-room u.keys --room {alias}",
  "set-notifications mentions --room {alias}",
  "send --room {alias} hello from a key",
  "send-emote --room {alias} waves",
  "ignore-user {bob.user_id}",
  "set-display-name Alice K",
]
"f4" = ["unignore-user {bob.user_id}", "accept-invite --room !{bobs_room[1:]}"]
"f6" = ["open-room {alias}", "close-room --room {alias}", "next-unread"]
"f7" = ["leave-room --room {alias} --yes", "forget-room --room {alias} --yes"]
"f8" = ["direct-message {bob.user_id}"]
"""
    )
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        assert app.status_message == ""  # the config is valid

        await pilot.press("f2")

        async def created() -> bool:
            return await account.alias_room(alias) is not None

        await eventually(created)
        room_id = await account.alias_room(alias)
        assert room_id is not None
        await until(
            pilot,
            lambda: any(
                r.display_name == "Keyspace" and r.is_space for _, r in app.accounts.rooms()
            ),
        )

        await pilot.press("f3")

        async def configured() -> bool:
            return await account.display_name(account.user_id) == "Alice K"

        await eventually(configured)
        assert (await state(account, room_id, "m.room.topic"))["topic"] == "all about keys"
        assert (await state(account, room_id, "m.room.name"))["name"] == "Keyed Up"
        member = await state(account, room_id, "m.room.member", bob.user_id)
        assert member["membership"] == "leave"  # invited, banned, unbanned
        assert "u.keys" in await account.get_tags(room_id)
        assert await account.room_notifications(room_id) == "mentions"
        assert await account.ignored_users() == [bob.user_id]
        # The room is encrypted (new private rooms are): the server holds ciphertext, and
        # the messages come back through sync decrypted.
        raw = (
            await account.client.api.request(
                Method.GET,
                f"/_matrix/client/v3/rooms/{room_id}/messages",
                query_params={"dir": "b", "limit": "20"},
            )
        )["chunk"]
        assert "m.room.encrypted" in {e["type"] for e in raw}

        async def sent() -> bool:
            events = await account.store.latest_events(room_id, limit=50)
            bodies = {e["content"].get("body") for e in events if e["type"] == "m.room.message"}
            return {"hello from a key", "waves"} <= bodies

        await eventually(sent)

        # The invite from bob, accepted by key.
        await until(pilot, lambda: bobs_room in account.rooms.summaries)
        await pilot.press("f4")

        async def joined_bobs() -> bool:
            return bobs_room in await account.joined_rooms()

        await eventually(joined_bobs)
        assert await account.ignored_users() == []

        # open, close, next unread (bob's room has his message).
        await b.send_queue.wait((await b.send_text(bobs_room, "unread for you")).txn_id)
        await until(
            pilot,
            lambda: account.rooms.summaries[bobs_room].notification_count > 0,
        )
        await pilot.press("f6")
        await until(
            pilot,
            lambda: isinstance(app.screen, RoomScreen) and app.screen.room_id == bobs_room,
        )
        assert not app.is_screen_installed(f"room:{account.user_id}|{room_id}")  # closed

        app.action_show_room_list()
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        await pilot.press("f7")

        async def gone() -> bool:
            return room_id not in await account.joined_rooms()

        await eventually(gone)

        await pilot.press("f8")

        async def direct() -> bool:
            try:
                data = await account.client.get_account_data("m.direct")
            except Exception:  # M_NOT_FOUND until the first DM is recorded
                return False
            return bool(data.get(bob.user_id))

        await eventually(direct)
    await b.close()

"""Every command of the registry, run from a command line against the real Synapse.

The checks read the server's state (state events, account data, push rules, the directory,
media) through the account's client, not only our model: a command must change the server.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import MakeUser
from helpers import password_login
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.crypto.attachments import decrypt_attachment
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.commands import Param, UsageError
from tuimatrix.commands.front_end import FrontEnd, NoScreens
from tuimatrix.commands.runner import run_line
from tuimatrix.config import load_config
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.errors import UserError
from tuimatrix.core.operations import CREATOR_POWER
from tuimatrix.core.session import account_dir
from tuimatrix.paths import get_paths


class ScriptContext:
    """A non-interactive context (like ``exec``): nothing is asked, the room is given."""

    interactive = False
    ui: FrontEnd = NoScreens()

    def __init__(self, *accounts: Account, room_id: str | None = None) -> None:
        self.accounts = Accounts(get_paths())
        for account in accounts:
            self.accounts.add(account)
        self.account: Account | None = accounts[0] if accounts else None
        self.room_id = room_id

    def at(self, account: Account | None, room_id: str | None) -> ScriptContext:
        """A context with the same accounts, and this account and room in context."""
        other = ScriptContext(room_id=room_id)
        other.accounts, other.account = self.accounts, account
        return other

    def current(self) -> tuple[Account | None, str | None]:
        return self.account, self.room_id

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        raise AssertionError(f"not interactive: {title}")

    async def choose_account(self, title: str) -> Account | None:
        raise AssertionError(f"not interactive: {title}")

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        raise AssertionError(f"not interactive: {title}")

    async def confirm(self, question: str) -> bool:
        raise AssertionError(f"not interactive: {question}")

    async def read_stdin(self) -> str:
        raise AssertionError("no standard input here")


async def state(account: Account, room_id: str, type_: str, key: str = "") -> dict[str, Any]:
    """A state event's content as the server has it ({} if none)."""
    return await account.get_state(room_id, type_, key) or {}


async def membership(account: Account, room_id: str, user_id: str) -> str | None:
    return (await state(account, room_id, "m.room.member", user_id)).get("membership")


async def event(account: Account, room_id: str, event_id: str) -> dict[str, Any]:
    resp: dict[str, Any] = await account.client.api.request(
        Method.GET, ApiPath.v3.rooms[room_id].event[event_id]
    )
    return resp


def png(width: int, height: int) -> bytes:
    """A valid greyscale PNG, built by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def test_usage_errors(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    ctx = ScriptContext(a, room_id="!somewhere:localhost")
    no_room = ScriptContext(a)
    # A room command with no room in context, and none given.
    for line in ("send hi", "invite @b:x", "describe-room", "leave-room --yes"):
        with pytest.raises(UsageError, match="give --room"):
            await run_line(no_room, line)
    # A destructive command without --yes.
    for line in (
        "leave-room",
        "forget-room",
        "kick @b:x",
        "ban @b:x",
        "delete $e",
        "logout",
    ):
        with pytest.raises(UsageError, match="--yes"):
            await run_line(ctx, line)
    # User and event ids are checked before anything is sent.
    for line in (
        "invite bob",
        "kick bob:x --yes",
        "ban @bob --yes",
        "unban b",
        "ignore-user bob",
        "unignore-user @",
        "direct-message bob",
    ):
        with pytest.raises(UsageError, match="not a user id"):
            await run_line(ctx, line)
    for line in ("react nope 👍", "reply x hi", "edit e1 hi", "delete e --yes", "report-event x"):
        with pytest.raises(UsageError, match="not an event id"):
            await run_line(ctx, line)
    # Missing arguments are errors where nothing can be asked.
    for line, missing in (
        ("invite", "USER"),
        ("send", "TEXT"),
        ("reply $e", "TEXT"),
        ("react $e", "KEY"),
        ("create-room", "NAME"),
        ("create-space", "NAME"),
        ("toggle-space", "SPACE"),
        ("view-space", "SPACE"),
        ("join-room", "ROOM_OR_ALIAS"),
        ("set-notifications", "MODE"),
        ("set-display-name", "NAME"),
        ("send-file", "PATH"),
    ):
        with pytest.raises(UsageError, match=f"{missing} is missing"):
            await run_line(ctx, line)
    with pytest.raises(UsageError, match="one of default, all, mentions, none"):
        await run_line(ctx, "set-notifications loud")
    with pytest.raises(UsageError, match="not both"):
        await run_line(ctx, "create-room X --encrypted --no-encrypted")
    with pytest.raises(UsageError, match="not an alias name"):
        await run_line(ctx, "create-room X --alias 'two words'")
    with pytest.raises(UsageError, match="room id"):
        await run_line(ctx, "join-room Lobby")
    with pytest.raises(UsageError, match="only in the app"):
        await run_line(ctx, "login")
    with pytest.raises(UsageError, match="only in the app"):
        await run_line(ctx, "quit")
    with pytest.raises(UserError, match="cannot read"):
        await run_line(ctx, "send-file /nonexistent/picture.png")
    # Nothing reached the server.
    assert await a.ignored_users() == []
    assert await a.joined_rooms() == set()


async def test_spaces(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ctx = ScriptContext(a, b).at(a, None)
    result = await run_line(ctx, "create-space Work --topic 'all the work' --public")
    space_id = result.data["room_id"]
    assert (await state(a, space_id, "m.room.create"))["type"] == "m.space"
    assert (await state(a, space_id, "m.room.topic"))["topic"] == "all the work"
    assert (await state(a, space_id, "m.room.join_rules"))["join_rule"] == "public"
    assert space_id in {r["room_id"] for r in await a.public_rooms("Work")}
    private = (await run_line(ctx, "create-space Secret")).data["room_id"]
    assert (await state(a, private, "m.room.join_rules"))["join_rule"] == "invite"

    standup = (await run_line(ctx, "create-room Standup --public")).data["room_id"]
    hidden = (await run_line(ctx, "create-room Hidden")).data["room_id"]
    await a.sync_once()  # so that "Work" resolves by name
    on = await run_line(ctx.at(a, standup), "toggle-space Work")
    assert on.data == {"space_id": space_id, "room_id": standup, "child": True}
    child = await state(a, space_id, "m.space.child", standup)
    assert child["via"] == [a.user_id.split(":", 1)[1]]
    assert (await state(a, standup, "m.space.parent", space_id))["via"]
    off = await run_line(ctx.at(a, None), f"toggle-space {space_id} --room {standup}")
    assert off.data["child"] is False and off.message.startswith("removed Standup")
    assert await a.get_state(space_id, "m.space.child", standup) is None
    assert await a.get_state(standup, "m.space.parent", space_id) is None
    await run_line(ctx, f"toggle-space {space_id} --room {standup}")
    await run_line(ctx, f"toggle-space {space_id} --room {hidden}")
    with pytest.raises(UserError, match="not a space"):
        await run_line(ctx, f"toggle-space {hidden} --room {standup}")

    listing = await run_line(ctx.at(a, None), "view-space Work")
    assert sorted(listing.data, key=lambda r: r["name"]) == [
        {"room_id": hidden, "name": "Hidden", "topic": "", "joined": True, "members": 1},
        {"room_id": standup, "name": "Standup", "topic": "", "joined": True, "members": 1},
    ]
    assert "Standup (1 members)" in listing.message
    with pytest.raises(UserError, match="not a space"):
        await run_line(ctx, f"view-space {standup}")

    # Bob sees what he may join (not the invite-only room) and joins it.
    bob_view = await run_line(ctx.at(b, None), f"view-space {space_id} --join")
    assert bob_view.data == [
        {"room_id": standup, "name": "Standup", "topic": "", "joined": True, "members": 1},
    ]
    assert standup in await b.joined_rooms() and space_id not in await b.joined_rooms()
    assert (await run_line(ctx, f"view-space {space_id}")).data[0]["joined"] is True


async def test_membership(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    alice = make_user("alice")
    a = await login(alice)
    b = await login(make_user("bob"))
    ctx = ScriptContext(a, b)
    room_id = (await run_line(ctx.at(a, None), "create-room Club")).data["room_id"]
    await run_line(ctx.at(a, room_id), f"invite {b.user_id}")
    assert await membership(a, room_id, b.user_id) == "invite"
    await b.sync_once()
    await run_line(ctx.at(b, room_id), "reject-invite")
    assert await membership(a, room_id, b.user_id) == "leave"
    await b.sync_once()
    with pytest.raises(UserError, match="no invitation"):
        await run_line(ctx.at(b, room_id), "accept-invite")
    await run_line(ctx.at(a, room_id), f"invite {b.user_id}")
    await b.sync_once()
    # By name, as the shell would: bob's room list knows the invitation.
    joined = await run_line(ctx.at(b, None), f"accept-invite --room Club --account {b.user_id}")
    assert joined.data == {"room_id": room_id}
    assert b.user_id in await a.joined_members(room_id)

    club = ctx.at(a, room_id)
    await run_line(club, f"kick {b.user_id} --reason 'too loud' --yes")
    kicked = await state(a, room_id, "m.room.member", b.user_id)
    assert kicked["membership"] == "leave" and kicked["reason"] == "too loud"
    await run_line(club, f"ban {b.user_id} --reason spam --yes")
    assert await membership(a, room_id, b.user_id) == "ban"
    await run_line(club, f"unban {b.user_id}")
    assert await membership(a, room_id, b.user_id) == "leave"

    public = await run_line(
        ctx.at(a, None), "create-room Lobby --public --alias lobby-" + alice.localpart
    )
    alias = public.data["alias"]
    assert (await run_line(ctx.at(b, None), f"join-room {alias}")).data == {
        "room_id": public.data["room_id"]
    }
    lobby = public.data["room_id"]
    assert await membership(a, lobby, b.user_id) == "join"
    await run_line(ctx.at(b, lobby), "leave-room --reason bye --yes")
    left = await state(a, lobby, "m.room.member", b.user_id)
    assert (left["membership"], left.get("reason")) == ("leave", "bye")
    # Left but not forgotten: bob still sees the state as it was when he left.
    assert await b.room_state(lobby)
    # Forgetting a room we are still in leaves it first.
    await run_line(ctx.at(b, None), f"join-room {lobby}")
    await b.sync_once()
    await run_line(ctx.at(b, lobby), "forget-room --yes")
    assert await membership(a, lobby, b.user_id) == "leave"
    assert lobby not in await b.joined_rooms()
    assert lobby not in b.rooms.summaries
    with pytest.raises(Exception, match="not in room") as forgotten:
        # Forgotten: the server no longer shows bob even the state he could see when he left.
        await b.room_state(lobby)
    assert getattr(forgotten.value, "errcode", None) == "M_FORBIDDEN"

    await run_line(ctx.at(a, None), f"ignore-user {b.user_id}")
    ignored = await a.client.get_account_data("m.ignored_user_list")
    assert ignored == {"ignored_users": {b.user_id: {}}}
    await run_line(ctx.at(a, None), f"unignore-user {b.user_id}")
    assert await a.client.get_account_data("m.ignored_user_list") == {"ignored_users": {}}


async def test_rooms(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    alice = make_user("alice")
    a = await login(alice)
    b = await login(make_user("bob"))
    ctx = ScriptContext(a, b).at(a, None)
    # Private rooms are end-to-end encrypted unless asked otherwise.
    private = (await run_line(ctx, "create-room Private")).data
    assert private["encrypted"] is True
    assert (await state(a, private["room_id"], "m.room.encryption"))["algorithm"]
    config = get_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[encryption]\nnew-rooms = false\n")
    assert (await run_line(ctx, "create-room Unsealed")).data["encrypted"] is False
    assert load_config(config).errors == []
    config.write_text("[encryption]\nnew-rooms = 'yes'\n")
    assert "new-rooms must be true or false" in load_config(config).errors[0]
    assert (await run_line(ctx, "create-room Resealed")).data["encrypted"] is True
    config.unlink()
    plain = (await run_line(ctx, "create-room Plain --topic quiet --no-encrypted")).data
    assert plain["encrypted"] is False
    room_id = plain["room_id"]
    assert await a.get_state(room_id, "m.room.encryption") is None
    sealed_id = (await run_line(ctx, "create-room Locked --encrypted")).data["room_id"]
    encryption = await state(a, sealed_id, "m.room.encryption")
    assert encryption["algorithm"] == "m.megolm.v1.aes-sha2"
    assert (await state(a, room_id, "m.room.join_rules"))["join_rule"] == "invite"
    assert (await state(a, room_id, "m.room.name"))["name"] == "Plain"

    local = f"open-{alice.localpart}"
    open_ = (await run_line(ctx, f"create-room 'Open House' --public --alias {local}")).data
    server = a.user_id.split(":", 1)[1]
    assert open_["alias"] == f"#{local}:{server}" and open_["encrypted"] is False
    open_id = open_["room_id"]
    assert await a.get_state(open_id, "m.room.encryption") is None
    assert (await state(a, open_id, "m.room.canonical_alias"))["alias"] == open_["alias"]
    assert await a.alias_room(open_["alias"]) == open_id
    with pytest.raises(UserError, match="taken"):
        await run_line(ctx, f"create-room Again --alias #{local}:{server}")
    secret = (await run_line(ctx, "create-room Sealed --public --encrypted")).data
    assert await a.get_state(secret["room_id"], "m.room.encryption")

    found = await run_line(ctx, "directory Open House")
    assert [r["room_id"] for r in found.data] == [open_id]
    assert found.data[0]["alias"] == open_["alias"] and found.data[0]["members"] == 1
    # The alias matches too; the private room is never listed.
    by_alias = await run_line(ctx, f"directory --server {server} {local}")
    assert [r["room_id"] for r in by_alias.data] == [open_id]
    listed = {r["room_id"] for r in (await run_line(ctx, "directory")).data}
    assert {open_id, secret["room_id"]} <= listed and room_id not in listed

    here = ctx.at(a, room_id)
    await run_line(here, "set-topic the daily standup")
    await run_line(here, "set-room-name Daily")
    assert (await state(a, room_id, "m.room.topic"))["topic"] == "the daily standup"
    assert (await state(a, room_id, "m.room.name"))["name"] == "Daily"
    await run_line(here, f"invite {b.user_id}")
    await a.set_tag(room_id, "favourite", 0.5)
    space_id = (await run_line(ctx, "create-space Team")).data["room_id"]
    await a.add_space_child(space_id, room_id)
    described = await run_line(here, "describe-room")
    assert described.data == {
        "room_id": room_id,
        "name": "Daily",
        "topic": "the daily standup",
        "alias": None,
        "encrypted": False,
        "members": {"joined": 1, "invited": 1},
        "join_rule": "invite",
        "power_level": CREATOR_POWER,  # a room version 12 creator outranks everyone
        "tags": {"m.favourite": 0.5},
        "spaces": [space_id],
        "is_space": False,
    }
    assert "Daily" in described.message and "m.favourite" in described.message
    # Names from the server reach the message without terminal controls.
    await a.set_name(room_id, "Evil\x1b]0;pwned\x07\u202eName")
    hostile = await run_line(here, "describe-room")
    assert hostile.data["name"] == "EvilName" and "\x1b" not in hostile.message
    await run_line(here, "set-room-name Daily")
    levels = await state(a, room_id, "m.room.power_levels")
    levels["users"] = {**levels.get("users", {}), b.user_id: 50}
    await a.client.send_state_event(room_id, "m.room.power_levels", levels)  # type: ignore[arg-type]
    members = await run_line(here, "list-members")
    assert "creator" in members.message.splitlines()[1]
    assert members.data == [
        {
            "user_id": a.user_id,
            "display_name": a.user_id.split(":")[0][1:],
            "membership": "join",
            "power_level": CREATOR_POWER,
        },
        {
            "user_id": b.user_id,
            "display_name": b.user_id.split(":")[0][1:],
            "membership": "invite",
            "power_level": 50,
        },
    ]

    # Notifications, as Element writes the push rules.
    async def rules() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return await a.push_rule("room", room_id), await a.push_rule("override", room_id)

    await run_line(here, "set-notifications all")
    room_rule, override = await rules()
    assert room_rule is not None and override is None
    assert room_rule["actions"] == ["notify", {"set_tweak": "sound", "value": "default"}]
    await run_line(here, "set-notifications mentions")
    room_rule, override = await rules()
    assert room_rule is not None and room_rule["actions"] == [] and override is None
    await run_line(here, "set-notifications none")
    room_rule, override = await rules()
    assert room_rule is None and override is not None and override["actions"] == []
    assert override["conditions"] == [{"kind": "event_match", "key": "room_id", "pattern": room_id}]
    assert await a.room_notifications(room_id) == "none"
    await run_line(here, "set-notifications default")
    assert await rules() == (None, None)

    # Direct messages: made once (recorded in m.direct), then reused.
    dm = await run_line(ctx, f"direct-message {b.user_id}")
    assert dm.data["created"] is True
    dm_id = dm.data["room_id"]
    direct = await a.client.get_account_data("m.direct")
    assert direct == {b.user_id: [dm_id]}
    # Encrypted, as new direct chats are by default.
    assert (await state(a, dm_id, "m.room.encryption"))["algorithm"] == "m.megolm.v1.aes-sha2"
    invite = await state(a, dm_id, "m.room.member", b.user_id)
    assert invite["membership"] == "invite" and invite["is_direct"] is True
    assert (await run_line(ctx, f"direct-message {b.user_id}")).data == {
        "room_id": dm_id,
        "created": False,
    }

    # A report reaches the server's admins.
    echo = await a.send_text(room_id, "offensive")
    sent = await a.send_queue.wait(echo.txn_id)
    assert sent.event_id
    await run_line(here, f"report-event {sent.event_id} --reason 'not nice'")
    admin = make_user("admin", admin=True)
    async with aiohttp.ClientSession() as http:
        token = (await password_login(http, admin.base_url, admin))["access_token"]
        async with http.get(
            f"{admin.base_url}/_synapse/admin/v1/event_reports",
            params={"room_id": room_id},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            reports = (await resp.json())["event_reports"]
    assert [(r["event_id"], r["reason"], r["user_id"]) for r in reports] == [
        (sent.event_id, "not nice", a.user_id)
    ]


async def test_messages(make_user: MakeUser, login: Login, tmp_path: Path) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    ctx = ScriptContext(a, b).at(a, None)
    room_id = (await run_line(ctx, "create-room Talk --no-encrypted")).data["room_id"]
    await a.invite(room_id, b.user_id)
    await b.join(room_id)
    here = ctx.at(a, room_id)

    hello = (await run_line(here, "send hello   world")).data["event_id"]
    assert (await event(a, room_id, hello))["content"]["body"] == "hello world"
    emote = (await run_line(here, "send-emote waves")).data["event_id"]
    assert (await event(a, room_id, emote))["content"] == {
        "msgtype": "m.emote",
        "body": "waves",
        "m.mentions": {"user_ids": []},
    }
    bob_says = (await run_line(ctx.at(b, room_id), "send hi alice")).data["event_id"]
    reply = (await run_line(here, f"reply {bob_says} hi bob")).data["event_id"]
    reply_content = (await event(a, room_id, reply))["content"]
    assert reply_content["m.relates_to"] == {"m.in_reply_to": {"event_id": bob_says}}
    assert reply_content["m.mentions"] == {"user_ids": [b.user_id]}
    edit = (await run_line(here, f"edit {hello} hello there")).data["event_id"]
    edit_content = (await event(a, room_id, edit))["content"]
    assert edit_content["m.relates_to"] == {"rel_type": "m.replace", "event_id": hello}
    assert edit_content["m.new_content"]["body"] == "hello there"
    with pytest.raises(UserError, match="own messages"):
        await run_line(here, f"edit {bob_says} not mine")
    react = (await run_line(here, f"react {bob_says} 👍")).data["event_id"]
    assert (await event(a, room_id, react))["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": bob_says,
        "key": "👍",
    }
    deleted = await run_line(here, f"delete {emote} --reason oops --yes")
    redaction = await event(a, room_id, deleted.data["event_id"])
    assert redaction["type"] == "m.room.redaction" and redaction["redacts"] == emote
    assert (await event(a, room_id, emote))["content"] == {}

    # Files: an image with its size from the header, and any other file.
    picture = tmp_path / "dot.png"
    picture.write_bytes(png(3, 2))
    image = (await run_line(here, f"send-file {picture}")).data["event_id"]
    content = (await event(a, room_id, image))["content"]
    assert content["msgtype"] == "m.image" and content["body"] == "dot.png"
    assert content["info"] == {"mimetype": "image/png", "size": len(png(3, 2)), "w": 3, "h": 2}
    assert await a.client.download_media(content["url"]) == png(3, 2)
    notes = tmp_path / "notes.txt"
    notes.write_text("some notes")
    doc = (await run_line(here, f"send-file {notes}")).data["event_id"]
    content = (await event(a, room_id, doc))["content"]
    assert content["msgtype"] == "m.file" and content["filename"] == "notes.txt"
    assert content["info"] == {"mimetype": "text/plain", "size": 10}
    assert await a.client.download_media(content["url"]) == b"some notes"
    with pytest.raises(UserError, match="cannot read"):
        await run_line(here, f"send-file {tmp_path}")
    # Nothing goes in plaintext into an encrypted room: the server sees ciphertext only.
    sealed = (await run_line(ctx, "create-room Sealed --encrypted")).data["room_id"]
    for line in (f"send-file {notes}", "send psst"):
        sent = (await run_line(ctx.at(a, sealed), line)).data["event_id"]
        raw = await event(a, sealed, sent)
        assert raw["type"] == "m.room.encrypted"
        assert "psst" not in str(raw) and "notes" not in str(raw)
    assert await a.send_queue.pending(sealed) == []
    # An attachment for an encrypted room is encrypted before the media server sees it.
    file = (await a.upload_attachment(sealed, b"some notes", "text/plain", "n.txt"))["file"]
    assert file["v"] == "v2"
    ciphertext = await a.client.download_media(file["url"])
    assert ciphertext != b"some notes"
    plain = decrypt_attachment(ciphertext, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
    assert plain == b"some notes"

    # A message the server refuses is an error, with the server's reason.
    gone = (await run_line(ctx, "create-room Gone")).data["room_id"]
    await a.leave(gone)
    with pytest.raises(UserError, match="not sent: M_FORBIDDEN"):
        await run_line(ctx.at(a, gone), "send anyone there?")


async def test_session(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    user = make_user("alice")
    a = await login(user)
    ctx = ScriptContext(a)
    room_id = await a.create_room("Fresh")
    synced = await run_line(ctx, "sync-now")
    assert room_id in synced.data["rooms"] and room_id in a.rooms.summaries
    await a.start()
    try:
        live = await run_line(ctx, "sync-now")
        assert live.data == {"rooms": None} and a.syncing
    finally:
        await a.stop()

    await run_line(ctx, "set-display-name Alice  Liddell")
    assert await a.display_name(a.user_id) == "Alice Liddell"
    # Synapse copies it into our member events in a background task.
    async with asyncio.timeout(10):
        while (await state(a, room_id, "m.room.member", a.user_id))["displayname"] != (
            "Alice Liddell"
        ):
            await asyncio.sleep(0.05)

    token = a.session.access_token
    directory = account_dir(get_paths(), a.user_id)
    assert directory.exists()
    result = await run_line(ctx, "logout --yes")
    assert result.data == {"user_id": a.user_id}
    assert ctx.accounts.get(a.user_id) is None and not directory.exists()
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{user.base_url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["errcode"] == "M_UNKNOWN_TOKEN"


def test_every_listed_command_is_registered() -> None:
    from tuimatrix.commands import REGISTRY, load_commands

    load_commands()
    ids = {
        "create-space", "toggle-space", "view-space",
        "join-room", "leave-room", "forget-room", "invite", "kick", "ban", "unban",
        "ignore-user", "unignore-user", "accept-invite", "reject-invite",
        "create-room", "direct-message", "set-topic", "set-room-name", "set-notifications",
        "describe-room", "list-members", "directory", "report-event",
        "send", "send-emote", "send-file", "reply", "edit", "delete", "react",
        "sync-now", "set-display-name", "logout", "login", "quit",
    }  # fmt: skip
    assert ids <= set(REGISTRY)
    for command_id in ids:
        cmd = REGISTRY[command_id]
        group, _, verb = cmd.title.partition(": ")
        assert group and verb[:1].isupper(), cmd.title
    destructive = {c for c in ids if REGISTRY[c].destructive}
    assert destructive == {"leave-room", "forget-room", "kick", "ban", "delete", "logout"}
    assert {c for c in ids if REGISTRY[c].ui_only} == {"login", "quit"}
    assert all(p.kind == "user" for c in ids for p in REGISTRY[c].params if p.name == "user")
    assert all(p.kind == "event" for c in ids for p in REGISTRY[c].params if p.name == "event")

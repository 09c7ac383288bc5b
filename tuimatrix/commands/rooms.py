"""rooms: create rooms and direct chats, name and describe them, members, the directory."""

from __future__ import annotations

import re
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.membership import user_arg
from tuimatrix.commands.messages import event_arg
from tuimatrix.commands.runner import need_account, need_room
from tuimatrix.config import encrypt_new_rooms
from tuimatrix.core.account import Account
from tuimatrix.core.e2ee.devices import users_trust
from tuimatrix.core.errors import UserError
from tuimatrix.core.operations import (
    CREATOR_POWER,
    NOTIFICATION_MODES,
    creators_of,
    power_level,
    server_of,
)
from tuimatrix.core.room_names import room_label
from tuimatrix.core.rooms import member_names
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import get_paths

#: An alias localpart: no whitespace, and neither of the sigil or the server separator.
_ALIAS_LOCALPART = re.compile(r"[^\s:#]+")


def _alias(account: Account, text: str) -> str:
    """``name`` (or ``#name:our.server``) → ``#name:our.server``: aliases are made on our server."""
    text = text.strip()
    server = server_of(account.user_id)
    if text.startswith("#"):
        local, _, alias_server = text[1:].partition(":")
        if alias_server and alias_server != server:
            raise UsageError(f"--alias: aliases can only be made on {server}")
        text = local
    if not _ALIAS_LOCALPART.fullmatch(text):
        raise UsageError(f"--alias: {clean_line(text)!r} is not an alias name (e.g. my-room)")
    return f"#{text}:{server}"


@command(
    "create-room",
    "rooms: Create room",
    "Create a room: private (by invite), or with --public open to all and in the directory",
    Param("name", "text", "the room's name"),
    Param("topic", "text", "what the room is about", required=False, option=True),
    Param("public", "flag", "anyone can join, and it is listed in the directory", option=True),
    Param("alias", "text", "an address #ALIAS:your.server for it", required=False, option=True),
    Param(
        "encrypted",
        "flag",
        "end-to-end encrypted (the default for private rooms; [encryption] new-rooms)",
        option=True,
    ),
    Param("no_encrypted", "flag", "not encrypted", option=True),
)
async def create_room(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    name = str(inv.args["name"]).strip()
    if not name:
        raise UsageError("create-room: the name is empty")
    public = bool(inv.args.get("public"))
    if inv.args.get("encrypted") and inv.args.get("no_encrypted"):
        raise UsageError("create-room: --encrypted or --no-encrypted, not both")
    # Private rooms are encrypted unless asked otherwise (or the config says so); a public
    # room is readable by anyone who joins, so encrypting it only costs (an explicit choice).
    if inv.args.get("encrypted") or inv.args.get("no_encrypted"):
        encrypted = bool(inv.args.get("encrypted"))
    else:
        encrypted = not public and encrypt_new_rooms(get_paths())
    alias = _alias(account, str(inv.args["alias"])) if inv.args.get("alias") else None
    # Check the alias before the room exists: a taken alias must not leave a stray room behind.
    if alias and await account.alias_room(alias) is not None:
        raise UserError(f"create-room: the alias {alias} is taken")
    room_id = await account.create_room(
        name, topic=inv.args.get("topic"), public=public, encrypted=encrypted
    )
    if public:
        await account.set_directory_visibility(room_id, True)
    if alias:
        await account.add_alias(room_id, alias)
        await account.set_canonical_alias(room_id, alias)
    where = f" as {alias}" if alias else ""
    return Result(
        f"created {'public' if public else 'private'} room {clean_line(name)}{where}",
        {"room_id": room_id, "alias": alias, "encrypted": encrypted},
    )


@command(
    "direct-message",
    "rooms: Direct message",
    "Open the direct chat with USER, creating it if there is none",
    Param("user", "user", "the user id (@name:server)"),
)
async def direct_message(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = user_arg(inv)
    if user_id == account.user_id:
        raise UsageError("direct-message: that is you")
    room_id = await account.find_direct_room(user_id)
    if room_id is not None:
        return Result(
            f"direct chat with {clean_line(user_id)}: {room_label(account, room_id)}",
            {"room_id": room_id, "created": False},
        )
    # create_room records the room in m.direct (is_direct with an invitee).
    room_id = await account.create_room(
        invite=[user_id], is_direct=True, encrypted=encrypt_new_rooms(get_paths())
    )
    return Result(
        f"started a direct chat with {clean_line(user_id)}", {"room_id": room_id, "created": True}
    )


@command(
    "set-topic",
    "rooms: Set topic",
    "Set the room's topic",
    Param("text", "text", "the new topic", rest=True),
    room=True,
)
async def set_topic(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    await account.set_topic(room_id, str(inv.args["text"]).strip())
    return Result(f"set the topic of {room_label(account, room_id)}")


@command(
    "set-room-name",
    "rooms: Set name",
    "Rename the room",
    Param("name", "text", "the new name", rest=True),
    room=True,
)
async def set_room_name(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    name = str(inv.args["name"]).strip()
    if not name:
        raise UsageError("set-room-name: the name is empty")
    old = room_label(account, room_id)
    await account.set_name(room_id, name)
    return Result(f"renamed {old} to {clean_line(name)}")


@command(
    "set-notifications",
    "rooms: Set notifications",
    "Notify for every message (all), mentions and keywords only, none, or as by default",
    Param("mode", "choice", "default, all, mentions or none", choices=NOTIFICATION_MODES),
    room=True,
)
async def set_notifications(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    mode = str(inv.args["mode"])
    if mode not in NOTIFICATION_MODES:  # a value asked for in the UI skips the parser's check
        raise UsageError(f"set-notifications: one of {', '.join(NOTIFICATION_MODES)}")
    await account.set_room_notifications(room_id, mode)
    return Result(f"notifications for {room_label(account, room_id)}: {mode}", {"mode": mode})


def _level(level: int) -> str:
    return "creator" if level >= CREATOR_POWER else str(level)


def _str(value: object) -> str:
    return clean_line(value) if isinstance(value, str) else ""


@command(
    "describe-room",
    "rooms: Describe room",
    "Show the room's name, topic, address, encryption, members, your power, tags and spaces",
    room=True,
)
async def describe_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    # The server's current state, not our model (which may lag or hold only part of it).
    state: dict[tuple[str, str], dict[str, Any]] = {}
    creators: set[str] = set()
    for event in await account.room_state(room_id):
        body = event.get("content")
        if isinstance(event.get("type"), str) and isinstance(event.get("state_key"), str):
            state[(event["type"], event["state_key"])] = body if isinstance(body, dict) else {}
        if event.get("type") == "m.room.create":
            creators = creators_of(event)

    def content(event_type: str, key: str = "") -> dict[str, Any]:
        return state.get((event_type, key), {})

    members = [c.get("membership") for (t, _), c in state.items() if t == "m.room.member"]
    parents = {k for (t, k), c in state.items() if t == "m.space.parent" and c.get("via")}
    # Spaces we are in that list the room as a child, whether or not the room says so.
    parents |= {s.room_id for s in account.rooms.summaries.values() if room_id in s.space_children}
    tags = await account.get_tags(room_id)
    data: dict[str, Any] = {
        "room_id": room_id,
        "name": _str(content("m.room.name").get("name")) or room_label(account, room_id),
        "topic": _str(content("m.room.topic").get("topic")),
        "alias": _str(content("m.room.canonical_alias").get("alias")) or None,
        "encrypted": bool(content("m.room.encryption").get("algorithm")),
        "members": {
            "joined": members.count("join"),
            "invited": members.count("invite"),
        },
        "join_rule": _str(content("m.room.join_rules").get("join_rule")) or "invite",
        "power_level": power_level(content("m.room.power_levels"), creators, account.user_id),
        "tags": {
            clean_line(str(tag)): info.get("order") if isinstance(info, dict) else None
            for tag, info in tags.items()
        },
        "spaces": sorted(parents),
        "is_space": content("m.room.create").get("type") == "m.space",
    }
    lines = [
        f"{data['name']} ({clean_line(room_id)})",
        f"  topic: {data['topic'] or '(none)'}",
        f"  address: {data['alias'] or '(none)'}",
        f"  encrypted: {'yes' if data['encrypted'] else 'no'}",
        f"  members: {data['members']['joined']} joined, {data['members']['invited']} invited",
        f"  join rule: {data['join_rule']}",
        f"  your power level: {_level(data['power_level'])}",
        f"  tags: {', '.join(data['tags']) or '(none)'}",
        f"  spaces: {', '.join(room_label(account, s) for s in data['spaces']) or '(none)'}",
    ]
    return Result("\n".join(lines), data)


_MEMBERSHIP_ORDER = {"join": 0, "invite": 1, "knock": 2, "ban": 3}


#: what a table of members shows
MEMBER_COLUMNS = ("display_name", "user_id", "membership", "power_level", "devices")


@command(
    "list-members",
    "rooms: List members",
    "List the room's members (joined, invited, knocking, banned) with their power levels",
    room=True,
    aliases=("members",),
)
async def list_members(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    power_levels = await account.get_state(room_id, "m.room.power_levels") or {}
    creators = await account.room_creators(room_id)
    contents: dict[str, dict[str, Any]] = {}
    for event in await account.members(room_id):
        user_id, content = event.get("state_key"), event.get("content")
        if isinstance(user_id, str) and isinstance(content, dict):
            contents[user_id] = content
    # Names as the timeline shows them: a shared name or one that looks like an id gets its id.
    names = member_names(contents)
    members: list[dict[str, Any]] = [
        {
            "user_id": user_id,
            "display_name": clean_line(names[user_id]) or clean_line(user_id),
            "membership": _str(content.get("membership")),
            "power_level": power_level(power_levels, creators, user_id),
        }
        for user_id, content in contents.items()
    ]
    if await account.is_encrypted(room_id):
        # In an encrypted room, whose devices we trust matters: say it for each member.
        trust = await users_trust(account, [m["user_id"] for m in members])
        for m in members:
            if m["user_id"] in trust:
                verified, total = trust[m["user_id"]]
                m["devices"] = {"verified": verified, "total": total}
    members.sort(
        key=lambda m: (
            _MEMBERSHIP_ORDER.get(m["membership"], 9),
            -m["power_level"],
            m["display_name"].lower(),
        )
    )
    lines = [f"{room_label(account, room_id)}: {len(members)} members"]
    for m in members:
        state = "" if m["membership"] == "join" else f" [{m['membership']}]"
        lines.append(
            f"  {_level(m['power_level']):>7} {m['display_name']} "
            f"({clean_line(m['user_id'])}){state}{_devices_note(m.get('devices'))}"
        )
    return Result("\n".join(lines), members, rows=members, columns=MEMBER_COLUMNS)


def _devices_note(devices: dict[str, int] | None) -> str:
    if devices is None:
        return ""
    verified, total = devices["verified"], devices["total"]
    if total == 0:
        return " · no encryption devices"
    if verified == total:
        return " · verified" if total == 1 else f" · all {total} devices verified"
    return f" · {verified} of {total} devices verified"


#: what a table of public rooms shows
DIRECTORY_COLUMNS = ("name", "alias", "members", "topic", "room_id")


@command(
    "directory",
    "rooms: Browse directory",
    "Search the public room directory of your server (or of --server)",
    Param("query", "text", "words to look for", required=False, rest=True),
    Param("server", "text", "another server's directory", required=False, option=True),
)
async def directory(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    query = str(inv.args.get("query") or "").strip() or None
    found = await account.public_rooms(query, inv.args.get("server"))
    rooms = [
        {
            "room_id": _str(r.get("room_id")),
            "name": _str(r.get("name")),
            "alias": _str(r.get("canonical_alias")) or None,
            "topic": _str(r.get("topic")),
            "members": r.get("num_joined_members")
            if isinstance(r.get("num_joined_members"), int)
            else 0,
        }
        for r in found
    ]
    where = clean_line(inv.args.get("server") or server_of(account.user_id))
    lines = [f"{len(rooms)} public rooms on {where}" + (f" matching {query!r}" if query else "")]
    for r in rooms:
        topic = f" — {r['topic']}" if r["topic"] else ""
        lines.append(
            f"  {r['name'] or r['alias'] or r['room_id']} {r['alias'] or r['room_id']}"
            f" ({r['members']} members){topic}"
        )
    return Result("\n".join(lines), rooms, rows=rooms, columns=DIRECTORY_COLUMNS)


@command(
    "report-event",
    "rooms: Report event",
    "Report EVENT to your server's administrators as offensive",
    Param("event", "event", "the event id ($…)"),
    Param("reason", "text", "what is wrong with it", required=False, option=True),
    room=True,
)
async def report_event(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    event_id = event_arg(inv)
    await account.report_event(room_id, event_id, inv.args.get("reason"))
    return Result(
        f"reported {clean_line(event_id)} in {room_label(account, room_id)}",
        {"event_id": event_id},
    )

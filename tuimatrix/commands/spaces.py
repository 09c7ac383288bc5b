"""spaces: create spaces, put rooms in them, look inside them (spec "Spaces")."""

from __future__ import annotations

from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_account, need_room
from tuimatrix.core.account import Account
from tuimatrix.core.errors import UserError, describe_error
from tuimatrix.core.operations import child_vias
from tuimatrix.core.room_names import resolve_room, room_label
from tuimatrix.core.sanitize import clean_line

SPACE = Param("space", "space", "the space (id, alias or name)")


@command(
    "create-space",
    "spaces: Create space",
    "Create a space (a room that groups rooms); --public lists it in the directory",
    Param("name", "text", "the space's name"),
    Param("topic", "text", "what the space is about", required=False, option=True),
    Param("public", "flag", "anyone can join, and it is listed in the directory", option=True),
)
async def create_space(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    name = str(inv.args["name"]).strip()
    if not name:
        raise UsageError("create-space: the name is empty")
    public = bool(inv.args.get("public"))
    space_id = await account.create_space(name, topic=inv.args.get("topic"), public=public)
    if public:
        # As Element does for a public space: findable in the server's directory.
        await account.set_directory_visibility(space_id, True)
    return Result(
        f"created space {clean_line(name)} ({clean_line(space_id)})", {"room_id": space_id}
    )


async def _space(ctx: Context, account: Account, text: str) -> str:
    """The space's room id; a UsageError if it is not a space (by its create event)."""
    _, space_id = await resolve_room(ctx.accounts, text, account)
    create = await account.get_state(space_id, "m.room.create")
    if not create or create.get("type") != "m.space":
        raise UserError(f"{room_label(account, space_id)} is not a space")
    return space_id


@command(
    "toggle-space",
    "spaces: Toggle room in space",
    "Add the room to SPACE, or take it out if it is already in it",
    SPACE,
    room=True,
)
async def toggle_space(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    space_id = await _space(ctx, account, str(inv.args["space"]))
    if space_id == room_id:
        raise UsageError("toggle-space: a space cannot contain itself")
    room, space = room_label(account, room_id), room_label(account, space_id)
    # The server's m.space.child, not our model: a toggle must not act on a stale view.
    child = await account.get_state(space_id, "m.space.child", room_id)
    data = {"space_id": space_id, "room_id": room_id}
    if child and child.get("via"):
        await account.remove_space_child(space_id, room_id)
        return Result(f"removed {room} from {space}", {**data, "child": False})
    await account.add_space_child(space_id, room_id)
    return Result(f"added {room} to {space}", {**data, "child": True})


@command(
    "view-space",
    "spaces: View space",
    "List the rooms of SPACE (and of its subspaces); --join joins those you are not in",
    SPACE,
    Param("join", "flag", "join every room of the space you are not in yet", option=True),
)
async def view_space(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    _, space_id = await resolve_room(ctx.accounts, str(inv.args["space"]), account)
    hierarchy = await account.space_hierarchy(space_id)
    top = next((r for r in hierarchy if r.get("room_id") == space_id), None)
    if top is None or top.get("room_type") != "m.space":
        raise UserError(f"{room_label(account, space_id)} is not a space")
    via = child_vias(hierarchy)
    joined_rooms = await account.joined_rooms()
    rooms: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for r in hierarchy:
        room_id = r.get("room_id")
        if not isinstance(room_id, str) or room_id == space_id:
            continue
        entry = {
            "room_id": room_id,
            "name": clean_line(_text(r.get("name")) or _text(r.get("canonical_alias")) or room_id),
            "topic": clean_line(_text(r.get("topic"))),
            "joined": room_id in joined_rooms,
            "members": int(r.get("num_joined_members") or 0),
        }
        if inv.args.get("join") and not entry["joined"]:
            try:
                await account.join(room_id, via.get(room_id))
            except Exception as e:  # one room we may not join must not stop the others
                failures[room_id] = describe_error(e)
            else:
                entry["joined"] = True
        rooms.append(entry)
    lines = [f"{clean_line(_text(top.get('name')) or space_id)}: {len(rooms)} rooms"]
    for entry in rooms:
        topic = f" — {entry['topic']}" if entry["topic"] else ""
        mark = "joined" if entry["joined"] else "      "
        lines.append(f"  {mark} {entry['name']} ({entry['members']} members){topic}")
    lines += [
        f"  could not join {entry['name']}: {failures[entry['room_id']]}"
        for entry in rooms
        if entry["room_id"] in failures
    ]
    columns: tuple[str, ...] = ("name", "joined", "members", "topic", "room_id")
    rows = rooms
    if failures:  # in the table too, not only in the message
        rows = [{**entry, "join_error": failures.get(entry["room_id"])} for entry in rooms]
        columns += ("join_error",)
    return Result("\n".join(lines), rooms, rows=rows, columns=columns)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""

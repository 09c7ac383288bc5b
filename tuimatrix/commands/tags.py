"""tags: favourite, low priority and custom tags on rooms (spec "Room tagging")."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.operations import normalise_tag
from tuimatrix.core.sanitize import clean_line


@command(
    "tag-room",
    "tags: Toggle tag",
    "Add TAG to the room, or remove it if it is there (favourite, low-priority, or any name)",
    Param("tag", "tag", "the tag: favourite, low-priority, u.NAME or a bare NAME"),
    Param("order", "float", "position among rooms with this tag (0 to 1)", False, option=True),
    room=True,
)
async def tag_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    tag = normalise_tag(str(inv.args["tag"]))
    # The server's tags, not our model: a toggle must not act on a stale view.
    if tag in await account.get_tags(room_id):
        await account.remove_tag(room_id, tag)
        return Result(f"removed {tag} from {_name(account, room_id)}", {"tag": tag, "set": False})
    await account.set_tag(room_id, tag, inv.args.get("order"))
    return Result(f"tagged {_name(account, room_id)} {tag}", {"tag": tag, "set": True})


def _name(account: object, room_id: str) -> str:
    rooms = getattr(getattr(account, "rooms", None), "summaries", {})
    room = rooms.get(room_id)
    return clean_line(room.display_name) if room else room_id

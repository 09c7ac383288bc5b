"""tags: favourite, low priority and custom tags on rooms (spec "Room tagging")."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.operations import normalise_tag
from tuimatrix.core.room_names import room_label

#: the tags offered first, by the names ``tag-room`` takes (m.favourite, m.lowpriority)
NAMED_TAGS = ("favourite", "low-priority")


def tag_suggestions(accounts: Accounts) -> list[str]:
    """The tags a prompt or completion offers: the named ones, then the u.* tags in use."""
    used = {tag for _account, room in accounts.rooms() for tag in room.tags}
    return [*NAMED_TAGS, *sorted(tag for tag in used if tag.startswith("u."))]


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
        return Result(
            f"removed {tag} from {room_label(account, room_id)}", {"tag": tag, "set": False}
        )
    await account.set_tag(room_id, tag, inv.args.get("order"))
    return Result(f"tagged {room_label(account, room_id)} {tag}", {"tag": tag, "set": True})

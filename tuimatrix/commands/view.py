"""view: the app's screens — the room list, opening and closing rooms, keys. App only."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.room_names import resolve_room, room_label


@command("room-list", "view: Room list", "Show every room of every account", ui_only=True)
async def room_list(ctx: Context, inv: Invocation) -> Result:
    ctx.ui.show_room_list()
    return Result()


@command(
    "open-room",
    "view: Open room",
    "Open a room's screen (by id, alias or name)",
    Param("room", "room", "the room to open"),
    ui_only=True,
)
async def open_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = await resolve_room(ctx.accounts, str(inv.args["room"]), inv.account)
    ctx.ui.open_room(account, room_id)
    return Result()


@command(
    "close-room",
    "view: Close room",
    "Close the room's screen (it leaves the Open section; its timeline is released)",
    room=True,
    ui_only=True,
)
async def close_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    if not ctx.ui.close_room(account, room_id):
        return Result("that room is not open")
    return Result("closed")


@command(
    "next-unread",
    "view: Next unread room",
    "Open the next room with unread messages",
    ui_only=True,
)
async def next_unread(ctx: Context, inv: Invocation) -> Result:
    # On the room list, "next" is in the list's order from the cursor, as Ement.el's SPC.
    listed = ctx.ui.next_unread_listed()
    if listed is not None:
        owner, listed_id = listed
        ctx.ui.open_room(owner, listed_id)
        return Result(f"opened {room_label(owner, listed_id)}")
    current_account, current_room = ctx.current()
    unread = sorted(
        (
            (-(room.highlight_count > 0), -room.latest_ts, account.user_id, room.room_id)
            for account, room in ctx.accounts.rooms()
            if room.membership == "join"
            and (room.notification_count or room.highlight_count)
            and not (account is current_account and room.room_id == current_room)
        ),
    )
    if not unread:
        return Result("no unread rooms")
    _, _, user_id, room_id = unread[0]
    account = ctx.accounts.get(user_id)
    assert account is not None
    ctx.ui.open_room(account, room_id)
    return Result(f"opened {room_label(account, room_id)}")


@command(
    "toggle-section",
    "view: Fold or unfold section",
    "Fold or unfold a room-list section: the one named (Favourites, low-priority…), "
    "else the one under the cursor (in the Spaces tree, the space around the cursor)",
    Param("section", "text", "the section's title or id", required=False),
    ui_only=True,
)
async def toggle_section(ctx: Context, inv: Invocation) -> Result:
    section = inv.args.get("section")
    return Result(ctx.ui.toggle_section(str(section) if section else None))


@command("keys", "view: Keys", "List every key binding and the command it runs", ui_only=True)
async def keys(ctx: Context, inv: Invocation) -> Result:
    ctx.ui.show_keys()
    return Result()

"""view: the app's screens — the room list, opening and closing rooms, keys. App only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_room, resolve_room
from tuimatrix.core.sanitize import clean_line

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp


def ui_app(ctx: Context, command_id: str) -> TuimatrixApp:
    app = getattr(ctx, "app", None)
    if app is None:
        raise UsageError(f"{command_id} works only in the app")
    return app  # type: ignore[no-any-return]


@command("room-list", "view: Room list", "Show every room of every account", ui_only=True)
async def room_list(ctx: Context, inv: Invocation) -> Result:
    ui_app(ctx, inv.command.id).action_show_room_list()
    return Result()


@command(
    "open-room",
    "view: Open room",
    "Open a room's screen (by id, alias or name)",
    Param("room", "room", "the room to open"),
    ui_only=True,
)
async def open_room(ctx: Context, inv: Invocation) -> Result:
    app = ui_app(ctx, inv.command.id)
    account, room_id = await resolve_room(ctx.accounts, str(inv.args["room"]), inv.account)
    app.open_room(account, room_id)
    return Result()


@command(
    "close-room",
    "view: Close room",
    "Close the room's screen (it leaves the Open section; its timeline is released)",
    room=True,
    ui_only=True,
)
async def close_room(ctx: Context, inv: Invocation) -> Result:
    app = ui_app(ctx, inv.command.id)
    account, room_id = need_room(inv)
    if not app.close_room(account, room_id):
        return Result("that room is not open")
    return Result("closed")


@command(
    "next-unread",
    "view: Next unread room",
    "Open the next room with unread messages",
    ui_only=True,
)
async def next_unread(ctx: Context, inv: Invocation) -> Result:
    app = ui_app(ctx, inv.command.id)
    if app.screen is app.room_list:
        # On the room list, "next" is in the list's order from the cursor, as Ement.el's SPC.
        listed = app.room_list.next_unread()
        if listed is not None:
            owner, listed_id = listed
            app.open_room(owner, listed_id)
            return Result(f"opened {clean_line(owner.rooms.summaries[listed_id].display_name)}")
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
    app.open_room(account, room_id)
    room = account.rooms.summaries[room_id]
    return Result(f"opened {clean_line(room.display_name)}")


@command(
    "toggle-section",
    "view: Fold or unfold section",
    "Fold or unfold a room-list section: the one named (Favourites, low-priority…), "
    "else the one under the cursor (in the Spaces tree, the space around the cursor)",
    Param("section", "text", "the section's title or id", required=False),
    ui_only=True,
)
async def toggle_section(ctx: Context, inv: Invocation) -> Result:
    app = ui_app(ctx, inv.command.id)
    section = inv.args.get("section")
    return Result(app.room_list.toggle_section(str(section) if section else None))


@command("keys", "view: Keys", "List every key binding and the command it runs", ui_only=True)
async def keys(ctx: Context, inv: Invocation) -> Result:
    ui_app(ctx, inv.command.id).show_keys()
    return Result()

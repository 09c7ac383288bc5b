"""reading: jumps in a room's timeline, who reacted, membership events shown or hidden. App only."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Result, UsageError, command
from tuimatrix.commands.front_end import RoomView
from tuimatrix.commands.messages import EVENT, event_arg
from tuimatrix.commands.runner import need_room

ROOM_SCREEN = ("room",)


def _room_screen(ctx: Context, inv: Invocation) -> RoomView:
    """The open screen of the command's room (jumps act on what it has loaded)."""
    account, room_id = need_room(inv)
    view = ctx.ui.room_view(account, room_id)
    if view is None:
        raise UsageError(f"{inv.command.id}: open the room first")
    return view


@command(
    "jump-to-fully-read",
    "reading: Jump to fully-read marker",
    "Scroll to the line under the last message you had read (older messages load to reach it)",
    room=True,
    ui_only=True,
    screens=ROOM_SCREEN,
)
async def jump_to_fully_read(ctx: Context, inv: Invocation) -> Result:
    return Result(await _room_screen(ctx, inv).jump_to_fully_read())


@command(
    "jump-to-latest",
    "reading: Jump to latest message",
    "Scroll to the newest message and follow new ones",
    room=True,
    ui_only=True,
    screens=ROOM_SCREEN,
)
async def jump_to_latest(ctx: Context, inv: Invocation) -> Result:
    return Result(_room_screen(ctx, inv).jump_to_latest())


@command(
    "show-reactions",
    "reading: Who reacted",
    "Show who reacted to EVENT with what",
    EVENT,
    room=True,
    ui_only=True,
    screens=ROOM_SCREEN,
)
async def show_reactions(ctx: Context, inv: Invocation) -> Result:
    screen = _room_screen(ctx, inv)
    summary = screen.reaction_summary(event_arg(inv))
    if not summary:
        return Result("no reactions to that message")
    # Names and keys are sanitised (reaction_senders).
    ctx.ui.show_notice("Reactions", summary)
    return Result()


@command(
    "toggle-membership-events",
    "reading: Hide or show membership events",
    "Hide the room's joins, leaves, invites and name changes, or show them again "
    "(remembered per room; [room] hide-membership-events sets the default)",
    room=True,
    ui_only=True,
)
async def toggle_membership_events(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    hidden = ctx.ui.toggle_membership_events(account, room_id)
    return Result("membership events hidden" if hidden else "membership events shown")

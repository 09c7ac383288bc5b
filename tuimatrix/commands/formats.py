"""view: the message format of a room's timeline (Ement's "Elemental" or IRC-style)."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.timeline import FORMATS


@command(
    "set-format",
    "view: Set message format",
    "Show the room's timeline as elemental (a sender header over each run) or irc (columns)",
    Param("format", "choice", "the format", choices=FORMATS),
    room=True,
    ui_only=True,
)
async def set_format(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    ctx.ui.set_message_format(account, room_id, str(inv.args["format"]))
    return Result(f"message format: {inv.args['format']}")

"""Going to a found message: select it in its room's timeline, else show it with its context.

Moved out of the search command (it opens screens and waits for them, which is the app's
business, not a command's).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tuimatrix.core.errors import describe_error
from tuimatrix.core.room_names import room_label
from tuimatrix.core.room_timeline import RoomTimeline

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.account import Account
    from tuimatrix.screens.room import RoomScreen

#: how long a jump waits for a newly opened room to show its messages (seconds)
JUMP_WAIT = 10.0


def room_screen(app: TuimatrixApp, account: Account, room_id: str) -> RoomScreen | None:
    """The open screen of ``room_id``, if any (mounted or not yet)."""
    for screen in app.room_screens():
        if screen.account is account and screen.room_id == room_id:
            return screen
    return None


async def jump_to(app: TuimatrixApp, account: Account, room_id: str, event_id: str) -> str:
    """Open ``room_id`` and select ``event_id`` if its timeline has it loaded."""
    app.open_room(account, room_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JUMP_WAIT
    screen = None
    while loop.time() < deadline:
        screen = room_screen(app, account, room_id)
        if screen is not None and screen.is_mounted and screen.timeline.items:
            break
        await asyncio.sleep(0.05)
    if screen is None or not screen.is_mounted:
        return "opened the room"
    timeline = screen.timeline
    if not any(item.key == event_id for item in timeline.items):
        return await show_context(app, account, room_id, event_id)
    timeline.focus()
    timeline.select(event_id)
    return "found"


async def show_context(app: TuimatrixApp, account: Account, room_id: str, event_id: str) -> str:
    """Show a message the room's timeline has not loaded, with the messages around it from
    the server, in a read-only view over the room."""
    from tuimatrix.screens.message_context import MessageContextScreen

    model = RoomTimeline(account, room_id)
    try:
        await model.load_context(event_id)
    except Exception as e:
        return f"that message is not loaded, and the server did not show it: {describe_error(e)}"
    title = f"{room_label(account, room_id)}: a found message"
    fmt = app.message_format(account, room_id)
    app.push_screen(MessageContextScreen(title, model, event_id, fmt))
    return "that message is not in the loaded timeline: shown with its context"

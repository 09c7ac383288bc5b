"""threads: open a thread, list a room's threads, go back to the room (spec "Threading")."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.messages import EVENT, event_arg
from tuimatrix.commands.runner import need_room
from tuimatrix.core.room_names import room_label
from tuimatrix.core.threads import list_threads, root_of, thread_label


@command(
    "open-thread",
    "threads: Open thread",
    "Open the thread of EVENT (its root, or a reply in it): the root, the replies, a composer",
    EVENT,
    room=True,
    ui_only=True,
    screens=("room",),
)
async def open_thread(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    root = await root_of(account, room_id, event_arg(inv))
    ctx.ui.open_thread(account, room_id, root)
    return Result()


@command(
    "threads",
    "threads: List threads",
    "List the room's threads, most recently active first (in the app: pick one to open it)",
    Param("limit", "int", "at most this many", required=False, option=True, default=50),
    room=True,
)
async def threads(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    limit = int(inv.args.get("limit") or 50)
    if limit < 1:
        raise UsageError("threads: --limit must be at least 1")
    roots, _ = await list_threads(account, room_id, limit=limit)
    names = await account.member_names(room_id)
    labels = [(str(root["event_id"]), thread_label(root, names)) for root in roots]
    if not ctx.ui.screens:
        lines = [f"{root_id}  {label.plain}" for root_id, label in labels]
        where = room_label(account, room_id)
        rows = [{"event_id": root_id, "summary": label.plain} for root_id, label in labels]
        return Result("\n".join(lines) if lines else f"no threads in {where}", rows, rows=rows)
    if not labels:
        return Result(f"no threads in {room_label(account, room_id)}")
    title = f"Threads in {room_label(account, room_id)}"
    chosen = await ctx.ui.pick_thread(title, labels)
    if chosen is None:
        return Result("cancelled")
    ctx.ui.open_thread(account, room_id, chosen)
    return Result()


@command(
    "close-thread",
    "threads: Back to the room",
    "Leave the thread for its room's timeline",
    ui_only=True,
    screens=("room",),
)
async def close_thread(ctx: Context, inv: Invocation) -> Result:
    if not ctx.ui.close_thread():
        return Result("no thread is open")
    return Result()

"""search: messages in the room (as loaded), or through the server's search."""

from __future__ import annotations

import asyncio
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.room_timeline import RoomTimeline
from tuimatrix.core.search import (
    SearchResult,
    parse_query,
    room_label,
    search_items,
    search_server,
)
from tuimatrix.core.timeline import build_items

#: events searched outside the app (``exec``), where no timeline is loaded: the newest stored
STORED_EVENTS = 1000
#: how long a jump waits for a newly opened room to show its messages (seconds)
JUMP_WAIT = 10.0


async def _loaded_results(
    ctx: Context, account: Account, room_id: str, query_text: str
) -> list[SearchResult]:
    """Matches among the messages the room's screen shows (else the newest stored ones)."""
    from tuimatrix.commands.media import room_screen

    query = parse_query(query_text)
    screen = room_screen(getattr(ctx, "app", None), account, room_id)
    if screen is not None and screen.is_mounted:
        items = screen.timeline.items
    else:
        events = await account.store.latest_events(room_id, STORED_EVENTS)
        items = build_items(events, await account.member_names(room_id), account.user_id)
    return search_items(room_id, items, query)


@command(
    "search",
    "search: Search messages",
    "Find messages containing every word of QUERY (from:NAME: by sender) among those loaded "
    "in the room; --server asks the server (not possible in encrypted rooms), --all-rooms "
    "every room on the server",
    Param("query", "text", "words, and from:NAME for a sender", rest=True),
    Param("server", "flag", "search with the server", option=True),
    Param("all_rooms", "flag", "search every room with the server", option=True),
    room=True,
    screens=("room",),
)
async def search(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    query_text = str(inv.args["query"])
    query = parse_query(query_text)
    all_rooms = bool(inv.args.get("all_rooms"))
    note = ""
    if all_rooms or inv.args.get("server"):
        if not all_rooms and await account.is_encrypted(room_id):
            note = (
                "this room is end-to-end encrypted: the server cannot search it, "
                "so these are matches among the loaded messages"
            )
            results = await _loaded_results(ctx, account, room_id, query_text)
        else:
            if all_rooms:
                note = "encrypted rooms are not searched by the server"
            names = {room_id: await account.member_names(room_id)}
            results = await search_server(account, query, None if all_rooms else [room_id], names)
        where = "all rooms (server)" if all_rooms else f"{room_label(account, room_id)} (server)"
    else:
        results = await _loaded_results(ctx, account, room_id, query_text)
        where = f"loaded messages of {room_label(account, room_id)}"
    rooms = {r.room_id: room_label(account, r.room_id) for r in results} if all_rooms else None
    title = f"{len(results)} found for {query_text!r} in {where}"
    app = getattr(ctx, "app", None)
    if app is None:
        lines = [title, *([note] if note else [])]
        for r in results:
            room = f"{rooms[r.room_id]} · " if rooms else ""
            first = r.snippet.plain.split("\n", 1)[0]
            lines.append(f"{room}{r.sender}: {first}")
        data = [_data(r) for r in results]
        return Result("\n".join(lines), data)
    from tuimatrix.screens.search import SearchResultsScreen

    chosen = await app.push_screen_wait(SearchResultsScreen(title, results, rooms, note))
    if chosen is None:
        return Result(f"{len(results)} found")
    return Result(await jump_to(app, account, chosen.room_id, chosen.event_id))


def _data(result: SearchResult) -> dict[str, Any]:
    return {
        "room_id": result.room_id,
        "event_id": result.event_id,
        "sender": result.sender,
        "ts": result.ts,
        "text": result.snippet.plain,
    }


async def jump_to(app: Any, account: Account, room_id: str, event_id: str) -> str:
    """Open ``room_id`` and select ``event_id`` if its timeline has it loaded."""
    from tuimatrix.commands.media import room_screen

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


async def show_context(app: Any, account: Account, room_id: str, event_id: str) -> str:
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

"""search: messages in the room (as loaded), or through the server's search."""

from __future__ import annotations

from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.account import Account
from tuimatrix.core.room_names import room_label
from tuimatrix.core.search import SearchResult, parse_query, search_items, search_server
from tuimatrix.core.timeline import build_items

#: what a table of search results shows
RESULT_COLUMNS = ("sender", "text", "room_id", "event_id", "ts")

#: events searched outside the app (``exec``), where no timeline is loaded: the newest stored
STORED_EVENTS = 1000


async def _loaded_results(
    ctx: Context, account: Account, room_id: str, query_text: str
) -> list[SearchResult]:
    """Matches among the messages the room's screen shows (else the newest stored ones)."""
    query = parse_query(query_text)
    view = ctx.ui.room_view(account, room_id)
    if view is not None:
        items = list(view.items())
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
    if not ctx.ui.screens:
        lines = [title, *([note] if note else [])]
        for r in results:
            room = f"{rooms[r.room_id]} · " if rooms else ""
            first = r.snippet.plain.split("\n", 1)[0]
            lines.append(f"{room}{r.sender}: {first}")
        data = [_data(r) for r in results]
        return Result("\n".join(lines), data, rows=data, columns=RESULT_COLUMNS)
    chosen = await ctx.ui.show_results(title, results, rooms, note)
    if chosen is None:
        return Result(f"{len(results)} found")
    return Result(await ctx.ui.jump_to(account, chosen.room_id, chosen.event_id))


def _data(result: SearchResult) -> dict[str, Any]:
    return {
        "room_id": result.room_id,
        "event_id": result.event_id,
        "sender": result.sender,
        "ts": result.ts,
        "text": result.snippet.plain,
    }

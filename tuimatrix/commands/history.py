"""history: read a room's messages, for scripts (``messages --room R [--limit N] [--since T]``).

The rows are the one event shape for programs (``core/event_json.py``); paging by the
store's token is ``core/message_page.py``.
"""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.message_page import DEFAULT_LIMIT, MAX_LIMIT, message_page
from tuimatrix.core.room_names import room_label

#: what a table shows of a message row (JSON lines carry every key)
COLUMNS = ("time", "sender_name", "body", "event_id")


@command(
    "messages",
    "messages: Read messages",
    f"The room's newest messages (--limit, default {DEFAULT_LIMIT}, at most {MAX_LIMIT}), "
    "oldest first, decrypted, edits shown as their newest content (edited), deletions "
    "flagged (redacted). Every row carries next_token: give it as --since TOKEN to get only "
    "what arrived after that page (polling repeats nothing and misses nothing). A token "
    "belongs to the account that gave it.",
    Param("limit", "int", f"how many messages (1-{MAX_LIMIT})", required=False, option=True),
    Param("since", "text", "a next_token from an earlier messages", required=False, option=True),
    room=True,
)
async def messages(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    page = await message_page(account, room_id, inv.args.get("limit"), inv.args.get("since"))
    rows = [{**row, "next_token": page.next_token} for row in page.rows]
    count = len(rows)
    more = " (more after these: ask again with --since)" if page.more else ""
    return Result(
        f"{count} message{'s' if count != 1 else ''} in {room_label(account, room_id)}{more}",
        {"room_id": room_id, "next_token": page.next_token, "count": count, "more": page.more},
        rows=rows,
        columns=COLUMNS,
    )

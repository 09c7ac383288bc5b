"""inbox and read state: what needs you across accounts; mark rooms read or unread.

``inbox`` is a screen in the app (enter jumps to an entry, r replies to it) and a listing
for scripts (``Result.rows``). Read state goes to the server: receipts (``m.read``, or
``m.read.private`` with ``[room] read-receipts = "private"``), the fully-read marker, and
``m.marked_unread`` (spec v1.12).
"""

from __future__ import annotations

from typing import Any

from tuimatrix.commands import (
    Context,
    Invocation,
    Param,
    Result,
    UsageError,
    command,
    find_command,
)
from tuimatrix.commands.listing import count_of, listed_accounts
from tuimatrix.commands.runner import Cancelled, config_of, need_room, run
from tuimatrix.core.account import Account
from tuimatrix.core.ages import short_age
from tuimatrix.core.errors import describe_error
from tuimatrix.core.inbox import InboxChoice, InboxEntry, gather_inbox, server_history
from tuimatrix.core.room_names import room_label
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sections import RoomRef, find_section, group_rooms, is_unread

#: what a table of the inbox shows (the rows also carry room_id, event_id and ts)
INBOX_COLUMNS = ("age", "kind", "account", "room", "sender", "preview")
#: mark-all-read asks before marking more rooms than this
FEW_ROOMS = 3


def inbox_row(entry: InboxEntry) -> dict[str, Any]:
    """An entry for scripts (its strings are sanitised already)."""
    return {
        "age": short_age(entry.ts),
        "kind": entry.kind,
        "account": entry.user_id,
        "room": entry.room,
        "sender": entry.sender,
        "sender_id": entry.sender_id,
        "preview": entry.preview,
        "room_id": entry.room_id,
        "event_id": entry.event_id,
        "ts": entry.ts,
    }


@command(
    "inbox",
    "reading: Inbox",
    "What needs you in every account (or --account), newest first: mentions and keywords, "
    "other notifying messages, invites, direct chats with unread messages. In the app, enter "
    "jumps to one and r replies to it",
    every_account=True,
)
async def inbox(ctx: Context, inv: Invocation) -> Result:
    accounts = listed_accounts(inv, ctx)
    if not ctx.ui.screens:
        entries = await gather_inbox(accounts, await server_history(accounts))
        rows = [inbox_row(entry) for entry in entries]
        return Result(f"{len(rows)} in the inbox", rows=rows, columns=INBOX_COLUMNS)
    choice = await ctx.ui.show_inbox(accounts)
    if choice is None:
        return Result()
    return await _go_to(ctx, choice)


async def _go_to(ctx: Context, choice: InboxChoice) -> Result:
    """Open the entry's room at its event (reading it there marks it read); a reply is
    asked for there, as the room's own ``r`` does."""
    entry = choice.entry
    account = ctx.accounts.get(entry.user_id)
    if account is None:
        return Result(f"{entry.user_id} is no longer logged in")
    if entry.event_id is None:
        ctx.ui.open_room(account, entry.room_id)
        return Result(f"opened {entry.room}")
    said = await ctx.ui.jump_to(account, entry.room_id, entry.event_id)
    if not choice.reply:
        return Result(said)
    reply = find_command("reply")
    assert reply is not None  # commands/messages.py registers it
    args = {"event": entry.event_id, "room": entry.room_id, "account": entry.user_id}
    return await run(ctx, reply, args)


@command(
    "mark-read",
    "reading: Mark room read",
    "Mark the room read up to its newest message: the read receipt, the fully-read marker, "
    "and its mark as unread cleared",
    room=True,
)
async def mark_read(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    private = config_of(ctx).room.private_receipts
    if not await account.mark_room_read(room_id, private=private):
        return Result(f"{room_label(account, room_id)} has no message to mark read yet")
    return Result(f"marked {room_label(account, room_id)} read")


@command(
    "mark-unread",
    "reading: Mark room unread",
    "Mark the room unread (it shows as unread until you open it or mark it read)",
    room=True,
)
async def mark_unread(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    await account.set_marked_unread(room_id, True)
    return Result(f"marked {room_label(account, room_id)} unread")


@command(
    "mark-all-read",
    "reading: Mark all read",
    "Mark every unread room read (of every account, or --account), or only those of a "
    "room-list SECTION (its name: favourites, people, low-priority…); asks first when "
    "that is more than a few rooms",
    Param("section", "text", "a room-list section (id or title)", required=False),
    Param("yes", "flag", "do not ask for confirmation", option=True),
    every_account=True,
)
async def mark_all_read(ctx: Context, inv: Invocation) -> Result:
    rooms = _unread_rooms(ctx, inv)
    if not rooms:
        return Result("no unread rooms")
    count = count_of(len(rooms), "room")
    if len(rooms) > FEW_ROOMS and not inv.args.get("yes") and inv.prefix < 2:
        if not ctx.interactive:
            raise UsageError(f"mark-all-read would mark {count} read: add --yes")
        if not await ctx.confirm(f"Mark {count} read?"):
            raise Cancelled()
    private = config_of(ctx).room.private_receipts
    failed: list[str] = []
    for account, room in rooms:
        try:
            await account.mark_room_read(room.room_id, private=private)
        except Exception as e:
            failed.append(f"{room_label(account, room.room_id)}: {describe_error(e)}")
    if failed:
        shown = "; ".join(failed[:3]) + (f" (+{len(failed) - 3} more)" if len(failed) > 3 else "")
        raise UsageError(f"marked {len(rooms) - len(failed)} of {count} read; not {shown}")
    return Result(f"marked {count} read")


def _unread_rooms(ctx: Context, inv: Invocation) -> list[tuple[Account, RoomSummary]]:
    """The unread joined rooms of the chosen accounts, in the section if one is named."""
    accounts = {account.user_id: account for account in listed_accounts(inv, ctx)}
    every: dict[RoomRef, RoomSummary] = {
        (user_id, room.room_id): room
        for user_id, account in accounts.items()
        for room in account.rooms.summaries.values()
        if room.membership == "join"
    }
    wanted = set(every)
    name = str(inv.args.get("section") or "").strip()
    if name:
        config = config_of(ctx).room_list
        section_id = find_section(config.sections, name)
        if section_id is None:
            raise UsageError(
                f"mark-all-read: no room-list section {clean_line(name)!r} "
                f"(sections: {', '.join(config.sections)})"
            )
        grouping = group_rooms(
            every, frozenset(), config.sections, config.sort, config.section_sort
        )
        section = grouping.section(section_id)
        wanted = section.refs() if section is not None else set()
    return [(accounts[ref[0]], every[ref]) for ref in sorted(wanted) if is_unread(every[ref])]

"""listings: every room and every open account, as rows for tables and JSON lines.

What scripts read (``tuimatrix exec --json rooms``), built from the same models the app
shows: a room's name is its label in the room list, and its section the one it has its home
in there (``core/sections.py``, with the sections of ``config.toml``).
"""

from __future__ import annotations

import logging
from typing import Any

from tuimatrix.commands import Context, Invocation, Result, command
from tuimatrix.commands.runner import config_of
from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sections import RoomRef, group_rooms, space_children
from tuimatrix.core.sync_status import LOGGED_OUT, SOFT_LOGGED_OUT

log = logging.getLogger(__name__)

#: Sections that list a room besides its home (its state, not where it belongs).
_OVERLAYS = frozenset({"open", "unread"})

ROOM_COLUMNS = ("name", "section", "unread", "highlights", "tags", "spaces", "account", "room_id")
ACCOUNT_COLUMNS = ("user_id", "display_name", "homeserver", "device_id", "rooms", "sync")


def listed_accounts(inv: Invocation, ctx: Context) -> list[Account]:
    """The account --account named, else every open account."""
    return [inv.account] if inv.account is not None else list(ctx.accounts)


def count_of(n: int, what: str) -> str:
    """ "1 room", "2 rooms": a listing's summary line."""
    return f"{n} {what}" + ("" if n == 1 else "s")


@command(
    "rooms",
    "rooms: List rooms",
    "List every room of every account (or of --account): name, section, unread and "
    "highlight counts, tags, spaces, membership, encryption, DM",
    every_account=True,
)
async def rooms(ctx: Context, inv: Invocation) -> Result:
    every: dict[RoomRef, RoomSummary] = {
        (account.user_id, room.room_id): room
        for account in ctx.accounts
        for room in account.rooms.summaries.values()
        if room.membership in ("join", "invite")  # not the rooms left (kept in the store)
    }
    config = config_of(ctx).room_list
    grouping = group_rooms(every, frozenset(), config.sections, config.sort, config.section_sort)
    parents: dict[RoomRef, list[RoomRef]] = {}
    for space, kids in space_children(every).items():
        for kid in kids:
            parents.setdefault(kid, []).append(space)
    wanted = {account.user_id for account in listed_accounts(inv, ctx)}
    # In the room list's order: section by section, each room once, at its home.
    order: list[tuple[RoomRef, str | None]] = []
    seen: set[RoomRef] = set()
    for section in grouping.sections:
        if section.id in _OVERLAYS:
            continue
        for node in section.walk():
            ref = node.ref
            if ref not in seen and _home(every[ref], grouping.placed.get(ref, [])) == section.id:
                seen.add(ref)
                order.append((ref, section.id))
    # Rooms whose home section is not configured are still listed (without a section).
    order += [(ref, None) for ref in sorted(every) if ref not in seen]
    rows = [
        _room_row(ref, every[ref], section, [every[p] for p in parents.get(ref, ())])
        for ref, section in order
        if ref[0] in wanted
    ]
    return Result(count_of(len(rows), "room"), rows=rows, columns=ROOM_COLUMNS)


def _home(room: RoomSummary, placed: list[str]) -> str | None:
    """The section a room has its home in, given the flat sections that list it: the first
    that is not an overlay, else the Spaces tree for a joined space."""
    home = next((s for s in placed if s not in _OVERLAYS), None)
    if home is None and room.is_space and room.membership == "join":
        return "spaces"
    return home


def _room_row(
    ref: RoomRef, room: RoomSummary, section: str | None, spaces: list[RoomSummary]
) -> dict[str, Any]:
    spaces = sorted(spaces, key=lambda s: s.display_name.casefold())
    return {
        "room_id": room.room_id,
        "name": summary_label(room),
        "account": ref[0],
        "section": section,
        "unread": room.notification_count,
        "highlights": room.highlight_count,
        "tags": [clean_line(tag) for tag in room.tags],
        "spaces": [summary_label(space) for space in spaces],
        "space_ids": [space.room_id for space in spaces],
        "membership": room.membership,
        "encrypted": room.encrypted,
        "dm": room.is_direct,
        "is_space": room.is_space,
    }


@command(
    "accounts",
    "session: List accounts",
    "List the open accounts: user id, display name, homeserver, device, rooms, sync state",
    every_account=True,
)
async def accounts(ctx: Context, inv: Invocation) -> Result:
    rows = [await _account_row(account) for account in listed_accounts(inv, ctx)]
    return Result(count_of(len(rows), "account"), rows=rows, columns=ACCOUNT_COLUMNS)


async def _account_row(account: Account) -> dict[str, Any]:
    state = account.status.state
    signed_out = state in (LOGGED_OUT, SOFT_LOGGED_OUT)
    name: str | None = None
    if not signed_out:
        try:
            name = await account.display_name(account.user_id)
        except Exception as e:  # the profile is a nicety: a listing still lists the account
            log.info("%s: no display name: %s", account.user_id, describe_error(e))
    joined = [r for r in account.rooms.summaries.values() if r.membership == "join"]
    return {
        "user_id": account.user_id,
        "display_name": clean_line(name) if name else None,
        "homeserver": account.session.homeserver,
        "device_id": account.session.device_id,
        "rooms": len(joined),
        "invites": sum(1 for r in account.rooms.summaries.values() if r.membership == "invite"),
        "sync": state,
        "signed_out": signed_out,
    }

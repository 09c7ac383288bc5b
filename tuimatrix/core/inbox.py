"""What needs the user, across every account: the inbox's entries.

Mentions, keywords and other notifying events come from the push rules evaluated here
(``Account.notices``: encrypted rooms too, and every live event); history older than what was
evaluated comes from the server's ``/notifications`` (rooms the server can read only); then
invites, and direct chats with unread messages that no notice stands for. Newest first; every
string in an entry is already sanitised, so a screen or a table shows it as it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from tuimatrix.core.errors import describe_error
from tuimatrix.core.relations.edits import Edits
from tuimatrix.core.room_names import room_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sections import is_unread
from tuimatrix.core.timeline import event_item, preview_content

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.notices import Notice

log = logging.getLogger(__name__)

#: what an entry is: a highlight (a mention), one of the user's keywords, another notifying
#: event, an invite, a direct chat with unread messages
MENTION, KEYWORD, NOTICE, INVITE, DIRECT = "mention", "keyword", "notice", "invite", "dm"
#: notices read from the store per account (newest first)
NOTICES = 200
#: entries made between two chances for the UI's loop to run (a preview costs up to ~3 ms)
YIELD_EVERY = 10
#: a preview's length before the table cuts it anyway
PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One thing that needs the user. Every string is sanitised (one line)."""

    user_id: str
    room_id: str
    #: the event to jump to; None for an invite (the room is opened)
    event_id: str | None
    kind: str
    room: str
    #: the sender's display name, and user id
    sender: str
    sender_id: str
    preview: str
    #: origin_server_ts, ms (0: unknown)
    ts: int


class InboxChoice(NamedTuple):
    """What the user picked on the inbox screen: the entry, and whether to reply to it."""

    entry: InboxEntry
    reply: bool


def preview(event: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One sanitised line of what ``event`` says, as its timeline shows it (an edit: its new
    text); ``names`` are the room's display names, for membership lines."""
    content = event.get("content")
    if isinstance(content, dict):
        event = {**event, "content": preview_content(content)}
    item = event_item(event, names or {})
    if item is None:
        return clean_line(str(event.get("type") or "an event"))
    return clean_line(item.body.plain.strip().split("\n", 1)[0])[:PREVIEW_CHARS]


def account_labels(user_ids: Iterable[str]) -> dict[str, str]:
    """A short name for each account when there are several: its localpart (the whole id
    where two accounts share one); "" each when there is only one."""
    ids = list(dict.fromkeys(user_ids))
    if len(ids) < 2:
        return dict.fromkeys(ids, "")
    local = {u: u[1:].split(":", 1)[0] for u in ids}
    taken = [local[u] for u in ids]
    return {u: clean_line(local[u] if taken.count(local[u]) == 1 else u) for u in ids}


class SenderNames:
    """Display names by account and room, read from the store once: a view that reads its
    entries again on every sync keeps one for its life (a large room's members are many)."""

    def __init__(self) -> None:
        self.rooms: dict[tuple[str, str], dict[str, str]] = {}

    async def of(self, account: Account, room_id: str) -> dict[str, str]:
        key = (account.user_id, room_id)
        if key not in self.rooms:
            self.rooms[key] = await account.member_names(room_id)
        return self.rooms[key]


async def _entry(
    account: Account,
    names: SenderNames,
    room_id: str,
    event: Mapping[str, Any],
    kind: str,
    ts: int,
) -> InboxEntry:
    sender = str(event.get("sender", ""))
    room_names = await names.of(account, room_id)
    return InboxEntry(
        user_id=account.user_id,
        room_id=room_id,
        event_id=str(event.get("event_id", "")) or None,
        kind=kind,
        room=room_label(account, room_id),
        sender=clean_line(room_names.get(sender, sender)),
        sender_id=clean_line(sender),
        preview=preview(event, room_names),
        ts=ts,
    )


def _kind(notice: Notice) -> str:
    if notice.keyword:
        return KEYWORD
    return MENTION if notice.highlight else NOTICE


async def local_inbox(account: Account, names: SenderNames | None = None) -> list[InboxEntry]:
    """What needs the user by what this client knows: unread notices, invites, and direct
    chats with unread messages no notice stands for."""
    names = names or SenderNames()
    notices = await account.notices.recent(NOTICES, unread_only=True)
    # A message edited since shows its newest text, as its timeline does.
    edits = Edits(await account.store.related_events([n.event for n in notices]))
    entries = []
    for count, n in enumerate(notices, 1):
        shown = {**n.event, "content": edits.shown_content(n.event)}
        entries.append(await _entry(account, names, n.room_id, shown, _kind(n), n.ts))
        if count % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # the screen reloads on the UI's loop: let it draw
    noticed = {e.room_id for e in entries}
    for room in list(account.rooms.summaries.values()):
        if room.membership == "invite":
            inviter = room.inviter or ""
            entries.append(
                InboxEntry(
                    user_id=account.user_id,
                    room_id=room.room_id,
                    event_id=None,
                    kind=INVITE,
                    room=room_label(account, room.room_id),
                    sender=clean_line(inviter),
                    sender_id=clean_line(inviter),
                    preview="invites you to join",
                    ts=room.latest_ts,
                )
            )
        elif (
            room.membership == "join"
            and room.is_direct
            and is_unread(room)
            and room.room_id not in noticed
        ):
            latest = await account.store.latest_events(room.room_id, 1)
            if latest:
                event = latest[-1]
                ts = event.get("origin_server_ts")
                when = ts if isinstance(ts, int) and not isinstance(ts, bool) else room.latest_ts
                entries.append(await _entry(account, names, room.room_id, event, DIRECT, when))
    return entries


async def server_inbox(account: Account, pages: int = 1) -> list[InboxEntry]:
    """Unread notifications the server kept (``/notifications``), in joined rooms it can read.

    The server's history is a help, not a need: when it cannot be reached the inbox shows
    what this client knows (the reason is logged).
    """
    names = SenderNames()
    entries: list[InboxEntry] = []
    token: str | None = None
    for _ in range(pages):
        try:
            found, token = await account.server_notifications(token=token)
        except Exception as e:
            log.info("%s: no server notifications: %s", account.user_id, describe_error(e))
            break
        for n in found:
            room = account.rooms.summaries.get(n.room_id)
            if n.read or room is None or room.membership != "join" or room.encrypted:
                continue
            if n.event.get("type") == "m.room.member":
                continue  # an invite's: invites are listed as rooms, and this one was taken
            kind = MENTION if n.highlight else NOTICE
            entries.append(await _entry(account, names, n.room_id, n.event, kind, n.ts))
        if token is None:
            break
    return entries


def merge_entries(*groups: Iterable[InboxEntry]) -> list[InboxEntry]:
    """The entries, each event once (the first group's copy wins), newest first."""
    seen: set[tuple[str, str]] = set()
    merged: list[InboxEntry] = []
    for group in groups:
        for entry in group:
            # An invite has no event: it is one per room (a room id never looks like "$…").
            key = (entry.user_id, entry.event_id or entry.room_id)
            if key not in seen:
                seen.add(key)
                merged.append(entry)
    merged.sort(key=lambda e: e.ts, reverse=True)
    return merged


async def server_history(accounts: Iterable[Account]) -> list[InboxEntry]:
    """The server's unread notifications of every account (fetched once per view)."""
    found = await asyncio.gather(*(server_inbox(a) for a in accounts))
    return merge_entries(*found)


def still_unread(accounts: Iterable[Account], history: Iterable[InboxEntry]) -> list[InboxEntry]:
    """The entries of ``history`` whose room is still unread: the server's counts drop to
    zero when the user reads the room, here or elsewhere."""
    by_id = {a.user_id: a for a in accounts}
    kept = []
    for entry in history:
        account = by_id.get(entry.user_id)
        room = account.rooms.summaries.get(entry.room_id) if account is not None else None
        if room is not None and is_unread(room):
            kept.append(entry)
    return kept


async def gather_inbox(
    accounts: Iterable[Account],
    history: Iterable[InboxEntry] = (),
    names: SenderNames | None = None,
) -> list[InboxEntry]:
    """Every account's inbox, with what of the server's ``history`` is still unread; newest
    first, each event once (this client's own evaluation wins)."""
    chosen = list(accounts)
    names = names or SenderNames()
    local = await asyncio.gather(*(local_inbox(a, names) for a in chosen))
    return merge_entries(*local, still_unread(chosen, history))

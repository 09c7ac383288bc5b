"""Searching messages: those loaded in a room (as shown), and the server's index.

A query is words, all of which a message must contain (case-insensitive), and ``from:WHO``
terms that keep messages whose sender's id or display name contains WHO. Servers search the
plain text they store (spec "Server Side Search"), which for encrypted rooms is ciphertext:
those rooms can only be searched locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text

from tuimatrix.core.errors import UserError
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.timeline import TimelineItem, event_item

if TYPE_CHECKING:
    from tuimatrix.core.account import Account

#: results asked of the server in one request
SERVER_LIMIT: Final = 50


@dataclass(frozen=True)
class Query:
    words: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The words as the server is asked for them."""
        return " ".join(self.words)


def parse_query(query: str) -> Query:
    """``"lunch from:alice"`` → words ("lunch",) and senders ("alice",), case-folded."""
    words, senders = [], []
    for term in query.split():
        if term.lower().startswith("from:") and len(term) > 5:
            senders.append(term[5:].casefold())
        else:
            words.append(term.casefold())
    if not words and not senders:
        raise UserError("search: give words to look for, or from:NAME")
    return Query(tuple(words), tuple(senders))


def _sender_matches(query: Query, sender_id: str, sender: str) -> bool:
    if not query.senders:
        return True
    who = (sender_id.casefold(), sender.casefold())
    return any(s in who[0] or s in who[1] for s in query.senders)


def matches(query: Query, item: TimelineItem) -> bool:
    """Whether a shown message matches (notices and deleted messages never do)."""
    if item.is_notice or item.redacted:
        return False
    if not _sender_matches(query, item.sender_id, item.sender):
        return False
    text = item.body.plain.casefold()
    return all(word in text for word in query.words)


@dataclass
class SearchResult:
    """One found message, ready to list: everything in it is sanitised."""

    room_id: str
    event_id: str
    sender: str
    ts: int
    snippet: Text
    extra: dict[str, Any] = field(default_factory=dict)


def _result(room_id: str, item: TimelineItem) -> SearchResult:
    first = item.body.split("\n")[0] if "\n" in item.body.plain else item.body.copy()
    first.truncate(300)
    return SearchResult(room_id, item.key, item.sender, item.ts, first)


def search_items(room_id: str, items: Iterable[TimelineItem], query: Query) -> list[SearchResult]:
    """The loaded messages that match, newest first."""
    found = [_result(room_id, item) for item in items if matches(query, item)]
    found.reverse()
    return found


async def search_server(
    account: Account,
    query: Query,
    room_ids: list[str] | None,
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> list[SearchResult]:
    """The server's matches for ``query`` in ``room_ids`` (None: every room), newest first.

    ``from:`` terms that are full user ids go to the server's filter; others are matched
    against the senders' names here. ``names`` maps room id → user id → display name.
    """
    from mautrix.api import Method, Path

    if not query.words:
        raise UserError("search: the server needs words to look for, not only from:NAME")
    event_filter: dict[str, Any] = {"limit": SERVER_LIMIT}
    if room_ids is not None:
        event_filter["rooms"] = room_ids
    ids = [s for s in query.senders if s.startswith("@") and ":" in s]
    if ids and len(ids) == len(query.senders):
        event_filter["senders"] = ids
    body = {
        "search_categories": {
            "room_events": {
                "search_term": query.text,
                "keys": ["content.body"],
                "order_by": "recent",
                "filter": event_filter,
            }
        }
    }
    resp = await account.client.api.request(Method.POST, Path.v3.search, body)
    categories = resp.get("search_categories") if isinstance(resp, dict) else None
    room_events = categories.get("room_events") if isinstance(categories, dict) else None
    results = room_events.get("results") if isinstance(room_events, dict) else None
    found: list[SearchResult] = []
    for entry in results if isinstance(results, list) else []:
        evt = entry.get("result") if isinstance(entry, dict) else None
        if not isinstance(evt, dict) or not isinstance(evt.get("room_id"), str):
            continue
        room_id = evt["room_id"]
        room_names = (names or {}).get(room_id, {})
        item = event_item(evt, room_names)
        if item is None or item.is_notice:
            continue
        if not _sender_matches(query, item.sender_id, item.sender):
            continue
        found.append(_result(room_id, item))
    found.sort(key=lambda r: -r.ts)
    return found


#: events asked for around a found message that is not in the loaded timeline
CONTEXT_LIMIT: Final = 10


def _events(value: object) -> list[dict[str, Any]]:
    """The well-formed events of a list from the server (others are dropped)."""
    return [
        e
        for e in (value if isinstance(value, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("event_id"), str)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("sender"), str)
    ]


async def message_context(
    account: Account, room_id: str, event_id: str, limit: int = CONTEXT_LIMIT
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``event_id`` and about ``limit`` events around it, oldest first, with the display names
    of the room's members (spec "GET /rooms/{roomId}/context/{eventId}").

    For showing a found message that is not loaded: nothing is stored, so the timeline and
    its gaps stay as they were.
    """
    from mautrix.api import Method, Path

    resp = await account.client.api.request(
        Method.GET,
        Path.v3.rooms[room_id].context[event_id],
        query_params={"limit": str(limit)},
    )
    if not isinstance(resp, dict):
        raise UserError(f"the server sent no context for {clean_line(event_id)}")
    found = _events([resp.get("event")])
    if not found:
        raise UserError(f"the server sent no event {clean_line(event_id)}")
    before = list(reversed(_events(resp.get("events_before"))))  # sent newest first
    events = [*before, *found, *_events(resp.get("events_after"))]
    await account.decrypt(room_id, events)
    names = await account.member_names(room_id)
    for state in _events(resp.get("state")):
        content = state.get("content")
        user_id = state.get("state_key")
        if state["type"] == "m.room.member" and isinstance(user_id, str):
            name = content.get("displayname") if isinstance(content, dict) else None
            names.setdefault(user_id, name if isinstance(name, str) and name else user_id)
    return events, names

"""Threads (spec "Threading"): the thread endpoints, and the thread screen's view of events.

The main timeline hides thread replies and shows a summary under the root; the thread screen
shows the root and its replies. Which event is in which thread, and each thread's summary,
are relation rules (:mod:`tuimatrix.core.relations.threads`); here are the operations: fetch
a thread's replies, list a room's threads, send in one, mark one read, read one from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.receipts import receipt_type
from tuimatrix.core.relations import (
    THREAD,
    bundled_edit,
    relates_to,
    relates_to_any,
    thread_root,
    thread_summaries,
)
from tuimatrix.core.store import loads
from tuimatrix.core.timeline import reply_preview, summary_line

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.sendqueue import LocalEcho
    from tuimatrix.core.store import Store

#: replies fetched per request from the relations and threads endpoints
PAGE = 50


def thread_label(root: Mapping[str, Any], names: Mapping[str, str]) -> Text:
    """One line for a thread in a list: ``Alice: the root's first line  💬 3 replies · last: …``."""
    text = reply_preview(root, names)
    summary = thread_summaries([root]).get(str(root.get("event_id")))
    if summary is not None:
        text.append("  ")
        text.append_text(summary_line(summary, names))
    return text


def as_thread_view(evt: Mapping[str, Any], root_id: str) -> dict[str, Any]:
    """``evt`` as the thread screen shows it: a reply of this thread loses its thread relation
    and keeps ``m.in_reply_to`` only when it is a real reply (not the fallback for clients
    without threads); the root loses its summary."""
    if evt.get("event_id") == root_id:
        unsigned = evt.get("unsigned")
        if isinstance(unsigned, dict) and isinstance(unsigned.get("m.relations"), dict):
            relations = {k: v for k, v in unsigned["m.relations"].items() if k != THREAD}
            return {**evt, "unsigned": {**unsigned, "m.relations": relations}}
        return dict(evt)
    relates = relates_to(evt)
    if relates.get("rel_type") != THREAD or relates.get("event_id") != root_id:
        return dict(evt)
    content = dict(evt.get("content") or {})
    reply = relates.get("m.in_reply_to")
    if relates.get("is_falling_back", True) is False and isinstance(reply, dict):
        content["m.relates_to"] = {"m.in_reply_to": reply}
    else:
        content.pop("m.relates_to", None)
    return {**evt, "content": content}


def thread_relation(root_id: str, latest_id: str, reply_to: str | None = None) -> dict[str, Any]:
    """``m.relates_to`` of a message in a thread: a reply to ``reply_to`` when given, else the
    fallback reply to the thread's latest event (for clients that do not show threads)."""
    return {
        "rel_type": THREAD,
        "event_id": root_id,
        "is_falling_back": reply_to is None,
        "m.in_reply_to": {"event_id": reply_to or latest_id},
    }


async def fetch_replies(
    account: Account, room_id: str, root_id: str, token: str | None = None, limit: int = PAGE
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the thread's replies, older than ``token`` (``GET /v1/rooms/{roomId}/relations/
    {eventId}/m.thread``), oldest first with their bundled edits; and the next page's token."""
    query = {"dir": "b", "limit": str(limit)}
    if token:
        query["from"] = token
    resp = await account.client.api.request(
        Method.GET, Path.v1.rooms[room_id].relations[root_id][THREAD], query_params=query
    )
    chunk = [e for e in resp.get("chunk", []) if isinstance(e, dict)]
    events: list[dict[str, Any]] = []
    for evt in reversed(chunk):
        events.append(evt)
        edit = bundled_edit(evt)
        if edit is not None:
            events.append(edit)
    following = resp.get("next_batch")
    return events, following if isinstance(following, str) and following else None


async def list_threads(
    account: Account, room_id: str, token: str | None = None, limit: int = PAGE
) -> tuple[list[dict[str, Any]], str | None]:
    """The room's thread roots, most recently active first (``GET /v1/rooms/{roomId}/threads``),
    each with its bundled summary; and the next page's token."""
    query = {"limit": str(limit), "include": "all"}
    if token:
        query["from"] = token
    resp = await account.client.api.request(
        Method.GET, Path.v1.rooms[room_id].threads, query_params=query
    )
    roots = [e for e in resp.get("chunk", []) if isinstance(e, dict)]
    following = resp.get("next_batch")
    return roots, following if isinstance(following, str) and following else None


async def stored_thread(store: Store, room_id: str, root_id: str) -> list[dict[str, Any]]:
    """The root, its replies, and the edits, reactions and redactions of them that the store
    holds, in timeline order."""
    # LIKE only narrows the scan (an id's "_" matches any character); the filter below decides.
    rows = await store.db.fetch(
        "SELECT json FROM events WHERE room_id=$1 AND (event_id=$2 OR json LIKE $3 "
        "OR type IN ('m.reaction', 'm.room.redaction') OR json LIKE '%\"m.replace\"%') "
        "ORDER BY position",
        room_id,
        root_id,
        f"%{root_id}%",
    )
    events = [loads(r["json"]) for r in rows]
    members = {root_id} | {str(e.get("event_id")) for e in events if thread_root(e) == root_id}
    return [e for e in events if e.get("event_id") in members or relates_to_any(e, members)]


async def root_of(account: Account, room_id: str, event_id: str) -> str:
    """The thread ``event_id`` belongs to: its root if it is a reply in one, else itself."""
    evt = await account.store.event(event_id)
    if evt is None:
        evt = await account.fetch_event(room_id, event_id)
    return thread_root(evt) or event_id


async def send_in_thread(
    account: Account,
    room_id: str,
    root_id: str,
    body: str,
    *,
    latest_id: str | None = None,
    reply_to: str | None = None,
    html: str | None = None,
    emote: bool = False,
    mentions: Iterable[str] = (),
    room_mention: bool = False,
) -> LocalEcho:
    """Send ``body`` into the thread, as a reply to ``reply_to`` if given.

    ``latest_id`` is the thread's latest event as the caller shows it; without it, the server
    is asked (the fallback reply must point at the newest event of the thread).
    """
    mentioned = list(mentions)
    if reply_to is not None:
        original = await account.store.event(reply_to) or await account.fetch_event(
            room_id, reply_to
        )
        mentioned.append(str(original.get("sender", "")))
    elif latest_id is None:
        newest, _ = await fetch_replies(account, room_id, root_id, limit=1)
        latest_id = next(
            (str(e["event_id"]) for e in reversed(newest) if thread_root(e) == root_id), root_id
        )
    return await account.send_text(
        room_id,
        body,
        html=html,
        emote=emote,
        mentions=mentioned,
        room_mention=room_mention,
        relates_to=thread_relation(root_id, latest_id or root_id, reply_to),
    )


async def mark_thread_read(
    account: Account, room_id: str, root_id: str, event_id: str, *, private: bool = False
) -> None:
    """A read receipt for ``event_id`` in the thread (spec "Threaded read receipts");
    ``m.read.private`` if ``private``."""
    await account.client.api.request(
        Method.POST,
        Path.v3.rooms[room_id].receipt[receipt_type(private)][event_id],
        {"thread_id": root_id},
    )

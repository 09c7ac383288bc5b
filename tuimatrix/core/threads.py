"""Threads (spec "Threading"): ``m.thread`` relations, summaries, and the thread endpoints.

A thread reply is an event whose ``m.relates_to`` has ``rel_type: m.thread`` and the root's
``event_id``. The main timeline hides replies and shows a summary under the root; the thread
screen shows the root and its replies. Counts combine the server's bundled aggregation
(``unsigned.m.relations.m.thread``) with the replies loaded since it was computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.redaction import is_pruned
from tuimatrix.core.relations import edit_target, newest_edit, redaction_target, relation
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.store import loads

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.sendqueue import LocalEcho
    from tuimatrix.core.store import Store
    from tuimatrix.core.timeline import TimelineItem

THREAD = "m.thread"
#: replies fetched per request from the relations and threads endpoints
PAGE = 50


def _relates(evt: Mapping[str, Any]) -> dict[str, Any]:
    content = evt.get("content")
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    return relates if isinstance(relates, dict) else {}


def thread_root(evt: Mapping[str, Any]) -> str | None:
    """The root's event id if ``evt`` (an event, or a message's content) is a thread reply."""
    relates = _relates(evt) or _relates({"content": evt})
    root = relates.get("event_id")
    return root if relates.get("rel_type") == THREAD and isinstance(root, str) else None


def _bundle(evt: Mapping[str, Any]) -> dict[str, Any] | None:
    unsigned = evt.get("unsigned")
    relations = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
    bundle = relations.get(THREAD) if isinstance(relations, dict) else None
    return bundle if isinstance(bundle, dict) else None


@dataclass(slots=True)
class ThreadSummary:
    count: int = 0
    latest: Mapping[str, Any] | None = None
    #: ids of the replies among the loaded events, oldest first
    loaded: list[str] = field(default_factory=list)


def thread_summaries(events: Iterable[Mapping[str, Any]]) -> dict[str, ThreadSummary]:
    """Root id → summary, for every thread with a root or a reply among ``events`` (in order).

    The bundle counts the replies up to its ``latest_event``; loaded replies after that one
    are newer and add to it. Without that anchor, the larger of the two counts is the best
    guess (the bundle may be stale, the loaded replies may be few).
    """
    replies: dict[str, list[Mapping[str, Any]]] = {}
    bundles: dict[str, dict[str, Any]] = {}
    redacted: set[str] = set()
    #: reply id -> its newest edit (checked against the reply's sender when used)
    edits: dict[str, Mapping[str, Any]] = {}
    sender_of: dict[str, Any] = {}
    for evt in events:
        sender_of[str(evt.get("event_id"))] = evt.get("sender")
        root = thread_root(evt)
        if root is not None:
            replies.setdefault(root, []).append(evt)
        target = edit_target(evt)
        # Only its sender may edit a message (a forged edit must not hide a real one).
        if target is not None and sender_of.get(target, evt.get("sender")) == evt.get("sender"):
            edits[target] = newest_edit(edits.get(target), evt) or evt
        bundle = _bundle(evt)
        if bundle is not None and isinstance(evt.get("event_id"), str):
            bundles[str(evt["event_id"])] = bundle
        target = redaction_target(evt)
        if target is not None:
            redacted.add(target)
    out: dict[str, ThreadSummary] = {}
    for root in replies.keys() | bundles.keys():
        loaded = [e for e in replies.get(root, []) if e.get("event_id") not in redacted]
        ids = [str(e.get("event_id")) for e in loaded]
        bundle = bundles.get(root, {})
        count = bundle.get("count")
        count = count if isinstance(count, int) and count >= 0 else 0
        latest = bundle.get("latest_event")
        latest = latest if isinstance(latest, dict) else None
        anchor = latest.get("event_id") if latest else None
        if anchor in ids:
            count += len(ids) - ids.index(anchor) - 1
        else:
            count = max(count, len(ids))
        if loaded:
            latest = loaded[-1]
            edit = edits.get(str(latest.get("event_id")))
            # The summary quotes what the thread shows: the newest edit, by its sender only.
            if (
                edit is not None
                and edit.get("sender") == latest.get("sender")
                and str(edit.get("event_id")) not in redacted
            ):
                latest = {**latest, "content": edit["content"]["m.new_content"]}
        elif latest is not None and latest.get("event_id") in redacted:
            latest = {**latest, "content": {}}  # the bundle quotes a reply since deleted
        if count:
            out[root] = ThreadSummary(count, latest, ids)
    return out


def summary_line(summary: ThreadSummary, names: Mapping[str, str]) -> Text:
    """``💬 3 replies · last: Alice: the first line…`` (sanitised; the view truncates it)."""
    from tuimatrix.core.timeline import message_body  # timeline imports this module

    noun = "reply" if summary.count == 1 else "replies"
    text = Text(f"💬 {summary.count} {noun}", style="bold")
    latest = summary.latest
    if latest is not None:
        sender_id = str(latest.get("sender", ""))
        text.append(" · last: ")
        text.append(clean_line(names.get(sender_id, sender_id)) + ": ", style="bold")
        content = latest.get("content")
        if isinstance(content, dict) and content and not is_pruned(latest):
            body = message_body(content)
            text.append_text(body.split("\n")[0] if "\n" in body.plain else body)
        else:
            text.append("[deleted]", style="italic")
    return text


def thread_label(root: Mapping[str, Any], names: Mapping[str, str]) -> Text:
    """One line for a thread in a list: ``Alice: the root's first line  💬 3 replies · last: …``."""
    from tuimatrix.core.timeline import reply_preview

    text = reply_preview(root, names)
    summary = thread_summaries([root]).get(str(root.get("event_id")))
    if summary is not None:
        text.append("  ")
        text.append_text(summary_line(summary, names))
    return text


def attach_threads(
    items: list[TimelineItem], events: Iterable[Mapping[str, Any]], names: Mapping[str, str]
) -> None:
    """Put a thread summary (``extra["thread"]``: a ``Text``) on every root among ``items``."""
    summaries = thread_summaries(events)
    if not summaries:
        return
    for item in items:
        summary = summaries.get(item.key)
        if summary is not None and not item.is_notice:
            item.extra["thread"] = summary_line(summary, names)
            item.extra["thread_count"] = summary.count


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
    relates = _relates(evt)
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


def _bundled_edit(evt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest edit the server bundled with ``evt`` (a whole event since spec v1.7)."""
    unsigned = evt.get("unsigned")
    relations = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
    edit = relations.get("m.replace") if isinstance(relations, dict) else None
    if isinstance(edit, dict) and isinstance(edit.get("content"), dict) and "event_id" in edit:
        return edit
    return None


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
        edit = _bundled_edit(evt)
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


def relates_to_any(evt: Mapping[str, Any], event_ids: set[str]) -> bool:
    """Whether ``evt`` edits, reacts to or redacts one of ``event_ids``."""
    rel = relation(evt)
    return rel is not None and rel[0] != THREAD and rel[1] in event_ids


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


async def mark_thread_read(account: Account, room_id: str, root_id: str, event_id: str) -> None:
    """A read receipt for ``event_id`` in the thread (spec "Threaded read receipts")."""
    await account.client.api.request(
        Method.POST,
        Path.v3.rooms[room_id].receipt["m.read"][event_id],
        {"thread_id": root_id},
    )

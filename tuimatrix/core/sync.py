"""Apply one ``/sync`` response to the store, in one transaction, and say what changed.

The caller commits the events and ``next_batch`` together (``apply_sync`` writes both on the
same transaction), so a crash either keeps the whole response or none of it; the next start
asks the server again from the old token and de-duplicates by event id.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mautrix.util.async_db import Connection

from tuimatrix.core.store import dumps
from tuimatrix.core.stored_relations import index_events, index_rooms

if TYPE_CHECKING:
    from tuimatrix.core.notices import Notice

#: The filter we sync with: lazy-loaded members keep large rooms cheap.
SYNC_FILTER: dict[str, Any] = {
    "room": {
        "state": {"lazy_load_members": True},
        "timeline": {"limit": 50, "lazy_load_members": True},
    },
}


#: A batch of rooms is written with one statement per table, then the loop gets control back:
#: at most this many rooms, or rooms holding this many timeline events, per batch.
ROOMS_PER_BATCH = 50
EVENTS_PER_BATCH = 1_000
_STATE_SQL = (
    "INSERT INTO room_state (room_id, type, state_key, event_id, sender, content) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, type, state_key) DO UPDATE "
    "SET event_id=excluded.event_id, sender=excluded.sender, content=excluded.content"
)
_EVENT_SQL = (
    "INSERT INTO events (event_id, room_id, position, type, sender, state_key, "
    "origin_server_ts, json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
# Each field of the summary is sent only when it changed: keep the stored value otherwise.
_ROOM_SQL = """INSERT INTO rooms (room_id, membership, heroes, joined_count, invited_count,
       notification_count, highlight_count, latest_ts)
   VALUES ($1, $2, COALESCE($3, '[]'), $4, $5, COALESCE($6, 0), COALESCE($7, 0), $8)
   ON CONFLICT (room_id) DO UPDATE SET
       membership=excluded.membership,
       heroes=COALESCE($3, rooms.heroes),
       joined_count=COALESCE($4, rooms.joined_count),
       invited_count=COALESCE($5, rooms.invited_count),
       notification_count=COALESCE($6, rooms.notification_count),
       highlight_count=COALESCE($7, rooms.highlight_count),
       latest_ts=MAX(rooms.latest_ts, excluded.latest_ts)"""
_ACCOUNT_DATA_SQL = (
    "INSERT INTO account_data (room_id, type, content) VALUES ($1, $2, $3) "
    "ON CONFLICT (room_id, type) DO UPDATE SET content=excluded.content"
)
_RECEIPT_SQL = (
    "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, user_id, receipt_type, "
    "thread_id) DO UPDATE SET event_id=excluded.event_id, ts=excluded.ts"
)
_GAP_SQL = "INSERT OR REPLACE INTO gaps (room_id, position, prev_batch) VALUES ($1, $2, $3)"
_SCROLLBACK_SQL = "INSERT INTO sync_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"


@dataclass
class SyncChanges:
    """What one sync response changed, for the screens to redraw only that."""

    next_batch: str = ""
    initial: bool = False
    rooms: set[str] = field(default_factory=set)
    new_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    typing: dict[str, list[str]] = field(default_factory=dict)
    receipts: set[str] = field(default_factory=set)
    account_data: set[str] = field(default_factory=set)
    membership: dict[str, str] = field(default_factory=dict)
    limited: set[str] = field(default_factory=set)
    #: transaction ids of our own events that came back, with their event ids
    echoes: dict[str, str] = field(default_factory=dict)
    #: the new events that notify the user, by its push rules (``core/notices.py``), oldest
    #: first; never the user's own
    notices: list[Notice] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rooms or self.typing or self.receipts or self.account_data or self.echoes)


class _CollectorHold:
    """Nested holds on the cyclic garbage collector; the outermost restores what it found."""

    depth = 0
    was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector (reference counting goes on) while inside.

    A full collection walks every live object. With a large account's parsed initial sync in
    memory (a million dicts and lists) one takes ~100 ms, and the UI freezes for it however
    finely the work yields. Processing a sync makes no reference cycles worth chasing; what it
    drops is freed by reference counting. Nests, also across tasks (two accounts syncing).
    """
    if _CollectorHold.depth == 0:
        _CollectorHold.was_enabled = gc.isenabled()
        gc.disable()
    _CollectorHold.depth += 1
    try:
        yield
    finally:
        _CollectorHold.depth -= 1
        if _CollectorHold.depth == 0 and _CollectorHold.was_enabled:
            gc.enable()


def _valid_event(evt: Any) -> bool:
    return (
        isinstance(evt, dict)
        and isinstance(evt.get("event_id"), str)
        and isinstance(evt.get("type"), str)
        and isinstance(evt.get("sender"), str)
    )


async def insert_timeline(
    conn: Connection, room_id: str, events: list[dict[str, Any]], start: float, step: float
) -> list[dict[str, Any]]:
    """Insert ``events`` (oldest first) at ``start``, ``start+step``, …; skip known ids.

    Returns the events that were new.
    """
    if not events:
        return []
    known = await _known_ids(conn, [e["event_id"] for e in events])
    rows: list[tuple[Any, ...]] = []
    new = _timeline_rows(room_id, events, start, known, rows, step)
    if rows:
        await conn.executemany(_EVENT_SQL, rows)
    await index_events(conn, room_id, new)
    return new


async def _max_positions(conn: Connection, room_ids: list[str]) -> dict[str, float]:
    """The top position of each room's stored timeline (rooms without events are absent)."""
    if not room_ids:
        return {}
    # One parameter, a JSON array, however many rooms; one index seek per room.
    rows = await conn.fetch(
        "SELECT room_id, MAX(position) AS top FROM events "
        "WHERE room_id IN (SELECT value FROM json_each($1)) GROUP BY room_id",
        dumps(room_ids),
    )
    return {r["room_id"]: float(r["top"]) for r in rows if r["top"] is not None}


async def _known_ids(conn: Connection, event_ids: list[str]) -> set[str]:
    """Which of ``event_ids`` the store has."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each($1))",
        dumps(event_ids),
    )
    return {r["event_id"] for r in rows}


def _room_row(
    room_id: str, membership: str, room: dict[str, Any], latest_ts: int
) -> tuple[Any, ...]:
    summary = _dict(room.get("summary"))
    unread = _dict(room.get("unread_notifications"))
    heroes = summary.get("m.heroes")
    return (
        room_id,
        membership,
        dumps(heroes) if isinstance(heroes, list) else None,
        _int_or_none(summary.get("m.joined_member_count")),
        _int_or_none(summary.get("m.invited_member_count")),
        _int_or_none(unread.get("notification_count")),
        _int_or_none(unread.get("highlight_count")),
        latest_ts,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _events(container: Any, key: str = "events") -> list[Any]:
    if not isinstance(container, dict):
        return []
    events = container.get(key)
    return events if isinstance(events, list) else []


def _state_rows(room_id: str, events: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            room_id,
            evt["type"],
            evt["state_key"],
            evt.get("event_id"),
            evt.get("sender"),
            dumps(evt["content"]),
        )
        for evt in events
        if isinstance(evt, dict)
        and isinstance(evt.get("type"), str)
        and isinstance(evt.get("state_key"), str)
        and isinstance(evt.get("content"), dict)
    ]


def _account_data_rows(room_id: str, events: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (room_id, e["type"], dumps(e["content"]))
        for e in events
        if isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("content"), dict)
    ]


async def _apply_account_data(
    conn: Connection, room_id: str, events: list[Any], changes: SyncChanges
) -> None:
    rows = _account_data_rows(room_id, events)
    if rows:
        await conn.executemany(_ACCOUNT_DATA_SQL, rows)
        changes.account_data.update(t for _, t, _ in rows)
        if room_id:
            changes.rooms.add(room_id)


def _receipt_rows(room_id: str, content: Any) -> list[tuple[Any, ...]]:
    if not isinstance(content, dict):
        return []
    rows = []
    for event_id, by_type in content.items():
        if not isinstance(by_type, dict):
            continue
        for receipt_type, by_user in by_type.items():
            if not isinstance(by_user, dict):
                continue
            for user_id, data in by_user.items():
                data = data if isinstance(data, dict) else {}
                thread = data.get("thread_id")
                rows.append(
                    (
                        room_id,
                        user_id,
                        receipt_type,
                        thread if isinstance(thread, str) else "",
                        event_id,
                        _int_or_none(data.get("ts")),
                    )
                )
    return rows


@dataclass
class _Writes:
    """The rows of a batch of rooms, written with one statement per table."""

    state: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    rooms: list[tuple[Any, ...]] = field(default_factory=list)
    account_data: list[tuple[Any, ...]] = field(default_factory=list)
    receipts: list[tuple[Any, ...]] = field(default_factory=list)
    gaps: list[tuple[Any, ...]] = field(default_factory=list)
    scrollback: list[tuple[Any, ...]] = field(default_factory=list)

    async def write(self, conn: Connection) -> None:
        # State in order: a room's state block, then the state changes in its timeline.
        for sql, rows in (
            (_STATE_SQL, self.state),
            (_EVENT_SQL, self.events),
            (_ROOM_SQL, self.rooms),
            (_ACCOUNT_DATA_SQL, self.account_data),
            (_RECEIPT_SQL, self.receipts),
            (_GAP_SQL, self.gaps),
            (_SCROLLBACK_SQL, self.scrollback),
        ):
            if rows:
                await conn.executemany(sql, rows)


async def _apply_joined_or_left(
    conn: Connection,
    batch: list[tuple[str, dict[str, Any]]],
    membership: str,
    changes: SyncChanges,
) -> None:
    """Write a batch of joined (or left) rooms: two reads, then one statement per table."""
    writes = _Writes()
    timelines: list[tuple[str, dict[str, Any], dict[str, Any], list[dict[str, Any]]]] = []
    stored: list[tuple[str, list[dict[str, Any]]]] = []
    for room_id, room in batch:
        timeline = _dict(room.get("timeline"))
        events = [e for e in _events(timeline) if _valid_event(e)]
        writes.state += _state_rows(room_id, _events(room.get("state")))
        # State changes inside the timeline apply after the state block, in order.
        writes.state += _state_rows(room_id, [e for e in events if "state_key" in e])
        timelines.append((room_id, room, timeline, events))
    tops = await _max_positions(conn, [room_id for room_id, _ in batch])
    known = await _known_ids(conn, [e["event_id"] for *_, events in timelines for e in events])
    for room_id, room, timeline, events in timelines:
        top = tops.get(room_id, 0.0)
        new = _timeline_rows(room_id, events, top + 1, known, writes.events)
        prev_batch = timeline.get("prev_batch")
        if timeline.get("limited") and isinstance(prev_batch, str) and new and top > 0:
            # Events between what we had and this batch are missing: remember where to fetch them.
            writes.gaps.append((room_id, top + 1, prev_batch))
            changes.limited.add(room_id)
        elif top == 0 and isinstance(prev_batch, str):
            # The start of our copy of this room: scrollback continues from here.
            writes.scrollback.append((f"scrollback:{room_id}", prev_batch))
        latest_ts = max(
            (
                e.get("origin_server_ts", 0)
                for e in new
                if isinstance(e.get("origin_server_ts"), int)
            ),
            default=0,
        )
        writes.rooms.append(_room_row(room_id, membership, room, latest_ts))
        account_data = _account_data_rows(room_id, _events(room.get("account_data")))
        if account_data:
            writes.account_data += account_data
            changes.account_data.update(t for _, t, _ in account_data)
        for evt in _events(room.get("ephemeral")):
            if not isinstance(evt, dict):
                continue
            if evt.get("type") == "m.receipt":
                receipts = _receipt_rows(room_id, evt.get("content"))
                if receipts:
                    writes.receipts += receipts
                    changes.receipts.add(room_id)
            elif evt.get("type") == "m.typing":
                content = _dict(evt.get("content"))
                user_ids = content.get("user_ids")
                changes.typing[room_id] = [
                    u
                    for u in (user_ids if isinstance(user_ids, list) else [])
                    if isinstance(u, str)
                ]
        for evt in new:
            unsigned = evt.get("unsigned")
            if isinstance(unsigned, dict) and isinstance(unsigned.get("transaction_id"), str):
                changes.echoes[unsigned["transaction_id"]] = evt["event_id"]
        if new:
            changes.new_events.setdefault(room_id, []).extend(new)
            stored.append((room_id, new))
        changes.rooms.add(room_id)
    await writes.write(conn)
    await index_rooms(conn, stored)


def _timeline_rows(
    room_id: str,
    events: list[dict[str, Any]],
    start: float,
    known: set[str],
    rows: list[tuple[Any, ...]],
    step: float = 1.0,
) -> list[dict[str, Any]]:
    """Rows for the events not in ``known`` (which they join), at ``start``, ``start+step``…"""
    new: list[dict[str, Any]] = []
    position = start
    for evt in events:
        event_id = evt["event_id"]
        if event_id in known:
            continue
        known.add(event_id)
        ts = evt.get("origin_server_ts")
        state_key = evt.get("state_key")
        rows.append(
            (
                event_id,
                room_id,
                position,
                evt["type"],
                evt["sender"],
                state_key if isinstance(state_key, str) else None,
                ts if isinstance(ts, int) else 0,
                dumps(evt),
            )
        )
        position += step
        new.append(evt)
    return new


def _batches(rooms: dict[str, Any]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The rooms of a section in order, cut into batches of bounded work."""
    batch: list[tuple[str, dict[str, Any]]] = []
    events = 0
    for room_id, room in rooms.items():
        if not isinstance(room, dict):
            continue
        batch.append((room_id, room))
        events += len(_events(room.get("timeline"))) + len(_events(room.get("state")))
        if len(batch) >= ROOMS_PER_BATCH or events >= EVENTS_PER_BATCH:
            yield batch
            batch, events = [], 0
    if batch:
        yield batch


async def apply_sync(conn: Connection, resp: dict[str, Any], initial: bool) -> SyncChanges:
    """Write everything in ``resp`` and its ``next_batch``. Call inside a transaction.

    Rooms are written in batches, one statement per table each, and the event loop runs
    between batches, so a large initial sync does not freeze the UI; the caller's single
    transaction still makes the whole response land, or none of it. No full garbage
    collection runs meanwhile (:func:`gc_paused`).
    """
    with gc_paused():
        changes = SyncChanges(next_batch=str(resp.get("next_batch", "")), initial=initial)
        rooms = _dict(resp.get("rooms"))
        for membership, key in (("join", "join"), ("leave", "leave")):
            section = rooms.get(key)
            if isinstance(section, dict):
                for batch in _batches(section):
                    await _apply_joined_or_left(conn, batch, membership, changes)
                    changes.membership.update((room_id, membership) for room_id, _ in batch)
                    await asyncio.sleep(0)
        for membership, key, state_key in (
            ("invite", "invite", "invite_state"),
            ("knock", "knock", "knock_state"),
        ):
            section = rooms.get(key)
            if not isinstance(section, dict):
                continue
            for batch in _batches(section):
                writes = _Writes()
                for room_id, room in batch:
                    writes.state += _state_rows(room_id, _events(room.get(state_key)))
                    writes.rooms.append(_room_row(room_id, membership, {}, 0))
                    changes.rooms.add(room_id)
                    changes.membership[room_id] = membership
                await writes.write(conn)
                await asyncio.sleep(0)
        await _apply_account_data(conn, "", _events(resp.get("account_data")), changes)
        if changes.echoes:
            # Our own events are back in the timeline: their queue entries are done.
            await conn.executemany(
                "DELETE FROM send_queue WHERE txn_id=$1", [(t,) for t in changes.echoes]
            )
        await conn.execute(
            "INSERT INTO sync_state (key, value) VALUES ('next_batch', $1) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            changes.next_batch,
        )
        return changes

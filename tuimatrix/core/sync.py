"""Apply one ``/sync`` response to the store, in one transaction, and say what changed.

The caller commits the events and ``next_batch`` together (``apply_sync`` writes both on the
same transaction), so a crash either keeps the whole response or none of it; the next start
asks the server again from the old token and de-duplicates by event id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mautrix.util.async_db import Connection

from tuimatrix.core.store import dumps

#: The filter we sync with: lazy-loaded members keep large rooms cheap.
SYNC_FILTER: dict[str, Any] = {
    "room": {
        "state": {"lazy_load_members": True},
        "timeline": {"limit": 50, "lazy_load_members": True},
    },
}


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

    def __bool__(self) -> bool:
        return bool(self.rooms or self.typing or self.receipts or self.account_data or self.echoes)


def _valid_event(evt: Any) -> bool:
    return (
        isinstance(evt, dict)
        and isinstance(evt.get("event_id"), str)
        and isinstance(evt.get("type"), str)
        and isinstance(evt.get("sender"), str)
    )


async def _put_state(conn: Connection, room_id: str, events: list[Any]) -> None:
    rows = []
    for evt in events:
        if (
            isinstance(evt, dict)
            and isinstance(evt.get("type"), str)
            and isinstance(evt.get("state_key"), str)
            and isinstance(evt.get("content"), dict)
        ):
            rows.append(
                (
                    room_id,
                    evt["type"],
                    evt["state_key"],
                    evt.get("event_id"),
                    evt.get("sender"),
                    dumps(evt["content"]),
                )
            )
    if rows:
        await conn.executemany(
            "INSERT INTO room_state (room_id, type, state_key, event_id, sender, content) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, type, state_key) DO UPDATE "
            "SET event_id=excluded.event_id, sender=excluded.sender, content=excluded.content",
            rows,
        )


async def insert_timeline(
    conn: Connection, room_id: str, events: list[dict[str, Any]], start: float, step: float
) -> list[dict[str, Any]]:
    """Insert ``events`` (oldest first) at ``start``, ``start+step``, …; skip known ids.

    Returns the events that were new.
    """
    if not events:
        return []
    ids = [e["event_id"] for e in events]
    known: set[str] = set()
    # Chunks keep the statement under SQLite's variable limit.
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join(f"${j + 1}" for j in range(len(chunk)))
        rows = await conn.fetch(f"SELECT event_id FROM events WHERE event_id IN ({marks})", *chunk)
        known.update(r["event_id"] for r in rows)
    new: list[dict[str, Any]] = []
    rows_to_insert = []
    position = start
    for evt in events:
        if evt["event_id"] in known:
            continue
        known.add(evt["event_id"])
        ts = evt.get("origin_server_ts")
        rows_to_insert.append(
            (
                evt["event_id"],
                room_id,
                position,
                evt["type"],
                evt["sender"],
                evt.get("state_key") if isinstance(evt.get("state_key"), str) else None,
                ts if isinstance(ts, int) else 0,
                dumps(evt),
            )
        )
        position += step
        new.append(evt)
    if rows_to_insert:
        await conn.executemany(
            "INSERT INTO events (event_id, room_id, position, type, sender, state_key, "
            "origin_server_ts, json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            rows_to_insert,
        )
    return new


async def _max_position(conn: Connection, room_id: str) -> float:
    value = await conn.fetchval("SELECT MAX(position) FROM events WHERE room_id=$1", room_id)
    return float(value) if value is not None else 0.0


async def _put_room(
    conn: Connection, room_id: str, membership: str, room: dict[str, Any], latest_ts: int
) -> None:
    summary = _dict(room.get("summary"))
    unread = _dict(room.get("unread_notifications"))
    heroes = summary.get("m.heroes")
    # Each field of the summary is sent only when it changed: keep the stored value otherwise.
    await conn.execute(
        """INSERT INTO rooms (room_id, membership, heroes, joined_count, invited_count,
               notification_count, highlight_count, latest_ts)
           VALUES ($1, $2, COALESCE($3, '[]'), $4, $5, COALESCE($6, 0), COALESCE($7, 0), $8)
           ON CONFLICT (room_id) DO UPDATE SET
               membership=excluded.membership,
               heroes=COALESCE($3, rooms.heroes),
               joined_count=COALESCE($4, rooms.joined_count),
               invited_count=COALESCE($5, rooms.invited_count),
               notification_count=COALESCE($6, rooms.notification_count),
               highlight_count=COALESCE($7, rooms.highlight_count),
               latest_ts=MAX(rooms.latest_ts, excluded.latest_ts)""",
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


async def _apply_account_data(
    conn: Connection, room_id: str, events: list[Any], changes: SyncChanges
) -> None:
    rows = [
        (room_id, e["type"], dumps(e["content"]))
        for e in events
        if isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("content"), dict)
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO account_data (room_id, type, content) VALUES ($1, $2, $3) "
            "ON CONFLICT (room_id, type) DO UPDATE SET content=excluded.content",
            rows,
        )
        changes.account_data.update(t for _, t, _ in rows)
        if room_id:
            changes.rooms.add(room_id)


async def _apply_receipts(conn: Connection, room_id: str, content: Any) -> bool:
    if not isinstance(content, dict):
        return False
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
    if rows:
        await conn.executemany(
            "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, user_id, receipt_type, "
            "thread_id) DO UPDATE SET event_id=excluded.event_id, ts=excluded.ts",
            rows,
        )
    return bool(rows)


async def _apply_joined_or_left(
    conn: Connection, room_id: str, room: dict[str, Any], membership: str, changes: SyncChanges
) -> None:
    await _put_state(conn, room_id, _events(room.get("state")))
    timeline = _dict(room.get("timeline"))
    events = [e for e in _events(timeline) if _valid_event(e)]
    # State changes inside the timeline apply after the state block, in order.
    await _put_state(conn, room_id, [e for e in events if "state_key" in e])
    top = await _max_position(conn, room_id)
    new = await insert_timeline(conn, room_id, events, top + 1, 1.0)
    prev_batch = timeline.get("prev_batch")
    if timeline.get("limited") and isinstance(prev_batch, str) and new and top > 0:
        # Events between what we had and this batch are missing: remember where to fetch them.
        first_position = await conn.fetchval(
            "SELECT position FROM events WHERE event_id=$1", new[0]["event_id"]
        )
        await conn.execute(
            "INSERT OR REPLACE INTO gaps (room_id, position, prev_batch) VALUES ($1, $2, $3)",
            room_id,
            first_position,
            prev_batch,
        )
        changes.limited.add(room_id)
    elif top == 0 and isinstance(prev_batch, str):
        # The start of our copy of this room: scrollback continues from here.
        await conn.execute(
            "INSERT INTO sync_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            f"scrollback:{room_id}",
            prev_batch,
        )
    latest_ts = max(
        (e.get("origin_server_ts", 0) for e in new if isinstance(e.get("origin_server_ts"), int)),
        default=0,
    )
    await _put_room(conn, room_id, membership, room, latest_ts)
    await _apply_account_data(conn, room_id, _events(room.get("account_data")), changes)
    for evt in _events(room.get("ephemeral")):
        if not isinstance(evt, dict):
            continue
        if evt.get("type") == "m.receipt" and await _apply_receipts(
            conn, room_id, evt.get("content")
        ):
            changes.receipts.add(room_id)
        elif evt.get("type") == "m.typing":
            content = _dict(evt.get("content"))
            user_ids = content.get("user_ids")
            changes.typing[room_id] = [
                u for u in (user_ids if isinstance(user_ids, list) else []) if isinstance(u, str)
            ]
    for evt in new:
        unsigned = evt.get("unsigned")
        if isinstance(unsigned, dict) and isinstance(unsigned.get("transaction_id"), str):
            changes.echoes[unsigned["transaction_id"]] = evt["event_id"]
    if new:
        changes.new_events[room_id] = new
    changes.rooms.add(room_id)


async def apply_sync(conn: Connection, resp: dict[str, Any], initial: bool) -> SyncChanges:
    """Write everything in ``resp`` and its ``next_batch``. Call inside a transaction."""
    changes = SyncChanges(next_batch=str(resp.get("next_batch", "")), initial=initial)
    rooms = _dict(resp.get("rooms"))
    for membership, key in (("join", "join"), ("leave", "leave")):
        section = rooms.get(key)
        if isinstance(section, dict):
            for room_id, room in section.items():
                if isinstance(room, dict):
                    await _apply_joined_or_left(conn, room_id, room, membership, changes)
                    changes.membership[room_id] = membership
    for membership, key, state_key in (
        ("invite", "invite", "invite_state"),
        ("knock", "knock", "knock_state"),
    ):
        section = rooms.get(key)
        if not isinstance(section, dict):
            continue
        for room_id, room in section.items():
            if not isinstance(room, dict):
                continue
            stripped = _events(room.get(state_key))
            await _put_state(conn, room_id, stripped)
            await _put_room(conn, room_id, membership, {}, 0)
            changes.rooms.add(room_id)
            changes.membership[room_id] = membership
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

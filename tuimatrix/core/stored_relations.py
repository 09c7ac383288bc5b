"""Relations in the store: which stored event edits, redacts, reacts to or replies in a thread
to which, and redactions applied to the stored events themselves.

Every event the store takes in (sync, scrollback, a filled gap) passes through
:func:`index_events` in the transaction that writes it, so relations hold whichever page
brought them: an edit applies to an original loaded a thousand events later, and a redaction
prunes its target from the disk (spec redaction algorithm) whether it arrives before or after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mautrix.util.async_db import Connection

from tuimatrix.core.redaction import is_pruned, prune_event
from tuimatrix.core.relations import EDIT, REDACTION, THREAD, edit_target, may_redact, relation
from tuimatrix.core.sendqueue import SENT
from tuimatrix.core.store import dumps, loads

_RELATION_SQL = (
    "INSERT OR IGNORE INTO relations (event_id, room_id, rel_type, target_id, sender, "
    "origin_server_ts) VALUES ($1, $2, $3, $4, $5, $6)"
)
#: rows read per step when the migration indexes an existing store
_MIGRATION_STEP = 2_000


async def create_relations(conn: Connection) -> None:
    """Store migration: the relations table, filled from the stored events, and every stored
    event that a stored redaction removes pruned."""
    await conn.execute(
        """CREATE TABLE relations (
            event_id         TEXT PRIMARY KEY,
            room_id          TEXT NOT NULL,
            rel_type         TEXT NOT NULL,
            target_id        TEXT NOT NULL,
            sender           TEXT NOT NULL,
            origin_server_ts INTEGER NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX relations_target ON relations (target_id, rel_type)")
    # Once pruned, an event stays pruned: a writer holding an older copy (a decryption that
    # was under way when the redaction came) must not put the content back.
    await conn.execute(
        """CREATE TRIGGER events_stay_redacted BEFORE UPDATE OF json ON events
           WHEN json_extract(OLD.json, '$.unsigned.redacted_because') IS NOT NULL
            AND json_extract(NEW.json, '$.unsigned.redacted_because') IS NULL
           BEGIN SELECT RAISE(IGNORE); END"""
    )
    last = 0
    while True:
        rows = await conn.fetch(
            "SELECT rowid, room_id, json FROM events WHERE rowid > $1 ORDER BY rowid LIMIT $2",
            last,
            _MIGRATION_STEP,
        )
        if not rows:
            break
        last = rows[-1]["rowid"]
        relations = [r for row in rows for r in _rows(row["room_id"], [loads(row["json"])])]
        if relations:
            await conn.executemany(_RELATION_SQL, relations)
    redactions = await conn.fetch(
        "SELECT r.room_id, r.target_id, e.json FROM relations r "
        "JOIN events e ON e.event_id = r.event_id WHERE r.rel_type = $1",
        REDACTION,
    )
    for row in redactions:
        await _prune(conn, row["room_id"], row["target_id"], loads(row["json"]), {})


def _rows(room_id: str, events: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for evt in events:
        rel = relation(evt)
        if rel is None:
            continue
        ts = evt.get("origin_server_ts")
        rows.append(
            (
                evt["event_id"],
                room_id,
                rel[0],
                rel[1],
                evt["sender"],
                ts if isinstance(ts, int) else 0,
            )
        )
    return rows


async def _record(conn: Connection, room_id: str, events: Iterable[Mapping[str, Any]]) -> None:
    rows = _rows(room_id, events)
    if rows:
        await conn.executemany(_RELATION_SQL, rows)


async def index_events(conn: Connection, room_id: str, events: list[dict[str, Any]]) -> None:
    """Record the relations of ``events`` (just stored in ``room_id``) and apply every
    redaction they bring or meet: a new redaction prunes its stored target, and a new event
    that a stored redaction removes is pruned at once. Events of ``events`` that are pruned
    are pruned in place too, so what the caller hands on matches the store."""
    if not events:
        return
    await _record(conn, room_id, events)
    by_id = {str(e["event_id"]): e for e in events}
    # An edit of a removed message goes with it: what it says is what the sender took back.
    candidates = [*by_id, *(t for e in events if (t := edit_target(e)) is not None)]
    candidates += [rel[1] for e in events if (rel := relation(e)) and rel[0] == REDACTION]
    rows = await conn.fetch(
        "SELECT r.target_id, e.json FROM relations r JOIN events e ON e.event_id = r.event_id "
        "WHERE r.rel_type = $1 AND r.target_id IN (SELECT value FROM json_each($2)) "
        "AND r.room_id = $3",
        REDACTION,
        dumps(candidates),
        room_id,
    )
    for row in rows:
        await _prune(conn, room_id, row["target_id"], loads(row["json"]), by_id)


async def _room_version(conn: Connection, room_id: str) -> str | None:
    content = await conn.fetchval(
        "SELECT content FROM room_state WHERE room_id=$1 AND type='m.room.create' AND state_key=''",
        room_id,
    )
    version = loads(content).get("room_version") if content else None
    return version if isinstance(version, str) else None


async def _state_content(conn: Connection, room_id: str, event_type: str) -> dict[str, Any] | None:
    """The content of the room's current ``event_type`` state (state key ""), with its
    sender as ``sender`` for ``m.room.create`` (its creator from room version 11 on)."""
    row = await conn.fetchrow(
        "SELECT sender, content FROM room_state WHERE room_id=$1 AND type=$2 AND state_key=''",
        room_id,
        event_type,
    )
    if row is None:
        return None
    content = loads(row["content"])
    if not isinstance(content, dict):
        return None
    return {**content, "sender": row["sender"]} if event_type == "m.room.create" else content


async def _authorised(
    conn: Connection, room_id: str, target_id: str, redaction: Mapping[str, Any]
) -> bool:
    """Whether ``redaction`` may remove the stored ``target_id``: False while the target is
    not stored (it is checked again when it arrives), or when the redacter is neither its
    sender nor powerful enough (the server sends such redactions all the same)."""
    target_json = await conn.fetchval(
        "SELECT json FROM events WHERE event_id=$1 AND room_id=$2", target_id, room_id
    )
    if target_json is None:
        return False
    return may_redact(
        redaction.get("sender"),
        loads(target_json).get("sender"),
        await _state_content(conn, room_id, "m.room.power_levels"),
        await _state_content(conn, room_id, "m.room.create"),
    )


#: state whose content a redaction never removes from the room's current state: a room once
#: encrypted stays encrypted (clients must never fall back to sending in the clear)
_STICKY_STATE = frozenset({"m.room.encryption"})


async def _prune(
    conn: Connection,
    room_id: str,
    target_id: str,
    redaction: Mapping[str, Any],
    in_hand: Mapping[str, dict[str, Any]],
) -> None:
    """Prune ``target_id`` and its edits wherever the store keeps their content: the events
    table, the send queue, the room's current state, and copies bundled with related events.
    Nothing, unless the redaction is authorised (:func:`_authorised`)."""
    if not await _authorised(conn, room_id, target_id, redaction):
        return
    version = await _room_version(conn, room_id)
    edits = await conn.fetch(
        "SELECT event_id FROM relations WHERE target_id=$1 AND rel_type=$2 AND room_id=$3",
        target_id,
        EDIT,
        room_id,
    )
    ids = [target_id, *(r["event_id"] for r in edits)]
    # Of this room only: a redaction sent in one room removes nothing in another.
    rows = await conn.fetch(
        "SELECT event_id, json FROM events "
        "WHERE event_id IN (SELECT value FROM json_each($1)) AND room_id=$2",
        dumps(ids),
        room_id,
    )
    pruned_events: list[dict[str, Any]] = []
    updates = []
    for row in rows:
        evt = loads(row["json"])
        pruned = evt if is_pruned(evt) else prune_event(evt, redaction, version)
        pruned_events.append(pruned)
        if pruned is not evt:
            updates.append((dumps(pruned), row["event_id"]))
        held = in_hand.get(row["event_id"])
        if held is not None and not is_pruned(held):
            held.clear()
            held.update(pruned)
    if updates:
        await conn.executemany("UPDATE events SET json=$1 WHERE event_id=$2", updates)
    # Our own message, sent: its queue row (dropped when the echo comes by sync, not by
    # scrollback) still holds what we wrote.
    await conn.execute(
        "DELETE FROM send_queue WHERE state=$1 AND room_id=$2 "
        "AND event_id IN (SELECT value FROM json_each($3))",
        SENT,
        room_id,
        dumps(ids),
    )
    state = await conn.fetchrow(
        "SELECT type, content FROM room_state WHERE room_id=$1 AND event_id=$2",
        room_id,
        target_id,
    )
    if state is not None and state["type"] not in _STICKY_STATE:
        content = prune_event(
            {"type": state["type"], "content": loads(state["content"])}, redaction, version
        )["content"]
        await conn.execute(
            "UPDATE room_state SET content=$1 WHERE room_id=$2 AND event_id=$3",
            dumps(content),
            room_id,
            target_id,
        )
    for pruned in pruned_events:
        await _prune_bundled_copy(conn, room_id, pruned)


async def _prune_bundled_copy(conn: Connection, room_id: str, pruned: Mapping[str, Any]) -> None:
    """The event ``pruned`` relates to may carry a copy of it, bundled by the server: a
    thread root its latest reply (``m.thread.latest_event``), an original its newest edit
    (``m.replace``, a whole event since spec v1.7). Such a copy is pruned too."""
    rel = relation(pruned)
    if rel is None or rel[0] not in (THREAD, EDIT):
        return
    text = await conn.fetchval(
        "SELECT json FROM events WHERE event_id=$1 AND room_id=$2", rel[1], room_id
    )
    related = loads(text) if text is not None else None
    unsigned = related.get("unsigned") if isinstance(related, dict) else None
    bundles = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
    bundle = bundles.get(rel[0]) if isinstance(bundles, dict) else None
    if not isinstance(bundle, dict):
        return
    holder, key = (bundle, "latest_event") if rel[0] == THREAD else (bundles, EDIT)
    copy = holder.get(key)  # type: ignore[union-attr]
    if isinstance(copy, dict) and copy.get("event_id") == pruned.get("event_id"):
        holder[key] = dict(pruned)  # type: ignore[index]
        await conn.execute("UPDATE events SET json=$1 WHERE event_id=$2", dumps(related), rel[1])

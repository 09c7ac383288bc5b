"""Relations in the store: which stored event edits, redacts, reacts to or replies in a thread
to which, and redactions applied to the stored events themselves.

Every event the store takes in (sync, scrollback, a filled gap) passes through
:func:`index_events` in the transaction that writes it, so relations hold whichever page
brought them: an edit applies to an original loaded a thousand events later, and a redaction
prunes its target from the disk (spec redaction algorithm) whether it arrives before or after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mautrix.util.async_db import Connection

from tuimatrix.core.redaction import is_pruned, prune_event
from tuimatrix.core.relations import (
    EDIT,
    REDACTION,
    THREAD,
    edit_target,
    may_redact,
    redaction_target,
    relation,
)
from tuimatrix.core.store import SENT, dumps, loads

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
    rules: dict[str, _Rules] = {}
    for row in redactions:
        room_id = row["room_id"]
        if room_id not in rules:
            rules[room_id] = await _room_rules(conn, room_id)
        await _prune(conn, room_id, row["target_id"], loads(row["json"]), {}, rules[room_id])


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


async def index_events(conn: Connection, room_id: str, events: list[dict[str, Any]]) -> None:
    """:func:`index_rooms` for one room's events."""
    await index_rooms(conn, [(room_id, events)])


async def index_rooms(conn: Connection, rooms: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Record the relations of each room's ``events`` (just stored) and apply every redaction
    they bring or meet: a new redaction prunes its stored target, and a new event that a
    stored redaction removes is pruned at once. Events that are pruned are pruned in place
    too, so what the caller hands on matches the store.

    A whole sync's rooms in one call: two statements for all of them (a statement per room
    made the initial sync of a large account several times slower), then only the redactions
    found cost more."""
    relations = [row for room_id, events in rooms for row in _rows(room_id, events)]
    if relations:
        await conn.executemany(_RELATION_SQL, relations)
    in_hand: dict[str, dict[str, dict[str, Any]]] = {}
    candidates: set[tuple[str, str]] = set()
    for room_id, events in rooms:
        by_id = {str(e["event_id"]): e for e in events}
        in_hand.setdefault(room_id, {}).update(by_id)
        # An edit of a removed message goes with it: what it says is what the sender took back.
        targets = [*by_id, *(t for e in events if (t := edit_target(e)) is not None)]
        targets += [t for e in events if (t := redaction_target(e)) is not None]
        candidates.update((room_id, target) for target in targets)
    if not candidates:
        return
    found = await conn.fetch(
        "SELECT r.room_id, r.target_id, e.json FROM json_each($2) c"
        " JOIN relations r ON r.target_id = json_extract(c.value, '$[1]')"
        "  AND r.room_id = json_extract(c.value, '$[0]') AND r.rel_type = $1"
        " JOIN events e ON e.event_id = r.event_id",
        REDACTION,
        dumps(sorted(candidates)),
    )
    rules: dict[str, _Rules] = {}
    for row in found:
        room_id = row["room_id"]
        if room_id not in rules:
            rules[room_id] = await _room_rules(conn, room_id)
        redaction = loads(row["json"])
        await _prune(conn, room_id, row["target_id"], redaction, in_hand[room_id], rules[room_id])


@dataclass(frozen=True)
class _Rules:
    """What deciding and applying a room's redactions needs of its current state (read once
    for every redaction a batch of events meets)."""

    #: ``m.room.create``'s content, with its sender (the creator from room version 11 on)
    create: Mapping[str, Any] | None
    power_levels: Mapping[str, Any] | None

    @property
    def version(self) -> str | None:
        version = (self.create or {}).get("room_version")
        return version if isinstance(version, str) else None


async def _room_rules(conn: Connection, room_id: str) -> _Rules:
    rows = await conn.fetch(
        "SELECT type, sender, content FROM room_state WHERE room_id=$1 AND state_key='' "
        "AND type IN ('m.room.create', 'm.room.power_levels')",
        room_id,
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        content = loads(row["content"])
        if isinstance(content, dict):
            found[row["type"]] = content
            if row["type"] == "m.room.create":
                found[row["type"]] = {**content, "sender": row["sender"]}
    return _Rules(found.get("m.room.create"), found.get("m.room.power_levels"))


#: state whose content a redaction never removes from the room's current state: a room once
#: encrypted stays encrypted (clients must never fall back to sending in the clear)
_STICKY_STATE = frozenset({"m.room.encryption"})


async def _prune(
    conn: Connection,
    room_id: str,
    target_id: str,
    redaction: Mapping[str, Any],
    in_hand: Mapping[str, dict[str, Any]],
    rules: _Rules,
) -> None:
    """Prune ``target_id`` and its edits wherever the store keeps their content: the events
    table, the send queue, the room's current state, and copies bundled with related events.

    Nothing while the target is not stored (it is checked again when it arrives), nor when
    the redacter is neither its sender nor powerful enough (from room version 3 on, the server
    sends such redactions all the same: core.relations.may_redact)."""
    # The target and its edits; of this room only: a redaction sent in one room removes
    # nothing in another.
    rows = await conn.fetch(
        "SELECT event_id, json FROM events WHERE room_id=$2 AND (event_id=$1 OR event_id IN "
        "(SELECT event_id FROM relations WHERE target_id=$1 AND rel_type=$3 AND room_id=$2))",
        target_id,
        room_id,
        EDIT,
    )
    events = {row["event_id"]: loads(row["json"]) for row in rows}
    target = events.get(target_id)
    if target is None or not may_redact(
        redaction.get("sender"), target.get("sender"), rules.power_levels, rules.create
    ):
        return
    ids = list(events)
    version = rules.version
    pruned_events: list[dict[str, Any]] = []
    updates = []
    for event_id, evt in events.items():
        pruned = evt if is_pruned(evt) else prune_event(evt, redaction, version)
        pruned_events.append(pruned)
        if pruned is not evt:
            updates.append((dumps(pruned), event_id))
        held = in_hand.get(event_id)
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
    if "state_key" not in target or target.get("type") in _STICKY_STATE:
        state = None  # only a state event can be the room's current state
    else:
        state = await conn.fetchrow(
            "SELECT type, content FROM room_state WHERE room_id=$1 AND event_id=$2",
            room_id,
            target_id,
        )
    if state is not None:
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

"""Which events notify the user: its push rules evaluated here, on every sync's new events.

The server counts notifications too, but in an encrypted room it cannot read the text, so its
counts there know nothing of mentions or keywords (and count every message alike). Like
Element, we evaluate the rules on the decrypted events ourselves (``core/push_evaluator.py``),
keep the notifying ones in the store's ``notices`` table, in the same transaction as the sync
that brought them, and count an encrypted room's notifications and highlights from them.
The same table is what the inbox lists and what alerts are raised for.

"Read" is per the spec: up to the later of the user's read receipt (``m.read`` or
``m.read.private``; a threaded receipt covers its thread) and the user's own latest event (in
the same thread, or the main timeline).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tuimatrix.core.operations.server_state import creators_of
from tuimatrix.core.push_evaluator import RoomFacts, Ruleset, Verdict
from tuimatrix.core.receipts import PRIVATE_RECEIPT, PUBLIC_RECEIPT
from tuimatrix.core.redaction import is_pruned
from tuimatrix.core.relations import redaction_target, thread_root
from tuimatrix.core.store import dumps, loads

if TYPE_CHECKING:
    from mautrix.util.async_db import Connection

    from tuimatrix.core.store import Store

log = logging.getLogger(__name__)

#: Notices kept per account, newest first; older ones are dropped (the inbox is for what is
#: recent, and the table must not grow for ever).
MAX_KEPT = 5_000
#: The thread of an event outside any thread (spec "Threaded read receipts").
MAIN = "main"
#: Stored events per encrypted room evaluated once, when a store made before notices existed
#: (schema v4) first syncs with them: else its rooms would show nothing unread until the next
#: message (unencrypted rooms keep the server's counts, and the inbox its /notifications).
BACKFILL_PER_ROOM = 50
_BACKFILLED = "notices_backfilled"
#: Events looked at between two chances for the loop to run: a catch-up brings tens of
#: thousands, and the UI shares the loop with the sync (as ``core/sync.py`` batches them).
EVENTS_PER_YIELD = 1_000
#: the user's read receipts: either says how far the user has read
_RECEIPTS = (PUBLIC_RECEIPT, PRIVATE_RECEIPT)
_ENCRYPTED = "m.room.encrypted"
_INSERT_SQL = (
    "INSERT OR REPLACE INTO notices (event_id, room_id, thread_id, position, ts, sender, "
    "highlight, sound, keyword) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


@dataclass(frozen=True, slots=True)
class Notice:
    """An event that notifies the user, by the push rules evaluated here."""

    room_id: str
    event_id: str
    sender: str
    #: origin_server_ts, ms
    ts: int
    highlight: bool
    sound: str | None
    #: it came encrypted: alerts do not show its text unless configured
    encrypted: bool
    #: the event as stored (decrypted when we could): raw, sanitise all you show
    event: dict[str, Any]
    #: one of the user's keywords (content rules) decided it
    keyword: bool = False


class SyncedChanges(Protocol):
    """What :meth:`Notices.record` reads of a sync's ``core/sync.py`` ``SyncChanges`` (and
    writes: ``notices``); a protocol, so that the two modules do not import each other."""

    initial: bool
    new_events: dict[str, list[dict[str, Any]]]
    membership: dict[str, str]
    account_data: set[str]
    receipts: set[str]
    notices: list[Notice]


def thread_of(evt: dict[str, Any]) -> str:
    """The thread an event counts in for read receipts: its thread root, or ``main``."""
    return thread_root(evt) or MAIN


def came_encrypted(evt: dict[str, Any]) -> bool:
    """Whether the event was sent encrypted (decrypted ones carry ``tm_e2ee``)."""
    return evt.get("type") == _ENCRYPTED or "tm_e2ee" in evt


def _creators(create: dict[str, Any] | None, no_power_levels: bool) -> frozenset[str]:
    """Who is above every power level: the creators of a room version 12+ room; in an
    older room without power levels, its creator (who has 100 there, everyone else 0)."""
    if create is None:
        return frozenset()
    creators = creators_of(create)
    sender = create.get("sender")
    if not creators and no_power_levels and isinstance(sender, str):
        creators = {sender}
    return frozenset(creators)


@asynccontextmanager
async def _apart(conn: Connection, what: str) -> AsyncIterator[None]:
    """Run a block of the sync's transaction in a savepoint: if it fails, what it wrote is
    undone and one line is logged, and the transaction goes on. Notices are worth less than
    the sync: an error here must not roll back the sync's events and token, or every retry
    would fetch and fail on the same events for ever. The line names the error's type and
    where it was raised, never its text (which may quote a message)."""
    await conn.execute("SAVEPOINT notices")
    try:
        yield
    except Exception as e:
        await conn.execute("ROLLBACK TO SAVEPOINT notices")
        await conn.execute("RELEASE SAVEPOINT notices")
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}" if tb is not None else "?"
        log.error("notices: %s failed (%s at %s); the sync goes on", what, type(e).__name__, where)
    else:
        await conn.execute("RELEASE SAVEPOINT notices")


async def _paced(
    events: dict[str, list[dict[str, Any]]],
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Each room's events, the loop let run every :data:`EVENTS_PER_YIELD` events."""
    seen = 0
    for room_id, evts in events.items():
        seen += len(evts)
        if seen >= EVENTS_PER_YIELD:
            seen = 0
            await asyncio.sleep(0)
        yield room_id, evts


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Notices:
    """One account's notifying events: evaluated on each sync inside its transaction,
    counted per room, listed for the inbox."""

    def __init__(self, store: Store, user_id: str) -> None:
        self.store = store
        self.user_id = user_id
        self._ruleset: Ruleset | None = None
        #: the m.push_rules the ruleset was compiled from (a server may send it every sync)
        self._rules_source: str | None = None
        self._backfilled = False

    # -- on sync -------------------------------------------------------------------------------

    async def record(self, conn: Connection, changes: SyncedChanges) -> None:
        """Evaluate the sync's new events, store the notifying ones, update the counts of the
        rooms whose events or read state changed, and put the new notices in
        ``changes.notices`` (oldest first). Call in the sync's transaction, after it applied.
        Never raises: whatever fails here is undone, logged, and the sync commits."""
        changes.notices = []
        if not self._backfilled:
            async with _apart(conn, "evaluating the stored events once"):
                await self._backfill(conn, changes.initial)
            self._backfilled = True  # tried once a process: a failure costs no sync its notices
        async with _apart(conn, "evaluating the sync's events"):
            changes.notices = await self._record(conn, changes)

    async def _record(self, conn: Connection, changes: SyncedChanges) -> list[Notice]:
        if "m.push_rules" in changes.account_data:
            await self._load_rules(conn)
        joined = {
            room_id: events
            for room_id, events in changes.new_events.items()
            if changes.membership.get(room_id, "join") == "join"
        }
        notices = await self._evaluate(conn, await self._unread_of(conn, joined))
        left = [room for room, membership in changes.membership.items() if membership == "leave"]
        if left:
            # A room left (or kicked from, banned from) needs the user no more, and could not
            # be marked read: its notices would stay in the inbox for good.
            await conn.execute(
                "DELETE FROM notices WHERE room_id IN (SELECT value FROM json_each($1))",
                dumps(left),
            )
        redacted = await self._drop_redacted(conn, changes.new_events)
        touched = set(changes.new_events) | changes.receipts | redacted
        unread = await self.recount(conn, touched)
        return [n for n in notices if n.event_id in unread]

    async def reevaluate(
        self, conn: Connection, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[Notice]:
        """Evaluate again events decrypted after they were stored (their key came late):
        their notices (which replace what the undecrypted event gave) and the counts.
        Never raises: whatever fails here is undone and logged (none are found then)."""
        found: list[Notice] = []
        async with _apart(conn, "evaluating decrypted events"):
            found = await self._reevaluate(conn, events)
        return found

    async def _reevaluate(
        self, conn: Connection, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[Notice]:
        by_room: dict[str, list[dict[str, Any]]] = {}
        for room_id, evt in events:
            by_room.setdefault(room_id, []).append(evt)
        ids = [evt["event_id"] for _, evt in events if isinstance(evt.get("event_id"), str)]
        await conn.execute(
            "DELETE FROM notices WHERE event_id IN (SELECT value FROM json_each($1))", dumps(ids)
        )
        # Old events, in no order: all evaluated, and only those still unread by position
        # (a receipt or the user's own message after them) are new notices to alert for.
        found = await self._evaluate(conn, by_room)
        unread = await self.recount(conn, by_room)
        return [n for n in found if n.event_id in unread]

    async def record_filled(
        self, conn: Connection, room_id: str, events: list[dict[str, Any]]
    ) -> None:
        """Evaluate the events that filled a gap of ``room_id`` (a ``limited`` sync's missing
        part, fetched later), in the transaction that stored them, and count the room again:
        else an encrypted room's mentions in the gap would never count. Whether they are read
        is decided by position (the receipt usually points past the gap); they raise no alert:
        the sync that left the gap has alerted already. Never raises."""
        async with _apart(conn, "evaluating a gap's events"):
            await self._evaluate(conn, {room_id: events})
            await self._drop_redacted(conn, {room_id: events})
            await self.recount(conn, [room_id])

    async def _backfill(self, conn: Connection, initial: bool) -> None:
        """Once per store, before its first sync with notices: evaluate the newest stored
        events of each encrypted room (none on an account's first sync: it evaluates them)."""
        done = await conn.fetchval("SELECT value FROM sync_state WHERE key=$1", _BACKFILLED)
        if done is None and not initial:
            rows = await conn.fetch(
                "SELECT room_id, json FROM (SELECT e.room_id, e.json, e.position, "
                "ROW_NUMBER() OVER (PARTITION BY e.room_id ORDER BY e.position DESC) AS n "
                "FROM events e JOIN rooms r ON r.room_id = e.room_id AND r.membership = 'join' "
                "JOIN room_state s ON s.room_id = e.room_id "
                "AND s.type = 'm.room.encryption' AND s.state_key = '') "
                "WHERE n <= $1 ORDER BY room_id, position",
                BACKFILL_PER_ROOM,
            )
            by_room: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                by_room.setdefault(row["room_id"], []).append(loads(row["json"]))
            await self._evaluate(conn, by_room)  # read or not: by position, in the counts
            await self.recount(conn, by_room)
        if done is None:
            await conn.execute(
                "INSERT OR REPLACE INTO sync_state (key, value) VALUES ($1, '1')", _BACKFILLED
            )

    async def _unread_of(
        self, conn: Connection, events: dict[str, list[dict[str, Any]]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Of each room's ``events`` (in timeline order), those the user has not read: the
        rest need no evaluation (a first sync brings mostly read history). Read: up to the
        user's receipt for the event's thread or its unthreaded one, or the user's own
        latest event in that thread; one that is not among ``events`` is older than all."""
        if not events:
            return {}
        # Each room's receipts by thread ("" the unthreaded one).
        receipts: dict[str, dict[str, str]] = {}
        for r in await conn.fetch(
            "SELECT r.room_id, r.thread_id, e.event_id, MAX(e.position) AS position "
            "FROM receipts r JOIN events e ON e.event_id = r.event_id "
            "WHERE r.room_id IN (SELECT value FROM json_each($1)) AND r.user_id = $2 "
            "AND r.receipt_type IN (SELECT value FROM json_each($3)) "
            "GROUP BY r.room_id, r.thread_id",
            dumps(list(events)),
            self.user_id,
            dumps(list(_RECEIPTS)),
        ):
            receipts.setdefault(r["room_id"], {})[r["thread_id"]] = r["event_id"]
        unread: dict[str, list[dict[str, Any]]] = {}
        async for room_id, evts in _paced(events):
            index = {evt.get("event_id"): i for i, evt in enumerate(evts)}
            # The unthreaded receipt reads every thread: only what follows it is looked at.
            read = receipts.get(room_id, {})
            start = index.get(read.get(""), -1) + 1
            # Each thread (or the main timeline) is read up to its own receipt and up to the
            # user's own latest message in it.
            floors: dict[str, int] = {}
            for thread, event_id in read.items():
                if thread and index.get(event_id, -1) >= start:
                    floors[thread] = index[event_id]
            for i in range(start, len(evts)):
                if evts[i].get("sender") == self.user_id:
                    thread = thread_of(evts[i])
                    floors[thread] = max(floors.get(thread, -1), i)
            if not floors:
                kept = evts[start:]
            else:
                kept = [
                    evts[i]
                    for i in range(start, len(evts))
                    if i > floors.get(thread_of(evts[i]), -1)
                ]
            if kept:
                unread[room_id] = kept
        return unread

    async def _load_rules(self, conn: Connection) -> Ruleset:
        """The stored push rules, compiled again only when they changed."""
        raw = await conn.fetchval(
            "SELECT content FROM account_data WHERE room_id='' AND type='m.push_rules'"
        )
        source = str(raw or "")
        if self._ruleset is None or source != self._rules_source:
            self._ruleset = Ruleset.from_account_data(self.user_id, loads(raw) if raw else None)
            self._rules_source = source
        return self._ruleset

    async def _evaluate(
        self, conn: Connection, events: dict[str, list[dict[str, Any]]]
    ) -> list[Notice]:
        if not events:
            return []
        ruleset = self._ruleset or await self._load_rules(conn)
        facts = await self._room_facts(conn, list(events))
        hits: list[tuple[str, dict[str, Any], Verdict]] = []
        async for room_id, evts in _paced(events):
            room = facts[room_id]
            for evt in evts:
                # A redacted event notifies nobody (the server drops its count too): one
                # that comes already redacted, after a gap or in a first sync, counts nothing.
                if evt.get("sender") == self.user_id or is_pruned(evt):
                    continue
                verdict = ruleset.evaluate(evt, room)
                if verdict.notify:
                    hits.append((room_id, evt, verdict))
        if not hits:
            return []
        # By time, oldest first; a huge sync keeps its newest (and makes no more of the rest).
        hits.sort(key=lambda hit: _int(hit[1].get("origin_server_ts")))
        del hits[:-MAX_KEPT]
        rows = await conn.fetch(
            "SELECT event_id, position FROM events "
            "WHERE event_id IN (SELECT value FROM json_each($1))",
            dumps([evt["event_id"] for _, evt, _ in hits]),
        )
        positions = {r["event_id"]: float(r["position"]) for r in rows}
        notices: list[Notice] = []
        inserts: list[tuple[Any, ...]] = []
        for count, (room_id, evt, verdict) in enumerate(hits, 1):
            if count % EVENTS_PER_YIELD == 0:
                await asyncio.sleep(0)
            position = positions.get(evt["event_id"])
            if position is None:
                continue  # not stored (a duplicate the store already had elsewhere)
            notice = Notice(
                room_id=room_id,
                event_id=evt["event_id"],
                sender=evt["sender"],
                ts=_int(evt.get("origin_server_ts")),
                highlight=verdict.highlight,
                sound=verdict.sound,
                keyword=verdict.rule_id in ruleset.keywords,
                encrypted=came_encrypted(evt),
                event=evt,
            )
            notices.append(notice)
            inserts.append(
                (
                    notice.event_id,
                    room_id,
                    thread_of(evt),
                    position,
                    notice.ts,
                    notice.sender,
                    int(notice.highlight),
                    notice.sound,
                    int(notice.keyword),
                )
            )
        await conn.executemany(_INSERT_SQL, inserts)
        await conn.execute(
            "DELETE FROM notices WHERE ts < "
            "(SELECT ts FROM notices ORDER BY ts DESC LIMIT 1 OFFSET $1)",
            MAX_KEPT,
        )
        return notices

    async def _room_facts(self, conn: Connection, room_ids: list[str]) -> dict[str, RoomFacts]:
        """What the rules' conditions need of each room, as the store has it now."""
        rooms = dumps(room_ids)
        counts = {
            r["room_id"]: r["joined_count"]
            for r in await conn.fetch(
                "SELECT room_id, joined_count FROM rooms "
                "WHERE room_id IN (SELECT value FROM json_each($1))",
                rooms,
            )
        }
        names: dict[str, str | None] = {}
        levels: dict[str, dict[str, Any]] = {}
        creates: dict[str, dict[str, Any]] = {}
        for r in await conn.fetch(
            "SELECT room_id, type, sender, content FROM room_state "
            "WHERE room_id IN (SELECT value FROM json_each($1)) AND ("
            "(type='m.room.member' AND state_key=$2) OR "
            "(type IN ('m.room.power_levels', 'm.room.create') AND state_key=''))",
            rooms,
            self.user_id,
        ):
            content = loads(r["content"])
            if not isinstance(content, dict):
                continue
            if r["type"] == "m.room.power_levels":
                levels[r["room_id"]] = content
            elif r["type"] == "m.room.create":
                creates[r["room_id"]] = {"sender": r["sender"], "content": content}
            else:
                name = content.get("displayname")
                names[r["room_id"]] = name if isinstance(name, str) else None
        missing = [r for r in room_ids if counts.get(r) is None]
        if missing:
            # No member counts in the summary yet: count the members the store knows.
            for r in await conn.fetch(
                "SELECT room_id, COUNT(*) AS n FROM room_state "
                "WHERE room_id IN (SELECT value FROM json_each($1)) AND type='m.room.member' "
                "AND json_extract(content, '$.membership')='join' GROUP BY room_id",
                dumps(missing),
            ):
                counts[r["room_id"]] = r["n"]
        return {
            room_id: RoomFacts(
                member_count=_int(counts.get(room_id)),
                display_name=names.get(room_id),
                power_levels=levels.get(room_id),
                creators=_creators(creates.get(room_id), levels.get(room_id) is None),
                room_id=room_id,
            )
            for room_id in room_ids
        }

    async def _drop_redacted(
        self, conn: Connection, events: dict[str, list[dict[str, Any]]]
    ) -> set[str]:
        """Forget the notices of events redacted in this sync; their rooms."""
        targets = [
            target
            for evts in events.values()
            for evt in evts
            if (target := redaction_target(evt)) is not None
        ]
        if not targets:
            return set()
        rows = await conn.fetch(
            "DELETE FROM notices WHERE event_id IN (SELECT value FROM json_each($1)) "
            "RETURNING room_id",
            dumps(targets),
        )
        return {r["room_id"] for r in rows}

    # -- counts --------------------------------------------------------------------------------

    async def recount(self, conn: Connection, room_ids: Iterable[str]) -> set[str]:
        """Store each room's count of unread notices and highlights (the counts shown for
        encrypted rooms); the ids of those unread notices."""
        rooms = list(room_ids)
        if not rooms:
            return set()
        counts = {r: [0, 0] for r in rooms}
        unread: set[str] = set()
        for row in await self._unread_rows(conn, rooms, limit=None, with_event=False):
            counts[row["room_id"]][0] += 1
            counts[row["room_id"]][1] += row["highlight"]
            unread.add(row["event_id"])
        # Only the counts that changed are written (a first sync touches every room, and
        # most have nothing unread, as before).
        stored = {
            row["room_id"]: [row["local_notification_count"], row["local_highlight_count"]]
            for row in await conn.fetch(
                "SELECT room_id, local_notification_count, local_highlight_count FROM rooms "
                "WHERE room_id IN (SELECT value FROM json_each($1)) "
                "AND (local_notification_count != 0 OR local_highlight_count != 0)",
                dumps(rooms),
            )
        }
        changed = [(r, n, h) for r, (n, h) in counts.items() if stored.get(r, [0, 0]) != [n, h]]
        if changed:
            await conn.executemany(
                "UPDATE rooms SET local_notification_count=$2, local_highlight_count=$3 "
                "WHERE room_id=$1",
                changed,
            )
        return unread

    async def _unread_rows(
        self, conn: Any, room_ids: list[str] | None, *, limit: int | None, with_event: bool
    ) -> list[Any]:
        """Unread notices, newest first: after the user's unthreaded receipt, after its
        receipt in their thread, and after the user's own latest event in their thread. Each
        room's events are read from its oldest notice up, through the position index."""
        args: list[Any] = [self.user_id, dumps(list(_RECEIPTS))]
        rooms = "SELECT DISTINCT room_id FROM notices"
        if room_ids is not None:
            args.append(dumps(room_ids))
            rooms = "SELECT value FROM json_each($3)"
        args.append(-1 if limit is None else max(0, limit))
        limit_arg = f"${len(args)}"
        sql = f"""
            WITH lowest AS (
                SELECT room_id, MIN(position) AS position FROM notices
                WHERE room_id IN ({rooms}) GROUP BY room_id
            ),
            own AS (
                SELECT l.room_id, COALESCE(t.target_id, 'main') AS thread_id,
                    MAX(e.position) AS position
                FROM lowest l
                JOIN events e ON e.room_id = l.room_id AND e.position > l.position
                    AND e.sender = $1
                LEFT JOIN relations t ON t.event_id = e.event_id AND t.rel_type = 'm.thread'
                GROUP BY l.room_id, COALESCE(t.target_id, 'main')
            ),
            read AS (
                SELECT r.room_id, r.thread_id, MAX(e.position) AS position
                FROM receipts r JOIN events e ON e.event_id = r.event_id
                WHERE r.room_id IN (SELECT room_id FROM lowest) AND r.user_id = $1
                AND r.receipt_type IN (SELECT value FROM json_each($2))
                GROUP BY r.room_id, r.thread_id
            )
            SELECT n.room_id, n.event_id, n.sender, n.ts, n.highlight, n.sound, n.keyword
                {", ev.json" if with_event else ""}
            FROM notices n {"LEFT JOIN events ev ON ev.event_id = n.event_id" if with_event else ""}
            WHERE n.room_id IN (SELECT room_id FROM lowest)
              AND n.position > COALESCE(
                    (SELECT position FROM own WHERE room_id = n.room_id
                     AND thread_id = n.thread_id), -1e300)
              AND n.position > COALESCE(
                    (SELECT position FROM read WHERE room_id = n.room_id AND thread_id = ''),
                    -1e300)
              AND n.position > COALESCE(
                    (SELECT position FROM read WHERE room_id = n.room_id
                     AND thread_id = n.thread_id), -1e300)
            ORDER BY n.ts DESC LIMIT {limit_arg}
        """
        return list(await conn.fetch(sql, *args))

    # -- for the inbox -------------------------------------------------------------------------

    async def recent(self, limit: int = 200, *, unread_only: bool = True) -> list[Notice]:
        """The newest notices (newest first), with their events as stored; ``unread_only``
        keeps those the user has not read."""
        if unread_only:
            rows = await self._unread_rows(self.store.db, None, limit=limit, with_event=True)
        else:
            rows = await self.store.db.fetch(
                "SELECT n.room_id, n.event_id, n.sender, n.ts, n.highlight, n.sound, n.keyword, "
                "ev.json "
                "FROM notices n LEFT JOIN events ev ON ev.event_id = n.event_id "
                "ORDER BY n.ts DESC LIMIT $1",
                max(0, limit),
            )
        notices = []
        for row in rows:
            evt = loads(row["json"]) if row["json"] else {}
            notices.append(
                Notice(
                    room_id=row["room_id"],
                    event_id=row["event_id"],
                    sender=row["sender"],
                    ts=row["ts"],
                    highlight=bool(row["highlight"]),
                    sound=row["sound"],
                    keyword=bool(row["keyword"]),
                    encrypted=came_encrypted(evt),
                    event=evt,
                )
            )
        return notices

"""The per-account SQLite database: mautrix's crypto and state tables, and ours.

One file per account, WAL mode, one connection (mautrix's aiosqlite pool has one), so that
every write is serialised and a sync response lands in a single transaction. mautrix's crypto
store (``crypto_version``) and state store (``mx_version``) keep their own schema versions; ours
is ``tm_version``, with migrations registered below in order.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from mautrix.util.async_db import Connection, Database, UpgradeTable
from yarl import URL

from tuimatrix.core.errors import StoreError
from tuimatrix.core.relations import ANNOTATION, EDIT

if TYPE_CHECKING:
    from mautrix.crypto.store.asyncpg import PgCryptoStateStore

log = logging.getLogger(__name__)

upgrade_table = UpgradeTable(
    version_table_name="tm_version",
    database_name="tuimatrix store",
    log=logging.getLogger("tuimatrix.store.upgrade"),
)


#: The states of a ``send_queue`` row (its ``state`` column). Defined with the table, so that
#: whatever writes the table (the send queue, the relations index) needs no other module.
QUEUED = "queued"
SENT = "sent"
FAILED = "failed"


# mautrix's register() is untyped; going through Any keeps the decorator usable under strict.
_register: Any = upgrade_table.register


@_register(description="Initial schema")  # type: ignore[untyped-decorator]
async def _v1(conn: Connection) -> None:
    await conn.execute(
        """CREATE TABLE sync_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE TABLE rooms (
            room_id            TEXT PRIMARY KEY,
            membership         TEXT NOT NULL,
            heroes             TEXT NOT NULL DEFAULT '[]',
            joined_count       INTEGER,
            invited_count      INTEGER,
            notification_count INTEGER NOT NULL DEFAULT 0,
            highlight_count    INTEGER NOT NULL DEFAULT 0,
            latest_ts          INTEGER NOT NULL DEFAULT 0
        )"""
    )
    # Current state, one row per (type, state_key); invites' stripped state has no event id.
    await conn.execute(
        """CREATE TABLE room_state (
            room_id   TEXT NOT NULL,
            type      TEXT NOT NULL,
            state_key TEXT NOT NULL,
            event_id  TEXT,
            sender    TEXT,
            content   TEXT NOT NULL,
            PRIMARY KEY (room_id, type, state_key)
        )"""
    )
    # position orders a room's timeline: live events append above the top, scrollback goes
    # below the bottom, and a filled gap takes positions between its two neighbours (REAL).
    await conn.execute(
        """CREATE TABLE events (
            event_id         TEXT PRIMARY KEY,
            room_id          TEXT NOT NULL,
            position         REAL NOT NULL,
            type             TEXT NOT NULL,
            sender           TEXT NOT NULL,
            state_key        TEXT,
            origin_server_ts INTEGER NOT NULL,
            json             TEXT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX events_room_position ON events (room_id, position)")
    # A hole in a room's timeline below the event at `position`, fillable from prev_batch.
    await conn.execute(
        """CREATE TABLE gaps (
            room_id    TEXT NOT NULL,
            position   REAL NOT NULL,
            prev_batch TEXT NOT NULL,
            PRIMARY KEY (room_id, position)
        )"""
    )
    await conn.execute(
        """CREATE TABLE receipts (
            room_id      TEXT NOT NULL,
            user_id      TEXT NOT NULL,
            receipt_type TEXT NOT NULL,
            thread_id    TEXT NOT NULL DEFAULT '',
            event_id     TEXT NOT NULL,
            ts           INTEGER,
            PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
        )"""
    )
    # room_id '' holds global account data.
    await conn.execute(
        """CREATE TABLE account_data (
            room_id TEXT NOT NULL,
            type    TEXT NOT NULL,
            content TEXT NOT NULL,
            PRIMARY KEY (room_id, type)
        )"""
    )
    # The transaction id is written before the request and reused on every retry, so a
    # retry or a restart can never send a message twice.
    await conn.execute(
        """CREATE TABLE send_queue (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            txn_id     TEXT NOT NULL UNIQUE,
            room_id    TEXT NOT NULL,
            event_type TEXT NOT NULL,
            content    TEXT NOT NULL,
            state      TEXT NOT NULL,
            event_id   TEXT,
            error      TEXT,
            created_ts INTEGER NOT NULL
        )"""
    )


@_register(description="Index of undecrypted events")  # type: ignore[untyped-decorator]
async def _v2(conn: Connection) -> None:
    # Only the events still waiting for their key: what Crypto.retry() looks through after
    # every sync that brought to-device messages (most events are not in it).
    await conn.execute(
        "CREATE INDEX events_undecrypted ON events (room_id) WHERE type = 'm.room.encrypted'"
    )


@_register(description="Relations index; redacted events pruned")  # type: ignore[untyped-decorator]
async def _v3(conn: Connection) -> None:
    # Imported here: the module builds on this one's helpers.
    from tuimatrix.core.stored_relations import create_relations

    await create_relations(conn)


@_register(description="Notifying events; counts of encrypted rooms")  # type: ignore[untyped-decorator]
async def _v4(conn: Connection) -> None:
    # The events that notify the user by its push rules, evaluated here (core/notices.py):
    # the inbox, and the counts of encrypted rooms, whose text the server cannot see.
    await conn.execute(
        """CREATE TABLE notices (
            event_id  TEXT PRIMARY KEY,
            room_id   TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            position  REAL NOT NULL,
            ts        INTEGER NOT NULL,
            sender    TEXT NOT NULL,
            highlight INTEGER NOT NULL,
            sound     TEXT,
            keyword   INTEGER NOT NULL DEFAULT 0
        )"""
    )
    await conn.execute("CREATE INDEX notices_room ON notices (room_id, position)")
    await conn.execute("CREATE INDEX notices_ts ON notices (ts)")
    await conn.execute(
        "ALTER TABLE rooms ADD COLUMN local_notification_count INTEGER NOT NULL DEFAULT 0"
    )
    await conn.execute(
        "ALTER TABLE rooms ADD COLUMN local_highlight_count INTEGER NOT NULL DEFAULT 0"
    )


#: Values per ``IN (…)`` list, well under SQLite's limit on bound variables.
IN_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def _marks(n: int, start: int = 0) -> str:
    """``$1,$2,…`` placeholders for ``n`` values after the first ``start``."""
    return ",".join(f"${start + i + 1}" for i in range(n))


#: How deep a value is written before what lies deeper is dropped (orjson stops at 254).
MAX_DEPTH = 128


def dumps(value: Any) -> str:
    """``value`` as JSON text. orjson refuses what a server may send and Synapse accepts: an
    event nested deeper than 254 levels (a 2 KB body does it), or an integer past 64 bits
    in a decrypted payload (read by mautrix with the standard library). Refused, the whole
    sync would fail on it, and be fetched and refused again for ever: such a value is written
    as :func:`_storable` makes it instead."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return orjson.dumps(_storable(value, 0)).decode("utf-8")


def _storable(value: Any, depth: int) -> Any:
    """``value`` with containers past :data:`MAX_DEPTH` levels dropped (null) and integers
    past 64 bits as floats (null past a float's range): nothing real is that deep or big."""
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        try:
            return float(value)
        except OverflowError:
            return None
    return value


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def _check_openable(path: Path) -> None:
    """Open ``path`` as mautrix will (WAL) and read its schema; raises what would fail."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


class Store:
    """The account's database. ``db`` is ours; ``crypto_db`` shares its connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Built, not formatted: session directory names contain '%', which a URL would decode.
        url = URL.build(scheme="sqlite", path=str(path.resolve()))
        self._url = url
        self.db = Database.create(
            url,
            upgrade_table=upgrade_table,
            db_args={"min_size": 1, "max_size": 1},
            log=logging.getLogger("tuimatrix.db"),
        )
        # mautrix's crypto and state stores: built on first use, because importing them
        # imports all of mautrix's crypto, which the room list does not need (core/lazy.py).
        self._mautrix: tuple[Database, Database, PgCryptoStateStore] | None = None
        self._mautrix_started = False
        self._mautrix_lock = asyncio.Lock()
        self._close_lock = asyncio.Lock()

    async def open(self, *, mautrix: bool = True) -> None:
        """Open the database; ``mautrix=False`` leaves mautrix's tables to :meth:`open_mautrix`.

        Raises :class:`StoreError` (one line naming the file) if it cannot be opened; nothing
        is left open then.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mautrix's start() leaks its connection (and the connection's non-daemon thread,
            # which then keeps the process from exiting) when a pragma fails on a damaged or
            # read-only file: the same pragmas fail here first, on a connection we close.
            await asyncio.to_thread(_check_openable, self.path)
            await self.db.start()
            self.path.chmod(0o600)
            if mautrix:
                await self.open_mautrix()
        except (OSError, sqlite3.Error) as e:
            await self.close()
            raise StoreError.opening(self.path, e) from e
        except BaseException:
            await self.close()
            raise

    async def open_mautrix(self) -> None:
        """Create or upgrade mautrix's crypto and state tables (once; after :meth:`open`)."""
        async with self._mautrix_lock:
            if self._mautrix_started:
                return
            crypto_db, state_db, _ = self._mautrix_stores()
            # Not closed on failure: the store is open, and its owner closes it.
            try:
                await crypto_db.start()
                await state_db.start()
            except (OSError, sqlite3.Error) as e:
                raise StoreError.opening(self.path, e) from e
            self._mautrix_started = True

    def _mautrix_stores(self) -> tuple[Database, Database, PgCryptoStateStore]:
        if self._mautrix is None:
            from mautrix.client.state_store.asyncpg import PgStateStore
            from mautrix.crypto.store.asyncpg import PgCryptoStateStore, PgCryptoStore

            # They keep their own version tables, on the same connection as ours.
            crypto_db = Database.create(
                self._url,
                upgrade_table=PgCryptoStore.upgrade_table,
                log=logging.getLogger("tuimatrix.db.crypto"),
            )
            crypto_db.override_pool(self.db)
            state_db = Database.create(
                self._url,
                upgrade_table=PgStateStore.upgrade_table,
                log=logging.getLogger("tuimatrix.db.state"),
            )
            state_db.override_pool(self.db)
            self._mautrix = (crypto_db, state_db, PgCryptoStateStore(state_db))
        return self._mautrix

    @property
    def crypto_db(self) -> Database:
        return self._mautrix_stores()[0]

    @property
    def state_db(self) -> Database:
        return self._mautrix_stores()[1]

    @property
    def state_store(self) -> PgCryptoStateStore:
        return self._mautrix_stores()[2]

    async def close(self) -> None:
        # One closer at a time: two would both wait for the pool's one connection, and the
        # one that lost the race would wait forever.
        async with self._close_lock:
            await self.db.stop()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One connection in one transaction: everything written in it lands, or nothing."""
        conn: Connection
        async with self.db.acquire() as conn, conn.transaction():
            yield conn

    # -- sync state ----------------------------------------------------------------------------

    async def get_value(self, key: str) -> str | None:
        value = await self.db.fetchval("SELECT value FROM sync_state WHERE key=$1", key)
        return str(value) if value is not None else None

    async def set_value(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO sync_state (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            key,
            value,
        )

    async def next_batch(self) -> str | None:
        return await self.get_value("next_batch")

    async def crypto_device_id(self, user_id: str) -> str | None:
        """The device whose olm account this store holds, if any."""
        value = await self.db.fetchval(
            "SELECT device_id FROM crypto_account WHERE account_id=$1", user_id
        )
        return str(value) if value else None

    # -- reads used by the models --------------------------------------------------------------

    async def room_rows(self, room_ids: Sequence[str] | None = None) -> list[Any]:
        """Rows of the rooms table: all of them, or those of ``room_ids``."""
        if room_ids is None:
            return list(await self.db.fetch("SELECT * FROM rooms"))
        rows: list[Any] = []
        for chunk in _chunks(room_ids):
            rows += await self.db.fetch(
                f"SELECT * FROM rooms WHERE room_id IN ({_marks(len(chunk))})", *chunk
            )
        return rows

    async def member_rows(self, user_id: str) -> list[Any]:
        """``user_id``'s member event in every room, in the rows :meth:`state_rows` gives."""
        return list(
            await self.db.fetch(
                "SELECT room_id, type, state_key, sender, content FROM room_state "
                "WHERE type='m.room.member' AND state_key=$1",
                user_id,
            )
        )

    async def state_rows(
        self, types: Iterable[str], room_ids: Sequence[str] | None = None
    ) -> list[Any]:
        """Current state events of ``types``: of every room, or of ``room_ids``."""
        types = list(types)
        if room_ids is None:
            return list(
                await self.db.fetch(
                    f"SELECT room_id, type, state_key, sender, content FROM room_state "
                    f"WHERE type IN ({_marks(len(types))})",
                    *types,
                )
            )
        rows: list[Any] = []
        for chunk in _chunks(room_ids):
            # room_id first: the primary key's index finds each room's rows.
            rows += await self.db.fetch(
                f"SELECT room_id, type, state_key, sender, content FROM room_state "
                f"WHERE room_id IN ({_marks(len(chunk))}) "
                f"AND type IN ({_marks(len(types), len(chunk))})",
                *chunk,
                *types,
            )
        return rows

    async def room_state_rows(self, room_id: str) -> list[Any]:
        return list(
            await self.db.fetch(
                "SELECT type, state_key, sender, content FROM room_state WHERE room_id=$1",
                room_id,
            )
        )

    async def state_event(
        self, room_id: str, type_: str, state_key: str = ""
    ) -> tuple[str | None, dict[str, Any]] | None:
        """(sender, content) of a current state event, or None."""
        row = await self.db.fetchrow(
            "SELECT sender, content FROM room_state WHERE room_id=$1 AND type=$2 AND state_key=$3",
            room_id,
            type_,
            state_key,
        )
        return (row["sender"], loads(row["content"])) if row else None

    async def account_data(self, types: Iterable[str] | None = None) -> dict[tuple[str, str], Any]:
        """Account data by (room id or "", type): all of it, or only of ``types``."""
        if types is None:
            rows = await self.db.fetch("SELECT room_id, type, content FROM account_data")
        else:
            types = list(types)
            rows = await self.db.fetch(
                f"SELECT room_id, type, content FROM account_data "
                f"WHERE type IN ({_marks(len(types))})",
                *types,
            )
        return {(r["room_id"], r["type"]): loads(r["content"]) for r in rows}

    async def latest_events(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` events of a room, oldest first."""
        rows = await self.db.fetch(
            "SELECT json FROM events WHERE room_id=$1 ORDER BY position DESC LIMIT $2",
            room_id,
            limit,
        )
        return [loads(r["json"]) for r in reversed(rows)]

    async def events_before(
        self, room_id: str, event_id: str, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` stored events older than ``event_id``, oldest first."""
        rows = await self.db.fetch(
            "SELECT json FROM events WHERE room_id=$1 AND position < "
            "(SELECT position FROM events WHERE event_id=$2) ORDER BY position DESC LIMIT $3",
            room_id,
            event_id,
            limit,
        )
        return [loads(r["json"]) for r in reversed(rows)]

    async def related_events(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The stored events that change ``events``, wherever they are in the timeline: the
        newest edit of each message (by its sender, of its type, with content to show: spec
        "Event replacements") and the reactions to them, for ``timeline.build_items`` to take
        after ``events``. Redactions need no lookup: redacted events are stored pruned
        (core/stored_relations.py)."""
        ids = [str(e.get("event_id")) for e in events]
        if not ids:
            return []
        edits = await self.db.fetch(
            "SELECT json FROM (SELECT e.json, ROW_NUMBER() OVER ("
            "  PARTITION BY r.target_id ORDER BY r.origin_server_ts DESC, r.event_id DESC) AS n"
            " FROM relations r"
            " JOIN events o ON o.event_id = r.target_id AND o.room_id = r.room_id"
            "  AND o.sender = r.sender"
            " JOIN events e ON e.event_id = r.event_id AND e.type = o.type"
            " WHERE r.rel_type = $1 AND r.target_id IN (SELECT value FROM json_each($2))"
            "  AND json_type(e.json, '$.content.\"m.new_content\"') = 'object'"
            ") WHERE n = 1",
            EDIT,
            dumps(ids),
        )
        reactions = await self.db.fetch(
            "SELECT e.json FROM relations r JOIN events e ON e.event_id = r.event_id"
            " JOIN events o ON o.event_id = r.target_id AND o.room_id = r.room_id"
            " WHERE r.rel_type = $1 AND r.target_id IN (SELECT value FROM json_each($2))"
            " ORDER BY e.position",
            ANNOTATION,
            dumps(ids),
        )
        return [loads(row["json"]) for row in [*edits, *reactions]]

    async def event(self, event_id: str) -> dict[str, Any] | None:
        text = await self.db.fetchval("SELECT json FROM events WHERE event_id=$1", event_id)
        return loads(text) if text is not None else None

    async def count_events(self, room_id: str, event_type: str | None = None) -> int:
        if event_type is None:
            n = await self.db.fetchval("SELECT COUNT(*) FROM events WHERE room_id=$1", room_id)
        else:
            n = await self.db.fetchval(
                "SELECT COUNT(*) FROM events WHERE room_id=$1 AND type=$2", room_id, event_type
            )
        return int(n or 0)

    async def gaps(self, room_id: str | None = None) -> list[tuple[str, float, str]]:
        if room_id is None:
            rows = await self.db.fetch("SELECT room_id, position, prev_batch FROM gaps")
        else:
            rows = await self.db.fetch(
                "SELECT room_id, position, prev_batch FROM gaps WHERE room_id=$1", room_id
            )
        return [(r["room_id"], float(r["position"]), r["prev_batch"]) for r in rows]

    async def receipts(self, room_id: str) -> list[Any]:
        return list(
            await self.db.fetch(
                "SELECT user_id, receipt_type, thread_id, event_id, ts FROM receipts "
                "WHERE room_id=$1",
                room_id,
            )
        )

"""The send queue: messages survive errors, restarts and retries without duplicates.

Each message gets a transaction id that is written to the store before the first request and
reused on every retry; the homeserver de-duplicates by it. Messages of one room go out in the
order they were queued. A connection error leaves the message queued (retried with back-off);
an error from the server (forbidden, too large…) marks it failed with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tuimatrix.core.errors import describe_error, is_connection_error
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.store import Store, dumps, loads

log = logging.getLogger(__name__)

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
#: what a discarded message's last change says (it is gone from the queue)
DISCARDED = "discarded"

#: Back-off between attempts while the server cannot be reached (seconds).
BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0


@dataclass(frozen=True)
class LocalEcho:
    """One queued message as the timeline shows it before (and while) it is sent."""

    txn_id: str
    room_id: str
    event_type: str
    content: dict[str, Any]
    state: str
    event_id: str | None = None
    error: str | None = None


def new_txn_id() -> str:
    return f"tm{int(time.time() * 1000)}.{secrets.token_hex(6)}"


class SendQueue:
    def __init__(
        self,
        store: Store,
        send: Callable[[str, str, str, dict[str, Any]], Any],
        on_change: Callable[[LocalEcho], None],
    ) -> None:
        """``send(room_id, event_type, txn_id, content)`` must return the event id."""
        self.store = store
        self._send = send
        self._on_change = on_change
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[LocalEcho]]] = {}

    @staticmethod
    def http_sender(api: Any) -> Callable[[str, str, str, dict[str, Any]], Any]:
        async def send(room_id: str, event_type: str, txn_id: str, content: dict[str, Any]) -> str:
            resp = await api.request(
                Method.PUT,
                Path.v3.rooms[room_id].send[event_type][txn_id],
                content,
                retry_count=0,
            )
            return str(resp["event_id"])

        return send

    async def enqueue(self, room_id: str, event_type: str, content: dict[str, Any]) -> LocalEcho:
        """Persist the message (and its transaction id), then wake the sender."""
        echo = LocalEcho(new_txn_id(), room_id, event_type, content, QUEUED)
        await self.store.db.execute(
            "INSERT INTO send_queue (txn_id, room_id, event_type, content, state, created_ts) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            echo.txn_id,
            room_id,
            event_type,
            dumps(content),
            QUEUED,
            int(time.time() * 1000),
        )
        self._on_change(echo)
        self._wakeup.set()
        return echo

    async def wait(self, txn_id: str) -> LocalEcho:
        """Wait until the message is sent or has failed."""
        if self._task is None:
            # Nobody sends in the background (a one-shot command): send now, in order.
            await self.flush()
        echo = await self.get(txn_id)
        if echo is None or echo.state != QUEUED:
            if echo is None:
                raise KeyError(txn_id)
            return echo
        future: asyncio.Future[LocalEcho] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txn_id, []).append(future)
        return await future

    def _notify(self, echo: LocalEcho) -> None:
        self._on_change(echo)
        if echo.state != QUEUED:
            for future in self._waiters.pop(echo.txn_id, []):
                if not future.done():
                    future.set_result(echo)

    async def pending(self, room_id: str | None = None) -> list[LocalEcho]:
        """Queued and failed messages (sent ones are in the timeline)."""
        rows = await self.store.db.fetch(
            "SELECT * FROM send_queue WHERE state != $1 ORDER BY seq", SENT
        )
        return [self._echo(r) for r in rows if room_id is None or r["room_id"] == room_id]

    async def get(self, txn_id: str) -> LocalEcho | None:
        row = await self.store.db.fetchrow("SELECT * FROM send_queue WHERE txn_id=$1", txn_id)
        return self._echo(row) if row else None

    async def retry(self, txn_id: str) -> LocalEcho | None:
        """Send a failed message again (same transaction id); None if it had not failed."""
        echo = await self.get(txn_id)
        if echo is None or echo.state != FAILED:
            return None
        await self.store.db.execute(
            "UPDATE send_queue SET state=$1, error=NULL WHERE txn_id=$2 AND state=$3",
            QUEUED,
            txn_id,
            FAILED,
        )
        queued = self._replace(echo, state=QUEUED, error=None)
        self._on_change(queued)  # the timeline shows it as sending again
        self._wakeup.set()
        return queued

    async def cancel(self, txn_id: str) -> LocalEcho | None:
        """Drop a message that is not sent; its last change says DISCARDED (None if none)."""
        echo = await self.get(txn_id)
        if echo is None or echo.state == SENT:
            return None
        await self.store.db.execute(
            "DELETE FROM send_queue WHERE txn_id=$1 AND state != $2", txn_id, SENT
        )
        discarded = self._replace(echo, state=DISCARDED)
        self._notify(discarded)
        return discarded

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="send-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def flush(self) -> None:
        """Try every queued message once now (used by `exec` and tests)."""
        while await self._send_next():
            pass

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                if await self._send_next():
                    backoff = BACKOFF_MIN
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection trouble: wait, then try the same message again
                log.info("send queue: %s; retrying in %.1fs", describe_error(e), backoff)
                try:
                    await asyncio.wait_for(self._wakeup.wait(), backoff)
                except TimeoutError:
                    pass
                self._wakeup.clear()
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _send_next(self) -> bool:
        """Send the oldest queued message. False when none is left; raises to retry later."""
        row = await self.store.db.fetchrow(
            "SELECT * FROM send_queue WHERE state=$1 ORDER BY seq LIMIT 1", QUEUED
        )
        if row is None:
            return False
        echo = self._echo(row)
        try:
            event_id = await self._send(echo.room_id, echo.event_type, echo.txn_id, echo.content)
        except Exception as e:
            if is_connection_error(e):
                raise
            error = describe_error(e)
            await self.store.db.execute(
                "UPDATE send_queue SET state=$1, error=$2 WHERE txn_id=$3",
                FAILED,
                error,
                echo.txn_id,
            )
            self._notify(self._replace(echo, state=FAILED, error=error))
            return True
        await self.store.db.execute(
            "UPDATE send_queue SET state=$1, event_id=$2 WHERE txn_id=$3",
            SENT,
            event_id,
            echo.txn_id,
        )
        self._notify(self._replace(echo, state=SENT, event_id=event_id))
        return True

    @staticmethod
    def _replace(echo: LocalEcho, **changes: Any) -> LocalEcho:
        return LocalEcho(**{**echo.__dict__, **changes})

    @staticmethod
    def _echo(row: Any) -> LocalEcho:
        return LocalEcho(
            txn_id=row["txn_id"],
            room_id=row["room_id"],
            event_type=row["event_type"],
            content=loads(row["content"]),
            state=row["state"],
            event_id=row["event_id"],
            error=row["error"],
        )

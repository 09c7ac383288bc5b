"""The send queue: messages survive errors, restarts and retries without duplicates.

Each message gets a transaction id that is written to the store before the first request and
reused on every retry; the homeserver de-duplicates by it. Messages of one room go out in the
order they were queued. A connection error leaves the message queued (retried with back-off);
an error from the server (forbidden, too large…) marks it failed with the reason.

Without a background sender (a one-shot command), :meth:`SendQueue.wait` retries for at most
``one_shot_timeout`` seconds, and remembers which messages may have reached the server although
no answer said so (:meth:`SendQueue.may_be_stored`): the caller can then tell "not sent" from
"not known".
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tuimatrix.core.errors import UserError, describe_error, is_connection_error, retry_after
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.sanitize import clean_line

# The queue's states are defined with its table; callers read them from here too.
from tuimatrix.core.store import FAILED as FAILED
from tuimatrix.core.store import QUEUED as QUEUED
from tuimatrix.core.store import SENT as SENT
from tuimatrix.core.store import Store, dumps, loads

# Transaction ids have a light module of their own (exec checks a key before anything heavy).
from tuimatrix.core.txn_ids import check_txn_key as check_txn_key
from tuimatrix.core.txn_ids import new_txn_id

log = logging.getLogger(__name__)

#: what a discarded message's last change says (it is gone from the queue)
DISCARDED = "discarded"

#: Back-off between attempts while the server cannot be reached (seconds).
BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
#: How many echoed transaction ids a queue remembers for late waiters.
_ECHOED_KEPT = 1000
#: How long a one-shot delivery keeps retrying a message (seconds), unless told otherwise.
ONE_SHOT_TIMEOUT = 30.0
# 5xx statuses that say the server did not handle the request: it stored nothing.
_NOT_HANDLED = (503,)


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


@dataclass
class SendScope:
    """The messages that one request queues or retries, for the owner to settle afterwards.

    The owner process runs several requests at once (``exec`` from several scripts) on one
    queue: each request's messages are told apart by the scope it runs in (a context
    variable, so every task of the request shares it and no other request sees it).
    """

    #: the request's idempotency key (``exec --txn-id``): its transaction ids are made from it
    txn_key: str | None = None
    #: when the request stops waiting for its messages (event loop time)
    deadline: float | None = None
    #: (queue, transaction id, retried): every message queued (or re-queued) in the scope
    messages: list[tuple[SendQueue, str, bool]] = field(default_factory=list)
    _keyed: int = 0

    def next_txn_id(self) -> str | None:
        if self.txn_key is None:
            return None
        self._keyed += 1
        return self.txn_key if self._keyed == 1 else f"{self.txn_key}.{self._keyed}"

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - asyncio.get_running_loop().time())


_scope: ContextVar[SendScope | None] = ContextVar("send_scope", default=None)


@contextmanager
def send_scope(scope: SendScope) -> Iterator[SendScope]:
    """Run the body's sends in ``scope`` (see :class:`SendScope`)."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


class NotConfirmed(UserError):
    """A command's message was still queued when its wait ended (a deadline): its fate is
    settled by the caller (tuimatrix.owner.sends), which may learn it was sent after all."""


class NotQueued(UserError):
    """The message could not be written to the store: it is neither queued nor sent."""


def _write_failure(exc: sqlite3.Error | OSError) -> str:
    """Why a write to the store failed, in a few words."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    code = getattr(exc, "errno", None)
    if name == "SQLITE_FULL" or code == errno.ENOSPC:
        return "the disk is full"
    if name.startswith("SQLITE_READONLY") or code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the store cannot be written"
    return clean_line(str(exc)) or type(exc).__name__


def may_have_reached_server(exc: BaseException) -> bool:
    """Whether the server may have stored an event whose send ended with ``exc``.

    Only a connection that was never made, or an answer saying the request was not handled
    (any 4xx: refused, a token it does not take, rate-limited; or 503), rules it out; a cut
    connection, a cut-short or garbled answer, another 5xx (a gateway's among them) or a
    timeout may all come after the server stored the event.
    """
    import aiohttp

    status = getattr(exc, "http_status", None)
    if isinstance(status, int) and status >= 400:
        return status >= 500 and status not in _NOT_HANDLED
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError | ConnectionRefusedError):
            return False
        cause = cause.__cause__
    return True


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
        #: how long :meth:`wait` retries when nothing sends in the background (seconds)
        self.one_shot_timeout = ONE_SHOT_TIMEOUT
        # Messages an attempt may have stored on the server (the answer was lost), and the
        # last connection error of each message still queued: in memory, for this process.
        self._maybe_stored: set[str] = set()
        self._last_error: dict[str, str] = {}
        # The message a request is out for now (its fate is open until the answer comes).
        self._in_flight: str | None = None
        # The latest messages a sync brought back (transaction id → event id): their rows are
        # gone, and a waiter that comes late must still learn they were sent.
        self._echoed: dict[str, str] = {}

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

    @staticmethod
    def _next_txn_id(scope: SendScope | None) -> str:
        """Drawn at random, or made from the scope's idempotency key (``key``, ``key.2``…):
        the server de-duplicates a transaction id of one device, so a script that sends
        again with the same key after an unknown fate (an answer lost) cannot post twice."""
        if scope is not None and (keyed := scope.next_txn_id()) is not None:
            return keyed
        return new_txn_id()

    async def enqueue(self, room_id: str, event_type: str, content: dict[str, Any]) -> LocalEcho:
        """Persist the message (and its transaction id), then wake the sender."""
        scope = _scope.get()
        txn_id = self._next_txn_id(scope)
        if scope is not None and scope.txn_key is not None:
            earlier = await self.get(txn_id)
            if earlier is not None and earlier.state == SENT:
                return earlier  # an earlier run with this key sent it: nothing to do again
            if earlier is not None:
                await self.store.db.execute("DELETE FROM send_queue WHERE txn_id=$1", txn_id)
        echo = LocalEcho(txn_id, room_id, event_type, content, QUEUED)
        try:
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
        except (sqlite3.Error, OSError) as e:
            raise NotQueued(
                f"could not queue the message: {_write_failure(e)} ({self.store.path})"
            ) from e
        if scope is not None:
            scope.messages.append((self, txn_id, False))
        self._on_change(echo)
        self._wakeup.set()
        return echo

    async def wait(self, txn_id: str) -> LocalEcho:
        """Wait until the message is sent or has failed.

        With no background sender, send now (in order), retrying connection trouble for
        ``one_shot_timeout`` seconds; a message still queued then is returned as it is, with
        the last connection error as its ``error``. With one, wait at most until the deadline
        of the :class:`SendScope` in force, if any (likewise returned as it is then).
        """
        if self._task is None:
            await self.deliver(self.one_shot_timeout)
            echo = await self.get(txn_id)
            if echo is None:
                return self._gone(txn_id)
            if echo.state == QUEUED:
                return self._replace(echo, error=self.last_error(txn_id))
            return echo
        echo = await self.get(txn_id)
        if echo is None:
            return self._gone(txn_id)
        if echo.state != QUEUED:
            return echo
        future: asyncio.Future[LocalEcho] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txn_id, []).append(future)
        scope = _scope.get()
        remaining = scope.remaining() if scope is not None else None
        try:
            return await asyncio.wait_for(asyncio.shield(future), remaining)
        except TimeoutError:
            return self._replace(echo, error=self.last_error(txn_id))
        finally:
            waiting = self._waiters.get(txn_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[txn_id]

    def _gone(self, txn_id: str) -> LocalEcho:
        """A message whose row is gone: a sync showed it sent, or it was discarded."""
        if txn_id in self._echoed:
            return self._sent_echo(txn_id)
        return LocalEcho(txn_id, "", "", {}, DISCARDED, error="discarded")

    def _notify(self, echo: LocalEcho) -> None:
        self._on_change(echo)
        if echo.state != QUEUED:
            for future in self._waiters.pop(echo.txn_id, []):
                if not future.done():
                    future.set_result(echo)

    def echoed(self, echoes: dict[str, str]) -> None:
        """Our own events came back in a sync (transaction id → event id), and the sync removed
        their queue entries: the server has them, whatever an attempt's lost answer left open.
        Whoever waits for one learns it was sent."""
        for txn_id, event_id in echoes.items():
            self._echoed[txn_id] = event_id
            self._maybe_stored.discard(txn_id)
            self._last_error.pop(txn_id, None)
            for future in self._waiters.pop(txn_id, []):
                if not future.done():
                    future.set_result(self._sent_echo(txn_id))
        while len(self._echoed) > _ECHOED_KEPT:
            del self._echoed[next(iter(self._echoed))]

    def _sent_echo(self, txn_id: str) -> LocalEcho:
        return LocalEcho(txn_id, "", "", {}, SENT, event_id=self._echoed[txn_id])

    def sent_event_id(self, txn_id: str) -> str | None:
        """The event id of a message a sync showed was sent (its row is gone), if known."""
        return self._echoed.get(txn_id)

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
        if (scope := _scope.get()) is not None:
            scope.messages.append((self, txn_id, True))
        self._on_change(queued)  # the timeline shows it as sending again
        self._wakeup.set()
        return queued

    async def give_up(self, txn_id: str, reason: str) -> LocalEcho | None:
        """Mark a queued message failed with ``reason``: it is not sent unless retried (None if
        it was not queued)."""
        echo = await self.get(txn_id)
        if echo is None or echo.state != QUEUED:
            return None
        await self.store.db.execute(
            "UPDATE send_queue SET state=$1, error=$2 WHERE txn_id=$3 AND state=$4",
            FAILED,
            reason,
            txn_id,
            QUEUED,
        )
        failed = self._replace(echo, state=FAILED, error=reason)
        self._notify(failed)
        return failed

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
        """Try every queued message once now (used by tests); a connection error raises."""
        while await self._send_next():
            pass

    async def deliver(self, retry_for: float) -> None:
        """Send every queued message, in order, retrying connection trouble with the same
        transaction ids (the server de-duplicates them) for at most ``retry_for`` seconds.

        What is still queued afterwards could not be sent in time; :meth:`may_be_stored`
        says whether an attempt may have reached the server all the same.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + retry_for
        backoff = BACKOFF_MIN
        while (remaining := end - loop.time()) > 0:
            attempt = asyncio.timeout(remaining)
            try:
                async with attempt:
                    if not await self._send_next():
                        return
            except Exception as e:
                if attempt.expired():
                    return  # the deadline, in the middle of an attempt (marked by _send_next)
                if not is_connection_error(e):  # an HTTP read timeout is one: retried
                    raise
                wait = retry_after(e) or backoff
                if loop.time() + wait >= end:
                    return
                log.info("send queue: %s; retrying in %.1fs", describe_error(e), wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN

    def last_error(self, txn_id: str) -> str | None:
        """Why the last attempt of this process to send a still-queued message failed."""
        return self._last_error.get(txn_id)

    def may_be_stored(self, txn_id: str) -> bool:
        """Whether an attempt of this process to send the message may have reached the
        server although no answer confirmed it (so "not sent" would not be known), or one is
        out now."""
        return txn_id in self._maybe_stored or txn_id == self._in_flight

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
        self._in_flight = echo.txn_id
        try:
            event_id = await self._send(echo.room_id, echo.event_type, echo.txn_id, echo.content)
        except asyncio.CancelledError:
            # Cut off mid-request (a deadline, a stop): the server may have it all the same.
            self._maybe_stored.add(echo.txn_id)
            self._last_error[echo.txn_id] = "the server did not answer in time"
            raise
        except Exception as e:
            if is_connection_error(e):
                if may_have_reached_server(e):
                    self._maybe_stored.add(echo.txn_id)
                self._last_error[echo.txn_id] = describe_error(e)
                raise
            error = describe_error(e)
            await self.store.db.execute(
                "UPDATE send_queue SET state=$1, error=$2 WHERE txn_id=$3",
                FAILED,
                error,
                echo.txn_id,
            )
            # A refusal of a transaction the server had stored would have answered its event
            # id instead (the spec's idempotency): it stored nothing.
            self._maybe_stored.discard(echo.txn_id)
            self._last_error.pop(echo.txn_id, None)
            self._notify(self._replace(echo, state=FAILED, error=error))
            return True
        finally:
            self._in_flight = None
        # The server has it. Should a deadline cut the write below short, the message must not
        # be taken for one that never went: it counts as possibly stored until the write is
        # done, and the write itself is shielded from the cancellation.
        self._maybe_stored.add(echo.txn_id)
        await asyncio.shield(
            self.store.db.execute(
                "UPDATE send_queue SET state=$1, event_id=$2 WHERE txn_id=$3",
                SENT,
                event_id,
                echo.txn_id,
            )
        )
        self._maybe_stored.discard(echo.txn_id)
        self._last_error.pop(echo.txn_id, None)
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

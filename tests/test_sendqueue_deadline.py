"""SendQueue.deliver: retries within its deadline, and knows "not sent" from "not known".

The queue's logic with a scripted sender (a fake for pure logic) over a real store; the
network faults themselves are tested end to end in test_faults_send.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tuimatrix.core.sendqueue import QUEUED, SENT, SendQueue
from tuimatrix.core.store import Store


class ScriptedSender:
    """Answers each send with the next scripted outcome: an exception to raise, "hang" to
    never answer, or an event id."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.txn_ids: list[str] = []

    async def __call__(self, room_id: str, event_type: str, txn_id: str, content: Any) -> str:
        self.txn_ids.append(txn_id)
        outcome = self.outcomes.pop(0)
        if outcome == "hang":
            await asyncio.Event().wait()
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "store.db")
    await store.open(mautrix=False)
    try:
        yield store
    finally:
        await store.close()


async def test_an_http_read_timeout_is_retried_not_taken_for_the_deadline(store: Store) -> None:
    sender = ScriptedSender(TimeoutError(), "$sent")
    queue = SendQueue(store, sender, lambda echo: None)
    echo = await queue.enqueue("!r:x", "m.room.message", {"body": "hi"})
    await queue.deliver(10)
    done = await queue.get(echo.txn_id)
    assert done is not None and done.state == SENT and done.event_id == "$sent"
    assert sender.txn_ids == [echo.txn_id, echo.txn_id]  # the same transaction, retried
    assert not queue.may_be_stored(echo.txn_id)


async def test_an_answer_that_never_comes_ends_at_the_deadline_as_unknown(store: Store) -> None:
    queue = SendQueue(store, ScriptedSender("hang"), lambda echo: None)
    echo = await queue.enqueue("!r:x", "m.room.message", {"body": "hi"})
    async with asyncio.timeout(5):  # no hang past the deadline
        await queue.deliver(0.5)
    left = await queue.get(echo.txn_id)
    assert left is not None and left.state == QUEUED
    assert queue.may_be_stored(echo.txn_id)


async def test_a_refused_connection_is_known_not_stored(store: Store) -> None:
    queue = SendQueue(store, ScriptedSender(*[ConnectionRefusedError()] * 20), lambda echo: None)
    echo = await queue.enqueue("!r:x", "m.room.message", {"body": "hi"})
    await queue.deliver(0.8)
    left = await queue.get(echo.txn_id)
    assert left is not None and left.state == QUEUED
    assert not queue.may_be_stored(echo.txn_id)


def _answer(status: int, errcode: str) -> Exception:
    from mautrix.errors import make_request_error

    return make_request_error(
        http_status=status, text="{}", errcode=errcode, message="refused (scripted)"
    )


@pytest.mark.parametrize(("status", "errcode"), [(401, "M_UNKNOWN_TOKEN"), (503, "M_UNKNOWN")])
async def test_an_answer_that_says_not_handled_is_known_not_stored(
    store: Store, status: int, errcode: str
) -> None:
    """A 401 (a token the server does not take) or a 503 is an answer from a server that
    stored nothing: exec must say "not sent" (1), not "may have stored it" (3)."""
    queue = SendQueue(store, ScriptedSender(*[_answer(status, errcode)] * 20), lambda e: None)
    echo = await queue.enqueue("!r:x", "m.room.message", {"body": "hi"})
    await queue.deliver(0.8)
    left = await queue.get(echo.txn_id)
    assert left is not None and left.state == QUEUED
    assert not queue.may_be_stored(echo.txn_id)


async def test_a_message_its_key_left_queued_is_this_runs_message(store: Store) -> None:
    """``exec --queue --txn-id K`` left K queued; ``exec --txn-id K`` then fails: K is
    withdrawn with this run's failure, never sent by a later run."""
    from tuimatrix.core.errors import UserError
    from tuimatrix.core.sendqueue import SendScope, send_scope
    from tuimatrix.owner.sends import settle_sends

    first = SendQueue(store, ScriptedSender(), lambda e: None)
    with send_scope(SendScope("K")):
        await first.enqueue("!r:x", "m.room.message", {"body": "X"})
    second = SendQueue(store, ScriptedSender(*[_answer(503, "M_UNKNOWN")] * 20), lambda e: None)
    second.start()  # the owner's queue sends in the background
    try:
        scope = SendScope("K", asyncio.get_running_loop().time() + 0.5)
        with send_scope(scope):
            echo = await second.enqueue("!r:x", "m.room.message", {"body": "X"})
            assert echo.txn_id == "K"
            done = await second.wait(echo.txn_id)
            assert done.state == QUEUED  # the deadline, not an answer
            with pytest.raises(UserError, match="nothing is queued"):
                await settle_sends(scope, UserError(f"not sent: {done.error}"), queue=False)
    finally:
        await second.stop()
    assert await second.pending() == []


async def test_a_deadline_during_the_sent_write_never_reads_as_not_sent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server answered with the event id, and the deadline fell while the store was
    writing "sent": the message counts as possibly stored (never "not sent"), and the
    shielded write still lands."""
    gate = asyncio.Event()
    execute = store.db.execute

    async def slow_sent_write(query: str, *args: Any) -> Any:
        if query.startswith("UPDATE send_queue SET state=$1, event_id="):
            await gate.wait()
        return await execute(query, *args)

    monkeypatch.setattr(store.db, "execute", slow_sent_write)
    queue = SendQueue(store, ScriptedSender("$sent"), lambda e: None)
    echo = await queue.enqueue("!r:x", "m.room.message", {"body": "hi"})
    async with asyncio.timeout(5):
        await queue.deliver(0.3)
    assert queue.may_be_stored(echo.txn_id)
    gate.set()
    async with asyncio.timeout(5):
        while (done := await queue.get(echo.txn_id)) is None or done.state != SENT:
            await asyncio.sleep(0.01)
    assert done.event_id == "$sent"

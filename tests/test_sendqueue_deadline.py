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

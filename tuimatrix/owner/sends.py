"""After a request's command: settle the messages it queued, so that its answer is exact.

The owner's send queues run in the background; a request waits for its own messages (those
of its :class:`~tuimatrix.core.sendqueue.SendScope`) until its deadline. What is still not
sent then is either kept (``--queue``) or withdrawn, so that no message the client is told
failed can go out later; a message whose fate is open (a request out, an answer lost) is
reported as such, never as "not sent".
"""

from __future__ import annotations

from tuimatrix.commands import Result
from tuimatrix.core.errors import UserError, describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import (
    FAILED,
    QUEUED,
    SENT,
    LocalEcho,
    NotConfirmed,
    SendQueue,
    SendScope,
)


class SendUnknown(UserError):
    """A message may have reached the server although no answer said so; it is not queued."""


async def _unsent(scope: SendScope) -> list[tuple[SendQueue, LocalEcho, bool]]:
    """The scope's messages that are not sent: (queue, echo, retried)."""
    found = []
    for queue, txn_id, retried in scope.messages:
        echo = await queue.get(txn_id)
        if echo is not None and echo.state in (QUEUED, FAILED):
            found.append((queue, echo, retried))
    return found


async def settle_sends(scope: SendScope, error: Exception | None, *, queue: bool) -> Result | None:
    """Leave no message of the request behind that the caller is told failed.

    Returns a result that replaces a failure when ``queue`` kept the messages; raises
    ``error`` (made to say what became of the messages) when any is not sent.
    """
    late = isinstance(error, NotConfirmed)
    if late:
        error = None  # the messages' states say what became of them, not the ended wait
    unsent = await _unsent(scope)
    if error is None:
        for send_queue, echo, _retried in unsent:
            if echo.state == QUEUED:  # a command that queued without waiting: wait (bounded)
                await send_queue.wait(echo.txn_id)
        unsent = await _unsent(scope)
    if not unsent:
        if error is not None:
            raise error
        return _sent_late(scope) if late and await _all_sent(scope) else None
    send_queue, first, _ = unsent[0]
    why = first.error or send_queue.last_error(first.txn_id) or "not confirmed in time"
    if queue and all(echo.state == QUEUED for _, echo, _ in unsent):
        count = len(unsent)
        return Result(
            f"{count} message{'s' if count > 1 else ''} queued, not sent yet ({clean_line(why)}):"
            " sent as soon as the server takes it",
            {"queued": [echo.txn_id for _, echo, _ in unsent]},
        )
    reason = describe_error(error) if error is not None else f"not sent: {why}"
    unknown = await withdraw(unsent, reason)
    if error is None and await _all_sent(scope):
        return _sent_late(scope)  # sent while this was being decided
    if unknown:
        raise SendUnknown(
            f"{reason}; the server may have stored it all the same (its answer was lost), "
            "and it is not queued"
        )
    raise UserError(f"{reason}; nothing is queued")


async def _all_sent(scope: SendScope) -> bool:
    for queue, txn_id, _ in scope.messages:
        echo = await queue.get(txn_id)
        if not ((echo is not None and echo.state == SENT) or queue.sent_event_id(txn_id)):
            return False
    return True


def _sent_late(scope: SendScope) -> Result:
    """The messages went out after the command's own wait ended."""
    count = len(scope.messages)
    ids = [queue.sent_event_id(txn_id) for queue, txn_id, _ in scope.messages]
    return Result(
        f"{count} message{'s' if count > 1 else ''} sent",
        {"event_ids": [event_id for event_id in ids if event_id]},
    )


async def withdraw_scope(scope: SendScope, reason: str) -> bool:
    """The request was interrupted: none of its messages that are not sent may go later.
    True if it had messages and none of them went out (each is withdrawn for sure)."""
    unsent = await _unsent(scope)
    unknown = await withdraw(unsent, reason)
    return bool(scope.messages) and not unknown and len(unsent) == len(scope.messages)


async def withdraw(unsent: list[tuple[SendQueue, LocalEcho, bool]], reason: str) -> bool:
    """Make sure these are not sent later: a new message is dropped, a retried one is marked
    failed again (as it was before). True if the fate of any is open (it may be stored)."""
    unknown = False
    for send_queue, echo, retried in unsent:
        if echo.state == SENT:
            continue
        if echo.state == QUEUED and send_queue.may_be_stored(echo.txn_id):
            unknown = True
        if retried:
            await send_queue.give_up(echo.txn_id, reason)
        else:
            await send_queue.cancel(echo.txn_id)
    return unknown

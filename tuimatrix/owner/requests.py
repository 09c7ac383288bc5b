"""What the owner does for its clients: run a command line, list what completion offers.

A command runs in the owner exactly as the palette runs it (the one registry), with the
client's context (:mod:`.context`), its messages in a :class:`SendScope` that is settled
before the answer goes back (:mod:`.sends`): the answer is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING, Any

from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.core.sendqueue import SendScope, send_scope
from tuimatrix.owner.context import AskingContext, ExecContext
from tuimatrix.owner.sends import SendUnknown, settle_sends, withdraw_scope
from tuimatrix.owner.wire import NO_COMMAND_LINE, SEND_TIMEOUT

if TYPE_CHECKING:
    from tuimatrix.commands import Result
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.owner.server import Connection
    from tuimatrix.owner.vocabulary import VocabularyCache

#: The longest a request may ask to wait (seconds).
MAX_TIMEOUT = 3600.0
#: The longest command line an owner parses (characters): a 64 KiB body with its quoting and
#: options fits; parsing is pure Python in the owner's loop (the app's interface), and an
#: 8 MB line held it for seconds.
MAX_COMMAND_LINE = 256 * 1024

#: events in flight between the feeds and a listener's socket
LISTEN_BUFFER = 64
#: a listener that reads nothing for this long (seconds) is dropped
LISTEN_STUCK = 60.0
#: events a listener may leave unread (past the socket's buffers) before it is dropped
LISTEN_MAX_PENDING = 1000

#: exit statuses, as ``exec`` documents them
DONE, FAILED, USAGE, UNKNOWN = 0, 1, 2, 3


def error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def result_message(result: Result) -> dict[str, Any]:
    return {
        "result": {
            "message": result.message,
            "data": result.data,
            "rows": result.rows,
            "columns": list(result.columns),
        }
    }


def _text(request: dict[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{key}: not a string")
    return value


def _timeout(request: dict[str, Any]) -> float:
    value = request.get("timeout", SEND_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError("timeout: not a number of seconds")
    return min(max(float(value), 0.1), MAX_TIMEOUT)


def _account(accounts: Accounts, user_id: str | None) -> Account | None:
    """The --account account, or the only one (None when several and none named)."""
    from tuimatrix.commands.runner import find_account

    if user_id is not None:
        try:
            return find_account(accounts, user_id)
        except UsageError as e:
            raise UsageError(f"--account: {e}") from e
    return next(iter(accounts)) if len(accounts) == 1 else None


def _room(accounts: Accounts, request: dict[str, Any]) -> tuple[Account, str] | None:
    """The shell's current room (``use``), as (account, room id)."""
    room = request.get("room")
    if room is None:
        return None
    if not (isinstance(room, list) and len(room) == 2 and all(isinstance(x, str) for x in room)):
        raise UsageError("room: [account, room id] expected")
    account = accounts.get(room[0])
    if account is None:
        raise UsageError(f"no saved session for {room[0]}")
    return account, room[1]


async def run_command(
    accounts: Accounts, request: dict[str, Any], conn: Connection
) -> dict[str, Any]:
    """``{"op": "exec", "line", "account"?, "queue"?, "timeout"?, "txn_key"?, "stdin"?,
    "interactive"?, "room"?}``: run the line; its result, or an error with its exit status."""
    from tuimatrix.commands import parse_line, runner
    from tuimatrix.core.txn_ids import check_txn_key_option

    try:
        line = _text(request, "line")
        if not line or not line.strip():
            raise UsageError(NO_COMMAND_LINE)
        if len(line) > MAX_COMMAND_LINE:  # in characters: what parsing costs
            raise UsageError(
                f"exec: the command line is too long (more than {MAX_COMMAND_LINE // 1024} KiB);"
                " give a long text on standard input with `-`"
            )
        cmd, _args = parse_line(line)  # a usage error before anything runs
        txn_key = _text(request, "txn_key")
        if txn_key is not None:
            check_txn_key_option(txn_key)
        timeout = _timeout(request)
        account = _account(accounts, _text(request, "account"))
        room = _room(accounts, request)
        if account is not None and request.get("account") is not None:
            accounts = accounts.only(account)  # as if only this session were open
        ctx: ExecContext
        if request.get("interactive"):
            ctx = AskingContext(accounts, conn, account, room=room)
        else:
            stdin = _text(request, "stdin")
            ctx = ExecContext(accounts, account, stdin=stdin, room=room, asker=conn)
        runner.refuse_app_only(ctx.ui, cmd)
    except UsageError as e:
        return error(USAGE, str(e))
    scope = SendScope(txn_key, asyncio.get_running_loop().time() + timeout)
    failure: Exception | None = None
    result: Result | None = None
    with send_scope(scope):
        try:
            result = await runner.run_line(ctx, line)
        except Exception as e:  # whatever failed, the messages it queued must be settled
            failure = e
        except BaseException:  # the client left, or the owner closes: none may go later
            await _cut_off(scope, conn)
            raise
        try:
            settled = await settle_sends(scope, failure, queue=bool(request.get("queue")))
        except asyncio.CancelledError:
            # Cut off while deciding: what is not sent is withdrawn (even with --queue, as
            # nobody was told it is queued), never left half decided to go out later.
            await _cut_off(scope, conn)
            raise
        except runner.Cancelled:
            return error(FAILED, "cancelled")
        except UsageError as e:
            return error(USAGE, str(e))
        except SendUnknown as e:
            return error(UNKNOWN, str(e))
        except Exception as e:
            return error(FAILED, describe_error(e))
    result = settled or result
    assert result is not None  # without an error, the command returned one
    return result_message(result)


async def _cut_off(scope: SendScope, conn: Connection) -> None:
    """The request is cancelled (its client left, or the owner closes after its grace):
    withdraw what is not sent, and tell a client still there what became of it, exactly."""
    withdrawn = await asyncio.shield(withdraw_scope(scope, "interrupted"))
    why = "cut off before it finished (the owner is closing)"
    if withdrawn:
        answer = error(FAILED, f"{why}: not sent, not queued")
    else:
        answer = error(UNKNOWN, f"{why}: it may or may not be done")
    with contextlib.suppress(Exception):  # a client that left reads nothing
        await asyncio.wait_for(conn.send(answer), 1.0)


async def vocabulary(
    cache: VocabularyCache, request: dict[str, Any], conn: Connection
) -> dict[str, Any]:
    """``{"op": "vocabulary"}``: what a shell completes (rooms, users, tags, accounts)."""
    return {"vocabulary": await cache.get()}


async def resolve(accounts: Accounts, request: dict[str, Any], conn: Connection) -> dict[str, Any]:
    """``{"op": "resolve_room", "text", "account"?}``: a room by id, alias or name (the
    shell's ``use``): its account, id and label."""
    from tuimatrix.core.room_names import resolve_room, room_label

    try:
        text = _text(request, "text")
        if not text or not text.strip():
            raise UsageError("which room?")
        account, room_id = await resolve_room(
            accounts, text, _account(accounts, _text(request, "account"))
        )
    except UsageError as e:
        return error(USAGE, str(e))
    except UserError as e:
        return error(FAILED, str(e))
    return {"room": [account.user_id, room_id, room_label(account, room_id)]}


def _texts(request: dict[str, Any], key: str) -> list[str]:
    value = request.get(key) or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise UsageError(f"{key}: a list of strings expected")
    return value


async def listen(accounts: Accounts, request: dict[str, Any], conn: Connection) -> dict[str, Any]:
    """``{"op": "listen", "rooms"?, "account"?, "types"?, "senders"?, "mentions"?,
    "keyword"?}``: stream the accounts' live events, one ``{"event": …}`` message each,
    after a first ``{"listening": …}``; ends with an error when the client falls behind.

    The client's slowness reaches the feed through the socket's flow control: while a write
    waits, events pile up in the subscription, which is closed past its limit (never an
    unbounded buffer in the owner)."""
    from tuimatrix.core.event_feed import FeedFilter, FellBehind, Subscription
    from tuimatrix.core.room_names import resolve_room

    try:
        account = _account(accounts, _text(request, "account"))
        if request.get("account") is not None and account is not None:
            accounts = accounts.only(account)
        rooms: dict[str, set[str]] = {}
        for text in _texts(request, "rooms"):
            owner, room_id = await resolve_room(accounts, text)
            rooms.setdefault(owner.user_id, set()).add(room_id)
        keyword = _text(request, "keyword") or ""
        base = FeedFilter(
            types=frozenset(_texts(request, "types")),
            senders=frozenset(_texts(request, "senders")),
            mentions=bool(request.get("mentions")),
            notifying=bool(request.get("notifying")),
            keyword=keyword,
        )
    except UsageError as e:
        return error(USAGE, str(e))
    except UserError as e:
        return error(FAILED, str(e))
    followed = [a for a in accounts if not rooms or a.user_id in rooms]
    subscriptions: list[Subscription] = []
    # Small: while the client reads slowly, events wait in the subscriptions, which count them.
    queue: asyncio.Queue[dict[str, Any] | FellBehind] = asyncio.Queue(LISTEN_BUFFER)

    async def pump(subscription: Subscription) -> None:
        try:
            async for event in subscription:
                await queue.put(event)
        except FellBehind as e:
            await queue.put(e)

    from dataclasses import replace

    for followed_account in followed:
        event_filter = replace(
            base, rooms=frozenset(rooms.get(followed_account.user_id, ())), account=""
        )
        subscriptions.append(followed_account.feed.subscribe(event_filter, LISTEN_MAX_PENDING))
    pumps = [asyncio.create_task(pump(s)) for s in subscriptions]
    try:
        await conn.send({"listening": {"accounts": [a.user_id for a in followed]}})
        while True:
            item = await queue.get()
            if isinstance(item, FellBehind):
                return error(FAILED, f"fell behind: {item}")
            try:
                await asyncio.wait_for(conn.send({"event": item}), LISTEN_STUCK)
            except TimeoutError:
                return error(FAILED, f"fell behind: nothing was read for {LISTEN_STUCK:g} s")
    finally:
        for task in pumps:
            task.cancel()
        for subscription in subscriptions:
            subscription.close()

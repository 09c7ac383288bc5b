"""What the owner does for its clients: run a command line, list what completion offers.

A command runs in the owner exactly as the palette runs it (the one registry), with the
client's context (:mod:`.context`), its messages in a :class:`SendScope` that is settled
before the answer goes back (:mod:`.sends`): the answer is exact.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.core.sendqueue import SendScope, send_scope
from tuimatrix.owner.context import AskingContext, ExecContext
from tuimatrix.owner.sends import SendUnknown, settle_sends, withdraw_scope

if TYPE_CHECKING:
    from tuimatrix.commands import Result
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.owner.server import Connection

#: How long a request waits for its messages unless it says (seconds; ``exec --timeout``).
SEND_TIMEOUT = 30.0
#: The longest a request may ask to wait (seconds).
MAX_TIMEOUT = 3600.0

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


def result_of(found: dict[str, Any]) -> Result:
    """A result as an owner sent it (see :func:`result_message`), read defensively."""
    from tuimatrix.commands import Result

    rows = found.get("rows")
    columns = found.get("columns")
    return Result(
        str(found.get("message") or ""),
        found.get("data"),
        rows=[row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else None,
        columns=tuple(c for c in columns if isinstance(c, str))
        if isinstance(columns, list)
        else (),
    )


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
    from tuimatrix.core.sendqueue import check_txn_key

    try:
        line = _text(request, "line")
        if not line or not line.strip():
            raise UsageError("exec: give a command line, e.g. exec 'tag-room favourite --room R'")
        cmd, _args = parse_line(line)  # a usage error before anything runs
        txn_key = _text(request, "txn_key")
        if txn_key is not None:
            try:
                check_txn_key(txn_key)
            except UserError as e:
                raise UsageError(f"--txn-id: {e}") from e
        timeout = _timeout(request)
        account = _account(accounts, _text(request, "account"))
        room = _room(accounts, request)
        if account is not None and request.get("account") is not None:
            accounts = accounts.only(account)  # as if only this session were open
        ctx: ExecContext
        if request.get("interactive"):
            ctx = AskingContext(accounts, conn, account, room=room)
        else:
            ctx = ExecContext(accounts, account, stdin=_text(request, "stdin"), room=room)
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
        except BaseException:  # the client left: its messages were not sent, so none may go
            await asyncio.shield(withdraw_scope(scope, "interrupted"))
            raise
        try:
            settled = await settle_sends(scope, failure, queue=bool(request.get("queue")))
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


async def vocabulary(
    accounts: Accounts, request: dict[str, Any], conn: Connection
) -> dict[str, Any]:
    """``{"op": "vocabulary"}``: what a shell completes (rooms, users, tags, accounts)."""
    from tuimatrix.owner.vocabulary import vocabulary_of

    return {"vocabulary": (await vocabulary_of(accounts)).to_json()}


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

"""The owner socket's framing: one JSON object per line, both ways.

A line is capped (:data:`MAX_LINE`) so that a broken or hostile peer cannot make either side
buffer without end; a message body is at most 64 KiB, so the cap leaves room for JSON
escaping and a listing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from tuimatrix.commands import Result

#: Bumped when a message changes meaning: a client and an owner of different versions refuse
#: each other with one clear line instead of misreading each other.
PROTOCOL = 1
#: the usage error of an empty command line (exec's, and an owner's answer to one)
NO_COMMAND_LINE = "exec: give a command line, e.g. exec 'tag-room favourite --room R'"
#: How long a request waits for its messages unless it says (seconds; ``exec --timeout``).
SEND_TIMEOUT = 30.0
#: The longest line a client accepts (bytes): a listing's answer may be large.
MAX_LINE = 8 * 1024 * 1024
#: The longest line the owner accepts (bytes): a request is small (a command line of at most
#: 256 KiB, a body of 64 KiB JSON-escaped), and the owner buffers this much per client.
REQUEST_LINE = 1024 * 1024


class WireError(Exception):
    """The peer sent something that is not a message of this protocol."""


async def read_message(
    reader: asyncio.StreamReader, limit: int = MAX_LINE
) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream (the peer closed); ``limit`` is
    the one the reader was made with."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise WireError("the connection closed in the middle of a message") from None
    except asyncio.LimitOverrunError:
        raise WireError(f"a message longer than {limit} bytes") from None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise WireError("a line that is not JSON") from None
    if not isinstance(value, dict):
        raise WireError("a message that is not a JSON object")
    return value


def encode(message: dict[str, Any]) -> bytes:
    # orjson never writes a raw newline inside a string, so one message is one line.
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


async def send_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(encode(message))
    await writer.drain()


def is_closing(answer: dict[str, Any]) -> bool:
    """Whether the owner refused the request because it is closing: nothing was done, and
    the same request may go to whoever owns the profile next."""
    error = answer.get("error")
    return isinstance(error, dict) and error.get("closing") is True


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


def error_of(answer: dict[str, Any]) -> tuple[int, str] | None:
    """An answer's error as (exit status, message), read defensively; None if it has none."""
    error = answer.get("error")
    if error is None:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return (code if code in (1, 2, 3) else 1), str(message or "failed")

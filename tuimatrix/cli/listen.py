"""``tuimatrix listen``: the accounts' live events as JSON lines, until interrupted.

Through the profile's owner (hosted here if none runs). Each event is one line of JSON
(:mod:`tuimatrix.core.event_json`, escaped by :mod:`tuimatrix.core.safe_json`), flushed as it
comes. Lines are written from a thread: a reader that stops reading blocks only the writing,
never this process's owner (its sync goes on, and the owner drops the listener with a clear
error once too many events wait). When the owner goes away (the app took the profile over,
or it was killed), listen attaches again and says on standard error that events may have
been missed meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from tuimatrix.cli.output import warn
from tuimatrix.core.errors import UsageError
from tuimatrix.core.safe_json import safe_json
from tuimatrix.core.sanitize import clean_line


def add_subcommand(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "listen",
        help="print live events as JSON lines until interrupted",
        description="Print the accounts' live events (decrypted) as JSON lines, one object "
        "per line, until interrupted. Filters combine: every one given must hold. Exit "
        "status: 1 when the reader fell too far behind (events were lost), 2 on a usage error.",
    )
    parser.add_argument(
        "--room", action="append", default=[], metavar="ROOM", help="only this room (repeat)"
    )
    parser.add_argument("--account", metavar="MXID", help="only this account's events")
    parser.add_argument(
        "--type", action="append", default=[], metavar="TYPE", help="only this event type (repeat)"
    )
    parser.add_argument(
        "--sender", action="append", default=[], metavar="USER", help="only from this user"
    )
    parser.add_argument(
        "--mentions", action="store_true", help="only messages that mention the account's user"
    )
    parser.add_argument(
        "--notifying",
        action="store_true",
        help="only events that notify the user by its push rules (mentions, keywords, DMs…)",
    )
    parser.add_argument("--keyword", metavar="TEXT", help="only messages whose body holds TEXT")


def run(args: argparse.Namespace) -> int:
    request = {
        "op": "listen",
        "rooms": args.room,
        "account": args.account,
        "types": args.type,
        "senders": args.sender,
        "mentions": args.mentions,
        "notifying": args.notifying,
        "keyword": args.keyword,
    }
    try:
        return asyncio.run(listen(request))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def listen(request: dict[str, Any]) -> int:
    from tuimatrix.owner.attach import OwnerGone, OwnerSession
    from tuimatrix.owner.wire import error_of
    from tuimatrix.paths import get_paths

    session = OwnerSession(get_paths(), "listen")
    resumed = False
    try:
        while True:
            client = await session.open()
            for problem in session.problems:
                warn(problem)
            try:
                async for message in client.stream(request):
                    if "listening" in message:
                        if resumed:
                            warn(
                                f"listening again, through {client.describe()}; events "
                                "in between may be missing"
                            )
                        continue
                    event = message.get("event")
                    if isinstance(event, dict):
                        await asyncio.to_thread(_write, safe_json(event))
                        continue
                    error = error_of(message)
                    if error is not None:
                        code, text = error
                        if code == 2:
                            raise UsageError(text)
                        print(f"tuimatrix: {clean_line(text)}", file=sys.stderr)
                        return 1
            except OwnerGone as e:
                warn(f"{e}; attaching again")
                resumed = True
                await session.close()  # the next open() attaches again
                continue
            return 0
    except BrokenPipeError:  # the reader is gone (`listen | head -1`): a normal end
        # Python's own flush at exit would fail again, with a message: nothing is left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        await session.close()

"""The command registry on the command line: ``tuimatrix exec`` and ``tuimatrix shell``.

``exec`` runs one command line non-interactively (a missing argument or a confirmation is a
usage error, exit status 2) in the profile's owner process (tuimatrix.owner): the app or
``serve`` where one runs, else this process for as long as the command lasts. ``shell`` is a
prompt-toolkit REPL over the same commands, through the owner too, with prompts for what is
missing and completion of command ids, options, rooms, users and tags.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuimatrix.cli.output import format_result, warn
from tuimatrix.commands.grammar import quote_word
from tuimatrix.core.errors import UsageError
from tuimatrix.core.sanitize import clean_line
from tuimatrix.owner.wire import NO_COMMAND_LINE, SEND_TIMEOUT
from tuimatrix.paths import get_paths

if TYPE_CHECKING:
    from tuimatrix.core.accounts import Accounts

#: the subcommands this module runs
COMMANDS = frozenset({"exec", "shell"})


def add_subcommands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``exec`` and ``shell`` to the top-level subparsers."""
    exec_parser = sub.add_parser(
        "exec",
        help="run one command (as in the palette) and exit",
        description="Run one command of the registry, e.g. "
        "tuimatrix exec 'tag-room favourite --room \"Team chat\"'. The command line is one "
        "argument, or several that are joined with shell quoting. Nothing is asked for: a "
        "missing argument is an error, and commands that ask for confirmation need --yes. "
        "Exit status: 0 done (a message sent, or queued with --queue), 1 failed (a message "
        "not sent and not queued), 2 usage error, 3 a message's fate is unknown (the server "
        "may have stored it but its answer was lost; it is not queued).",
    )
    exec_parser.add_argument(
        "--account",
        metavar="MXID",
        help="use only this saved session (needed by some commands if several are saved)",
    )
    exec_parser.add_argument(
        "--json", action="store_true", help="print the command's result as JSON"
    )
    exec_parser.add_argument(
        "--list",
        action="store_true",
        help="list every command with its help (JSON lines with --json) and exit; "
        "`exec help COMMAND` describes one",
    )
    exec_parser.add_argument(
        "--queue",
        action="store_true",
        help="a message the server cannot take in time stays queued (exit status 0), and is "
        "sent the next time tuimatrix runs on this profile",
    )
    exec_parser.add_argument(
        "--timeout",
        type=_seconds,
        default=SEND_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to retry a message the server has not confirmed (default {SEND_TIMEOUT:g})",
    )
    exec_parser.add_argument(
        "--txn-id",
        metavar="KEY",
        help="an idempotency key for the message this command sends: run again with the same "
        "KEY (after exit status 3, say) and the server keeps the message once",
    )
    exec_parser.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="COMMAND LINE",
        help="the command and its arguments",
    )
    shell_parser = sub.add_parser(
        "shell",
        help="an interactive prompt for commands, with completion",
        description="An interactive prompt that runs the app's commands, with completion "
        "of commands, options, rooms, users and tags. `help` lists the commands.",
    )
    shell_parser.add_argument("--account", metavar="MXID", help="open only this saved session")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the subcommand named by ``args.command``; the exit status."""
    if args.command == "exec":
        described = describe(args.words, list_all=args.list, as_json=args.json)
        if described is not None:
            return described
        return exec_command(
            args.words,
            account=args.account,
            as_json=args.json,
            queue=args.queue,
            timeout=args.timeout,
            txn_key=args.txn_id,
        )
    if args.command == "shell":
        from tuimatrix.cli.shell import shell_command

        return shell_command(args.account)
    raise ValueError(f"not an exec/shell command: {args.command}")


# -- exec --------------------------------------------------------------------------------------


def describe(words: Sequence[str], *, list_all: bool, as_json: bool) -> int | None:
    """``exec --list`` and ``exec help [COMMAND]`` (no account needed): print, and the exit
    status; None for any other command line."""
    from tuimatrix.cli.describe import describe_command, list_commands

    words = list(words)
    if not list_all and words[:1] != ["help"]:
        return None
    try:
        if list_all or len(words) == 1:
            print(list_commands(as_json))
        else:
            print(describe_command(words[1]))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2
    return 0


def command_line(words: Sequence[str]) -> str:
    """The command line from ``exec``'s arguments: one argument as is, several shell-joined."""
    words = list(words)
    if words and words[0] == "--":
        words = words[1:]
    if len(words) == 1:
        return words[0]
    return " ".join(quote_word(word) for word in words)


async def exec_line(
    line: str,
    account_id: str | None = None,
    *,
    queue: bool = False,
    retry_for: float = SEND_TIMEOUT,
    txn_key: str | None = None,
) -> dict[str, Any]:
    """Run ``line`` in the profile's owner (hosting it here if none runs); the owner's answer:
    ``{"result": …}`` or ``{"error": {"code", "message"}}``.

    With an owner running, this process imports and parses nothing of the commands: the
    owner checks the line (a usage error comes back as such) and asks for standard input
    when the command wants it. Only a process about to host checks the line first, so that a
    typo costs no sync.
    """
    from tuimatrix.owner.attach import attach
    from tuimatrix.owner.wire import is_closing

    request = {
        "op": "exec",
        "line": line,
        "account": account_id,
        "queue": queue,
        "timeout": retry_for,
        "txn_key": txn_key,
    }
    while True:
        client, host = await attach(get_paths(), "exec", before_hosting=lambda: _check_line(line))
        try:
            if host is not None:
                for problem in host.problems:
                    warn(problem)
            answer = await client.request(request, _answer_from_stdin)
            if is_closing(answer):
                continue  # the owner hands over and did nothing: to the next one
            if host is not None and not queue:
                try:
                    await _say_what_still_waits(host.accounts, retry_for)
                except Exception:
                    # A host that hands the profile over (an app asked) closes its accounts,
                    # before or during this look: the new owner sends what waits.
                    if not host.closed:
                        raise
            return answer
        finally:
            await client.close()
            if host is not None:
                await host.close()


def _check_line(line: str) -> None:
    """A usage error (unknown command, bad option, app-only) before anything is opened."""
    from tuimatrix.commands import parse_line, runner
    from tuimatrix.commands.front_end import NoScreens

    cmd, _args = parse_line(line)
    runner.refuse_app_only(NoScreens(), cmd)


async def _answer_from_stdin(question: dict[str, Any]) -> str | None:
    """What the owner asks an ``exec``: its standard input, for a ``-`` (all of it) or a
    secret (one line; never from a terminal, where it would be typed in the clear)."""
    from tuimatrix.cli.stdin_body import read_body

    kind = question.get("kind")
    if kind == "stdin":
        return await asyncio.to_thread(read_body, sys.stdin)
    if kind == "stdin_line" and not sys.stdin.isatty():
        line: str = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\r\n")
    return None


async def _say_what_still_waits(accounts: Accounts, retry_for: float) -> None:
    """This process owned the profile only for its command: messages queued before (by the
    app, by ``--queue``) get until ``retry_for`` to go; those that could not are a warning,
    not the command's failure."""
    from tuimatrix.core.sendqueue import QUEUED, SendScope, send_scope

    deadline = asyncio.get_running_loop().time() + retry_for
    with send_scope(SendScope(deadline=deadline)):
        for account in accounts:
            for echo in await account.send_queue.pending():
                if echo.state == QUEUED:
                    await account.send_queue.wait(echo.txn_id)
    for account in accounts:
        waiting = [echo for echo in await account.send_queue.pending() if echo.state == QUEUED]
        if waiting:
            count = len(waiting)
            warn(
                f"{account.user_id}: {count} queued message{'s wait' if count > 1 else ' waits'}"
                " still: sent the next time tuimatrix runs on this profile"
            )


def exec_command(
    words: Sequence[str],
    *,
    account: str | None,
    as_json: bool,
    queue: bool = False,
    timeout: float = SEND_TIMEOUT,
    txn_key: str | None = None,
) -> int:
    """``tuimatrix exec``: run one command line; 0 done, 1 failed, 2 usage error, 3 a
    message's fate unknown."""
    from tuimatrix.owner.attach import OwnerGone
    from tuimatrix.owner.wire import error_of, result_of

    line = command_line(words)
    try:
        if not line.strip():
            raise UsageError(NO_COMMAND_LINE)
        if txn_key is not None:
            from tuimatrix.core.txn_ids import check_txn_key_option

            check_txn_key_option(txn_key)  # a usage error before any account is opened
        answer = asyncio.run(
            exec_line(line, account, queue=queue, retry_for=timeout, txn_key=txn_key)
        )
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2
    except OwnerGone as e:  # the request went out and no answer came: it may have been done
        print(
            f"tuimatrix: {clean_line(str(e))}; the command may or may not be done", file=sys.stderr
        )
        return 3
    error = error_of(answer)
    if error is not None:
        code, message = error
        print(f"tuimatrix: {clean_line(message)}", file=sys.stderr)
        return code
    found = answer.get("result")
    if not isinstance(found, dict):
        print("tuimatrix: the owner's answer is unreadable", file=sys.stderr)
        return 1
    text = format_result(result_of(found), as_json)
    if text:
        print(text)
    return 0

"""The command registry on the command line: ``tuimatrix exec`` and ``tuimatrix shell``.

``exec`` runs one command line non-interactively (a missing argument or a confirmation is a
usage error, exit status 2) after catching the accounts up with one sync; ``shell`` is a
prompt-toolkit REPL over the same commands, with the accounts syncing in the background,
prompts for what is missing, and completion of command ids, options, rooms, users and tags.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuimatrix.cli.opening import catch_up, open_accounts
from tuimatrix.cli.output import format_result, warn
from tuimatrix.commands.front_end import FrontEnd, NoScreens
from tuimatrix.commands.grammar import quote_word
from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import get_paths

if TYPE_CHECKING:
    from tuimatrix.commands import Param, Result
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.core.sendqueue import LocalEcho

#: the subcommands this module runs
COMMANDS = frozenset({"exec", "shell"})

#: How long ``exec`` retries a message the server has not confirmed (seconds, --timeout).
SEND_TIMEOUT = 30.0


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


class ExecContext:
    """The context of ``tuimatrix exec``: nothing can be asked, there is no current room."""

    interactive: bool = False
    #: no screens: an app-only command is a usage error
    ui: FrontEnd = NoScreens()

    def __init__(
        self, accounts: Accounts, account: Account | None = None, stdin: str | None = None
    ) -> None:
        self.accounts = accounts
        #: the --account account, or the only one
        self.account = account
        #: what the caller read from standard input for a ``-`` (``stdin_body.read_body``)
        self.stdin = stdin

    def current(self) -> tuple[Account | None, str | None]:
        if self.account is not None:
            return self.account, None
        if len(self.accounts) == 1:
            return next(iter(self.accounts)), None
        return None, None

    def _cannot_ask(self, what: str) -> UserError:
        return UsageError(f"{what}: nothing can be asked in exec; give it on the command line")

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        raise self._cannot_ask(f"{title} (--room)")

    async def choose_account(self, title: str) -> Account | None:
        raise self._cannot_ask(f"{title} (--account)")

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        if param.kind == "secret" and not sys.stdin.isatty():
            # Secrets do not belong on a command line (ps, shell history): piped in instead.
            line = await asyncio.to_thread(sys.stdin.readline)
            return line.rstrip("\r\n") or None
        raise self._cannot_ask(title)

    async def confirm(self, question: str) -> bool:
        raise self._cannot_ask(f"{question} (--yes)")

    async def read_stdin(self) -> str:
        from tuimatrix.cli.stdin_body import check_body

        return check_body(self.stdin or "")


class SendUnknown(UserError):
    """A message may have reached the server although no answer said so; it is not queued."""


async def _pending(accounts: Accounts) -> dict[str, str]:
    """Every message not sent yet, of every account: transaction id → state."""
    return {
        echo.txn_id: echo.state
        for account in accounts
        for echo in await account.send_queue.pending()
    }


async def pending_before(accounts: Accounts, txn_key: str | None) -> dict[str, str]:
    """What was pending before this run (see :func:`_pending`), less the transaction ids made
    from this run's ``--txn-id`` key: a message an earlier run left queued under the key is
    this run's message now, and is settled with it (never sent later after a failure)."""
    before = await _pending(accounts)
    if txn_key is None:
        return before
    return {
        txn_id: state
        for txn_id, state in before.items()
        if txn_id != txn_key and not txn_id.startswith(f"{txn_key}.")
    }


async def _unsent(accounts: Accounts, before: dict[str, str]) -> list[tuple[Account, LocalEcho]]:
    """This run's messages that are not sent: queued since ``before`` (see :func:`_pending`),
    or failed before and queued again (``retry-send``)."""
    from tuimatrix.core.sendqueue import FAILED, QUEUED

    return [
        (account, echo)
        for account in accounts
        for echo in await account.send_queue.pending()
        if echo.txn_id not in before or (before[echo.txn_id] == FAILED and echo.state == QUEUED)
    ]


async def settle_sends(
    accounts: Accounts,
    before: dict[str, str],
    error: Exception | None,
    *,
    queue: bool,
    retry_for: float,
) -> Result | None:
    """After the command: leave no message of this run behind that the caller is told failed.

    Returns a result that replaces a failure when ``--queue`` kept the messages; raises
    ``error`` (made to say what became of the messages) when any is not sent.
    """
    from tuimatrix.commands import Result
    from tuimatrix.core.sendqueue import QUEUED

    unsent = await _unsent(accounts, before)
    if error is None and any(echo.state == QUEUED for _, echo in unsent):
        for account in accounts:  # a command that queued without waiting for its messages
            await account.send_queue.deliver(retry_for)
        unsent = await _unsent(accounts, before)
    if not unsent:
        if error is not None:
            raise error
        return None
    account, first = unsent[0]
    why = first.error or account.send_queue.last_error(first.txn_id) or "not confirmed in time"
    if queue and all(echo.state == QUEUED for _, echo in unsent):
        count = len(unsent)
        return Result(
            f"{count} message{'s' if count > 1 else ''} queued, not sent yet ({clean_line(why)}):"
            " sent the next time tuimatrix runs on this profile",
            {"queued": [echo.txn_id for _, echo in unsent]},
        )
    reason = describe_error(error) if error is not None else f"not sent: {why}"
    await _withdraw(unsent, before, reason)
    if any(
        echo.state == QUEUED and account.send_queue.may_be_stored(echo.txn_id)
        for account, echo in unsent
    ):
        raise SendUnknown(
            f"{reason}; the server may have stored it all the same (its answer was lost), "
            "and it is not queued"
        )
    raise UserError(f"{reason}; nothing is queued")


async def _withdraw(
    unsent: list[tuple[Account, LocalEcho]], before: dict[str, str], reason: str
) -> None:
    """Make sure no later run sends these: a new message is dropped, a retried one is marked
    failed again (as it was before this run)."""
    for account, echo in unsent:
        if echo.txn_id in before:
            await account.send_queue.give_up(echo.txn_id, reason)
        else:
            await account.send_queue.cancel(echo.txn_id)


async def flush_older(accounts: Accounts) -> None:
    """Try once to send what earlier runs left queued (the app, ``--queue``): not this
    command's messages, so trouble is a warning, and they stay queued for the next run."""
    for account in accounts:
        try:
            await account.send_queue.flush()
        except Exception as e:
            warn(f"{account.user_id}: queued messages still wait: {describe_error(e)}")


async def exec_line(
    line: str,
    account_id: str | None = None,
    *,
    queue: bool = False,
    retry_for: float = SEND_TIMEOUT,
    txn_key: str | None = None,
    stdin: str | None = None,
) -> Result:
    """Open, catch up, run ``line`` non-interactively (``stdin``: the text a ``-`` stands
    for), settle its messages, close."""
    from tuimatrix.commands import parse_line, runner
    from tuimatrix.config import read_config_file

    cmd, _args = parse_line(line)  # a usage error needs no account
    runner.refuse_app_only(ExecContext.ui, cmd)
    paths = get_paths()
    _data, _text, config_problem = read_config_file(paths.config_file)
    if config_problem:
        warn(config_problem)  # never fatal: the commands fall back to the defaults
    accounts, chosen = await open_accounts(paths, account_id)
    try:
        await catch_up(accounts)
        for account in accounts:
            account.send_queue.one_shot_timeout = retry_for
            if txn_key is not None:
                account.send_queue.use_txn_key(txn_key)
        before = await pending_before(accounts, txn_key)
        error: Exception | None = None
        result: Result | None = None
        try:
            result = await runner.run_line(ExecContext(accounts, chosen, stdin), line)
        except Exception as e:  # whatever failed, the messages it queued must be settled
            error = e
        except BaseException:  # interrupted: its messages were not sent, so none may go later
            await _withdraw(await _unsent(accounts, before), before, "interrupted")
            raise
        settled = await settle_sends(accounts, before, error, queue=queue, retry_for=retry_for)
        await flush_older(accounts)
        result = settled or result
        assert result is not None  # without an error, the command returned one
        return result
    finally:
        await accounts.close_all()


def _check_txn_key_option(key: str) -> None:
    from tuimatrix.core.sendqueue import check_txn_key

    try:
        check_txn_key(key)
    except UserError as e:
        raise UsageError(f"--txn-id: {e}") from e


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
    from tuimatrix.cli.stdin_body import read_body, wants_stdin
    from tuimatrix.commands.runner import Cancelled

    line = command_line(words)
    try:
        if not line.strip():
            raise UsageError("exec: give a command line, e.g. exec 'tag-room favourite --room R'")
        if txn_key is not None:
            _check_txn_key_option(txn_key)  # a usage error before any account is opened
        stdin = read_body(sys.stdin) if wants_stdin(line) else None
        result = asyncio.run(
            exec_line(line, account, queue=queue, retry_for=timeout, txn_key=txn_key, stdin=stdin)
        )
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2
    except SendUnknown as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 3
    except Cancelled:
        print("tuimatrix: cancelled", file=sys.stderr)
        return 1
    text = format_result(result, as_json)
    if text:
        print(text)
    return 0

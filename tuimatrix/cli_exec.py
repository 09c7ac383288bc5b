"""The command registry on the command line: ``tuimatrix exec`` and ``tuimatrix shell``.

``exec`` runs one command line non-interactively (a missing argument or a confirmation is a
usage error, exit status 2) after catching the accounts up with one sync; ``shell`` is a
prompt-toolkit REPL over the same commands, with the accounts syncing in the background,
prompts for what is missing, and completion of command ids, options, rooms, users and tags.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import signal
import sys
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History

from tuimatrix.core.errors import UserError, describe_error
from tuimatrix.core.sanitize import clean_line, clean_text
from tuimatrix.paths import Paths, get_paths

if TYPE_CHECKING:
    from tuimatrix.commands import Command, Param, Result
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts

#: the subcommands this module runs
COMMANDS = frozenset({"exec", "shell"})

#: words the shell understands itself (not registry commands)
SHELL_BUILTINS = {
    "use": "use ROOM: act on ROOM when a command is given no --room (`use -` forgets it)",
    "help": "help [COMMAND]: list the commands, or show one command's usage",
    "exit": "exit: leave the shell (also quit, or Ctrl-D)",
    "quit": "quit: leave the shell",
}

#: tags offered for completion before the u.* tags in use
BUILTIN_TAGS = ("favourite", "low-priority")

# Characters JSON may carry inside strings that a terminal could still act on (C1 controls,
# DEL, bidi overrides and isolates, line/paragraph separators): written as \\u escapes.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# What ``shlex.split`` (comments off) would not keep in one word as it is.
_NEEDS_QUOTES = re.compile(r"[\s'\"\\]")

T = TypeVar("T")


def add_subcommands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``exec`` and ``shell`` to the top-level subparsers."""
    exec_parser = sub.add_parser(
        "exec",
        help="run one command (as in the palette) and exit",
        description="Run one command of the registry, e.g. "
        "tuimatrix exec 'tag-room favourite --room \"Team chat\"'. The command line is one "
        "argument, or several that are joined with shell quoting. Nothing is asked for: a "
        "missing argument is an error, and commands that ask for confirmation need --yes.",
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


def run(args: argparse.Namespace) -> int:
    """Run the subcommand named by ``args.command``; the exit status."""
    if args.command == "exec":
        return exec_command(args.words, account=args.account, as_json=args.json)
    if args.command == "shell":
        return shell_command(args.account)
    raise ValueError(f"not an exec/shell command: {args.command}")


# -- shared: opening and catching up -----------------------------------------------------------


def _warn(message: str) -> None:
    print(f"tuimatrix: warning: {clean_line(message)}", file=sys.stderr)


async def open_accounts(paths: Paths, account_id: str | None) -> tuple[Accounts, Account | None]:
    """Open the saved sessions (only ``account_id``'s if given); and the account in context.

    The account in context is ``account_id``'s, or the only one; None when several are open.
    """
    from tuimatrix.commands import UsageError
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.core.session import load_sessions

    sessions = load_sessions(paths)
    if not sessions:
        raise UserError("no saved session: log in first with `tuimatrix login`")
    accounts = Accounts(paths)
    if account_id is None:
        errors = await accounts.open_saved()
        if not len(accounts):
            raise UserError("; ".join(errors) or "cannot open the saved sessions")
        for error in errors:
            _warn(error)
    else:
        info = next((s for s in sessions if s.user_id == account_id), None)
        if info is None:
            known = ", ".join(clean_line(s.user_id) for s in sessions)
            raise UsageError(f"--account: no saved session for {account_id} (accounts: {known})")
        accounts.add(await Account.open(info, paths))
    chosen = next(iter(accounts)) if len(accounts) == 1 else None
    return accounts, chosen


async def catch_up(accounts: Accounts) -> None:
    """One sync for every account, so that rooms and names are fresh.

    An account that cannot sync is a warning while another could; when none could, the
    (first) failure is raised.
    """
    listed = list(accounts)
    results = await asyncio.gather(
        *(account.sync_once() for account in listed), return_exceptions=True
    )
    failures = [
        (account, result)
        for account, result in zip(listed, results, strict=True)
        if isinstance(result, BaseException)
    ]
    for _account, result in failures:
        if not isinstance(result, Exception):  # CancelledError, KeyboardInterrupt
            raise result
    if failures and len(failures) == len(listed):
        account, error = failures[0]
        if len(listed) == 1:
            raise error
        raise UserError(f"{account.user_id}: {describe_error(error)}") from error
    for account, error in failures:
        _warn(f"{account.user_id}: cannot catch up: {describe_error(error)}")


# -- exec --------------------------------------------------------------------------------------


def command_line(words: Sequence[str]) -> str:
    """The command line from ``exec``'s arguments: one argument as is, several shell-joined."""
    words = list(words)
    if words and words[0] == "--":
        words = words[1:]
    if len(words) == 1:
        return words[0]
    return shlex.join(words)


class ExecContext:
    """The context of ``tuimatrix exec``: nothing can be asked, there is no current room."""

    interactive: bool = False

    def __init__(self, accounts: Accounts, account: Account | None = None) -> None:
        self.accounts = accounts
        #: the --account account, or the only one
        self.account = account

    def current(self) -> tuple[Account | None, str | None]:
        if self.account is not None:
            return self.account, None
        if len(self.accounts) == 1:
            return next(iter(self.accounts)), None
        return None, None

    def _cannot_ask(self, what: str) -> UserError:
        from tuimatrix.commands import UsageError

        return UsageError(f"{what}: nothing can be asked in exec; give it on the command line")

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        raise self._cannot_ask(f"{title} (--room)")

    async def choose_account(self, title: str) -> Account | None:
        raise self._cannot_ask(f"{title} (--account)")

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        raise self._cannot_ask(title)

    async def confirm(self, question: str) -> bool:
        raise self._cannot_ask(f"{question} (--yes)")


def _only_outside_the_app(cmd: Command) -> None:
    from tuimatrix.commands import UsageError

    if cmd.ui_only:
        raise UsageError(f"{cmd.id} works only in the app")


async def _failed_txn_ids(accounts: Accounts) -> set[str]:
    from tuimatrix.core.sendqueue import FAILED

    failed: set[str] = set()
    for account in accounts:
        failed.update(e.txn_id for e in await account.send_queue.pending() if e.state == FAILED)
    return failed


async def flush_send_queues(accounts: Accounts, failed_before: set[str]) -> None:
    """Send everything queued; a message that the server refused now is an error."""
    from tuimatrix.core.sendqueue import FAILED

    for account in accounts:
        await account.send_queue.flush()
    for account in accounts:
        for echo in await account.send_queue.pending():
            if echo.state == FAILED and echo.txn_id not in failed_before:
                raise UserError(f"the message was not sent: {echo.error or 'refused'}")


async def exec_line(line: str, account_id: str | None = None) -> Result:
    """Open, catch up, run ``line`` non-interactively, flush the send queues, close."""
    from tuimatrix.commands import parse_line, runner

    cmd, _args = parse_line(line)  # a usage error needs no account
    _only_outside_the_app(cmd)
    accounts, chosen = await open_accounts(get_paths(), account_id)
    try:
        await catch_up(accounts)
        failed_before = await _failed_txn_ids(accounts)
        result = await runner.run_line(ExecContext(accounts, chosen), line)
        await flush_send_queues(accounts, failed_before)
        return result
    finally:
        await accounts.close_all()


def format_json(data: Any) -> str:
    """``data`` as indented JSON (``{"ok": true}`` for None), safe to write to a terminal."""
    import orjson

    value = {"ok": True} if data is None else data
    text = orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode("utf-8")
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def exec_command(words: Sequence[str], *, account: str | None, as_json: bool) -> int:
    """``tuimatrix exec``: run one command line; 0 done, 1 failed, 2 usage error."""
    from tuimatrix.commands import UsageError
    from tuimatrix.commands.runner import Cancelled

    line = command_line(words)
    try:
        if not line.strip():
            raise UsageError("exec: give a command line, e.g. exec 'tag-room favourite --room R'")
        result = asyncio.run(exec_line(line, account))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2
    except Cancelled:
        print("tuimatrix: cancelled", file=sys.stderr)
        return 1
    if as_json:
        print(format_json(result.data))
    elif result.message:
        print(clean_text(result.message))
    return 0


# -- completion --------------------------------------------------------------------------------


def split_partial(text: str) -> tuple[list[str], str, int]:
    """Shell words of ``text`` up to the cursor: (complete words, current word, its start).

    The current word is the one the cursor is in (unquoted so far; "" after a space); its
    start is its offset in ``text``, quote included. Never fails on an open quote.
    """
    words: list[str] = []
    value: list[str] = []
    start: int | None = None
    quote: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is not None:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(text) and text[i + 1] in '"\\':
                i += 1
                value.append(text[i])
            else:
                value.append(c)
        elif c.isspace():
            if start is not None:
                words.append("".join(value))
                value, start = [], None
        else:
            if start is None:
                start = i
            if c in "'\"":
                quote = c
            elif c == "\\":
                if i + 1 < len(text):
                    i += 1
                    value.append(text[i])
            else:
                value.append(c)
        i += 1
    if start is None:
        return words, "", len(text)
    return words, "".join(value), start


def _matches(candidates: Iterable[tuple[str, str]], typed: str) -> list[tuple[str, str]]:
    """(value, meta) pairs whose value starts with ``typed`` (any case), then those holding it.

    The meta text is searched too (a user's display name, a room's alias).
    """
    needle = typed.lower()
    first: list[tuple[str, str]] = []
    then: list[tuple[str, str]] = []
    seen: set[str] = set()
    for value, meta in candidates:
        if value in seen:
            continue
        lowered = value.lower()
        if lowered.startswith(needle):
            first.append((value, meta))
            seen.add(value)
        elif needle and (needle in lowered or needle in meta.lower()):
            then.append((value, meta))
            seen.add(value)
    return first + then


class CommandCompleter(Completer):
    """Completes a command line: ids, then options, and values by the parameter's kind.

    Users come from the member rows of the accounts' stores, loaded by :meth:`refresh` (the
    completion itself must not wait for the database).
    """

    def __init__(self, accounts: Accounts, *, builtins: Iterable[str] = ()) -> None:
        self.accounts = accounts
        self.builtins = tuple(builtins)
        #: user id → display name, of members known in the stores
        self.users: dict[str, str] = {}
        self._stale = True
        accounts.add_listener(self._changed)

    def _changed(self, account: Account, change: object) -> None:
        from tuimatrix.core.sync import SyncChanges

        if isinstance(change, SyncChanges):
            self._stale = True

    async def refresh(self) -> None:
        """Load the members known in the stores (when a sync has changed something)."""
        from tuimatrix.core.store import loads

        if not self._stale:
            return
        self._stale = False
        users: dict[str, str] = {}
        for account in self.accounts:
            for row in await account.store.state_rows(["m.room.member"]):
                user_id = str(row["state_key"])
                try:
                    name = loads(row["content"]).get("displayname")
                except (ValueError, AttributeError):
                    name = None
                if not users.get(user_id):
                    users[user_id] = name if isinstance(name, str) else ""
        self.users = users

    # -- the values of each kind ---------------------------------------------------------------

    def command_ids(self) -> list[tuple[str, str]]:
        from tuimatrix.commands import REGISTRY, load_commands

        load_commands()
        ids = [(cmd.id, cmd.title) for cmd in REGISTRY.values() if not cmd.ui_only]
        ids += [(name, "shell") for name in self.builtins]
        return sorted(ids)

    def rooms(self, *, spaces_only: bool = False) -> list[tuple[str, str]]:
        """(name or alias, what it is) of the joined and invited rooms of every account."""
        names: list[tuple[str, str]] = []
        aliases: list[tuple[str, str]] = []
        several = len(self.accounts) > 1
        for account, room in self.accounts.rooms():
            if room.membership not in ("join", "invite") or (spaces_only and not room.is_space):
                continue
            meta = room.canonical_alias or ("space" if room.is_space else "room")
            if several:
                meta += f" · {account.user_id}"
            if room.display_name:
                names.append((room.display_name, meta))
            if room.canonical_alias:
                aliases.append((room.canonical_alias, room.display_name))
        return sorted(names, key=lambda n: n[0].lower()) + sorted(aliases)

    def user_ids(self) -> list[tuple[str, str]]:
        own = [(account.user_id, "you") for account in self.accounts]
        return own + sorted(self.users.items())

    def account_ids(self) -> list[tuple[str, str]]:
        return [(account.user_id, "account") for account in self.accounts]

    def tags(self) -> list[tuple[str, str]]:
        custom = {
            tag
            for _account, room in self.accounts.rooms()
            for tag in room.tags
            if tag.startswith("u.")
        }
        return [(tag, "tag") for tag in BUILTIN_TAGS] + [(tag, "tag") for tag in sorted(custom)]

    def values(self, param: Param) -> list[tuple[str, str]]:
        """The values offered for ``param``, by its kind (and an ``account`` by its name)."""
        if param.name == "account":
            return self.account_ids()
        if param.kind == "room":
            return self.rooms()
        if param.kind == "space":
            return self.rooms(spaces_only=True)
        if param.kind == "user":
            return self.user_ids()
        if param.kind == "tag":
            return self.tags()
        if param.choices:
            return [(choice, "") for choice in param.choices]
        return []

    # -- completion ----------------------------------------------------------------------------

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        words, current, start = split_partial(document.text_before_cursor)
        start_position = start - len(document.text_before_cursor)
        for text, display, meta in self.complete(words, current):
            yield Completion(
                text, start_position, display=clean_line(display), display_meta=clean_line(meta)
            )

    def complete(self, words: list[str], current: str) -> list[tuple[str, str, str]]:
        """(text to insert, display, meta) for the ``current`` word after ``words``."""
        from tuimatrix.commands import REGISTRY, load_commands

        if not words:
            return self._offer(self.command_ids(), current)
        load_commands()
        name = words[0]
        if name == "help" and len(words) == 1:
            return self._offer(self.command_ids(), current)
        if name == "use":
            return self._offer(self.rooms(), current, quote=True)
        cmd = REGISTRY.get(name)
        if cmd is None or cmd.ui_only:
            return []
        params = cmd.all_params
        options = {p.flag_name: p for p in params if p.option}
        positionals = [p for p in params if not p.option]
        used: set[str] = set()
        pending: Param | None = None  # an option waiting for its value
        count = 0
        loose = False
        for word in words[1:]:
            if pending is not None:
                pending = None
            elif not loose and word == "--":
                loose = True
            elif not loose and word.startswith("--"):
                flag, eq, _value = word.partition("=")
                used.add(flag)
                option = options.get(flag)
                if option is not None and option.kind != "flag" and not eq:
                    pending = option
            else:
                count += 1
        if pending is not None:
            return self._offer(self.values(pending), current, quote=True)
        if not loose and current.startswith("--") and "=" in current:
            flag, _eq, typed = current.partition("=")
            option = options.get(flag)
            if option is None or option.kind == "flag":
                return []
            return [
                (f"{flag}={text}", display, meta)
                for text, display, meta in self._offer(self.values(option), typed, quote=True)
            ]
        param = _positional(positionals, count)
        if not loose and (current.startswith("-") or param is None):
            flags = [(p.flag_name, p.help) for p in options.values() if p.flag_name not in used]
            return self._offer(flags, current)
        if param is None:
            return []
        return self._offer(self.values(param), current, quote=True)

    @staticmethod
    def _offer(
        candidates: Iterable[tuple[str, str]], typed: str, *, quote: bool = False
    ) -> list[tuple[str, str, str]]:
        return [
            (quote_word(value) if quote else value, value, meta)
            for value, meta in _matches(candidates, typed)
        ]


def quote_word(value: str) -> str:
    """``value`` as one word for ``shlex.split`` (no comments): quoted only where needed."""
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return shlex.quote(value)


def _positional(positionals: list[Param], index: int) -> Param | None:
    """The positional parameter that the word at ``index`` fills (a "rest" one takes all)."""
    for i, param in enumerate(positionals):
        if param.rest or i == index:
            return param
    return None


class ValueCompleter(Completer):
    """Completes a whole prompt answer as one value (no quoting): a room, a user, a tag…"""

    def __init__(self, values: Iterable[tuple[str, str]] | None = None) -> None:
        self._values = list(values or ())

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        typed = document.text_before_cursor
        for value, meta in _matches(self._values, typed.strip()):
            yield Completion(
                value, -len(typed), display=clean_line(value), display_meta=clean_line(meta)
            )


# -- the shell ---------------------------------------------------------------------------------


async def _prompt(
    message: str, completer: Completer | None = None, default: str = ""
) -> str | None:
    """One answer from the terminal; None on Ctrl-C or Ctrl-D."""
    session: PromptSession[str] = PromptSession(completer=completer, complete_while_typing=True)
    try:
        return await session.prompt_async(message, default=default)
    except (KeyboardInterrupt, EOFError):
        return None


class ShellContext:
    """The context of ``tuimatrix shell``: asks for what is missing; a room only after `use`."""

    interactive: bool = True

    def __init__(
        self, accounts: Accounts, account: Account | None, completer: CommandCompleter
    ) -> None:
        self.accounts = accounts
        #: the --account account, or the only one
        self.account = account
        self.completer = completer
        #: the room set by `use ROOM`, and its account
        self.room: tuple[Account, str] | None = None

    def current(self) -> tuple[Account | None, str | None]:
        if self.room is not None:
            return self.room
        if self.account is not None:
            return self.account, None
        if len(self.accounts) == 1:
            return next(iter(self.accounts)), None
        return None, None

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        from tuimatrix.commands.runner import resolve_room

        rooms = self.completer.rooms()
        if account is not None:
            summaries = account.rooms.summaries.values()
            mine = {r.display_name for r in summaries} | {r.canonical_alias for r in summaries}
            rooms = [r for r in rooms if r[0] in mine]
        answer = await _prompt(f"{title} ", ValueCompleter(rooms))
        if not answer or not answer.strip():
            return None
        return await resolve_room(self.accounts, answer, account)

    async def choose_account(self, title: str) -> Account | None:
        from tuimatrix.commands.runner import find_account

        answer = await _prompt(f"{title} ", ValueCompleter(self.completer.account_ids()))
        if not answer or not answer.strip():
            return None
        return find_account(self.accounts, answer.strip())

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        from tuimatrix.commands import convert

        answer = await _prompt(
            f"{title}: ", ValueCompleter(self.completer.values(param)), default=initial or ""
        )
        if answer is None:
            return None
        if not param.rest:
            answer = answer.strip()
        return convert(param, answer) if answer else None

    async def confirm(self, question: str) -> bool:
        answer = await _prompt(f"{question} [y/N] ")
        return (answer or "").strip().lower() in ("y", "yes")


def history_file(paths: Paths) -> Path:
    """The shell's history file in the state directory (directory 0700, file 0600)."""
    from tuimatrix.core.files import ensure_private_dir

    path = ensure_private_dir(paths.state_dir) / "shell-history"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)
    return path


class Shell:
    """The read-run-print loop; ``out`` gets results and error lines."""

    def __init__(
        self,
        accounts: Accounts,
        account: Account | None = None,
        *,
        history: History | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.accounts = accounts
        self.out = out
        self.completer = CommandCompleter(accounts, builtins=SHELL_BUILTINS)
        self.ctx = ShellContext(accounts, account, self.completer)
        self.session: PromptSession[str] = PromptSession(
            history=history, completer=self.completer, complete_while_typing=False
        )

    def print(self, text: str = "") -> None:
        print(text, file=self.out if self.out is not None else sys.stdout, flush=True)

    def prompt_text(self) -> str:
        if self.ctx.room is None:
            return "tuimatrix> "
        account, room_id = self.ctx.room
        room = account.rooms.summaries.get(room_id)
        return f"tuimatrix [{clean_line(room.display_name) if room else room_id}]> "

    async def run(self) -> int:
        """Read and run lines until ``exit``, ``quit`` or Ctrl-D; the exit status (0)."""
        while True:
            try:
                await self.completer.refresh()
            except Exception as e:  # completion is a convenience; the shell goes on
                self.print(f"error: cannot load members for completion: {describe_error(e)}")
            try:
                line = await self.session.prompt_async(self.prompt_text())
            except KeyboardInterrupt:  # Ctrl-C clears the line, as in a shell
                continue
            except EOFError:
                return 0
            if not await self.handle(line):
                return 0

    async def handle(self, line: str) -> bool:
        """Run one line; False when it asks to leave. Errors are printed, never raised."""
        from tuimatrix.commands import UsageError, parse_line, runner

        try:
            words = shlex.split(line)
        except ValueError as e:
            self.print(f"error: cannot parse the line: {e}")
            return True
        if not words:
            return True
        name = words[0]
        try:
            if name in ("exit", "quit"):
                return False
            if name == "help":
                self.help(words[1:])
                return True
            if name == "use":
                await self._interruptible(self.use(words[1:]))
                return True
            cmd, _args = parse_line(line)
            _only_outside_the_app(cmd)
            result = await self._interruptible(runner.run_line(self.ctx, line))
        except runner.Cancelled:
            self.print("cancelled")
        except UsageError as e:
            self.print(f"error: {clean_line(str(e))}")
        except Exception as e:
            self.print(f"error: {describe_error(e)}")
        else:
            if result.message:
                self.print(clean_text(result.message))
            elif result.data is not None:
                self.print(format_json(result.data))
            else:
                self.print("done")
        return True

    async def _interruptible(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro``; Ctrl-C while it runs cancels it (raises Cancelled), not the shell.

        A Python-level handler (as asyncio.Runner's own), because prompt-toolkit saves and
        restores that one around the prompts a command may open.
        """
        from tuimatrix.commands.runner import Cancelled

        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(coro)
        interrupted = False

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        def on_sigint(signum: int, frame: object) -> None:
            loop.call_soon_threadsafe(interrupt)

        try:
            previous = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread
            previous = None
        try:
            return await task
        except asyncio.CancelledError:
            if interrupted:
                raise Cancelled() from None
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    async def use(self, words: list[str]) -> None:
        """``use ROOM``: the room that commands act on when given no --room; ``use -`` forgets."""
        from tuimatrix.commands.runner import resolve_room

        text = " ".join(words).strip()
        if text == "-":
            self.ctx.room = None
            self.print("no current room")
            return
        if text:
            chosen = await resolve_room(self.accounts, text, self.ctx.account)
        else:
            asked = await self.ctx.choose_room("use which room?", self.ctx.account)
            if asked is None:
                return
            chosen = asked
        self.ctx.room = chosen
        account, room_id = chosen
        room = account.rooms.summaries.get(room_id)
        name = clean_line(room.display_name) if room else room_id
        who = f" ({account.user_id})" if len(self.accounts) > 1 else ""
        self.print(f"using {name}{who}")

    def help(self, words: list[str]) -> None:
        """``help``: every command with its usage; ``help COMMAND``: one in detail."""
        from tuimatrix.commands import REGISTRY, UsageError, load_commands

        load_commands()
        if not words:
            self.print("Commands (`help COMMAND` for details; --room ROOM where no `use`):")
            for listed in sorted(REGISTRY.values(), key=lambda c: c.id):
                if not listed.ui_only:
                    self.print(f"  {listed.usage()}")
                    self.print(f"      {listed.help}")
            self.print("Shell:")
            for text in SHELL_BUILTINS.values():
                self.print(f"  {text}")
            return
        name = words[0]
        if name in SHELL_BUILTINS:
            self.print(SHELL_BUILTINS[name])
            return
        cmd = REGISTRY.get(name)
        if cmd is None:
            raise UsageError(f"unknown command {name!r} (`help` lists them)")
        self.print(f"usage: {cmd.usage()}")
        self.print(f"{cmd.title}: {cmd.help}")
        for param in cmd.all_params:
            label = param.flag_name if param.option else param.name.upper()
            self.print(f"  {label:<16} {param.help}")
        if cmd.ui_only:
            self.print("(only in the app)")


async def shell(account_id: str | None = None, *, history: History | None = None) -> int:
    """Open the sessions, keep them syncing, and run the shell until it is left."""
    accounts, chosen = await open_accounts(get_paths(), account_id)
    try:
        await catch_up(accounts)
        for error in await accounts.start_all():
            _warn(error)
        if history is None:
            history = FileHistory(str(history_file(get_paths())))
        repl = Shell(accounts, chosen, history=history)
        ids = ", ".join(clean_line(a.user_id) for a in accounts)
        repl.print(f"tuimatrix shell: {ids}. `help` lists the commands; exit or Ctrl-D leaves.")
        return await repl.run()
    finally:
        await accounts.close_all()


def shell_command(account: str | None) -> int:
    """``tuimatrix shell``: 0 when left, 1 when the sessions cannot be opened, 2 on usage."""
    from tuimatrix.commands import UsageError

    try:
        return asyncio.run(shell(account))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2

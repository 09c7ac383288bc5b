"""``tuimatrix shell``: a prompt-toolkit REPL over the command registry."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer
from prompt_toolkit.history import FileHistory, History

from tuimatrix.cli.completion import CommandCompleter, ValueCompleter
from tuimatrix.cli.opening import catch_up, open_accounts
from tuimatrix.cli.output import format_json, format_result, warn
from tuimatrix.commands.front_end import FrontEnd, NoScreens
from tuimatrix.core.errors import UsageError, describe_error
from tuimatrix.core.room_names import resolve_room, room_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import Paths, get_paths

if TYPE_CHECKING:
    from tuimatrix.commands import Param
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts

T = TypeVar("T")

#: words the shell understands itself (not registry commands)
SHELL_BUILTINS = {
    "use": "use ROOM: act on ROOM when a command is given no --room (`use -` forgets it)",
    "help": "help [COMMAND]: list the commands, or show one command's usage",
    "exit": "exit: leave the shell (also quit, or Ctrl-D)",
    "quit": "quit: leave the shell",
}

# -- the shell ---------------------------------------------------------------------------------


async def _prompt(
    message: str, completer: Completer | None = None, default: str = "", *, secret: bool = False
) -> str | None:
    """One answer from the terminal; None on Ctrl-C or Ctrl-D. A secret is not echoed."""
    session: PromptSession[str] = PromptSession(
        completer=completer, complete_while_typing=True, is_password=secret
    )
    try:
        return await session.prompt_async(message, default=default)
    except (KeyboardInterrupt, EOFError):
        return None


class ShellContext:
    """The context of ``tuimatrix shell``: asks for what is missing; a room only after `use`."""

    interactive: bool = True
    #: no screens: an app-only command is a usage error
    ui: FrontEnd = NoScreens()

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
        answer = await _prompt(f"{title} ", ValueCompleter(self.completer.rooms(account)))
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

        if param.kind == "secret":
            return await _prompt(f"{title}: ", secret=True) or None
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

    async def read_stdin(self) -> str:
        from tuimatrix.commands import no_stdin

        raise no_stdin()


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
        return f"tuimatrix [{room_label(account, room_id)}]> "

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
        from tuimatrix.commands import runner
        from tuimatrix.commands.grammar import split_line

        try:
            words = split_line(line)
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
            result = await self._interruptible(runner.run_line(self.ctx, line))
        except runner.Cancelled:
            self.print("cancelled")
        except UsageError as e:
            self.print(f"error: {clean_line(str(e))}")
        except Exception as e:
            self.print(f"error: {describe_error(e)}")
        else:
            if result.rows is not None or result.message:
                self.print(format_result(result, as_json=False))
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
        name = room_label(account, room_id)
        who = f" ({account.user_id})" if len(self.accounts) > 1 else ""
        self.print(f"using {name}{who}")

    def help(self, words: list[str]) -> None:
        """``help``: every command with its help; ``help COMMAND``: one in detail (as
        ``tuimatrix exec help COMMAND`` describes it)."""
        from tuimatrix.cli.describe import describe_command, list_commands

        if not words:
            self.print("Commands (`help COMMAND` for details; --room ROOM where no `use`):")
            self.print(list_commands(as_json=False))
            self.print("Shell:")
            for text in SHELL_BUILTINS.values():
                self.print(f"  {text}")
            return
        name = words[0]
        if name in SHELL_BUILTINS:
            self.print(SHELL_BUILTINS[name])
            return
        self.print(describe_command(name))


async def shell(account_id: str | None = None, *, history: History | None = None) -> int:
    """Open the sessions, keep them syncing, and run the shell until it is left."""
    accounts, chosen = await open_accounts(get_paths(), account_id)
    try:
        await catch_up(accounts)
        for error in await accounts.start_all():
            warn(error)
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
    try:
        return asyncio.run(shell(account))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2

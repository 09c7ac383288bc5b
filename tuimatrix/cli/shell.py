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
from tuimatrix.cli.output import format_json, format_result, warn
from tuimatrix.commands.front_end import NoScreens
from tuimatrix.core.errors import UsageError, describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import Paths, get_paths

if TYPE_CHECKING:
    from tuimatrix.owner.attach import OwnerSession

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


def history_file(paths: Paths) -> Path:
    """The shell's history file in the state directory (directory 0700, file 0600)."""
    from tuimatrix.core.files import ensure_private_dir

    path = ensure_private_dir(paths.state_dir) / "shell-history"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)
    return path


class Shell:
    """The read-run-print loop; ``out`` gets results and error lines.

    Commands run in the profile's owner (:class:`~tuimatrix.owner.attach.OwnerSession`):
    what they ask for is asked here, at the terminal, and completion uses the owner's
    vocabulary, fetched before each prompt.
    """

    def __init__(
        self,
        session: OwnerSession,
        account: str | None = None,
        *,
        history: History | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.owner = session
        #: the --account account (a user id), if given
        self.account = account
        self.out = out
        self.completer = CommandCompleter(builtins=SHELL_BUILTINS)
        #: the room set by `use ROOM`: (account, room id, label)
        self.room: tuple[str, str, str] | None = None
        self.session: PromptSession[str] = PromptSession(
            history=history, completer=self.completer, complete_while_typing=False
        )

    def print(self, text: str = "") -> None:
        print(text, file=self.out if self.out is not None else sys.stdout, flush=True)

    def prompt_text(self) -> str:
        if self.room is None:
            return "tuimatrix> "
        return f"tuimatrix [{clean_line(self.room[2])}]> "

    async def refresh_completion(self) -> None:
        from tuimatrix.owner.vocabulary import Vocabulary

        answer = await self.owner.request({"op": "vocabulary"})
        self.completer.vocabulary = Vocabulary.from_json(answer.get("vocabulary"))

    async def run(self) -> int:
        """Read and run lines until ``exit``, ``quit`` or Ctrl-D; the exit status (0)."""
        while True:
            try:
                await self.refresh_completion()
            except Exception as e:  # completion is a convenience; the shell goes on
                self.print(f"error: cannot load completion: {describe_error(e)}")
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
        from tuimatrix.commands import parse_line, runner
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
            cmd, _args = parse_line(line)
            runner.refuse_app_only(NoScreens(), cmd)  # said here, without the owner
            answer = await self._interruptible(self.owner.request(self._exec(line), self.ask))
        except runner.Cancelled:
            self.print("cancelled")
        except UsageError as e:
            self.print(f"error: {clean_line(str(e))}")
        except Exception as e:
            self.print(f"error: {describe_error(e)}")
        else:
            self.show(answer)
        return True

    def _exec(self, line: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "op": "exec",
            "line": line,
            "account": self.account,
            "interactive": True,
        }
        if self.room is not None:
            request["room"] = [self.room[0], self.room[1]]
        return request

    def show(self, answer: dict[str, Any]) -> None:
        from tuimatrix.owner.wire import error_of, result_of

        error = error_of(answer)
        if error is not None:
            text = clean_line(error[1])
            self.print("cancelled" if text == "cancelled" else f"error: {text}")
            return

        found = answer.get("result")
        result = result_of(found if isinstance(found, dict) else {})
        if result.rows is not None or result.message:
            self.print(format_result(result, as_json=False))
        elif result.data is not None:
            self.print(format_json(result.data))
        else:
            self.print("done")

    async def ask(self, question: dict[str, Any]) -> str | None:
        """Answer the owner's question at the terminal (None: cancelled)."""
        kind = question.get("kind")
        title = clean_line(str(question.get("title") or ""))
        if kind == "room":
            account = question.get("account")
            rooms = self.completer.rooms(account if isinstance(account, str) else None)
            return await _prompt(f"{title} ", ValueCompleter(rooms))
        if kind == "account":
            return await _prompt(f"{title} ", ValueCompleter(self.completer.account_ids()))
        if kind == "confirm":
            return await _prompt(f"{title} [y/N] ")
        if question.get("secret"):
            return await _prompt(f"{title}: ", secret=True)
        choices = [c for c in question.get("choices") or () if isinstance(c, str)]
        values = self.completer.values(
            None, str(question.get("param_kind") or ""), str(question.get("param") or "")
        ) or [(choice, "") for choice in choices]
        initial = question.get("initial")
        return await _prompt(
            f"{title}: ",
            ValueCompleter(values),
            default=initial if isinstance(initial, str) else "",
        )

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
            self.room = None
            self.print("no current room")
            return
        if not text:
            text = (
                await self.ask(
                    {"kind": "room", "title": "use which room?", "account": self.account}
                )
                or ""
            )
            if not text.strip():
                return
        answer = await self.owner.request(
            {"op": "resolve_room", "text": text, "account": self.account}
        )
        found = answer.get("room")
        if not (isinstance(found, list) and len(found) == 3):
            self.show(answer)
            return
        account, room_id, label = (str(x) for x in found)
        self.room = (account, room_id, label)
        several = len(self.completer.vocabulary.accounts) > 1
        who = f" ({clean_line(account)})" if several else ""
        self.print(f"using {clean_line(label)}{who}")

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
    """Attach to the profile's owner (hosting it here if none runs) and run the shell until it
    is left."""
    from tuimatrix.owner.attach import OwnerSession

    session = OwnerSession(get_paths(), "shell")
    try:
        client = await session.open()
        for problem in session.problems:
            warn(problem)
        accounts = [a for a in client.hello.get("accounts") or () if isinstance(a, str)]
        if account_id is not None and account_id not in accounts:
            known = ", ".join(clean_line(a) for a in accounts)
            raise UsageError(f"--account: no saved session for {account_id} (accounts: {known})")
        if history is None:
            history = FileHistory(str(history_file(get_paths())))
        repl = Shell(session, account_id, history=history)
        session.on_notice = repl.print
        ids = ", ".join(clean_line(a) for a in accounts)
        where = "" if session.host is not None else f" (through {client.describe()})"
        repl.print(
            f"tuimatrix shell: {ids}{where}. `help` lists the commands; exit or Ctrl-D leaves."
        )
        return await repl.run()
    finally:
        await session.close()


def shell_command(account: str | None) -> int:
    """``tuimatrix shell``: 0 when left, 1 when the sessions cannot be opened, 2 on usage."""
    try:
        return asyncio.run(shell(account))
    except UsageError as e:
        print(f"tuimatrix: {clean_line(str(e))}", file=sys.stderr)
        return 2

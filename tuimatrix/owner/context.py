"""Where a client's command runs in the owner: the command :class:`Context` of a request.

``exec`` is not interactive: a missing argument or a confirmation is a usage error. The
shell is: the owner asks its client (:class:`Asker`), which prompts the person at the
terminal and answers with what was typed; the owner resolves the answer (a room name, an
account) against its own accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tuimatrix.commands.front_end import FrontEnd, NoScreens
from tuimatrix.core.errors import UsageError, UserError

if TYPE_CHECKING:
    from tuimatrix.commands import Param
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts


class Asker(Protocol):
    """The client's end of a request: a question out, the typed answer back (None: cancelled;
    a UsageError when the client refuses, e.g. its standard input is not text)."""

    async def ask(self, question: dict[str, Any]) -> str | None: ...


class ExecContext:
    """The context of ``tuimatrix exec``: nothing can be asked; a room only by --room."""

    interactive: bool = False
    #: no screens: an app-only command is a usage error
    ui: FrontEnd = NoScreens()

    def __init__(
        self,
        accounts: Accounts,
        account: Account | None = None,
        *,
        stdin: str | None = None,
        room: tuple[Account, str] | None = None,
        asker: Asker | None = None,
    ) -> None:
        self.accounts = accounts
        #: the --account account, or the only one
        self.account = account
        #: standard input's text, given up front (in-process callers)
        self.stdin = stdin
        #: the room a shell's ``use`` chose
        self.room = room
        #: the client, asked for its standard input when a command needs it (``-``, a secret)
        self.asker = asker

    def current(self) -> tuple[Account | None, str | None]:
        if self.room is not None:
            return self.room
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
        if param.kind == "secret":
            # Secrets do not belong on a command line (ps, shell history): piped in instead.
            if self.asker is not None:
                return await self.asker.ask({"kind": "stdin_line", "title": title}) or None
            if self.stdin is not None:
                return self.stdin.partition("\n")[0].rstrip("\r") or None
        raise self._cannot_ask(title)

    async def confirm(self, question: str) -> bool:
        raise self._cannot_ask(f"{question} (--yes)")

    async def read_stdin(self) -> str:
        from tuimatrix.cli.stdin_body import check_body

        if self.stdin is None and self.asker is not None:
            self.stdin = await self.asker.ask({"kind": "stdin"})
        return check_body(self.stdin or "")


class AskingContext(ExecContext):
    """The context of a shell's command: what is missing is asked of the client."""

    interactive = True

    def __init__(
        self,
        accounts: Accounts,
        asker: Asker,
        account: Account | None = None,
        *,
        room: tuple[Account, str] | None = None,
    ) -> None:
        super().__init__(accounts, account, room=room)
        self.shell: Asker = asker

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        from tuimatrix.core.room_names import resolve_room

        answer = await self.shell.ask(
            {"kind": "room", "title": title, "account": account.user_id if account else None}
        )
        if not answer or not answer.strip():
            return None
        return await resolve_room(self.accounts, answer, account)

    async def choose_account(self, title: str) -> Account | None:
        from tuimatrix.commands.runner import find_account

        answer = await self.shell.ask({"kind": "account", "title": title})
        if not answer or not answer.strip():
            return None
        return find_account(self.accounts, answer.strip())

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        from tuimatrix.commands import convert

        answer = await self.shell.ask(
            {
                "kind": "param",
                "title": title,
                "param": param.name,
                "param_kind": param.kind,
                "choices": list(param.choices or ()),
                "secret": param.kind == "secret",
                "initial": initial or "",
            }
        )
        if answer is None:
            return None
        if not param.rest:
            answer = answer.strip()
        return convert(param, answer) if answer else None

    async def confirm(self, question: str) -> bool:
        answer = await self.shell.ask({"kind": "confirm", "title": question})
        return (answer or "").strip().lower() in ("y", "yes")

    async def read_stdin(self) -> str:
        from tuimatrix.commands import no_stdin

        raise no_stdin()

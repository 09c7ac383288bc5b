"""One registry of commands, run from the palette, keys, ``tuimatrix exec`` and the shell.

A command has a kebab-case id (part of the interface), a palette title "group: Verb", help,
typed parameters and an async body. A command line is ``ID ARG… [--flag] [--name VALUE]``
with shell quoting. What is missing is prompted for by an interactive context (the UI, the
shell) and is a usage error otherwise (``exec``). Room commands act on the context's current
room, or on ``--room ROOM`` (id, alias or name) of ``--account MXID``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tuimatrix.commands.front_end import FrontEnd
from tuimatrix.commands.grammar import read_words, split_line
from tuimatrix.core.errors import UsageError as UsageError

if TYPE_CHECKING:
    # Annotations only: the package (and its grammar) loads without the network stack, so
    # that a client of a running owner (tuimatrix exec) starts fast.
    from tuimatrix.core.account import Account
    from tuimatrix.core.accounts import Accounts

Kind = Literal[
    "room",
    "user",
    "space",
    "tag",
    "text",
    "path",
    "choice",
    "flag",
    "int",
    "float",
    "event",
    "emoji",
    # a password or key: never echoed, never in history; exec reads it from stdin
    "secret",
]


@dataclass(frozen=True)
class Param:
    name: str  # python identifier; the option is --name with "_" as "-"
    kind: Kind = "text"
    help: str = ""
    required: bool = True
    #: positional (in order) unless an option (``--name VALUE``, or ``--name`` for a flag)
    option: bool = False
    #: a positional that takes the rest of the line (a message text)
    rest: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """How usage lines show it: ``--name VALUE``, ``--flag``, ``NAME`` or ``TEXT…``."""
        if self.option:
            return self.flag_name + ("" if self.kind == "flag" else " " + self.name.upper())
        return self.name.upper() + ("…" if self.rest else "")


@dataclass(frozen=True)
class Result:
    """What a command did: a line for people, data for ``--json``."""

    message: str = ""
    data: Any = None
    #: A listing (rooms, members, messages…): one dict per row, printed as a table for people
    #: and as JSON lines (one object per row) for programs.
    rows: list[dict[str, Any]] | None = None
    #: the keys of ``rows`` a table shows, in order (every key of the first row if empty)
    columns: tuple[str, ...] = ()


class Context(Protocol):
    """Where a command runs: the UI, the shell or ``exec``.

    Prompts are here; screens are behind :attr:`ui` (see :mod:`tuimatrix.commands.front_end`).
    """

    accounts: Accounts
    #: True where missing arguments can be asked for
    interactive: bool
    #: the front end's screens (the app's), or :class:`~.front_end.NoScreens`
    ui: FrontEnd

    def current(self) -> tuple[Account | None, str | None]:
        """The account and room in context (the room under the cursor, the open room)."""

    async def choose_room(self, title: str, account: Account | None) -> tuple[Account, str] | None:
        """Ask for a room (of ``account``, or of any account); None if cancelled."""

    async def choose_account(self, title: str) -> Account | None: ...

    async def ask(self, param: Param, title: str, initial: str | None = None) -> Any:
        """Ask for a parameter's value (text, user, tag, choice…); None if cancelled.

        ``initial`` is a value to start from (the current text of a message being edited).
        """

    async def confirm(self, question: str) -> bool: ...

    async def read_stdin(self) -> str:
        """The text given on standard input (``-`` as a message); only ``exec`` has one, the
        others raise :func:`no_stdin`."""


def no_stdin() -> UsageError:
    """The usage error of ``-`` (read standard input) where there is none to read."""
    return UsageError("`-` reads standard input only in tuimatrix exec; give the text instead")


#: the argument that stands for standard input
STDIN = "-"


def stdin_param(cmd: Command, args: dict[str, Any]) -> Param | None:
    """The parameter (one that takes the rest of the line: a message, a topic…) that
    ``args`` give as a bare ``-``, to be read from standard input; None if none is."""
    return next(
        (p for p in cmd.params if p.rest and str(args.get(p.name, "")).strip() == STDIN), None
    )


@dataclass
class Invocation:
    """A command with its parsed arguments, and the account and room it acts on."""

    command: Command
    args: dict[str, Any]
    account: Account | None = None
    room_id: str | None = None
    #: the universal prefix: given once, prompt for room/account; twice, also skip confirmation
    prefix: int = 0


Body = Callable[[Context, Invocation], Awaitable[Result]]
#: Computes a parameter's starting value for a prompt (e.g. an edit starts from the old text).
Prefill = Callable[[Context, Invocation, Param], Awaitable[str | None]]


@dataclass(frozen=True)
class Command:
    id: str
    title: str
    help: str
    body: Body
    params: tuple[Param, ...] = ()
    #: acts on a room: takes --room/--account, prompts for the room where none is in context
    room: bool = False
    #: asks for confirmation (skipped by --yes, or by the prefix given twice)
    destructive: bool = False
    #: the screens where the palette offers it ("room-list", "room"); empty means everywhere
    screens: frozenset[str] = field(default_factory=frozenset)
    #: needs the TUI (open-room, close-room…): not available in exec or the shell
    ui_only: bool = False
    prefill: Prefill | None = None
    #: acts on every account unless --account names one (listings): no account is chosen
    every_account: bool = False
    #: other ids that run it (a short one for scripts: ``members`` for ``list-members``)
    aliases: tuple[str, ...] = ()

    @property
    def all_params(self) -> tuple[Param, ...]:
        extra = []
        if self.room:
            extra.append(
                Param("room", "room", "the room (id, alias or name)", required=False, option=True)
            )
        # Every command acts as some account: with several logged in, this says which.
        extra.append(Param("account", "text", "the account (user id)", required=False, option=True))
        if self.destructive:
            extra.append(Param("yes", "flag", "do not ask for confirmation", option=True))
        return (*self.params, *extra)

    def usage(self) -> str:
        parts = [self.id]
        for p in self.all_params:
            parts.append(p.label if p.required and not p.option else f"[{p.label}]")
        return " ".join(parts)


REGISTRY: dict[str, Command] = {}
#: another id of a command → its id in :data:`REGISTRY` (listed there once, by its own id)
ALIASES: dict[str, str] = {}


def find_command(command_id: str) -> Command | None:
    """The command that ``command_id`` (its id or one of its aliases) names, if any."""
    load_commands()
    return REGISTRY.get(ALIASES.get(command_id, command_id))


def command(
    id: str,  # noqa: A002  (the command's id is part of the interface)
    title: str,
    help: str,  # noqa: A002
    *params: Param,
    room: bool = False,
    destructive: bool = False,
    screens: Sequence[str] = (),
    ui_only: bool = False,
    prefill: Prefill | None = None,
    every_account: bool = False,
    aliases: Sequence[str] = (),
) -> Callable[[Body], Body]:
    """Register the decorated coroutine as command ``id``."""

    def register(body: Body) -> Body:
        for name in (id, *aliases):
            if name in REGISTRY or name in ALIASES:
                raise ValueError(f"command {name} registered twice")
        ALIASES.update(dict.fromkeys(aliases, id))
        REGISTRY[id] = Command(
            id,
            title,
            help,
            body,
            tuple(params),
            room,
            destructive,
            frozenset(screens),
            ui_only,
            prefill,
            every_account,
            tuple(aliases),
        )
        return body

    return register


def convert(param: Param, value: str) -> Any:
    """A typed value from its text (the command line's, or a prompt's answer)."""
    if param.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise UsageError(
                f"{param.flag_name if param.option else param.name}: not a whole number: {value!r}"
            ) from None
    if param.kind == "float":
        try:
            return float(value)
        except ValueError:
            raise UsageError(
                f"{param.flag_name if param.option else param.name}: not a number: {value!r}"
            ) from None
    if param.kind == "choice" and param.choices and value not in param.choices:
        raise UsageError(f"{param.name}: one of {', '.join(param.choices)}, not {value!r}")
    return value


def parse_line(line: str) -> tuple[Command, dict[str, Any]]:
    """``ID ARG… [--flag] [--name VALUE]`` → the command and its arguments (missing: absent)."""
    try:
        words = split_line(line)
    except ValueError as e:
        raise UsageError(f"cannot parse the command line: {e}") from None
    if not words:
        raise UsageError("empty command line")
    return parse_words(words)


def parse_words(words: Sequence[str]) -> tuple[Command, dict[str, Any]]:
    command_id, *rest = words
    cmd = find_command(command_id)
    if cmd is None:
        raise UsageError(f"unknown command {command_id!r}")
    params = cmd.all_params
    read = read_words(params, rest)
    args: dict[str, Any] = {}
    for option in read.options:
        param = option.param
        if param is None:
            raise UsageError(f"{cmd.id}: unknown option {option.flag} (usage: {cmd.usage()})")
        if param.kind == "flag":
            if option.inline:
                raise UsageError(f"{cmd.id}: {option.flag} takes no value")
            args[param.name] = True
        elif option.value is None:
            raise UsageError(f"{cmd.id}: {option.flag} needs a value")
        else:
            args[param.name] = convert(param, option.value)
    loose = list(read.arguments)
    for param in (p for p in params if not p.option):
        if not loose:
            break
        if param.rest:
            args[param.name] = " ".join(loose)
            loose = []
        else:
            args[param.name] = convert(param, loose.pop(0))
    if loose:
        raise UsageError(f"{cmd.id}: unexpected argument {loose[0]!r} (usage: {cmd.usage()})")
    return cmd, args


#: the package's modules that register no commands
_NOT_COMMANDS = ("runner", "front_end", "grammar")
_loaded = False
# The app loads the commands in a thread after its first frame; a caller on another thread
# waits for the whole registry rather than seeing half of it.
_load_lock = threading.RLock()


def load_commands() -> None:
    """Import every command module (each registers its commands)."""
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    with _load_lock:
        for module in pkgutil.iter_modules(__path__):
            if not module.name.startswith("_") and module.name not in _NOT_COMMANDS:
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True


def commands_loaded() -> bool:
    """Whether :func:`load_commands` has run (the registry is complete)."""
    return _loaded

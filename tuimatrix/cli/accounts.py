"""Account commands of the command line: ``tuimatrix login | logout | accounts``.

They work without the UI: values that are not given as options are asked for with
prompt-toolkit when stdin is a terminal, and are a usage error when it is not (a script must
not hang on a prompt nobody sees).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from tuimatrix.core.errors import UserError
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import get_paths

#: the subcommands this module runs
COMMANDS = frozenset({"login", "logout", "accounts"})


class UsageError(UserError):
    """The command line was wrong or incomplete: exit status 2, as argparse uses."""


@dataclass(frozen=True)
class LoginValues:
    """What a password login needs, once every missing value has been asked for."""

    user: str
    password: str
    homeserver: str | None = None


def add_subcommands(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``login``, ``logout`` and ``accounts`` to the top-level subparsers."""
    login = sub.add_parser(
        "login",
        help="log in with a password and save the session",
        description="Log in with a password and save the session. Values not given are "
        "asked for when stdin is a terminal.",
    )
    login.add_argument(
        "--homeserver", metavar="URL", help="the homeserver's URL (default: discovered)"
    )
    login.add_argument(
        "--user",
        metavar="USER",
        help="a full user id (@name:server), or a bare name with --homeserver",
    )
    login.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    logout = sub.add_parser(
        "logout",
        help="log out a saved session",
        description="Log out on the server (deleting the device) and remove the saved session.",
    )
    logout.add_argument(
        "--account", metavar="MXID", help="the user id to log out (needed if several are saved)"
    )
    logout.add_argument(
        "--force",
        action="store_true",
        help="remove the local session even if the server cannot be reached",
    )
    sub.add_parser("accounts", help="list saved sessions", description="List saved sessions.")


def run(args: argparse.Namespace) -> int:
    """Run the account subcommand named by ``args.command``; the exit status."""
    if args.command == "login":
        return login_command(args.user, args.homeserver, password_stdin=args.password_stdin)
    if args.command == "logout":
        return logout_command(args.account, force=args.force)
    if args.command == "accounts":
        return accounts_command()
    raise ValueError(f"not an account command: {args.command}")


# -- login -------------------------------------------------------------------------------------


def read_password(stream: TextIO) -> str:
    """The first line of ``stream`` without its line ending (nothing else is stripped)."""
    line = stream.readline()
    if not line:
        raise UserError("--password-stdin: stdin is empty")
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise UserError("--password-stdin: the first line of stdin is empty")
    return password


def _needs_homeserver(user: str) -> bool:
    """True if ``user`` names no server: a bare localpart (a bad ``@id`` fails later)."""
    return not user.startswith("@") and ":" not in user


async def ask_login_values(
    user: str | None,
    homeserver: str | None,
    *,
    interactive: bool,
    password_stdin: TextIO | None = None,
) -> LoginValues:
    """Fill in the missing values: prompt when ``interactive``, else a usage error.

    With ``password_stdin`` the password is the first line of that stream, read after the
    other values were asked for. The prompts use the current prompt-toolkit app session,
    so tests can feed them input.
    """
    from prompt_toolkit import PromptSession

    def missing(what: str, option: str) -> UsageError:
        return UsageError(f"login: {what}, and stdin is not a terminal to ask; give {option}")

    async def ask(message: str, *, is_password: bool = False) -> str:
        session: PromptSession[str] = PromptSession()
        answer = await session.prompt_async(message, is_password=is_password)
        return answer if is_password else answer.strip()

    if not user:
        if not interactive:
            raise missing("no user given", "--user")
        user = await ask("User (@name:server): ")
        if not user:
            raise UserError("login: no user given")
    if not homeserver and _needs_homeserver(user):
        if not interactive:
            raise missing(f"{clean_line(user)!r} names no server", "--homeserver")
        homeserver = await ask("Homeserver URL: ")
        if not homeserver:
            raise UserError("login: no homeserver given")
    if password_stdin is not None:
        password = read_password(password_stdin)
    elif not interactive:
        raise missing("no password given", "--password-stdin")
    else:
        from tuimatrix.core import auth

        # Asked only of a server that takes one: an SSO-only server says so first.
        await auth.check_password_sign_in(user, homeserver or None)
        password = await ask(f"Password for {clean_line(user)}: ", is_password=True)
        if not password:
            raise UserError("login: no password given")
    return LoginValues(user=user, password=password, homeserver=homeserver or None)


async def log_in(values: LoginValues) -> list[str]:
    """Log in, save the session and close the account again; the lines to print."""
    from tuimatrix.core import auth

    result = await auth.login(get_paths(), values.user, values.password, values.homeserver)
    try:
        session = result.account.session
        lines = [
            f"Logged in as {clean_line(session.user_id)} (device {clean_line(session.device_id)})"
        ]
        if result.notice:
            lines.append(clean_line(result.notice))
        return lines
    finally:
        await result.account.close()


def login_command(
    user: str | None,
    homeserver: str | None,
    *,
    password_stdin: bool,
    stdin: TextIO | None = None,
) -> int:
    """``tuimatrix login``: ask for what is missing, log in, say who and which device."""
    stdin = stdin if stdin is not None else sys.stdin

    async def login() -> list[str]:
        values = await ask_login_values(
            user,
            homeserver,
            interactive=_is_terminal(stdin),
            password_stdin=stdin if password_stdin else None,
        )
        return await log_in(values)

    for line in asyncio.run(login()):
        print(line)
    return 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


# -- logout and accounts -----------------------------------------------------------------------


def logout_command(account: str | None, *, force: bool) -> int:
    """``tuimatrix logout``: log out the given session, or the only one saved."""
    from tuimatrix.core import auth
    from tuimatrix.core.session import load_sessions

    paths = get_paths()
    if account is None:
        sessions = load_sessions(paths)
        if not sessions:
            raise UserError("no saved sessions to log out")
        if len(sessions) > 1:
            names = ", ".join(clean_line(s.user_id) for s in sessions)
            raise UsageError(f"logout: several saved sessions; choose one with --account: {names}")
        account = sessions[0].user_id
    asyncio.run(auth.logout(paths, account, force=force))
    print(f"Logged out {clean_line(account)}")
    return 0


def format_accounts(rows: list[tuple[str, str, str]]) -> list[str]:
    """Rows of (user id, device id, homeserver) as aligned lines."""
    if not rows:
        return ["no saved sessions"]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{u:<{widths[0]}}  {d:<{widths[1]}}  {h}" for u, d, h in rows]


def accounts_command() -> int:
    """``tuimatrix accounts``: one line per saved session, and per account the server
    signed out (kept until a login or a logout)."""
    from tuimatrix.core import signed_out
    from tuimatrix.core.session import load_sessions

    paths = get_paths()
    rows = [
        (clean_line(s.user_id), clean_line(s.device_id), clean_line(s.homeserver))
        for s in load_sessions(paths)
    ]
    gone = signed_out.all_signed_out(paths)
    for line in format_accounts(rows) if rows or not gone else []:
        print(line)
    for user_id, marker in gone:
        print(
            f"{clean_line(user_id)}  signed out by the server ({clean_line(marker.reason)}); "
            "log in again to send what it had not sent, or log out to remove it"
        )
    return 0

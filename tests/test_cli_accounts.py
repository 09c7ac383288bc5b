"""``tuimatrix login | logout | accounts``: the real console script against a real Synapse."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MakeUser
from helpers import TestUser
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tuimatrix.cli.accounts import LoginValues, ask_login_values, log_in
from tuimatrix.core import auth
from tuimatrix.core.session import account_dir, load_sessions
from tuimatrix.paths import get_paths


def tuimatrix(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tuimatrix ARGS`` with stdin from ``stdin`` (never a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "tuimatrix", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line on stderr of a failed command (and that it is one, without a traceback)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tuimatrix: ")
    return lines[0]


def login(user: TestUser) -> subprocess.CompletedProcess[str]:
    result = tuimatrix("login", "--user", user.user_id, "--password-stdin", stdin=user.password)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_login_with_password_on_stdin_saves_a_private_session(
    make_user: MakeUser, tuimatrix_home: Path
) -> None:
    user = make_user("cli")
    result = login(user)
    [session] = load_sessions(get_paths())
    assert session.user_id == user.user_id
    assert result.stdout.splitlines()[0] == (
        f"Logged in as {user.user_id} (device {session.device_id})"
    )
    [session_file] = (tuimatrix_home / "data" / "accounts").glob("*/session.json")
    assert stat.S_IMODE(os.stat(session_file).st_mode) == 0o600
    listed = tuimatrix("accounts")
    assert listed.returncode == 0
    assert listed.stdout.split() == [user.user_id, session.device_id, session.homeserver]


def test_login_with_a_bare_name_and_a_homeserver(make_user: MakeUser) -> None:
    user = make_user("bare")
    result = tuimatrix(
        "login",
        "--homeserver",
        user.base_url,
        "--user",
        user.localpart,
        "--password-stdin",
        stdin=user.password + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Logged in as {user.user_id} (device ")
    assert [s.user_id for s in load_sessions(get_paths())] == [user.user_id]


async def test_login_prints_the_notice_on_its_own_line(make_user: MakeUser) -> None:
    user = make_user("notice")
    paths = get_paths()
    first = await auth.login(paths, user.user_id, user.password)
    await first.account.start()  # uploads the device keys
    await first.account.close()
    (account_dir(paths, user.user_id) / "store.db").unlink()  # and loses them here
    result = await asyncio.to_thread(login, user)
    [logged_in, notice] = result.stdout.splitlines()
    [session] = load_sessions(paths)
    assert logged_in == f"Logged in as {user.user_id} (device {session.device_id})"
    assert first.account.session.device_id in notice and session.device_id in notice


def test_accounts_are_listed_aligned(make_user: MakeUser) -> None:
    users = [make_user("al"), make_user("alignment")]
    for user in users:
        login(user)
    lines = tuimatrix("accounts").stdout.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(u.user_id for u in users)
    # The device and homeserver columns start at the same place on every line.
    for column in (1, 2):
        starts = {line.index(line.split()[column], len(line.split()[0])) for line in lines}
        assert len(starts) == 1, lines


def test_wrong_password_is_one_line(make_user: MakeUser) -> None:
    user = make_user("wrong")
    result = tuimatrix("login", "--user", user.user_id, "--password-stdin", stdin="nope\n")
    assert result.returncode == 1
    assert "wrong user name or password" in error_line(result)
    assert load_sessions(get_paths()) == []


def test_unreachable_homeserver_is_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = tuimatrix(
        "login", "--homeserver", url, "--user", "alice", "--password-stdin", stdin="secret\n"
    )
    assert result.returncode == 1
    assert "cannot reach" in error_line(result)


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        ([], "--user"),
        (["--user", "alice"], "--homeserver"),
        (["--user", "@alice:example.org"], "--password-stdin"),
    ],
)
def test_missing_values_without_a_terminal_are_a_usage_error(args: list[str], missing: str) -> None:
    result = tuimatrix("login", *args)
    assert result.returncode == 2
    assert missing in error_line(result)


def test_logout_removes_the_session(make_user: MakeUser) -> None:
    user = make_user("out")
    login(user)
    result = tuimatrix("logout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Logged out {user.user_id}"
    assert load_sessions(get_paths()) == []
    assert tuimatrix("accounts").stdout.strip() == "no saved sessions"


def test_logout_chooses_among_several_sessions(make_user: MakeUser) -> None:
    first, second = make_user("one"), make_user("two")
    login(first)
    login(second)
    result = tuimatrix("logout")
    assert result.returncode == 2
    line = error_line(result)
    assert first.user_id in line and second.user_id in line and "--account" in line
    result = tuimatrix("logout", "--account", second.user_id)
    assert result.returncode == 0, result.stderr
    assert [s.user_id for s in load_sessions(get_paths())] == [first.user_id]


def test_logout_without_a_session_is_one_line() -> None:
    result = tuimatrix("logout")
    assert result.returncode == 1
    assert "no saved sessions" in error_line(result)
    result = tuimatrix("logout", "--account", "@nobody:example.org")
    assert result.returncode == 1
    assert "@nobody:example.org" in error_line(result)


@pytest.mark.parametrize("command", ["login", "logout", "accounts"])
def test_every_subcommand_has_help(command: str) -> None:
    result = tuimatrix(command, "--help")
    assert result.returncode == 0
    assert f"usage: tuimatrix {command}" in result.stdout
    assert result.stderr == ""


def test_an_unknown_option_is_a_one_line_usage_error() -> None:
    result = tuimatrix("login", "--no-such-option")
    assert result.returncode == 2
    assert "--no-such-option" in error_line(result)


async def test_missing_values_are_prompted_for(make_user: MakeUser) -> None:
    user = make_user("asked")
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(f"{user.localpart}\r{user.base_url}\r{user.password}\r")
        values = await ask_login_values(None, None, interactive=True)
    assert values == LoginValues(user.localpart, user.password, user.base_url)
    [line] = await log_in(values)
    assert line.startswith(f"Logged in as {user.user_id} (device ")
    assert [s.user_id for s in load_sessions(get_paths())] == [user.user_id]


async def test_end_of_input_at_a_prompt_stops_the_login() -> None:
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("\x04")  # Ctrl-D on an empty line
        with pytest.raises(EOFError):
            await ask_login_values(None, None, interactive=True)


def test_accounts_lists_an_account_the_server_signed_out(make_user: MakeUser) -> None:
    from tuimatrix.core import signed_out

    user = make_user("gone")
    login(user)
    # What the sync loop leaves after a confirmed revocation (see test_lost_token.py).
    signed_out.record(get_paths(), user.user_id, "M_UNKNOWN_TOKEN: \x1b[31mrevoked")
    result = tuimatrix("accounts")
    assert result.returncode == 0
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{user.user_id}  signed out by the server (M_UNKNOWN_TOKEN: ")
    assert "\x1b" not in line
    result = tuimatrix("logout", "--account", user.user_id)
    assert result.returncode == 0, result.stderr
    assert not account_dir(get_paths(), user.user_id).exists()
    assert tuimatrix("accounts").stdout.splitlines() == ["no saved sessions"]

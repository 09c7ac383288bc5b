"""``tuimatrix exec`` and ``tuimatrix shell``: the command registry from the command line.

``exec`` runs as a real subprocess against the session's Synapse; the shell runs in-process,
driven through prompt-toolkit's pipe input. The completer is tested on its own.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from conftest import MakeUser
from helpers import TestUser
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tuimatrix.cli.completion import CommandCompleter, split_partial
from tuimatrix.cli.exec import command_line
from tuimatrix.cli.output import format_json
from tuimatrix.cli.shell import shell
from tuimatrix.commands import REGISTRY, Param, UsageError, load_commands
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.session import load_sessions
from tuimatrix.owner.context import ExecContext
from tuimatrix.owner.vocabulary import vocabulary_of
from tuimatrix.paths import get_paths

# -- helpers -----------------------------------------------------------------------------------


def tuimatrix(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tuimatrix ARGS`` (stdin empty, never a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "tuimatrix", *args],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=90,
    )


async def texec(*args: str) -> subprocess.CompletedProcess[str]:
    """``tuimatrix exec ARGS`` without blocking the test's event loop."""
    return await asyncio.to_thread(tuimatrix, "exec", *args)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line on stderr of a failed command (and that it is one, without a traceback)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tuimatrix: ")
    assert result.stdout == ""
    return lines[0]


async def log_in(user: TestUser, *room_names: str) -> list[str]:
    """Log ``user`` in (saving the session), create rooms with these names, close it again."""
    result = await auth.login(get_paths(), user.user_id, user.password)
    try:
        return [await result.account.create_room(name, encrypted=False) for name in room_names]
    finally:
        await result.account.close()


async def server_tags(user_id: str, room_id: str) -> dict[str, Any]:
    """The room's tags as the server has them, through the saved session."""
    [info] = [s for s in load_sessions(get_paths()) if s.user_id == user_id]
    account = await Account.open(info, get_paths(), crypto=False)
    try:
        return await account.get_tags(room_id)
    finally:
        await account.close()


# -- exec: success -----------------------------------------------------------------------------


async def test_exec_runs_a_command_line_and_prints_its_message(make_user: MakeUser) -> None:
    user = make_user("ex")
    [room_id] = await log_in(user, "Exec room")
    result = await texec("tag-room favourite --room 'Exec room'")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tagged Exec room m.favourite\n"
    assert result.stderr == ""
    assert "m.favourite" in await server_tags(user.user_id, room_id)
    # Several words are joined with shell quoting: the name with a space stays one argument.
    result = await texec("tag-room", "work", "--order", "0.5", "--room", "Exec room")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tagged Exec room u.work\n"
    assert (await server_tags(user.user_id, room_id))["u.work"] == {"order": 0.5}


async def test_exec_json_prints_the_data(make_user: MakeUser) -> None:
    user = make_user("js")
    [room_id] = await log_in(user, "Json room")
    result = await texec("--json", "tag-room favourite --room 'Json room'")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == {"tag": "m.favourite", "set": True}
    assert result.stdout.startswith('{\n  "')  # indented
    result = await texec("--json", "tag-room favourite --room 'Json room'")
    assert orjson.loads(result.stdout) == {"tag": "m.favourite", "set": False}
    assert "m.favourite" not in await server_tags(user.user_id, room_id)


async def test_exec_create_room_and_join_room_print_the_room_id(make_user: MakeUser) -> None:
    owner, guest = make_user("own"), make_user("guest")
    await log_in(owner)
    alias = f"#exec-{owner.localpart}:{owner.server_name}"
    created = await texec(
        "--json", "create-room", "Public room", "--public", "--alias", alias.split(":")[0]
    )
    assert created.returncode == 0, created.stderr
    room_id = orjson.loads(created.stdout)["room_id"]
    assert room_id.startswith("!")
    # The guest's session is saved too: --account picks it.
    await log_in(guest)
    joined = await texec("--account", guest.user_id, "--json", f"join-room {alias}")
    assert joined.returncode == 0, joined.stderr
    assert orjson.loads(joined.stdout) == {"room_id": room_id}
    described = await texec("--account", guest.user_id, f"describe-room --room {alias}")
    assert described.returncode == 0, described.stderr
    assert "Public room" in described.stdout


async def test_exec_without_data_prints_ok_in_json() -> None:
    assert orjson.loads(format_json(None)) == {"ok": True}
    # Terminal controls inside strings are escaped, and the JSON stays the same value.
    text = format_json({"name": "a\x9b2Jb\u202ec\x1b"})
    assert "\x9b" not in text and "\u202e" not in text and "\x1b" not in text
    assert orjson.loads(text) == {"name": "a\x9b2Jb\u202ec\x1b"}


def test_the_command_line_is_one_argument_or_several_joined() -> None:
    assert command_line(["tag-room fav --room 'A b'"]) == "tag-room fav --room 'A b'"
    assert command_line(["tag-room", "fav", "--room", "A b"]) == "tag-room fav --room 'A b'"
    assert command_line(["--", "send", "hello"]) == "send hello"


# -- exec: errors ------------------------------------------------------------------------------


async def test_exec_usage_errors_exit_2_with_one_line(make_user: MakeUser) -> None:
    user = make_user("use")
    await log_in(user, "Usage room")
    cases = {
        "frobnicate": "unknown command 'frobnicate'",
        "tag-room --room 'Usage room'": "TAG is missing",
        "tag-room fav --room 'Usage room' --frob": "unknown option --frob",
        "tag-room fav --room 'Usage room' --order soon": "not a number",
        "tag-room fav": "give --room",
        "leave-room --room 'Usage room'": "--yes",
        "tag-room fav --room 'No such room'": "no room matches",
        "room-list": "only in the app",
        "tag-room 'unclosed": "cannot parse",
    }
    for line, expected in cases.items():
        result = await texec(line)
        assert result.returncode == 2, (line, result.stderr)
        assert expected in error_line(result), line
    result = await texec()
    assert result.returncode == 2
    assert "command line" in error_line(result)


async def test_exec_a_server_error_exits_1_with_one_line(make_user: MakeUser) -> None:
    user = make_user("srv")
    await log_in(user)
    result = await texec(f"join-room '#nonexistent-{user.localpart}:{user.server_name}'")
    assert result.returncode == 1
    assert "M_NOT_FOUND" in error_line(result) or "not found" in error_line(result).lower()


def test_exec_without_a_saved_session_says_to_log_in() -> None:
    result = tuimatrix("exec", "tag-room fav --room x")
    assert result.returncode == 1
    assert "tuimatrix login" in error_line(result)


async def test_exec_account_chooses_among_two_sessions(make_user: MakeUser) -> None:
    first, second = make_user("first"), make_user("second")
    [first_room] = await log_in(first, "Same name")
    [second_room] = await log_in(second, "Same name")
    # The name matches a room of each account: ambiguous without --account.
    ambiguous = await texec("tag-room fav --room 'Same name'")
    assert ambiguous.returncode == 2
    assert "2 rooms match" in error_line(ambiguous)
    result = await texec("--account", second.user_id, "tag-room fav --room 'Same name'")
    assert result.returncode == 0, result.stderr
    assert "m.favourite" in await server_tags(second.user_id, second_room)
    assert "m.favourite" not in await server_tags(first.user_id, first_room)
    # A command that needs an account and is given none, with two saved: --account is named.
    result = await texec("create-room Orphan")
    assert result.returncode == 2
    assert "--account" in error_line(result)
    # An --account with no saved session is a usage error that lists the saved ones.
    result = await texec("--account", "@nobody:example.org", "create-room Orphan")
    assert result.returncode == 2
    line = error_line(result)
    assert "@nobody:example.org" in line and first.user_id in line and second.user_id in line


async def test_exec_context_asks_nothing() -> None:
    ctx = ExecContext(Accounts(get_paths()))
    assert ctx.interactive is False
    assert ctx.current() == (None, None)
    with pytest.raises(UsageError):
        await ctx.confirm("Leave?")
    with pytest.raises(UsageError):
        await ctx.ask(Param("tag", "tag"), "tag")
    with pytest.raises(UsageError):
        await ctx.choose_room("which room?", None)


# -- completion --------------------------------------------------------------------------------


class _FakeStore:
    def __init__(self, members: dict[str, str | None]) -> None:
        self.members = members

    async def state_rows(self, types: list[str]) -> list[dict[str, Any]]:
        assert types == ["m.room.member"]
        return [
            {
                "room_id": "!r:x",
                "type": "m.room.member",
                "state_key": user_id,
                "sender": user_id,
                "content": orjson.dumps({"membership": "join", "displayname": name}).decode(),
            }
            for user_id, name in self.members.items()
        ]


class _FakeRooms:
    def __init__(self, summaries: list[RoomSummary]) -> None:
        self.summaries = {s.room_id: s for s in summaries}


class _FakeAccount:
    def __init__(
        self, user_id: str, rooms: list[RoomSummary], members: dict[str, str | None]
    ) -> None:
        self.user_id = user_id
        self.rooms = _FakeRooms(rooms)
        self.store = _FakeStore(members)


@pytest.fixture
async def completer() -> CommandCompleter:
    accounts = Accounts(get_paths())
    rooms = [
        RoomSummary("!team:x", name="Team chat", display_name="Team chat"),
        RoomSummary(
            "!ops:x",
            display_name="ops",
            canonical_alias="#ops:x",
            tags={"u.work": None, "m.favourite": 0.5},
        ),
        RoomSummary("!gone:x", membership="leave", display_name="Gone room"),
        RoomSummary("!sp:x", display_name="Our space", is_space=True),
    ]
    fake = _FakeAccount("@me:x", rooms, {"@alice:x": "Alice", "@bob:x": None, "@me:x": "Me"})
    accounts.by_user[fake.user_id] = cast(Account, fake)
    vocabulary = await vocabulary_of(accounts)
    return CommandCompleter(vocabulary, builtins=("use", "help", "exit", "quit"))


def complete(comp: CommandCompleter, text: str) -> list[Completion]:
    return list(comp.get_completions(Document(text), CompleteEvent(completion_requested=True)))


def texts(comp: CommandCompleter, text: str) -> list[str]:
    return [c.text for c in complete(comp, text)]


def test_split_partial_words() -> None:
    assert split_partial("") == ([], "", 0)
    assert split_partial("tag-room fa") == (["tag-room"], "fa", 9)
    assert split_partial("tag-room --room ") == (["tag-room", "--room"], "", 16)
    assert split_partial("a --room 'Team c") == (["a", "--room"], "Team c", 9)
    assert split_partial('a "x y" b\\ c') == (["a", "x y"], "b c", 8)


def test_completes_command_ids(completer: CommandCompleter) -> None:
    load_commands()
    ids = texts(completer, "")
    assert "tag-room" in ids and "use" in ids and "help" in ids
    assert "room-list" not in ids  # ui_only: not offered outside the app
    assert texts(completer, "tag") == ["tag-room"]
    [completion] = complete(completer, "tag-r")
    assert completion.start_position == -5
    assert set(texts(completer, "crea")) == {"create-room", "create-space"}
    assert texts(completer, "help tag") == ["tag-room"]


def test_completes_flags(completer: CommandCompleter) -> None:
    assert set(texts(completer, "tag-room fav --")) == {"--order", "--room", "--account"}
    assert set(texts(completer, "leave-room --")) == {"--reason", "--room", "--account", "--yes"}
    # An option given once is not offered again; all positionals given: options are next.
    assert set(texts(completer, "tag-room fav --room ops ")) == {"--order", "--account"}
    assert texts(completer, "frobnicate --") == []


def test_completes_room_names_quoted(completer: CommandCompleter) -> None:
    rooms = texts(completer, "tag-room fav --room ")
    assert "'Team chat'" in rooms and "ops" in rooms and "#ops:x" in rooms
    assert "'Gone room'" not in rooms  # left rooms are not offered
    [team] = complete(completer, "tag-room fav --room Te")
    assert (team.text, team.start_position) == ("'Team chat'", -2)
    [team] = complete(completer, "tag-room fav --room 'team c")
    assert (team.text, team.start_position) == ("'Team chat'", -len("'team c"))
    assert texts(completer, "tag-room fav --room=Te") == ["--room='Team chat'"]
    assert texts(completer, "use Te") == ["'Team chat'"]
    # A part of the name matches too, after the names that start with it.
    assert texts(completer, "tag-room fav --room chat") == ["'Team chat'"]
    # A space parameter offers spaces only.
    assert texts(completer, "toggle-space ") == ["'Our space'"]


def test_completes_users_tags_and_choices(completer: CommandCompleter) -> None:
    users = texts(completer, "invite ")
    assert users[0] == "@me:x"  # the accounts' own ids first
    assert {"@alice:x", "@bob:x"} <= set(users)
    assert texts(completer, "invite @al") == ["@alice:x"]
    assert texts(completer, "invite Alic") == ["@alice:x"]  # by display name
    [alice] = complete(completer, "direct-message @al")
    assert alice.display_meta_text == "Alice"
    assert texts(completer, "tag-room ") == ["favourite", "low-priority", "u.work"]
    assert texts(completer, "tag-room lo") == ["low-priority"]
    assert set(texts(completer, "set-notifications ")) == {"default", "all", "mentions", "none"}
    assert texts(completer, "tag-room fav --account ") == ["@me:x"]
    # Free text (a message) has nothing to complete.
    assert texts(completer, "send hello wor") == []


async def test_completion_display_is_cleaned() -> None:
    accounts = Accounts(get_paths())
    evil = RoomSummary("!e:x", display_name="Evil\x1b]0;pwned\x07 room")
    fake = _FakeAccount("@me:x", [evil], {})
    accounts.by_user[fake.user_id] = cast(Account, fake)
    [completion] = complete(
        CommandCompleter(await vocabulary_of(accounts)), "tag-room fav --room Ev"
    )
    assert "\x1b" not in completion.display_text and "\x07" not in completion.display_text


# -- the shell ---------------------------------------------------------------------------------


async def test_shell_uses_a_room_and_runs_commands(
    make_user: MakeUser, capsys: pytest.CaptureFixture[str], tuimatrix_home: Path
) -> None:
    user = make_user("sh")
    [room_id] = await log_in(user, "Shell room")
    lines = [
        "help tag-room",
        "tag-room favourite",  # no room in use: the room is asked for
        "Shell room",
        "use Shell room",
        "tag-room favourite",  # toggles it off again
        "tag-room",  # the tag is asked for
        "work",
        "leave-room",  # asks for confirmation: no
        "n",
        "frobnicate",  # an error is a line, and the shell goes on
        "tag-room low-priority",
        "exit",
        "describe-room",  # never reached
    ]
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("".join(line + "\r" for line in lines))
        status = await shell()
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    assert "usage: tag-room TAG [--order ORDER] [--room ROOM] [--account ACCOUNT]" in out
    assert out.count("tagged Shell room m.favourite") == 1
    assert "using Shell room" in out
    assert "removed m.favourite from Shell room" in out
    assert "tagged Shell room u.work" in out
    assert "cancelled" in out
    assert any(line.startswith("error: unknown command 'frobnicate'") for line in out)
    assert "tagged Shell room m.lowpriority" in out
    assert not any("Shell room" in line and "topic" in line.lower() for line in out)
    tags = await server_tags(user.user_id, room_id)
    assert set(tags) == {"u.work", "m.lowpriority"}
    # Still a member: the leave was declined.
    [info] = load_sessions(get_paths())
    account = await Account.open(info, get_paths(), crypto=False)
    try:
        joined = await account.client.get_joined_rooms()
    finally:
        await account.close()
    assert room_id in joined
    history = tuimatrix_home / "state" / "shell-history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    assert "use Shell room" in history.read_text("utf-8")


async def test_shell_leaves_on_end_of_input(
    make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    user = make_user("eof")
    await log_in(user)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("\x04")  # Ctrl-D on an empty line
        assert await shell() == 0
    assert user.user_id in capsys.readouterr().out


def test_shell_without_a_saved_session_says_to_log_in() -> None:
    result = tuimatrix("shell")
    assert result.returncode == 1
    assert "tuimatrix login" in error_line(result)


def test_exec_and_shell_have_help() -> None:
    load_commands()
    assert "tag-room" in REGISTRY
    for command in ("exec", "shell"):
        result = tuimatrix(command, "--help")
        assert result.returncode == 0
        assert f"usage: tuimatrix {command}" in result.stdout

"""Commands that scripts read with: rooms, members, accounts, and a text from standard input.

In-process against the suite's Synapse: ``ExecContext(accounts, stdin=…)`` and the runner, as
``tuimatrix exec`` runs them (the socket to an owner is not this file's business).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from typing import Any

import orjson
import pytest
from conftest import MakeUser
from helpers import eventually
from owner_helpers import serving
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_sync import Login, bodies, login  # noqa: F401  (the fixture)

from tuimatrix.cli.describe import describe_command
from tuimatrix.cli.output import format_result
from tuimatrix.cli.shell import Shell
from tuimatrix.commands import UsageError
from tuimatrix.commands.runner import run_line
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.sendqueue import SENT
from tuimatrix.core.session import load_sessions
from tuimatrix.owner.attach import OwnerSession
from tuimatrix.owner.context import AskingContext, ExecContext
from tuimatrix.paths import get_paths


class NoAnswers:
    """A shell's end that is never asked anything (these tests give every argument)."""

    async def ask(self, question: dict[str, Any]) -> str | None:
        raise AssertionError(f"asked {question}")


def accounts_of(*accounts: Account) -> Accounts:
    opened = Accounts(get_paths())
    for account in accounts:
        opened.add(account)
    return opened


def by_name(rows: list[dict[str, Any]], user_id: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows if row["account"] == user_id}


async def test_rooms_lists_every_room_of_every_account_with_its_section(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a, b = await login(alice), await login(bob)
    ctx_a = ExecContext(accounts_of(a), a)
    plain = await a.create_room("Plain", encrypted=False)
    fav = await a.create_room("Fav", encrypted=False)
    await run_line(ctx_a, f"tag-room favourite --room {fav}")
    space = (await run_line(ctx_a, "create-space Team")).data["room_id"]
    child = await a.create_room("Child", encrypted=False)
    await a.add_space_child(space, child)
    shared = await a.create_room("Shared", encrypted=False, invite=[bob.user_id])
    invited = await a.create_room("Invited", encrypted=False, invite=[bob.user_id])
    dm = (await run_line(ctx_a, f"direct-message {bob.user_id}")).data["room_id"]
    await b.sync_once()
    await b.join(shared)
    # Unread for bob: a message, and one that mentions him (a highlight).
    for mentions in ([], [bob.user_id]):
        echo = await a.send_text(shared, f"hello {len(mentions)}", mentions=mentions)
        assert (await a.send_queue.wait(echo.txn_id)).state == SENT

    async def bob_sees_the_highlight() -> bool:
        await b.sync_once()
        room = b.rooms.summaries.get(shared)
        return room is not None and room.highlight_count > 0

    await eventually(bob_sees_the_highlight)
    await a.sync_once()

    ctx = ExecContext(accounts_of(a, b))  # two accounts, none chosen: every one is listed
    result = await run_line(ctx, "rooms")
    assert result.rows is not None
    assert result.message == f"{len(result.rows)} rooms"
    mine, bobs = by_name(result.rows, a.user_id), by_name(result.rows, b.user_id)
    assert set(mine) >= {"Plain", "Fav", "Team", "Child", "Shared", "Invited"}
    assert mine["Plain"] == {
        "room_id": plain,
        "name": "Plain",
        "account": a.user_id,
        "section": "unspaced",
        "unread": 0,
        "highlights": 0,
        "tags": [],
        "spaces": [],
        "space_ids": [],
        "membership": "join",
        "encrypted": False,
        "dm": False,
        "is_space": False,
    }
    assert mine["Fav"]["section"] == "favourites" and mine["Fav"]["tags"] == ["m.favourite"]
    assert mine["Team"]["section"] == "spaces" and mine["Team"]["is_space"] is True
    assert mine["Child"]["section"] == "spaced"
    assert (mine["Child"]["spaces"], mine["Child"]["space_ids"]) == (["Team"], [space])
    [dm_row] = [row for row in mine.values() if row["room_id"] == dm]
    assert dm_row["dm"] is True and dm_row["section"] == "people"
    assert bobs["Invited"]["membership"] == "invite" and bobs["Invited"]["section"] == "invites"
    assert bobs["Invited"]["room_id"] == invited
    assert bobs["Shared"]["unread"] == 2 and bobs["Shared"]["highlights"] == 1
    assert bobs["Shared"]["section"] == "unspaced"
    # In the room list's order: favourites before spaces before the other rooms.
    names = [row["name"] for row in result.rows if row["account"] == a.user_id]
    assert names.index("Fav") < names.index("Team") < names.index("Child") < names.index("Plain")

    only_bob = await run_line(ctx, f"rooms --account {b.user_id}")
    assert only_bob.rows and {row["account"] for row in only_bob.rows} == {b.user_id}
    assert only_bob.message == f"{len(only_bob.rows)} rooms"

    lines = format_result(result, as_json=True).split("\n")
    assert [orjson.loads(line) for line in lines] == result.rows
    table = format_result(result, as_json=False).split("\n")
    assert table[0].split() == list(result.columns)
    assert len(table) == len(result.rows) + 1


async def test_rooms_names_are_clean_and_capped(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("hostile"))
    room = await a.create_room("x", encrypted=False)
    await a.set_name(room, "\x1b]0;pwned\x07[@click=app.quit]Evil\u2028\n" + "y" * 10_000)
    await a.sync_once()
    result = await run_line(ExecContext(accounts_of(a), a), "rooms")
    assert result.rows is not None
    [row] = [row for row in result.rows if row["room_id"] == room]
    assert "\x1b" not in row["name"] and "\u2028" not in row["name"] and "\n" not in row["name"]
    assert row["name"].startswith("[@click=app.quit]Evil")  # text, never markup in a table
    table = format_result(result, as_json=False)
    assert "\x1b" not in table and max(len(line) for line in table.split("\n")) < 300
    [line] = [orjson.loads(line) for line in format_result(result, True).split("\n")]
    assert line["name"] == row["name"]


async def test_members_disambiguates_names_and_is_list_members(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice", displayname="Sam"), make_user("bob", displayname="Sam")
    carol = make_user("carol", displayname="Carol")
    a, b = await login(alice), await login(bob)
    room = await a.create_room("Sams", encrypted=False, invite=[bob.user_id, carol.user_id])
    await b.sync_once()
    await b.join(room)
    ctx = ExecContext(accounts_of(a, b))
    members = await run_line(ctx, f"members --room {room} --account {a.user_id}")
    listed = await run_line(ctx, f"list-members --room {room} --account {a.user_id}")
    assert members.rows == listed.rows == listed.data
    assert members.rows is not None
    rows = {row["user_id"]: row for row in members.rows}
    # Two members named Sam: each is told apart by the user id, as the timeline does.
    assert rows[a.user_id]["display_name"] == f"Sam ({a.user_id})"
    assert rows[b.user_id]["display_name"] == f"Sam ({b.user_id})"
    assert rows[carol.user_id]["display_name"] == "Carol"
    assert rows[carol.user_id]["membership"] == "invite"
    assert rows[a.user_id]["power_level"] > rows[b.user_id]["power_level"] == 0
    table = format_result(members, as_json=False).split("\n")
    assert table[0].split()[:4] == ["display_name", "user_id", "membership", "power_level"]
    assert any(line.startswith("Carol") for line in table)


async def test_accounts_lists_each_open_account(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    alice, bob = make_user("alice", displayname="Alice A"), make_user("bob")
    a, b = await login(alice), await login(bob)
    await a.create_room("One", encrypted=False)
    await a.sync_once()
    await b.sync_once()
    result = await run_line(ExecContext(accounts_of(a, b)), "accounts")
    assert result.message == "2 accounts"
    assert result.rows is not None
    rows = {row["user_id"]: row for row in result.rows}
    assert rows[a.user_id] == {
        "user_id": a.user_id,
        "display_name": "Alice A",
        "homeserver": a.session.homeserver,
        "device_id": a.session.device_id,
        "rooms": 1,
        "invites": 0,
        "sync": a.status.state,
        "signed_out": False,
    }
    assert rows[b.user_id]["rooms"] == 0 and rows[b.user_id]["device_id"] == b.session.device_id
    one = await run_line(ExecContext(accounts_of(a, b)), f"accounts --account {b.user_id}")
    assert one.message == "1 account" and [r["user_id"] for r in one.rows or []] == [b.user_id]
    # exec's own --account (its context's account) narrows a listing the same way.
    chosen = await run_line(ExecContext(accounts_of(a, b), b), "accounts")
    assert [r["user_id"] for r in chosen.rows or []] == [b.user_id]


async def test_a_dash_sends_standard_input_only_in_exec(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("piper"))
    room = await a.create_room("Pipe", encrypted=False)
    accounts = accounts_of(a)
    text = "first line\nsecond line with - and `code`"
    sent = await run_line(ExecContext(accounts, a, stdin=text), f"send --room {room} -")
    emote = await run_line(ExecContext(accounts, a, stdin="waves"), f"send-emote --room {room} -")
    replied = await run_line(
        ExecContext(accounts, a, stdin="a reply"), f"reply {sent.data['event_id']} --room {room} -"
    )
    assert sent.data["event_id"] and emote.data["event_id"] and replied.data["event_id"]
    for blank in (None, "", "  \n "):
        with pytest.raises(UsageError, match="standard input is empty"):
            await run_line(ExecContext(accounts, a, stdin=blank), f"send --room {room} -")
    # The shell has no standard input to give: one usage line, and nothing is sent.
    shell_ctx = AskingContext(accounts, NoAnswers(), a)
    with pytest.raises(UsageError, match="only in tuimatrix exec"):
        await run_line(shell_ctx, f"send --room {room} -")
    await a.sync_once()
    assert await bodies(a, room) == [text, "waves", "a reply"]  # never the text "-"


async def test_exec_reads_stdin_and_prints_rooms_as_json_lines(make_user: MakeUser) -> None:
    user = make_user("script")
    opened = (await auth.login(get_paths(), user.user_id, user.password)).account
    try:
        room = await opened.create_room("Cron", encrypted=False)
    finally:
        await opened.close()

    def texec(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tuimatrix", "exec", *args],
            input=stdin,
            capture_output=True,
            env={**os.environ},
            timeout=90,
        )

    sent = await asyncio.to_thread(texec, f"send --room {room} -", stdin="from cron ✓\n".encode())
    assert sent.returncode == 0, sent.stderr
    bad = await asyncio.to_thread(texec, f"send --room {room} -", stdin=b"\xff\xfe")
    assert bad.returncode == 2 and b"not UTF-8" in bad.stderr and bad.stdout == b""
    listed = await asyncio.to_thread(texec, "--json", "rooms")
    assert listed.returncode == 0, listed.stderr
    [row] = [orjson.loads(line) for line in listed.stdout.decode().splitlines()]
    assert row["room_id"] == room and row["name"] == "Cron" and row["account"] == user.user_id
    table = await asyncio.to_thread(texec, "rooms")
    assert table.stdout.decode().splitlines()[0].split()[:2] == ["name", "section"]
    [info] = load_sessions(get_paths())
    opened = await Account.open(info, get_paths(), crypto=False)
    try:
        await opened.sync_once()
        assert await bodies(opened, room) == ["from cron ✓"]
    finally:
        await opened.close()


async def test_the_shell_prints_listings_as_tables_and_help_as_exec_does(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("sheller"))
    room = await a.create_room("Lounge\x1b[31m", encrypted=False)
    await a.sync_once()
    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        async with serving(accounts_of(a)):
            repl = Shell(OwnerSession(get_paths(), "shell"), a.user_id, out=out)
            for line in ("rooms", "help members", f"send --room {room} -", "accounts --json"):
                assert await repl.handle(line)
            await repl.owner.close()
    printed = out.getvalue()
    header, row, *rest = printed.split("\n")
    assert header.split()[:2] == ["name", "section"]
    assert row.startswith("Lounge  ") and room in row and "\x1b" not in printed
    assert "\n".join(rest).startswith(describe_command("list-members"))
    assert "error: `-` reads standard input only in tuimatrix exec" in printed
    assert "error: accounts: unknown option --json" in printed

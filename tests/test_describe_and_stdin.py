"""Help for scripts (``exec --list``, ``exec help``) and a text from standard input (``-``).

Pure over the registry and in-memory streams; the one subprocess checks that ``exec --list``
and ``exec help`` need no account.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import orjson
import pytest

from tuimatrix.cli.describe import describe_command, list_commands
from tuimatrix.cli.stdin_body import MAX_BODY_BYTES, read_body, wants_stdin
from tuimatrix.commands import REGISTRY, UsageError, find_command, load_commands, parse_line

# -- exec --list, exec help ----------------------------------------------------------------


def test_list_names_every_command_outside_the_app_with_its_help() -> None:
    load_commands()
    lines = list_commands(as_json=False).split("\n")
    names = [line.split()[0] for line in lines]
    scriptable = {c.id for c in REGISTRY.values() if not c.ui_only}
    assert scriptable <= set(names)
    assert "quit" not in names and "open-room" not in names  # app only
    assert "members" in names  # an alias is listed, saying what it is
    assert any(line.startswith("members ") and "list-members" in line for line in lines)
    send = next(line for line in lines if line.split()[0] == "send")
    assert REGISTRY["send"].help in send
    # Aligned: every help text starts in the same column.
    starts = {
        line.index(REGISTRY[line.split()[0]].help) for line in lines if line.split()[0] in REGISTRY
    }
    assert len(starts) == 1


def test_list_as_json_lines_describes_each_command() -> None:
    rows = [orjson.loads(line) for line in list_commands(as_json=True).split("\n")]
    by_id = {row["id"]: row for row in rows}
    assert by_id["leave-room"] == {
        "id": "leave-room",
        "title": REGISTRY["leave-room"].title,
        "help": REGISTRY["leave-room"].help,
        "usage": REGISTRY["leave-room"].usage(),
        "aliases": [],
        "room": True,
        "destructive": True,
    }
    assert by_id["list-members"]["aliases"] == ["members"]
    assert by_id["rooms"]["room"] is False


def test_help_describes_one_command_as_help_would() -> None:
    text = describe_command("send")
    lines = text.split("\n")
    assert lines[0] == f"usage: {REGISTRY['send'].usage()}"
    assert REGISTRY["send"].help in text
    assert "  TEXT…" in text and "--room ROOM" in text and "--account ACCOUNT" in text
    assert "- is read from standard input" in text
    leave = describe_command("leave-room")
    assert "--yes" in leave and "confirmation" in leave
    assert "one of default, all, mentions, none" in describe_command("set-notifications")
    assert "also run as: members" in describe_command("list-members")
    assert describe_command("members") == describe_command("list-members")


def test_help_of_an_unknown_command_is_a_usage_error_with_a_close_one() -> None:
    with pytest.raises(UsageError, match="unknown command 'sned'; did you mean send"):
        describe_command("sned")
    with pytest.raises(UsageError, match="did you mean members"):
        describe_command("membres")
    with pytest.raises(UsageError, match=r"exec --list lists them"):
        describe_command("zzqqxx")


def test_exec_list_and_help_need_no_account() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tuimatrix", "exec", *args],
            input="",
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=60,
        )

    listed = run("--list")
    assert listed.returncode == 0 and listed.stdout == list_commands(False) + "\n"
    as_json = run("--list", "--json")
    assert as_json.returncode == 0
    assert all(orjson.loads(line)["id"] for line in as_json.stdout.splitlines())
    helped = run("help", "tag-room")
    assert helped.returncode == 0 and helped.stdout == describe_command("tag-room") + "\n"
    unknown = run("help", "tag-rooom")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == "tuimatrix: unknown command 'tag-rooom'; did you mean tag-room?\n"


# -- aliases -----------------------------------------------------------------------------------


def test_an_alias_runs_its_command_and_is_not_registered_twice() -> None:
    assert find_command("members") is REGISTRY["list-members"]
    assert "members" not in REGISTRY
    cmd, args = parse_line("members --room General")
    assert cmd is REGISTRY["list-members"] and args == {"room": "General"}


def test_an_alias_is_completed_and_completes_its_options() -> None:
    from tuimatrix.cli.completion import CommandCompleter

    completer = CommandCompleter()
    assert ("members", REGISTRY["list-members"].title) in completer.command_ids()
    offered = [text for text, _, _ in completer.complete(["members"], "--r")]
    assert offered == ["--room"]


# -- standard input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "wanted"),
    [
        ("send --room R -", True),
        ("send - --room R", True),
        ("send-emote -", True),
        ("reply $event -", True),
        ("set-topic --room R -", True),
        ("send --room R -- -", True),  # after --, still the text
        ("send --room R '-'", True),  # quoted, still a bare -
        ("send --room R - and more", False),  # a text that starts with "-"
        ("send --room R -x", False),
        ("send --room R hello", False),
        ("tag-room - --room R", False),  # not a text that takes the rest of the line
        ("frobnicate -", False),  # a usage error, reported when it runs
        ("send 'unclosed", False),
    ],
)
def test_wants_stdin_only_for_a_bare_dash_as_the_text(line: str, wanted: bool) -> None:
    assert wants_stdin(line) is wanted


def test_read_body_reads_utf8_and_drops_the_final_line_break() -> None:
    assert read_body(io.BytesIO("héllo\nworld\n".encode())) == "héllo\nworld"
    assert read_body(io.BytesIO(b"crlf\r\n")) == "crlf"
    assert read_body(io.BytesIO(b"two\n\n")) == "two\n"  # only the last one
    assert read_body(io.StringIO("from text\n")) == "from text"
    wrapped = io.TextIOWrapper(io.BytesIO("über\n".encode()), encoding="ascii")
    assert read_body(wrapped) == "über"  # the bytes under it, whatever its encoding


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "standard input is empty"),
        (b"  \n\t\n", "standard input is empty"),
        (b"caf\xe9\n", "not UTF-8 \\(byte 3"),
        (b"x" * (MAX_BODY_BYTES + 1), "more than 64 KiB"),
    ],
)
def test_read_body_refuses_what_cannot_be_a_message(data: bytes, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        read_body(io.BytesIO(data))


def test_read_body_takes_exactly_the_limit() -> None:
    assert len(read_body(io.BytesIO(b"y" * MAX_BODY_BYTES))) == MAX_BODY_BYTES

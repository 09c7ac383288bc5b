"""The real binary in a real terminal (tmux): chat, and hostile bytes stay inert."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MakeUser
from helpers import TestUser
from tmux import Tmux, binary_env, tuimatrix_command

from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.paths import Paths, get_paths


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    yield t
    t.stop()


def peer_paths() -> Paths:
    paths = get_paths()
    root = paths.data_dir.parent / "peer"
    return Paths(root / "config", root / "data", root / "state", root / "cache")


async def prepare(me: TestUser, other: TestUser, room_name: str) -> tuple[Account, str]:
    """``me`` has a saved session and has joined ``other``'s room ``room_name``."""
    mine = (await auth.login(get_paths(), me.user_id, me.password)).account
    theirs = (await auth.login(peer_paths(), other.user_id, other.password)).account
    room_id = await theirs.create_room(room_name, invite=[me.user_id])
    await mine.join(room_id)
    await mine.close()
    return theirs, room_id


async def wait_for_body(account: Account, room_id: str, body: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            await account.sync_once(timeout_ms=1000)
            events = await account.store.latest_events(room_id, 50)
            if any(e["content"].get("body") == body for e in events):
                return


async def test_smoke_chat_in_tmux(make_user: MakeUser, tmux: Tmux) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b, room_id = await prepare(alice, bob, "Smoke")
    try:
        tmux.start(tuimatrix_command(), binary_env())
        await asyncio.to_thread(tmux.wait_for, "Smoke")
        tmux.keys("Enter")
        await asyncio.to_thread(tmux.wait_for, "joined")  # the room screen with its timeline
        tmux.keys("hello from tmux", literal=True)
        tmux.keys("Enter")
        await wait_for_body(b, room_id, "hello from tmux")
        echo = await b.send_text(room_id, "reply from bob")
        await b.send_queue.wait(echo.txn_id)
        await asyncio.to_thread(tmux.wait_for, "reply from bob")
        screen = await asyncio.to_thread(tmux.wait_for, "hello from tmux")
        assert "live" in screen  # the status line
        tmux.keys("C-q")
        await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    finally:
        await b.close()


HOSTILE = (
    "evil "
    "\x1b]0;PWNED-TITLE\x07"  # OSC 0: window title
    "\x1b]52;c;UFdORUQ=\x07"  # OSC 52: clipboard
    "\x1b]8;;http://x.invalid/\x1b\\link\x1b]8;;\x1b\\"  # OSC 8 hyperlink
    "\x1b[6n"  # CSI: device status report
    "\x9b6n"  # one-byte CSI
    "\x9d0;C1-TITLE\x9c"  # one-byte OSC
    "\x1bP+q544e\x1b\\"  # DCS: XTGETTCAP
    "\u202eRLO\u202c"  # bidi override
    " [@click=app.quit] [b]not bold[/b] end"
)


async def test_hostile_message_is_shown_literally_and_writes_no_control_bytes(
    make_user: MakeUser, tmux: Tmux, tmp_path: Path
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b, room_id = await prepare(alice, bob, "Hostile")
    try:
        echo = await b.send_text(room_id, HOSTILE, html=f"<b>{HOSTILE}</b>")
        await b.send_queue.wait(echo.txn_id)
        raw = tmp_path / "terminal-output.bin"
        tmux.start(tuimatrix_command(), binary_env(), raw_output=raw)
        await asyncio.to_thread(tmux.wait_for, "Hostile")
        tmux.keys("Enter")
        screen = await asyncio.to_thread(tmux.wait_for, "[@click=app.quit]")
        assert "[b]not bold[/b]" in screen
        assert "PWNED" not in screen
        tmux.keys("C-q")
        await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    finally:
        await b.close()
    written = raw.read_bytes().decode("utf-8", errors="replace")
    assert "PWNED" not in written and "C1-TITLE" not in written
    assert "\x1b]52;" not in written and "\x1b]0;" not in written
    assert "\x1b[6n" not in written and "\x1bP" not in written
    assert "x.invalid" not in written
    assert not any("\x80" <= ch <= "\x9f" for ch in written)
    assert "\u202e" not in written

"""Alerts from the real binary in tmux: the raw bytes it writes (``pipe-pane``) hold the
terminal notification for a mention, and nothing of the message's own control bytes; no alert
for the room open on screen; one summary after a catch-up."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from conftest import MakeUser
from helpers import TestUser
from test_smoke_tmux import peer_paths
from test_smoke_tmux import tmux as tmux  # the fixture, shared
from tmux import Tmux, binary_env, tuimatrix_command

from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.paths import get_paths

#: OSC 777, wrapped for tmux's passthrough (ESC doubled inside): title and body.
ALERT = re.compile(r"\x1bPtmux;\x1b\x1b\]777;notify;([^;\x07]*);([^\x07]*)\x07\x1b\\")
#: What the mention carries to break out of the alert's sequence or forge one.
HOSTILE = "ping \x1b]0;PWNED\x07\x1b]777;notify;FORGED;x\x07\x9d2;C1TITLE\x9c;semi\x07\x1b\\ end"


def alert_config() -> None:
    """Terminal notifications forced to OSC 777 (tmux's TERM names no terminal), and no rate
    limit: what is not alerted is held back for what is on screen, not for the limit."""
    path = get_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[notifications]\nterminal = "osc777"\nrate-limit = 0\n')


def start_app(tmux: Tmux, directory: Path) -> Path:
    """Run the binary with ``alert_config``; the file that collects every byte it writes."""
    alert_config()
    raw = directory / "terminal-output.bin"
    tmux.start(tuimatrix_command(), binary_env(), raw_output=raw)
    return raw


async def two_rooms(me: TestUser, other: TestUser, *names: str) -> tuple[Account, list[str]]:
    """``other``'s rooms, which ``me`` joined and synced once (so the app starts by catching
    up); ``other``'s account."""
    mine = (await auth.login(get_paths(), me.user_id, me.password)).account
    theirs = (await auth.login(peer_paths(), other.user_id, other.password)).account
    rooms = []
    for name in names:
        room_id = await theirs.create_room(name, invite=[me.user_id])
        await mine.join(room_id)
        rooms.append(room_id)
    await mine.sync_once(timeout_ms=0)
    await mine.close()
    return theirs, rooms


async def mention(account: Account, room_id: str, me: TestUser, body: str) -> None:
    content = {"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": [me.user_id]}}
    echo = await account.send_event(room_id, "m.room.message", content)
    await account.send_queue.wait(echo.txn_id)


def alerts_in(raw: Path) -> list[tuple[str, str]]:
    text = raw.read_bytes().decode("utf-8", errors="replace") if raw.exists() else ""
    return ALERT.findall(text)


async def wait_for_alerts(raw: Path, count: int, timeout: float = 30) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while len(found := alerts_in(raw)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} alerts expected, found {found}")
        await asyncio.sleep(0.1)
    return found


async def test_a_mention_alerts_in_the_terminal_but_not_in_the_room_on_screen(
    make_user: MakeUser, tmux: Tmux, tmp_path: Path
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    # Lobby, made last, is the most recent room: the room list's first row, under the cursor.
    b, (other, lobby) = await two_rooms(alice, bob, "Other", "Lobby")
    try:
        raw = start_app(tmux, tmp_path)
        await asyncio.to_thread(tmux.wait_for, "live")
        await mention(b, lobby, alice, f"{alice.localpart}: {HOSTILE}")
        (title, body), *more = await wait_for_alerts(raw, 1)
        assert more == [] and title == "Lobby"
        assert body.startswith(f"{bob.user_id}: {alice.localpart}: ping")
        assert body.endswith(",semi end")  # the separator inert, the controls gone
        # The status line says it too.
        await asyncio.to_thread(tmux.wait_for, "Lobby: ")
        # With Lobby open (the terminal has focus: tmux sends no focus-out), its mentions
        # do not alert; Other's still do, and come after (a barrier: no fixed wait).
        tmux.keys("Enter")
        await asyncio.to_thread(tmux.wait_for, "joined")  # the room's timeline
        await mention(b, lobby, alice, "seen on screen")
        await asyncio.to_thread(tmux.wait_for, "seen on screen")
        await mention(b, other, alice, "elsewhere")
        found = await wait_for_alerts(raw, 2)
        assert [t for t, _ in found] == ["Lobby", "Other"]
        tmux.keys("C-q")
        await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    finally:
        await b.close()
    written = (tmp_path / "terminal-output.bin").read_bytes().decode("utf-8", errors="replace")
    assert "PWNED" not in written and "FORGED" not in written and "C1TITLE" not in written
    assert not any("\x80" <= ch <= "\x9f" for ch in written)
    assert "\x1b]2;(1) tuimatrix\x07" in written  # the title mark, restored on return
    assert "\x1b]2;tuimatrix\x07" in written


async def test_a_catch_up_alerts_once_with_a_summary(
    make_user: MakeUser, tmux: Tmux, tmp_path: Path
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b, (first, second) = await two_rooms(alice, bob, "First", "Second")
    try:
        # While the app is not running: three mentions in two rooms.
        for room_id, text in ((first, "one"), (first, "two"), (second, "three")):
            await mention(b, room_id, alice, f"{alice.localpart}: {text}")
        raw = start_app(tmux, tmp_path)
        await asyncio.to_thread(tmux.wait_for, "live")
        ((title, body),) = await wait_for_alerts(raw, 1)
        assert (title, body) == (alice.user_id, "3 new messages in 2 rooms (3 mentions)")
        # Live again: the next mention alerts on its own.
        await mention(b, second, alice, "live now")
        found = await wait_for_alerts(raw, 2)
        assert found[1] == ("Second", f"{bob.user_id}: live now")
        tmux.keys("C-q")
        await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    finally:
        await b.close()

"""A busy room on screen, in both message formats (snapshots), and quitting from a room whose
server stopped answering. In-memory account (tests/busy_room.py), frozen time, UTC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from busy_room import FULLY_READ, BusyRoomApp
from helpers import until
from room_fixtures import NOW
from textual.pilot import Pilot

from tuimatrix.screens import room as room_screen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.widgets.timeline import TimelineView

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times drawn in UTC, and "now" (a local echo's time) fixed."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(room_screen, "time", SimpleNamespace(time=lambda: NOW))
    yield
    monkeypatch.undo()
    time.tzset()


async def settled(pilot: Pilot[None]) -> None:
    """The room is open, its markers and receipts are drawn, nothing is still loading."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, RoomScreen))
    screen = app.screen
    assert isinstance(screen, RoomScreen)
    timeline = screen.query_one(TimelineView)
    await until(
        pilot, lambda: timeline.fully_read_key == FULLY_READ and len(timeline.receipts) == 2
    )
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_busy_room_elemental(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(BusyRoomApp("elemental"), terminal_size=SIZE, run_before=settled)


def test_busy_room_irc(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(BusyRoomApp("irc"), terminal_size=SIZE, run_before=settled)


async def test_quitting_waits_only_briefly_for_the_fully_read_marker() -> None:
    app = BusyRoomApp(hang=True)  # the fully-read request never gets an answer

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await settled(pilot)
            await pilot.press("ctrl+q")

    # Without the bound on the wait this would hang until the guard below gives up.
    await asyncio.wait_for(run(), timeout=30)
    assert ("$e17", True) in app.account.marked  # the marker was sent, to the newest event

"""The room list with 2,000 rooms: what a live update and a full regroup cost the UI loop.

A synthetic account (in memory: fake room summaries, no server, no store) is shown by the real
room-list screen inside ``App.run_test()``. Timed, on the UI loop:

- a live update: 50 rooms get a new message (new summary objects, newer activity, more
  unread), then the batch is applied and the visible lines are drawn, as a redraw would;
- a batch that moves rooms between sections: 20 rooms tagged favourite by another client;
- a room joined outside any space (a membership change that needs no regroup);
- a full regroup (every section from scratch, as after a login), and its first draw.

Run: ``.venv/bin/python benchmarks/room_list_update.py [--rooms 2000] [--batch 50]``.
Not a test: it prints timings (median and worst of several rounds) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.events import Mount

from tuimatrix.app import ROOM_LIST, TuimatrixApp
from tuimatrix.core.account import LIVE, SyncStatus
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sync import SyncChanges
from tuimatrix.paths import get_paths
from tuimatrix.screens.room_list import RoomListScreen

NOW = 1_735_732_800.0
USER = "@bench:example.org"


class _Models:
    def __init__(self, rooms: Iterable[RoomSummary]) -> None:
        self.summaries = {r.room_id: r for r in rooms}


class _Store:
    async def account_data(self) -> dict[tuple[str, str], Any]:
        return {}


class SyntheticAccount:
    """Just what the room list reads of an account."""

    def __init__(self, rooms: Iterable[RoomSummary]) -> None:
        self.user_id = USER
        self.rooms = _Models(rooms)
        self.status = SyncStatus(LIVE)
        self.store = _Store()

    def add_listener(self, listener: Callable[..., None]) -> None:
        pass

    def remove_listener(self, listener: Callable[..., None]) -> None:
        pass

    async def close(self) -> None:
        pass


def synthetic_rooms(count: int, rng: random.Random) -> list[RoomSummary]:
    """``count`` rooms: 5% of them spaces (a forest: a fifth at the top, the rest nested),
    holding half the rooms; the others direct messages, favourites, low priority, or in no
    space; one in ten unread."""
    now_ms = int(NOW * 1000)
    spaces = [f"!space{i}:x" for i in range(max(1, count // 20))]
    rooms: list[RoomSummary] = []
    children: dict[str, list[str]] = {s: [] for s in spaces}
    for i, space in enumerate(spaces):
        if i >= len(spaces) // 5:
            children[spaces[rng.randrange(0, i)]].append(space)
    for i in range(count - len(spaces)):
        room_id = f"!room{i}:x"
        kind = rng.random()
        fields: dict[str, Any] = {
            "latest_ts": now_ms - rng.randrange(0, 400 * 86_400_000),
            "joined_count": rng.randrange(2, 500),
            "topic": f"topic of room {i} " * rng.randrange(0, 4),
        }
        if kind < 0.05:
            fields["tags"] = {"m.favourite": None}
        elif kind < 0.10:
            fields["tags"] = {"m.lowpriority": None}
        elif kind < 0.25:
            fields["is_direct"] = True
        elif kind < 0.75:
            children[rng.choice(spaces)].append(room_id)
        if rng.random() < 0.1:
            fields["notification_count"] = rng.randrange(1, 50)
        rooms.append(RoomSummary(room_id, name=f"Room {i}", display_name=f"Room {i}", **fields))
    for i, space in enumerate(spaces):
        rooms.append(
            RoomSummary(
                space, name=f"Space {i}", display_name=f"Space {i}", is_space=True,
                space_children=sorted(children[space]), joined_count=100,
            )
        )  # fmt: skip
    return rooms


class BenchApp(TuimatrixApp):
    def __init__(self, account: SyntheticAccount) -> None:
        super().__init__(get_paths())
        self.account = account

    async def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        event.prevent_default()
        self.accounts.add(self.account)  # type: ignore[arg-type]
        self.install_screen(RoomListScreen(clock=lambda: NOW), ROOM_LIST)
        await self.push_screen(ROOM_LIST)


def draw(screen: RoomListScreen) -> int:
    """Draw every visible line as the compositor would; returns how many were rendered anew."""
    tree = screen.room_tree
    before = tree.rendered
    for y in range(tree.size.height):
        tree.render_line(y)
    return tree.rendered - before


def ms(seconds: list[float]) -> str:
    return (
        f"median {statistics.median(seconds) * 1000:6.2f} ms, worst {max(seconds) * 1000:6.2f} ms"
    )


async def run(room_count: int, batch: int, rounds: int) -> None:
    rng = random.Random(5)
    account = SyntheticAccount(synthetic_rooms(room_count, rng))
    app = BenchApp(account)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        screen = app.room_list
        summaries = account.rooms.summaries
        ids = [r for r, s in summaries.items() if not s.is_space]
        tree = screen.room_tree
        print(f"{len(summaries)} rooms, {len(tree.rows)} rows, {tree.size.height} lines visible")
        # Scroll into the middle, where moves above the viewport must keep it in place.
        tree.move_cursor(len(tree.rows) // 2)
        await pilot.pause(0.1)

        def timed(apply: Callable[[], None]) -> tuple[float, int]:
            start = time.perf_counter()
            apply()
            rendered = draw(screen)
            return time.perf_counter() - start, rendered

        live: list[float] = []
        lines: list[int] = []
        for n in range(rounds):
            changed = rng.sample(ids, batch)
            for room_id in changed:
                old = summaries[room_id]
                summaries[room_id] = dataclasses.replace(
                    old,
                    latest_ts=int(NOW * 1000) + n * 1000,
                    notification_count=old.notification_count + 1,
                )
            screen.account_changed(account, SyncChanges(rooms=set(changed)))  # type: ignore[arg-type]
            seconds, rendered = timed(screen._flush)
            live.append(seconds)
            lines.append(rendered)
            await pilot.pause(0.01)
        print(f"live update, {batch} rooms with a new message: {ms(live)}")
        print(f"  lines rendered per update (of {tree.size.height}): {statistics.median(lines)}")

        moves: list[float] = []
        for _ in range(rounds):
            changed = rng.sample(ids, 20)
            for room_id in changed:
                old = summaries[room_id]
                tags: dict[str, float | None] = {} if old.is_favourite else {"m.favourite": None}
                summaries[room_id] = dataclasses.replace(old, tags=tags)
            screen.account_changed(account, SyncChanges(rooms=set(changed)))  # type: ignore[arg-type]
            moves.append(timed(screen._flush)[0])
            await pilot.pause(0.01)
        print(f"20 rooms tagged/untagged favourite (they change section): {ms(moves)}")

        joins: list[float] = []
        for n in range(rounds):
            room_id = f"!joined{n}:x"
            summaries[room_id] = RoomSummary(
                room_id, name=f"New {n}", display_name=f"New {n}", latest_ts=int(NOW * 1000)
            )
            screen.account_changed(account, SyncChanges(rooms={room_id}))  # type: ignore[arg-type]
            joins.append(timed(screen._flush)[0])
            await pilot.pause(0.01)
        print(f"a room joined (in no space): {ms(joins)}")

        def regroup() -> None:
            screen._regroup = True
            screen._flush()

        full = [timed(regroup)[0] for _ in range(max(3, rounds // 4))]
        print(f"full regroup of every section, and its draw: {ms(full)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    # Keep the benchmark's UI state away from the user's own files.
    os.environ.setdefault("TUIMATRIX_HOME", tempfile.mkdtemp(prefix="tuimatrix-bench-"))
    asyncio.run(run(args.rooms, args.batch, args.rounds))


if __name__ == "__main__":
    main()

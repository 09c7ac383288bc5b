"""``tuimatrix demo`` from the shell: start, seed, log in, sync, show the rooms."""

from __future__ import annotations

import asyncio
import shutil
import sys

from tuimatrix import demo
from tuimatrix.core.account import Account
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sanitize import clean_line


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def format_room_list(account: Account) -> str:
    """A plain listing of the account's rooms (until the TUI shows them)."""
    order = {"invite": 0, "join": 1, "knock": 2, "leave": 3}
    rooms = sorted(
        account.rooms.summaries.values(),
        key=lambda r: (order.get(r.membership, 9), r.is_space is False, -r.latest_ts),
    )
    lines = [f"Rooms of {account.user_id}:"]
    for room in rooms:
        lines.append("  " + _room_line(room))
    return "\n".join(lines)


def _room_line(room: RoomSummary) -> str:
    marks = "".join(
        mark
        for flag, mark in (
            (room.membership == "invite", "invited "),
            (room.is_space, "space "),
            (room.is_direct, "DM "),
            (room.is_favourite, "★ "),
            (room.is_low_priority, "low "),
        )
        if flag
    )
    unread = f" [{room.notification_count}]" if room.notification_count else ""
    topic = f" — {clean_line(room.topic)[:50]}" if room.topic else ""
    return f"{marks}{clean_line(room.display_name)}{unread}{topic}"


async def _run(server: demo.DemoServer, directory: object, fresh: bool) -> None:
    from pathlib import Path

    assert isinstance(directory, Path)
    if fresh:
        await demo.seed(server, directory, _say)
        demo.mark_seeded(directory, server)
    account = await demo.login_demo_user(server)
    try:
        await account.sync_once()
        # Accepting the demo's invites shows the joined rooms; one stays an invite to see.
        for room in list(account.rooms.summaries.values()):
            if room.membership == "invite" and room.display_name != "Secret plans":
                await account.join(room.room_id)
        await account.sync_once()
        if fresh:
            await account.set_tag(
                next(
                    r.room_id
                    for r in account.rooms.summaries.values()
                    if r.display_name == "General"
                ),
                "favourite",
            )
            await account.sync_once()
        print(format_room_list(account))
    finally:
        await account.close()


def run_demo(*, reset: bool = False) -> int:
    directory = demo.demo_dir()
    if reset and directory.exists():
        shutil.rmtree(directory)
    demo.use_demo_profile(directory)
    _say(f"starting a local Synapse in {directory} …")
    server, fresh = demo.start_server(directory)
    try:
        _say(
            f"homeserver {server.synapse.base_url}, logging in as {server.user_id(demo.DEMO_USER)}"
        )
        asyncio.run(_run(server, directory, fresh))
    finally:
        server.synapse.stop()
    return 0

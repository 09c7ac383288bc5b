"""In-memory accounts for room-list tests that must not depend on a server: snapshots and
pure logic. Fixed names and timestamps, and a frozen "now", so every run draws the same."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.events import Mount

from tuimatrix.app import ROOM_LIST, TuimatrixApp
from tuimatrix.core.account import LIVE, SyncStatus
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.paths import get_paths
from tuimatrix.screens.room_list import RoomListScreen

#: the frozen "now" of the fixtures (2025-01-01 12:00 UTC), in seconds
NOW = 1_735_732_800.0
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def ago(ms: int) -> int:
    """A timestamp ``ms`` milliseconds before :data:`NOW`, in ms."""
    return int(NOW * 1000) - ms


def room(room_id: str, name: str, **fields: Any) -> RoomSummary:
    """A joined room with ``name`` (and any other summary fields)."""
    fields.setdefault("joined_count", 2)
    return RoomSummary(room_id, name=name, display_name=name, **fields)


class FakeModels:
    def __init__(self, rooms: Iterable[RoomSummary]) -> None:
        self.summaries = {r.room_id: r for r in rooms}


class FakeStore:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}

    async def account_data(self) -> dict[tuple[str, str], Any]:
        return self.data


class FakeAccount:
    """What the room list reads of an account: its id, room summaries, status and store."""

    def __init__(self, user_id: str, rooms: Iterable[RoomSummary]) -> None:
        self.user_id = user_id
        self.rooms = FakeModels(rooms)
        self.status = SyncStatus(LIVE)
        self.store = FakeStore()

    def add_listener(self, listener: Callable[..., None]) -> None:
        pass

    def remove_listener(self, listener: Callable[..., None]) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class FakeApp(TuimatrixApp):
    """The real app and room list over fake accounts (no store, no network)."""

    def __init__(self, accounts: Iterable[FakeAccount], now: float = NOW) -> None:
        super().__init__(get_paths())
        self._fakes = list(accounts)
        self._now = now

    async def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # not the app's own start: no saved sessions, no sync
        for account in self._fakes:
            self.accounts.add(account)  # type: ignore[arg-type]
        self.install_screen(RoomListScreen(clock=lambda: self._now), ROOM_LIST)
        await self.push_screen(ROOM_LIST)


def sample_accounts() -> list[FakeAccount]:
    """One account with a room in every section: a space with a subspace and rooms, rooms in
    no space, a favourite, a low-priority room, DMs, an invite, unread and highlighted rooms."""
    me = "@me:example.org"
    rooms = [
        room("!inv", "Book club", membership="invite", inviter="@zoe:example.org"),
        room("!fav", "Garden", tags={"m.favourite": None}, latest_ts=ago(3 * MINUTE)),
        room(
            "!work",
            "Work",
            is_space=True,
            space_children=["!proj", "!team"],
            joined_count=40,
            topic="everything about work",
        ),
        room(
            "!proj",
            "Projects",
            is_space=True,
            space_children=["!alpha"],
            space_parents=["!work"],
            joined_count=12,
        ),
        room(
            "!team",
            "Team chat",
            topic="daily standup at 9:30 \x1b[31m(no escapes)",
            notification_count=5,
            highlight_count=2,
            latest_ts=ago(2 * HOUR),
            joined_count=25,
        ),
        room(
            "!alpha",
            "Alpha launch",
            topic="ship it",
            notification_count=1,
            latest_ts=ago(5 * DAY),
            joined_count=7,
        ),
        room("!lunch", "Lunch [b]plans[/b]", latest_ts=ago(30 * MINUTE), joined_count=3),
        room("!old", "Old stuff", tags={"m.lowpriority": None}, latest_ts=ago(400 * DAY)),
        room("!ann", "Alice", is_direct=True, latest_ts=ago(1 * DAY), notification_count=2),
        room("!bob", "Bob", is_direct=True, latest_ts=ago(3 * 7 * DAY)),
    ]
    account = FakeAccount(me, rooms)
    account.store.data[("", "m.push_rules")] = {
        "global": {"room": [{"rule_id": "!team", "actions": ["notify"], "enabled": True}]}
    }
    return [account]

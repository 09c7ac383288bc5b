"""The room list: every room of every account, updated live from sync.

Changes are batched: a sync marks rooms dirty, and at most a few times a second the dirty rows
(and only those) are rewritten. The cursor stays on the same room across updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import LocalEcho
from tuimatrix.core.sync import SyncChanges
from tuimatrix.screens.base import UsesApp
from tuimatrix.widgets.status import StatusLine

#: How often batched room changes are drawn (seconds).
REDRAW_INTERVAL = 0.25


def short_age(ts_ms: int, now: float | None = None) -> str:
    """``3m``, ``2h``, ``5d``…, or "" for never."""
    if not ts_ms:
        return ""
    seconds = max(0, (time.time() if now is None else now) - ts_ms / 1000)
    for unit, size in (("y", 31_536_000), ("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return "now"


@dataclass(frozen=True)
class SortKey:
    """Invites first, then unread, then the most recent activity."""

    invite: bool
    unread: bool
    latest_ts: int
    name: str

    def key(self) -> tuple[int, int, int, str]:
        return (0 if self.invite else 1, 0 if self.unread else 1, -self.latest_ts, self.name)


class ActivityCell:
    """The activity column's cell: renders as an age, sorts by the room's order."""

    def __init__(self, sort: SortKey) -> None:
        self.sort = sort

    def __rich__(self) -> Text:
        return Text(short_age(self.sort.latest_ts), style="dim")


class RoomListScreen(UsesApp, Screen[None]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="room-list.down"),
        Binding("k", "cursor_up", "Up", show=False, id="room-list.up"),
    ]
    DEFAULT_CSS = """
    RoomListScreen DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._dirty: set[tuple[str, str]] = set()
        self._columns_for_accounts = 1

    def compose(self) -> ComposeResult:
        table: DataTable[object] = DataTable(cursor_type="row", zebra_stripes=False)
        table.add_column("Room", key="name")
        table.add_column("Unread", key="unread")
        table.add_column("Active", key="activity")
        table.add_column("Account", key="account")
        yield table
        yield StatusLine()

    @property
    def table(self) -> DataTable[object]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self.tm.apply_keys(self, "room-list")
        self.refresh_rooms()
        self.set_interval(REDRAW_INTERVAL, self._flush)
        self.set_interval(30, self._refresh_ages)
        self.tm.refresh_status()

    # -- data ----------------------------------------------------------------------------------

    def _accounts(self) -> Accounts:
        return self.tm.accounts

    def refresh_rooms(self) -> None:
        """Mark every room of every account for redrawing."""
        for account, summary in self._accounts().rooms():
            self._dirty.add((account.user_id, summary.room_id))
        if self.is_mounted:
            self._flush()

    def refresh_open_rooms(self) -> None:
        self.refresh_rooms()

    def account_changed(self, account: Account, change: object) -> None:
        if isinstance(change, SyncChanges):
            self._dirty.update((account.user_id, room_id) for room_id in change.rooms)
        elif isinstance(change, LocalEcho):
            pass

    def _row_key(self, user_id: str, room_id: str) -> str:
        return f"{user_id}|{room_id}"

    def _cells(self, account: Account, room: RoomSummary) -> dict[str, object]:
        name = Text(clean_line(room.display_name) or room.room_id, no_wrap=True)
        if room.membership == "invite":
            name.stylize("italic")
            name = Text("✉ ", style="italic") + name
        elif room.is_space:
            name = Text("◆ ", style="cyan") + name
        elif room.is_direct:
            name = Text("@ ", style="magenta") + name
        if room.notification_count or room.highlight_count:
            name.stylize("bold")
        unread = Text()
        if room.notification_count or room.highlight_count:
            unread.append(str(room.notification_count), "bold")
            if room.highlight_count:
                unread.append(f":{room.highlight_count}", "bold red")
        sort = SortKey(
            room.membership == "invite",
            bool(room.notification_count or room.highlight_count),
            room.latest_ts,
            room.display_name.lower(),
        )
        accounts = len(self._accounts())
        return {
            "name": name,
            "unread": unread,
            "activity": ActivityCell(sort),
            "account": Text(clean_line(account.user_id), style="dim") if accounts > 1 else Text(),
        }

    def _flush(self) -> None:
        if not self._dirty:
            return
        table = self.table
        cursor_key = self._cursor_key()
        dirty, self._dirty = self._dirty, set()
        order_changed = False
        for user_id, room_id in dirty:
            account = self._accounts().get(user_id)
            key = self._row_key(user_id, room_id)
            room = account.rooms.summaries.get(room_id) if account else None
            exists = key in table.rows
            if account is None or room is None or room.membership not in ("join", "invite"):
                if exists:
                    table.remove_row(key)
                continue
            cells = self._cells(account, room)
            if not exists:
                table.add_row(*cells.values(), key=key)
                order_changed = True
                continue
            old = table.get_cell(key, "activity")
            for column, value in cells.items():
                if column != "activity" and table.get_cell(key, column) != value:
                    table.update_cell(key, column, value)
            assert isinstance(old, ActivityCell)
            new = cells["activity"]
            assert isinstance(new, ActivityCell)
            if old.sort != new.sort:
                table.update_cell(key, "activity", new)
                order_changed = True
        if order_changed:
            table.sort("activity", key=lambda cell: cell.sort.key())
            if cursor_key is not None and cursor_key in table.rows:
                table.move_cursor(row=table.get_row_index(cursor_key), scroll=False)

    def _refresh_ages(self) -> None:
        self.table.refresh()

    def _cursor_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    # -- actions -------------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    def selected(self) -> tuple[Account, RoomSummary] | None:
        key = self._cursor_key()
        if key is None:
            return None
        user_id, room_id = key.split("|", 1)
        account = self._accounts().get(user_id)
        room = account.rooms.summaries.get(room_id) if account else None
        return (account, room) if account and room else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_room()

    def action_open_room(self) -> None:
        selected = self.selected()
        if selected is None:
            return
        account, room = selected
        if room.membership == "invite":
            from tuimatrix.screens.invite import InviteScreen

            self.app.push_screen(InviteScreen(account, room))
            return
        self.tm.open_room(account, room.room_id)

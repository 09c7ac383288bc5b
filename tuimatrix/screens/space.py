"""A space's rooms (``GET /hierarchy``): open the ones you are in, join the others."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.operations import child_vias
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.screens.base import UsesApp


def _text(value: object) -> str:
    return clean_line(value) if isinstance(value, str) else ""


class SpaceScreen(UsesApp, ModalScreen[None]):
    """The rooms of a space and of its subspaces; enter opens a room, or joins it first."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]
    DEFAULT_CSS = """
    SpaceScreen { align: center middle; }
    SpaceScreen > Vertical {
        width: 90%; max-width: 110; height: 80%;
        padding: 1 2; border: round $accent; background: $surface;
    }
    SpaceScreen DataTable { height: 1fr; }
    SpaceScreen #status { color: $text-muted; }
    """

    def __init__(self, account: Account, space: RoomSummary) -> None:
        super().__init__()
        self.account = account
        self.space = space
        self._via: dict[str, list[str]] = {}
        self._rooms: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble(("◆ ", "cyan"), (summary_label(self.space), "bold")))
            yield Label("loading the space's rooms…", id="status")
            table: DataTable[Text] = DataTable(cursor_type="row")
            table.add_column("", key="joined", width=7)
            table.add_column("Room", key="name")
            table.add_column("Members", key="members")
            table.add_column("Topic", key="topic")
            yield table
            yield Label(Text("enter: open (joins first) · escape: close", style="dim"))

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._load()

    @work(exclusive=True, group="space-hierarchy")
    async def _load(self) -> None:
        status = self.query_one("#status", Label)
        try:
            hierarchy = await self.account.space_hierarchy(self.space.room_id)
        except Exception as e:
            status.update(Text(f"cannot list the space: {describe_error(e)}"))
            return
        self._via = child_vias(hierarchy)
        table = self.query_one(DataTable)
        for entry in hierarchy:
            room_id = entry.get("room_id")
            if not isinstance(room_id, str) or room_id == self.space.room_id:
                continue
            self._rooms[room_id] = entry
            mark = "◆ " if entry.get("room_type") == "m.space" else ""
            name = _text(entry.get("name")) or _text(entry.get("canonical_alias")) or room_id
            table.add_row(
                self._joined_cell(room_id),
                Text(mark + clean_line(name)),
                Text(str(int(entry.get("num_joined_members") or 0)), justify="right"),
                Text(_text(entry.get("topic")), style="dim"),
                key=room_id,
            )
        status.update(Text(f"{len(self._rooms)} rooms"))

    def _joined(self, room_id: str) -> bool:
        room = self.account.rooms.summaries.get(room_id)
        return room is not None and room.membership == "join"

    def _joined_cell(self, room_id: str) -> Text:
        return Text("joined", style="green") if self._joined(room_id) else Text("join", "dim")

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self._enter(str(event.row_key.value))

    @work(exclusive=True, group="space-join")
    async def _enter(self, room_id: str) -> None:
        status = self.query_one("#status", Label)
        if not self._joined(room_id):
            status.update(Text("joining…"))
            try:
                await self.account.join(room_id, self._via.get(room_id))
            except Exception as e:
                status.update(Text(f"cannot join: {describe_error(e)}"))
                return
            self.query_one(DataTable).update_cell(room_id, "joined", Text("joined", "green"))
            status.update(Text("joined"))
        entry = self._rooms.get(room_id, {})
        if entry.get("room_type") == "m.space":
            # Just joined, sync may not have brought its summary yet: the hierarchy's will do.
            room = self.account.rooms.summaries.get(room_id) or RoomSummary(
                room_id, display_name=_text(entry.get("name")) or room_id, is_space=True
            )
            self.app.push_screen(SpaceScreen(self.account, room))
            return
        self.dismiss()
        self.tm.open_room(self.account, room_id)

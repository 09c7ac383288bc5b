"""Accept or reject an invite."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.screens.base import UsesApp


class InviteScreen(UsesApp, ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "dismiss(False)", "Cancel"),
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
    ]
    DEFAULT_CSS = """
    InviteScreen { align: center middle; }
    InviteScreen > Vertical {
        width: 64; height: auto; padding: 1 2; border: round $accent; background: $surface;
    }
    InviteScreen Horizontal { height: auto; margin-top: 1; }
    InviteScreen Button { margin-right: 2; }
    InviteScreen #error { color: $error; }
    """

    def __init__(self, account: Account, room: RoomSummary) -> None:
        super().__init__()
        self.account = account
        self.room = room

    def compose(self) -> ComposeResult:
        who = clean_line(self.room.inviter or "someone")
        with Vertical():
            yield Label(Text.assemble(("Invite to ", ""), (summary_label(self.room), "bold")))
            yield Label(Text(f"from {who}, for {clean_line(self.account.user_id)}", style="dim"))
            with Horizontal():
                yield Button("Accept (a)", id="accept", variant="primary")
                yield Button("Reject (r)", id="reject", variant="error")
                yield Button("Cancel", id="cancel")
            yield Label("", id="error")

    @on(Button.Pressed, "#accept")
    def action_accept(self) -> None:
        self._answer(True)

    @on(Button.Pressed, "#reject")
    def action_reject(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    @work(exclusive=True)
    async def _answer(self, accept: bool) -> None:
        try:
            if accept:
                await self.account.join(self.room.room_id)
            else:
                await self.account.leave(self.room.room_id)
        except Exception as e:
            self.query_one("#error", Label).update(Text(describe_error(e)))
            return
        self.dismiss(accept)
        if accept:
            self.tm.open_room(self.account, self.room.room_id)

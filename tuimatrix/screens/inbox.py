"""The inbox: what needs the user across every account, live; enter jumps, r replies.

The entries come from ``core/inbox.py`` (already sanitised); this screen only lays them out,
filters them, and follows the accounts' syncs to show new ones while it is open.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label

from tuimatrix.core.account import Account
from tuimatrix.core.ages import short_age
from tuimatrix.core.inbox import (
    DIRECT,
    INVITE,
    KEYWORD,
    MENTION,
    InboxChoice,
    InboxEntry,
    SenderNames,
    account_labels,
    gather_inbox,
    server_history,
)
from tuimatrix.core.sync import SyncChanges
from tuimatrix.screens.base import UsesApp

#: how each kind is marked in the table
KIND_MARKS = {
    MENTION: ("@", "bold red"),
    KEYWORD: ("#", "bold yellow"),
    INVITE: ("✉", "italic"),
    DIRECT: ("•", "magenta"),
}
#: a burst of syncs reads the store once
RELOAD_DELAY = 0.5
#: the message column's width (the table scrolls sideways for the rest)
PREVIEW_WIDTH = 60


def entry_matches(entry: InboxEntry, words: list[str]) -> bool:
    """Whether every word of the filter is in the entry's room, sender, text or kind."""
    haystack = " ".join((entry.room, entry.sender, entry.preview, entry.kind)).casefold()
    return all(word in haystack for word in words)


class InboxScreen(UsesApp, ModalScreen[InboxChoice | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("r", "reply", "Reply"),
        Binding("slash", "filter", "Filter"),
    ]
    DEFAULT_CSS = """
    InboxScreen { align: center middle; }
    InboxScreen > Vertical {
        width: 95%; height: 90%; padding: 0 1; border: round $accent; background: $surface;
    }
    InboxScreen #inbox-title { text-style: bold; }
    InboxScreen #inbox-empty { color: $text-muted; }
    InboxScreen DataTable { height: 1fr; }
    """

    def __init__(self, accounts: list[Account]) -> None:
        super().__init__()
        self.accounts = accounts
        #: the entries shown (after the filter), in the table's order
        self.shown: list[InboxEntry] = []
        self.entries: list[InboxEntry] = []
        self._history: list[InboxEntry] = []
        self._names = SenderNames()
        self._reload_timer: Timer | None = None
        #: with several accounts, each row names its own (short)
        self._several = len(accounts) > 1
        self._labels = account_labels(a.user_id for a in accounts)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Inbox", id="inbox-title")
            yield Input(placeholder="filter (/): words in the room, sender or message")
            yield Label("", id="inbox-empty")
            yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Age", key="age")
        table.add_column("", key="kind")
        if self._several:
            table.add_column("Account", key="account")
        table.add_columns("Room", "Sender")
        table.add_column("Message", key="preview", width=PREVIEW_WIDTH)
        table.focus()
        for account in self.accounts:
            account.add_listener(self._account_changed)
        self.load(history=True)

    def on_unmount(self) -> None:
        for account in self.accounts:
            account.remove_listener(self._account_changed)

    def _account_changed(self, account: Account, change: object) -> None:
        # Called from the sync task: a burst of syncs reads the store once.
        if isinstance(change, SyncChanges) and change and self.is_mounted:
            if self._reload_timer is not None:
                self._reload_timer.stop()
            self._reload_timer = self.set_timer(RELOAD_DELAY, lambda: self.load())

    @work(group="inbox", exclusive=True)
    async def load(self, history: bool = False) -> None:
        """Read the entries again (``history``: the server's too, done once when opened)."""
        if history:
            self._history = await server_history(self.accounts)
        self.entries = await gather_inbox(self.accounts, self._history, self._names)
        self.show()

    def show(self) -> None:
        table = self.query_one(DataTable)
        chosen = self.current()
        words = self.query_one(Input).value.casefold().split()
        self.shown = [entry for entry in self.entries if entry_matches(entry, words)]
        table.clear()
        for n, entry in enumerate(self.shown):
            table.add_row(*self._cells(entry, self._labels, self._several), key=str(n))
        if chosen in self.shown:
            table.move_cursor(row=self.shown.index(chosen))
        note = "" if self.shown else ("nothing matches" if words else "nothing needs you")
        self.query_one("#inbox-empty", Label).update(note)
        self.query_one("#inbox-title", Label).update(Text(f"Inbox · {len(self.entries)}"))

    @staticmethod
    def _cells(entry: InboxEntry, labels: dict[str, str], several: bool) -> list[Any]:
        mark, style = KIND_MARKS.get(entry.kind, ("", ""))
        # Text, never str: a DataTable reads a str cell as markup (the names are the network's).
        cells: list[Any] = [Text(short_age(entry.ts), "dim"), Text(mark, style)]
        if several:
            cells.append(Text(labels.get(entry.user_id, entry.user_id), "dim"))
        cells += [
            Text(entry.room, "bold"),
            Text(entry.sender),
            Text(entry.preview, no_wrap=True, overflow="ellipsis"),
        ]
        return cells

    def current(self) -> InboxEntry | None:
        """The entry under the cursor."""
        table = self.query_one(DataTable)
        row = table.cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    @on(Input.Changed)
    def _filter_changed(self) -> None:
        self.show()

    @on(Input.Submitted)
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        entry = self.current()
        if entry is not None:
            self.dismiss(InboxChoice(entry, reply=False))

    def action_reply(self) -> None:
        entry = self.current()
        if entry is not None and entry.event_id is not None:
            self.dismiss(InboxChoice(entry, reply=True))

    def action_filter(self) -> None:
        self.query_one(Input).focus()

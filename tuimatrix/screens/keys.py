"""The `keys` command's screen: every binding, its scope, and what it runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tuimatrix.core.sanitize import plain


class KeysScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("q", "dismiss(None)")]
    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > Vertical {
        width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1;
    }
    KeysScreen DataTable { height: 1fr; }
    """

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical():
            # Text, not str: a str label or cell is markup, and "[keys]" or a command line
            # from the user's config ("send [/] hi") would be parsed (or crash the table).
            yield Label(
                Text(
                    "Keys (config.toml [keys], [keys.room-list], [keys.room], [keys.thread])"
                    " — escape closes"
                )
            )
            table: DataTable[Text] = DataTable(cursor_type="row")
            table.add_columns("where", "key", "runs", "what")
            table.add_rows([tuple(plain(cell) for cell in row) for row in self.rows])
            yield table

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

"""A secret shown once (the recovery key), with its warning, until the user says it is saved."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class SecretNoticeScreen(ModalScreen[None]):
    # No escape: closing it by reflex would lose the key. Enter says "I have saved it".
    BINDINGS = [
        Binding("enter", "dismiss(None)", "I have saved it", priority=True),
        Binding("c", "copy", "Copy"),
    ]
    DEFAULT_CSS = """
    SecretNoticeScreen { align: center middle; }
    SecretNoticeScreen > Vertical {
        width: 80%; max-width: 90; height: auto; padding: 1 2;
        border: round $warning; background: $surface;
    }
    SecretNoticeScreen #secret { margin: 1 0; padding: 0 1; background: $boost; }
    """

    def __init__(self, title: str, warning: str, secret: str) -> None:
        super().__init__()
        self.title_text = title
        self.warning = warning
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield Static(Text(self.warning), id="warning")
            yield Static(Text(self.secret, style="bold"), id="secret")
            yield Label(Text("enter: I have saved it    c: copy to the clipboard", style="dim"))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.secret)
        self.notify("copied to the clipboard", markup=False)

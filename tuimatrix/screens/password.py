"""Asked after a soft logout: the password again, for the same device and store."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.screens.base import UsesApp


class PasswordScreen(UsesApp, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", "Later")]
    DEFAULT_CSS = """
    PasswordScreen { align: center middle; }
    PasswordScreen > Vertical {
        width: 64; height: auto; padding: 1 2; border: round $warning; background: $surface;
    }
    PasswordScreen #error { color: $error; }
    """

    def __init__(self, account: Account) -> None:
        super().__init__()
        self.account = account

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text.assemble(
                    ("The server ended the session of ", ""),
                    (clean_line(self.account.user_id), "bold"),
                    (". Log in again (same device, nothing is lost):", ""),
                )
            )
            yield Input(placeholder="password", password=True, id="password")
            yield Label("", id="error")

    @on(Input.Submitted)
    @work(exclusive=True)
    async def _submit(self, event: Input.Submitted) -> None:
        try:
            await auth.relogin(self.account, event.value)
        except Exception as e:
            self.query_one("#error", Label).update(Text(describe_error(e)))
            return
        self.dismiss(True)

"""The login screen: user id (or localpart + homeserver) and password."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label

from tuimatrix.core import auth, signed_out
from tuimatrix.core.errors import describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.screens.base import UsesApp
from tuimatrix.widgets.status import StatusLine


class LoginScreen(UsesApp, Screen[None]):
    BINDINGS = [Binding("escape", "cancel", "Back", show=False)]
    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    LoginScreen > Vertical {
        width: 70; height: auto; padding: 1 2; border: round $accent; background: $surface;
    }
    LoginScreen Input { margin-bottom: 1; }
    LoginScreen #error { color: $error; height: auto; }
    LoginScreen #progress { color: $text-muted; }
    LoginScreen #signed-out { color: $warning; height: auto; margin-bottom: 1; }
    """

    def compose(self) -> ComposeResult:
        self._signed_out = signed_out.all_signed_out(self.tm.paths)
        with Vertical():
            yield Label(Text("Log in to Matrix", style="bold"))
            yield Label(self._signed_out_text(), id="signed-out")
            yield Label("User id (@you:example.org), or a user name with a homeserver below")
            yield Input(placeholder="@you:example.org", id="user")
            yield Label("Homeserver URL (optional: found from the user id)")
            yield Input(placeholder="https://matrix.example.org", id="homeserver")
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="password")
            yield Button("Log in", id="login", variant="primary")
            yield Label("", id="progress")
            yield Label("", id="error")
        yield StatusLine()

    def on_mount(self) -> None:
        self.query_one("#signed-out", Label).display = bool(self._signed_out)
        if self._signed_out:
            self.query_one("#user", Input).value = self._signed_out[0][0]
            self.query_one("#password", Input).focus()
        else:
            self.query_one("#user", Input).focus()

    def _signed_out_text(self) -> Text:
        # The reason came from the server: untrusted, and never markup.
        return Text(
            "\n".join(
                f"{clean_line(user_id)} was signed out by the server ({clean_line(marker.reason)})"
                "; log in again to send what it had not sent"
                for user_id, marker in self._signed_out
            )
        )

    def action_cancel(self) -> None:
        if len(self.tm.accounts):
            self.dismiss()

    @on(Input.Submitted, "#user")
    def _next_field(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#homeserver")
    def _to_password(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#login")
    def _submit(self) -> None:
        user = self.query_one("#user", Input).value.strip()
        homeserver = self.query_one("#homeserver", Input).value.strip() or None
        password = self.query_one("#password", Input).value
        if not user or not password:
            self._error("enter a user id and a password")
            return
        self.log_in(user, password, homeserver)

    def _error(self, message: str) -> None:
        self.query_one("#progress", Label).update("")
        self.query_one("#error", Label).update(Text(message))

    @work(exclusive=True, group="login")
    async def log_in(self, user: str, password: str, homeserver: str | None) -> None:
        button = self.query_one("#login", Button)
        button.disabled = True
        self.query_one("#error", Label).update("")
        self.query_one("#progress", Label).update("logging in…")
        try:
            result = await auth.login(self.tm.paths, user, password, homeserver)
        except Exception as e:
            self._error(describe_error(e))
            return
        finally:
            button.disabled = False
        self.query_one("#password", Input).value = ""
        # The app's worker, not ours: this screen's workers end when it is dismissed.
        self.tm.run_worker(self.tm.add_account(result.account, result.notice), group="accounts")
        self.dismiss()

"""The verification modal: an incoming request to accept, then the emoji and numbers to compare.

One modal per verification. It follows the verification's state (the app hands it every
:class:`VerificationChanged`), and its buttons call the account's verification manager.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tuimatrix.core.account import Account
from tuimatrix.core.e2ee.verification import (
    S_CANCELLED,
    S_CONFIRMED,
    S_DONE,
    S_REQUESTED,
    S_SAS,
    Verification,
    verifications,
)
from tuimatrix.core.errors import describe_error
from tuimatrix.core.sanitize import clean_line
from tuimatrix.screens.base import UsesApp

#: The buttons each state offers (ids; their labels are in _LABELS).
_BUTTONS = {
    "incoming": ("accept", "decline"),
    S_SAS: ("match", "mismatch"),
    S_DONE: ("close",),
    S_CANCELLED: ("close",),
}
_LABELS = {
    "accept": "Accept",
    "decline": "Decline",
    "match": "They match",
    "mismatch": "They don't match",
    "cancel": "Cancel",
    "close": "Close",
}


def who(v: Verification, own_user: str) -> str:
    """The other side in words (from the network: sanitised)."""
    device = f" ({clean_line(v.other_device)})" if v.other_device else ""
    if v.other_user == own_user:
        return f"your other device{device}"
    return clean_line(v.other_user) + device


def describe(v: Verification, own_user: str) -> Text:
    """What the modal says for the verification's current state."""
    other = who(v, own_user)
    if v.state == S_REQUESTED and v.incoming:
        return Text.assemble((other, "bold"), " wants to verify keys with this device.")
    if v.state == S_REQUESTED:
        return Text.assemble("Waiting for ", (other, "bold"), " to accept…")
    if v.state == S_SAS:
        text = Text.assemble(
            "Compare with ", (other, "bold"), ": do they show the same, in the same order?\n\n"
        )
        if v.emoji:
            text.append("  ".join(emoji for emoji, _ in v.emoji) + "\n", style="bold")
            text.append(" · ".join(name for _, name in v.emoji) + "\n\n")
        if v.decimals:
            text.append(" - ".join(str(n) for n in v.decimals), style="bold")
        return text
    if v.state == S_CONFIRMED:
        return Text.assemble("Waiting for ", (other, "bold"), " to confirm…")
    if v.state == S_DONE:
        return Text.assemble(("✓ ", "green bold"), (other, "bold"), " is verified.")
    if v.state == S_CANCELLED:
        reason = clean_line(v.cancel_reason) or "no reason given"
        code = clean_line(v.cancel_code or "")
        by = "You cancelled" if v.cancelled_by_us else "Cancelled by the other side"
        return Text.assemble((f"{by}: ", "bold"), f"{reason} ({code})")
    return Text.assemble("Exchanging keys with ", (other, "bold"), "…")


def buttons_for(v: Verification) -> tuple[str, ...]:
    if v.state == S_REQUESTED and v.incoming:
        return _BUTTONS["incoming"]
    return _BUTTONS.get(v.state, ("cancel",))


class VerificationScreen(UsesApp, ModalScreen[None]):
    BINDINGS = [Binding("escape", "escape", "Cancel / close")]
    DEFAULT_CSS = """
    VerificationScreen { align: center middle; }
    VerificationScreen > Vertical {
        width: 72; height: auto; padding: 1 2; border: round $accent; background: $surface;
    }
    VerificationScreen #title { text-style: bold; margin-bottom: 1; }
    VerificationScreen Horizontal { height: auto; margin-top: 1; }
    VerificationScreen Button { margin-right: 2; }
    """

    def __init__(self, account: Account, verification: Verification) -> None:
        super().__init__()
        self.account = account
        self.verification = verification

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text(f"Verification · {clean_line(self.account.user_id)}")
            yield Label(title, id="title")
            yield Static(id="body")
            yield Horizontal(id="buttons")

    async def on_mount(self) -> None:
        await self.refresh_view()

    async def refresh_view(self) -> None:
        """Show the verification's current state and its buttons."""
        v = self.verification
        self.query_one("#body", Static).update(describe(v, self.account.user_id))
        row = self.query_one("#buttons", Horizontal)
        wanted = buttons_for(v)
        if tuple(b.id for b in row.query(Button)) != wanted:
            await row.remove_children()
            await row.mount_all(Button(_LABELS[b], id=b) for b in wanted)
            row.query(Button).first().focus()

    def action_escape(self) -> None:
        """Escape declines or cancels what is in progress, and closes what is finished."""
        self._press("close" if self.verification.finished else "cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self._press(event.button.id or "")

    @work(group="verification")
    async def _press(self, button: str) -> None:
        v = self.verification
        if button == "close":
            self.dismiss()
            return
        manager = verifications(self.account)
        try:
            if button == "accept":
                await manager.accept(v.transaction_id)
            elif button == "match":
                await manager.confirm(v.transaction_id)
            elif button == "mismatch":
                await manager.mismatch(v.transaction_id)
            elif button in ("decline", "cancel"):
                await manager.cancel(v.transaction_id)
                self.dismiss()
        except Exception as e:
            self.tm.notify_status(f"verification: {describe_error(e)}", error=True)


def show_verification(app: App[Any], account: Account, verification: Verification) -> None:
    """Update the verification's modal, or open one for a verification in progress."""
    for screen in app.screen_stack:
        if isinstance(screen, VerificationScreen) and screen.verification is verification:
            app.call_later(screen.refresh_view)
            return
    if not verification.finished:
        app.push_screen(VerificationScreen(account, verification))

"""The status line: each account and its sync state, and the last error or notice."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widget import Widget

from tuimatrix.core import account as acc
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.sanitize import clean_line

_STATE_STYLE = {
    acc.LIVE: "green",
    acc.WAITING: "yellow",
    acc.INITIAL_SYNC: "yellow",
    acc.CATCHING_UP: "yellow",
    acc.STARTING: "yellow",
    acc.RECONNECTING: "red",
    acc.SOFT_LOGGED_OUT: "bold red",
    acc.LOGGED_OUT: "bold red",
    acc.STOPPED: "dim",
}


def status_text(accounts: Accounts, message: str = "", now: float | None = None) -> Text:
    """One line: ``@me:server live · @other:server reconnecting in 8s · message``."""
    now = time.time() if now is None else now
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, account in enumerate(accounts):
        if i:
            text.append(" · ", "dim")
        status = account.status
        text.append(clean_line(account.user_id), "bold")
        text.append(" ")
        label = status.state
        if status.state == acc.RECONNECTING and status.retry_at is not None:
            label += f" in {max(0, round(status.retry_at - now))}s"
        elif status.state in (acc.INITIAL_SYNC, acc.WAITING):
            label += "…"
            if status.started is not None:
                label += f" {max(0, round(now - status.started))}s"
        text.append(label, _STATE_STYLE.get(status.state, ""))
        if (
            status.state in (acc.RECONNECTING, acc.SOFT_LOGGED_OUT, acc.LOGGED_OUT)
            and status.detail
        ):
            text.append(f" ({clean_line(status.detail)})", "dim")
    if not len(accounts):
        text.append("not logged in", "dim")
    if message:
        text.append("  ")
        text.append(clean_line(message), "italic")
    return text


class StatusLine(Widget):
    """The app's status, drawn from its accounts on every refresh (and every second, for
    countdowns). The app calls ``refresh()`` on every StatusLine when anything changes."""

    DEFAULT_CSS = """
    StatusLine {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        # Only countdowns and elapsed times change by themselves; the rest is pushed.
        accounts = getattr(self.app, "accounts", None)
        if isinstance(accounts, Accounts) and any(
            a.status.state in (acc.RECONNECTING, acc.INITIAL_SYNC, acc.WAITING) for a in accounts
        ):
            self.refresh()

    def render(self) -> Text:
        app = self.app
        accounts = getattr(app, "accounts", None)
        if not isinstance(accounts, Accounts):
            return Text()
        return status_text(accounts, getattr(app, "status_message", ""))

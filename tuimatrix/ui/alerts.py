"""Alerts in the app: each sync's notices, past the policy, out through the channels.

The app hands every account change here (``TuimatrixApp.on_tuimatrix_app_account_changed``);
``core/alert_policy.py`` decides, from what is on screen and whether the terminal has focus
(Textual's ``App.app_focus``, which follows the terminal's focus reports, ``CSI ? 1004 h``).
Then: the status line always; the bell; a count in the terminal title until the user is back
(a key, a click, or the terminal's focus regained); the terminal's own notification
(``ui/terminal_alerts.py``); a desktop notification (``ui/desktop_notify.py``), as a task with
its own deadline. Every raw sequence goes out through ``textual_private.write_to_terminal``.

A catch-up (the first sync of a session, a sync after a reconnect) is told by the account's
sync state as the app saw it just before the sync's changes: the account is already live again
when the app reads its messages, so its current state would not say.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tuimatrix.core.alert_policy import Alert, AlertPolicy, AlertSettings, Viewing
from tuimatrix.core.room_names import room_label
from tuimatrix.core.sync import SyncChanges
from tuimatrix.core.sync_status import LIVE, WAITING, SyncStatus
from tuimatrix.ui import terminal_alerts
from tuimatrix.ui.desktop_notify import DesktopNotifier
from tuimatrix.ui.textual_private import write_to_terminal

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.account import Account


class Alerts:
    """The app's alerts: one per app, for every account."""

    def __init__(
        self,
        app: TuimatrixApp,
        settings: AlertSettings,
        *,
        env: Mapping[str, str] | None = None,
        desktop: DesktopNotifier | None = None,
    ) -> None:
        self.app = app
        self.policy = AlertPolicy(settings)
        self.env = dict(os.environ if env is None else env)
        self.terminal_kind = terminal_alerts.terminal_kind(settings.terminal, self.env)
        self.desktop = desktop or DesktopNotifier()
        #: user id -> the sync state last seen (before a sync's changes: was it catching up?)
        self._states: dict[str, str] = {}
        #: alerts counted in the terminal title since the user was last here
        self.unseen = 0
        self._sent = 0
        self._tasks: set[asyncio.Task[bool]] = set()

    def start(self) -> None:
        """Follow the terminal's focus (call once the app runs)."""
        self.app.watch(self.app, "app_focus", self._focus_changed, init=False)

    def account_changed(self, account: Account, change: object) -> None:
        if isinstance(change, SyncStatus):
            self._states[account.user_id] = change.state
        elif isinstance(change, SyncChanges) and change.notices:
            state = self._states.get(account.user_id)
            decision = self.policy.decide(
                account.user_id,
                change.notices,
                self.viewing(),
                catching_up=state not in (LIVE, WAITING),
                now=time.monotonic(),
                room_name=lambda room_id: room_label(account, room_id),
                initial=change.initial,
            )
            for alert in decision.alerts:
                self.emit(alert)
            if decision.status:
                self.app.notify_status(decision.status)

    def viewing(self) -> Viewing:
        """The room on screen (a room's or one of its threads'), and the terminal's focus."""
        screen = self.app.screen
        account = getattr(screen, "account", None)
        room_id = getattr(screen, "room_id", None)
        return Viewing(
            focused=bool(self.app.app_focus),
            user_id=getattr(account, "user_id", None),
            room_id=room_id if isinstance(room_id, str) else None,
        )

    def emit(self, alert: Alert) -> None:
        """Send one alert through its channels (the status line is the caller's)."""
        if "bell" in alert.channels:
            self.app.bell()
        if "terminal" in alert.channels and self.terminal_kind is not None:
            self._sent += 1
            sequence = terminal_alerts.notification(
                self.terminal_kind, alert.title, alert.body, self._sent
            )
            write_to_terminal(self.app, terminal_alerts.through_tmux(sequence, self.env))
        if "title" in alert.channels:
            self.unseen += alert.count
            write_to_terminal(
                self.app, terminal_alerts.title_mark(self.unseen, self.unseen == alert.count)
            )
        if "desktop" in alert.channels and self.desktop.available:
            task = asyncio.create_task(self.desktop.notify(alert.title, alert.body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def user_returned(self) -> None:
        """The user is here (a key, a click, focus regained): the title mark goes."""
        if self.unseen:
            self.unseen = 0
            write_to_terminal(self.app, terminal_alerts.title_restored())

    def _focus_changed(self, focused: bool) -> None:
        if focused:
            self.user_returned()

    async def close(self) -> None:
        """Give desktop notifications under way their moment, then drop the bus."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.desktop.timeout)
        self.user_returned()
        self.desktop.close()

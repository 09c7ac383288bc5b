"""What a screen with a composer does besides sending: typing notifications and refusals.

Shared by the room screen and the thread screen (both have ``account``, ``room_id`` and the
app as ``tm``); the spec's typing notifications are per room, threads included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.screen import Screen

from tuimatrix.screens.base import UsesApp
from tuimatrix.widgets.composer import Composer

if TYPE_CHECKING:
    from tuimatrix.core.account import Account


class Composing(UsesApp, Screen[None]):
    account: Account
    room_id: str

    @on(Composer.Refused)
    def _refused(self, event: Composer.Refused) -> None:
        self.tm.notify_status(event.reason, error=True)

    @on(Composer.Typing)
    def _typing_started(self) -> None:
        self._typing(True)

    @on(Composer.StoppedTyping)
    def _typing_stopped(self) -> None:
        self._typing(False)

    @work(group="typing")
    async def _typing(self, typing: bool) -> None:
        try:
            await self.account.set_typing(self.room_id, typing)
        except Exception:
            pass  # a lost typing notification is not worth a message

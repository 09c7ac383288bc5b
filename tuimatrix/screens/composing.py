"""What the room screen and the thread screen share: a timeline, a title naming the room,
and a composer's typing notifications and refusals.

Both have ``account``, ``room_id`` and the app as ``tm``; the spec's typing notifications are
per room, threads included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.screen import Screen

from tuimatrix.core.errors import describe_error
from tuimatrix.core.room_names import room_label
from tuimatrix.screens.base import UsesApp
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView

if TYPE_CHECKING:
    from tuimatrix.core.account import Account


class Composing(UsesApp, Screen[None]):
    account: Account
    room_id: str

    @property
    def timeline(self) -> TimelineView:
        return self.query_one(TimelineView)

    def _room_title(self) -> Text:
        """The room's name, bold, on one line (the header adds what follows it)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(room_label(self.account, self.room_id), "bold")
        return text

    async def queue_draft(self, text: str, queue: Callable[[], Awaitable[object]]) -> bool:
        """Run ``queue`` for the submitted ``text``; if the message could not be queued (a full
        disk, a read-only store, a refusal before sending), the draft goes back into the
        composer and the status line says why. True when it is queued."""
        try:
            await queue()
        except Exception as e:
            self.query_one(Composer).restore(text)
            self.tm.notify_status(f"not sent, draft kept: {describe_error(e)}", error=True)
            return False
        return True

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

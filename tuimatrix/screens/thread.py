"""A thread: its root at the top, the replies under it, and a composer that replies in it.

The screen takes the room screen's turn at the top of the stack (``switch_screen``), so the
room list and ``close-thread`` switch away from it as from any room; it is not installed and
goes away when left. It listens to the account itself: the app forwards changes only to room
screens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuimatrix.core.account import Account
from tuimatrix.core.compose import Outgoing
from tuimatrix.core.errors import describe_error
from tuimatrix.core.relations import thread_root
from tuimatrix.core.sanitize import plain
from tuimatrix.core.sendqueue import DISCARDED, LocalEcho
from tuimatrix.core.sync import SyncChanges
from tuimatrix.core.thread_timeline import ThreadTimeline
from tuimatrix.core.threads import mark_thread_read, send_in_thread
from tuimatrix.screens.composing import Composing
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.status import StatusLine
from tuimatrix.widgets.timeline import TimelineView

if TYPE_CHECKING:
    from tuimatrix.app import TuimatrixApp


class ThreadScreen(Composing):
    BINDINGS = [
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]
    DEFAULT_CSS = """
    ThreadScreen #thread-header { height: 1; background: $panel; padding: 0 1; }
    ThreadScreen TimelineView { height: 1fr; }
    """

    @dataclass
    class Changed(Message):
        """Something happened in the account (handed over from its listener)."""

        change: object

    def __init__(self, account: Account, room_id: str, root_id: str) -> None:
        super().__init__()
        self.account = account
        self.room_id = room_id
        self.root_id = root_id
        #: the thread's loaded events and unsent replies (core/thread_timeline.py)
        self.timeline_model = ThreadTimeline(account, room_id, root_id)
        self._read_up_to: str | None = None

    def compose(self) -> ComposeResult:
        yield Label(self._header(), id="thread-header")
        yield TimelineView()
        yield Composer(placeholder="Reply in the thread…")
        yield StatusLine()

    def _header(self) -> Text:
        text = self._room_title()
        text.append("  › thread", "dim")
        return text

    async def on_mount(self) -> None:
        self.tm.apply_keys(self, "room")
        self.tm.apply_keys(self, "thread")  # over the room's keys: escape goes back to the room
        self.timeline.set_format(self.tm.message_format(self.account, self.room_id))
        self.timeline.set_max_body_rows(self.tm.config.room.max_message_lines)
        self.query_one(Composer).focus()
        self.account.add_listener(self._listener)
        self.account.timelines.open(self.timeline_model)
        self.load()

    def on_unmount(self) -> None:
        self.account.remove_listener(self._listener)
        self.account.timelines.close(self.timeline_model)

    def _listener(self, account: Account, change: object) -> None:
        # Called from the account's tasks: hand over to the message queue.
        self.post_message(self.Changed(change))

    # -- loading ---------------------------------------------------------------------------------

    @work(group="thread-load", exclusive=True)
    async def load(self) -> None:
        """The store's part of the thread first, then every reply the server has."""
        await self.timeline_model.load_stored()
        try:
            async for _ in self.timeline_model.load_from_server():
                self._show()
        except Exception as e:
            self.tm.notify_status(f"cannot load the thread: {describe_error(e)}")
            self._show()

    def _show(self) -> None:
        """Rebuild the items from the events (threads are short), unsent replies last."""
        if not self.is_mounted:
            return
        self.timeline.set_items(self.timeline_model.items(self.account.user_id))
        self._mark_read()

    # -- live changes ------------------------------------------------------------------------------

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        change = message.change
        model = self.timeline_model
        if isinstance(change, SyncChanges):
            if self.room_id in change.rooms:
                self.query_one("#thread-header", Label).update(self._header())
            if self.room_id in change.limited:
                self.load()
                return
            if model.add_new(change.new_events.get(self.room_id, [])):
                self._show()
        elif (
            isinstance(change, LocalEcho)
            and change.room_id == self.room_id
            and thread_root(change.content) == self.root_id
        ):
            if change.state == DISCARDED:
                model.drop_echo(change.txn_id)
                self.timeline.remove_item(change.txn_id)
                return
            item = model.echo(change, int(time.time() * 1000))
            if item is not None:  # else the reply itself is shown already
                self.timeline.upsert(item)

    def on_screen_resume(self) -> None:
        self.query_one(Composer).focus()
        self._mark_read()

    def _mark_read(self) -> None:
        """A threaded read receipt for the newest reply, while the thread is on screen."""
        if self.app.screen is not self:
            return
        latest = self.timeline_model.latest_reply()
        if latest is not None and latest != self._read_up_to:
            self._read_up_to = latest
            self._send_receipt(latest)

    @work(group="thread-receipt", exclusive=True)
    async def _send_receipt(self, event_id: str) -> None:
        try:
            await mark_thread_read(
                self.account,
                self.room_id,
                self.root_id,
                event_id,
                private=self.tm.config.room.private_receipts,
            )
        except Exception:
            self._read_up_to = None  # try again with the next reply

    # -- composing ------------------------------------------------------------------------------

    @on(Composer.Submitted)
    async def _send(self, event: Composer.Submitted) -> None:
        self.timeline.scroll_to_latest()
        self._send_message(event.text, event.message)

    @work(group="thread-send")
    async def _send_message(self, text: str, message: Outgoing) -> None:
        await self.queue_draft(
            text,
            lambda: send_in_thread(
                self.account,
                self.room_id,
                self.root_id,
                message.body,
                latest_id=self.timeline_model.latest_reply() or self.root_id,
                html=message.html,
                emote=message.emote,
                mentions=message.user_ids,
                room_mention=message.room,
            ),
        )

    def action_page_up(self) -> None:
        self.timeline.scroll_page_up()

    def action_page_down(self) -> None:
        self.timeline.scroll_page_down()


def open_thread(app: TuimatrixApp, account: Account, room_id: str, root_id: str) -> None:
    """Show the thread in place of the current screen (unless it is already shown)."""
    current = app.screen
    if (
        isinstance(current, ThreadScreen)
        and current.account is account
        and current.room_id == room_id
        and current.root_id == root_id
    ):
        return
    app.switch_screen(ThreadScreen(account, room_id, root_id))


class ThreadPickerScreen(ModalScreen[str | None]):
    """The room's threads, most recently active first; enter opens one."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    ThreadPickerScreen { align: center top; }
    ThreadPickerScreen > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 80%;
        margin-top: 2; padding: 0 1; border: round $accent; background: $surface;
    }
    ThreadPickerScreen OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(self, title: str, threads: list[tuple[str, Text]]) -> None:
        super().__init__()
        self.title_text = title
        self.threads = threads

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.title_text, "bold"))
            yield OptionList(*(Option(label, id=root) for root, label in self.threads))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

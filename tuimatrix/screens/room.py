"""A room: its timeline, who is typing, and the composer. One screen per open room."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from tuimatrix.core.account import Account
from tuimatrix.core.errors import describe_error
from tuimatrix.core.relations import thread_root
from tuimatrix.core.room_timeline import NewEvents, RoomTimeline
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import DISCARDED, LocalEcho
from tuimatrix.core.sync import SyncChanges
from tuimatrix.core.timeline import (
    TimelineItem,
    build_items,
    echo_item,
    event_item,
    transaction_id,
)
from tuimatrix.screens.composing import Composing
from tuimatrix.screens.room_reading import RoomReading
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.status import StatusLine
from tuimatrix.widgets.timeline import TimelineView


class RoomScreen(RoomReading, Composing):
    BINDINGS = [
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]
    DEFAULT_CSS = """
    RoomScreen #room-header { height: 1; background: $panel; padding: 0 1; }
    RoomScreen TimelineView { height: 1fr; }
    RoomScreen #typing { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, account: Account, room_id: str) -> None:
        super().__init__()
        self.account = account
        self.room_id = room_id
        #: the loaded window of the room's events (core/room_timeline.py)
        self.timeline_model = RoomTimeline(account, room_id)
        self._loading_older = False
        self._read_up_to: str | None = None
        #: messages whose spoilers the user revealed: they stay revealed when items are rebuilt
        self.revealed: set[str] = set()
        # Shown, or under a prompt or thread of its own: quitting now is leaving the room.
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Label(self._header(), id="room-header")
        yield TimelineView()
        yield Label("", id="typing")
        yield Composer()
        yield StatusLine()

    def _header(self) -> Text:
        room = self.account.rooms.summaries.get(self.room_id)
        text = self._room_title()
        if room and room.topic:
            text.append("  " + clean_line(room.topic), "dim")
        return text

    async def on_mount(self) -> None:
        self.account.timelines.open(self.timeline_model)
        self.tm.apply_keys(self, "room")
        self.timeline.set_format(self.tm.message_format(self.account, self.room_id))
        self.timeline.set_max_body_rows(self.tm.config.room.max_message_lines)
        self._hide_membership = self.tm.hides_membership(self.account, self.room_id)
        composer = self.query_one(Composer)
        composer.mentionables = lambda: (self.timeline_model.names, self._known_aliases())
        composer.focus()
        await self.reload()
        self.tm.refresh_status()

    def on_screen_resume(self) -> None:
        self._reading = True
        self.query_one(Composer).focus()
        self._mark_read()
        # Opening the room reads it: a mark as unread goes (as the spec asks of clients).
        self._clear_marked_unread()

    def on_screen_suspend(self) -> None:
        # A prompt over the room is not leaving it, nor is a view of the same room (a
        # thread); switching elsewhere (or closing the room) is.
        current = self.app.screen
        same_room = (
            getattr(current, "room_id", None) == self.room_id
            and getattr(current, "account", None) is self.account
        )
        if self not in self.app.screen_stack and not same_room:
            self._reading = False
            self.leave_markers()

    def on_unmount(self) -> None:
        self.account.timelines.close(self.timeline_model)
        # The app quits (or the room closes) while the user is in it: that is leaving too.
        if self._reading:
            self._reading = False
            self.leave_markers()

    # -- loading ---------------------------------------------------------------------------------

    async def reload(self) -> None:
        """Show the newest events from the store, and our unsent messages after them."""
        model = self.timeline_model
        await model.load_latest()
        items = self._items_for(model.events)
        now = int(time.time() * 1000)
        own = self._own_name()
        items += [
            echo_item(echo, self.account.user_id, own, now) for echo in await model.pending_echoes()
        ]
        self.timeline.set_items(items)
        self.load_markers()
        self._mark_read()

    def _items_for(self, events: Sequence[dict[str, Any]]) -> list[TimelineItem]:
        """Items for ``events`` with the stored relations of them from beyond ``events``;
        replies to messages not among them are looked up after."""
        model = self.timeline_model
        items = self.visible_items(
            build_items(
                model.with_related(events), model.names, self.account.user_id, self.revealed
            )
        )
        missing = [item for item in items if item.reply and item.reply.preview is None]
        if missing:
            self._resolve_replies(missing)
        return items

    @work(group="replies")
    async def _resolve_replies(self, items: list[TimelineItem]) -> None:
        """Quote the messages replies answer (loaded, stored, else from the server)."""
        async for item in self.timeline_model.resolve_replies(items):
            for view in self.query(TimelineView):
                # Only where it is still shown: the window may have been read again (a reload,
                # a rebuild) while the server answered, and an item it dropped must not come
                # back at the end. One it has yet to show carries the quote in with it.
                if view.shows(item):
                    view.upsert(item)

    def _own_name(self) -> str:
        return self.timeline_model.names.get(self.account.user_id, self.account.user_id)

    @on(TimelineView.NearTop)
    def _near_top(self) -> None:
        if not self._loading_older and not self.timeline_model.at_start:
            self.load_older()

    @work(group="scrollback")
    async def load_older(self) -> None:
        model = self.timeline_model
        self._loading_older = True
        self.timeline.set_loading(True)
        try:
            page = await model.load_older()
        except Exception as e:
            self.tm.notify_status(f"cannot load older messages: {describe_error(e)}")
            return
        finally:
            self._loading_older = False
            # The room may have been closed while the server answered.
            for view in self.query(TimelineView):
                view.set_loading(False)
        views = self.query(TimelineView)
        if page is None or not views:
            return  # nothing to ask from until the room's first sync: tried again after it
        timeline = views.first()
        timeline.set_at_start(model.at_start)
        if page.events:
            timeline.prepend(self._items_for(page.events))
            if page.changed:
                # Events of this page change newer ones already shown (a redaction or edit
                # that reached the server before its target): those are shown again.
                for item in self._items_for(model.events):
                    if item.key in page.changed:
                        timeline.upsert(item)
            self.show_markers()

    # -- live changes ------------------------------------------------------------------------------

    def account_changed(self, change: object) -> None:
        if not self.query(TimelineView):
            # Not composed yet: on_mount loads everything from the store anyway.
            return
        if isinstance(change, SyncChanges):
            added = self.timeline_model.apply_sync(change)
            if added is not None:
                self._window_changed(added)
            if self.room_id in change.typing:
                self._show_typing(change.typing[self.room_id])
            if self.room_id in change.rooms:
                self.query_one("#room-header", Label).update(self._header())
                self.markers_changed(change.account_data)
            if self.room_id in change.receipts:
                self.load_receipts()
        elif (
            isinstance(change, LocalEcho)
            and change.room_id == self.room_id
            and thread_root(change.content) is None  # thread replies show in their thread
        ):
            if change.state == DISCARDED:
                self.timeline.remove_item(change.txn_id)
                return
            item = echo_item(
                change, self.account.user_id, self._own_name(), int(time.time() * 1000)
            )
            self.timeline.upsert(item)

    def _window_changed(self, added: NewEvents) -> None:
        model = self.timeline_model
        if added.reread:
            # A filled gap, or a moderator's redaction (the store checked it and pruned its
            # target there): reading the window again shows what the store holds now.
            self.run_worker(self.reload(), group="reload", exclusive=True)
            return
        if added.members:
            self.run_worker(model.refresh_names(), group="names", exclusive=True)
        if added.relations:
            # An edit, redaction or reaction changes items already shown: rebuild them.
            keep = {item.key: item for item in self.timeline.items if item.txn_id}
            items = self._items_for(model.events)
            echoed = model.echoed_transactions()
            items += [item for key, item in keep.items() if key not in echoed]
            self.timeline.set_items(items)
        else:
            for evt in added.events:
                item = event_item(evt, model.names)
                if item is not None and self.visible_items([item]):
                    # A live reply: its quote comes from what is loaded, or is fetched.
                    if model.quote_reply(item, evt):
                        self._resolve_replies([item])
                    # Our own message coming back replaces its local echo (keyed by txn id).
                    self.timeline.upsert(item, replace_key=transaction_id(evt))
        if added.retry_older:
            self.timeline.recheck_top()
        self.show_markers()
        self._mark_read()

    def _show_typing(self, user_ids: list[str]) -> None:
        names = self.timeline_model.names
        others = [clean_line(names.get(u, u)) for u in user_ids if u != self.account.user_id]
        if not others:
            text = ""
        elif len(others) == 1:
            text = f"{others[0]} is typing…"
        else:
            text = ", ".join(others[:-1]) + f" and {others[-1]} are typing…"
        self.query_one("#typing", Label).update(Text(text, style="italic"))

    def _mark_read(self) -> None:
        latest = self.timeline_model.latest_event_id()
        if self.app.screen is not self or latest is None:
            return
        if latest != self._read_up_to:
            self._read_up_to = latest
            self._send_read_marker(latest)

    @work(group="marked-unread", exclusive=True)
    async def _clear_marked_unread(self) -> None:
        room = self.account.rooms.summaries.get(self.room_id)
        if room is None or not room.marked_unread:
            return
        try:
            await self.account.set_marked_unread(self.room_id, False)
        except Exception as e:
            self.tm.notify_status(f"cannot clear the room's unread mark: {describe_error(e)}")

    @work(group="read-marker", exclusive=True)
    async def _send_read_marker(self, event_id: str) -> None:
        try:
            # The receipt only: the fully-read marker moves when the user leaves.
            await self.account.mark_read(
                self.room_id,
                event_id,
                fully_read=False,
                private=self.tm.config.room.private_receipts,
            )
        except Exception:
            self._read_up_to = None  # try again with the next event

    # -- composing ------------------------------------------------------------------------------

    @on(Composer.Submitted)
    async def _send(self, event: Composer.Submitted) -> None:
        message = event.message
        queued = await self.queue_draft(
            event.text,
            lambda: self.account.send_text(
                self.room_id,
                message.body,
                html=message.html,
                emote=message.emote,
                mentions=list(message.user_ids),
                room_mention=message.room,
            ),
        )
        if not queued:
            return
        self.timeline.scroll_to_latest()
        self._typing(False)

    def _known_aliases(self) -> list[str]:
        """Room aliases the account knows (its rooms' canonical aliases), for completion."""
        rooms = self.account.rooms.summaries.values()
        return [r.canonical_alias for r in rooms if r.canonical_alias]

    # -- actions ------------------------------------------------------------------------------

    def action_room_list(self) -> None:
        self.tm.action_show_room_list()

    def action_page_up(self) -> None:
        self.timeline.scroll_page_up()

    def action_page_down(self) -> None:
        self.timeline.scroll_page_down()

"""A room screen's reading aids: the fully-read line and its jumps, others' read receipts,
who reacted, and hidden membership events. Mixed into :class:`RoomScreen`.

The fully-read marker (``m.fully_read`` room account data) stays where it was while the user
reads and moves to the newest event when they leave the room (the screen is switched away
from or closed); read receipts follow reading (see ``RoomScreen._mark_read``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual import work
from textual.screen import Screen

from tuimatrix.core.receipts import readers, receipt_label
from tuimatrix.core.room_timeline import RoomTimeline
from tuimatrix.core.timeline import TimelineItem, reactions_text
from tuimatrix.widgets.timeline import TimelineView

if TYPE_CHECKING:
    from textual.worker import Worker

    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.account import Account

#: jumping to a fully-read marker older than what is loaded loads at most this many pages
JUMP_PAGES = 20


class RoomReading(Screen[None]):
    """State and behaviour behind the markers; the screen calls the hooks named ``*_markers``."""

    _fully_read: str | None = None
    _readers: dict[str, str] = {}  # replaced, never mutated
    _hide_membership: bool = False

    if TYPE_CHECKING:  # what the room screen provides
        account: Account

        @property
        def tm(self) -> TuimatrixApp: ...

        room_id: str
        timeline_model: RoomTimeline

        @property
        def timeline(self) -> TimelineView: ...
        def load_older(self) -> Worker[None]: ...
        def _items_for(self, events: Sequence[dict[str, Any]]) -> list[TimelineItem]: ...

    # -- what the timeline shows ---------------------------------------------------------------

    def visible_items(self, items: list[TimelineItem]) -> list[TimelineItem]:
        """``items`` without membership events when the room hides them."""
        if not self._hide_membership:
            return items
        return [item for item in items if item.event_type != "m.room.member"]

    def set_hide_membership(self, hidden: bool) -> None:
        """Show or hide membership events now (rebuilding what is loaded)."""
        if hidden == self._hide_membership:
            return
        self._hide_membership = hidden
        if not self.query(TimelineView):
            return
        echoes = [item for item in self.timeline.items if item.txn_id]
        echoed = self.timeline_model.echoed_transactions()
        items = self._items_for(self.timeline_model.events)
        items += [item for item in echoes if item.key not in echoed]
        self.timeline.set_items(items)
        self.show_markers()

    # -- markers -------------------------------------------------------------------------------

    @work(group="markers", exclusive=True)
    async def load_markers(self) -> None:
        """Read the fully-read marker and others' receipts from the store, then show them."""
        data = await self.account.store.account_data(["m.fully_read"])
        content = data.get((self.room_id, "m.fully_read"))
        event_id = content.get("event_id") if isinstance(content, dict) else None
        self._fully_read = event_id if isinstance(event_id, str) else None
        await self._read_receipts()

    @work(group="receipts", exclusive=True)
    async def load_receipts(self) -> None:
        """Receipts arrived in sync: show who has read what now."""
        await self._read_receipts()

    async def _read_receipts(self) -> None:
        rows = await self.account.store.receipts(self.room_id)
        self._readers = readers(rows, self.account.user_id)
        self.show_markers()

    def markers_changed(self, account_data: set[str]) -> None:
        """Sync brought room account data: another client may have moved the marker. While
        the user reads here it stays put; it is read again when they are elsewhere."""
        if "m.fully_read" in account_data and self.app.screen is not self:
            self.load_markers()

    def show_markers(self) -> None:
        """Put the fully-read line and the receipt labels on the items they belong to."""
        views = self.query(TimelineView)
        if not views:
            return
        timeline = views.first()
        model = self.timeline_model

        def anchor(event_id: str) -> str | None:
            key = timeline.item_key_for(event_id)
            if key is not None:
                return key
            return self._item_before(timeline, model.position(event_id))

        timeline.set_fully_read(anchor(self._fully_read) if self._fully_read else None)
        by_item: dict[str, list[str]] = {}
        for user_id, event_id in self._readers.items():
            key = anchor(event_id)
            if key is not None:
                by_item.setdefault(key, []).append(model.names.get(user_id, user_id))
        timeline.set_receipts({key: receipt_label(names) for key, names in by_item.items()})

    def _item_before(self, timeline: TimelineView, position: int | None) -> str | None:
        """The item of the nearest event at or before ``position`` that has one: a receipt
        on a reaction, an edit or a hidden event shows on the message above it."""
        if position is None:
            return None
        events = self.timeline_model.events
        for i in range(position, -1, -1):
            key = timeline.item_key_for(str(events[i].get("event_id")))
            if key is not None:
                return key
        return None

    def leave_markers(self) -> None:
        """The user left the room: the fully-read marker moves to the newest event."""
        latest = self.timeline_model.latest_event_id()
        if latest is None or latest == self._fully_read:
            return
        self._fully_read = latest
        self.show_markers()
        # The app's task, not the screen's worker: a closed screen's workers are cancelled,
        # and quitting waits a moment for it.
        self.tm.send_before_exit(self._send_fully_read(latest))

    async def _send_fully_read(self, event_id: str) -> None:
        try:
            await self.account.mark_read(
                self.room_id,
                event_id,
                fully_read=True,
                private=self.tm.config.room.private_receipts,
            )
        except Exception:
            pass  # the next leave sends a newer one; not worth interrupting the user

    # -- jumps ---------------------------------------------------------------------------------

    async def jump_to_fully_read(self) -> str:
        """Scroll to the fully-read line, loading older pages (at most JUMP_PAGES) to reach
        it; returns what happened, in one line."""
        marker = self._fully_read
        if marker is None:
            return "no fully-read marker in this room yet"
        model = self.timeline_model
        for page in range(JUMP_PAGES + 1):
            if model.is_loaded(marker):
                self.show_markers()
                key = self.timeline.fully_read_key
                if key is None or key == self.timeline.items[-1].key:
                    self.timeline.scroll_to_latest()
                    return "no new messages since the fully-read marker"
                self.timeline.show_item(key, end=True)
                return "at the fully-read marker"
            if model.at_start:
                return "the fully-read marker is not in this room's history"
            if page == JUMP_PAGES:
                break
            for worker in list(self.app.workers):
                # A page the user's scrolling asked for is already on its way: wait for it.
                if worker.node is self and worker.group == "scrollback" and worker.is_running:
                    await worker.wait()
            before = len(model.events)
            await self.load_older().wait()
            if len(model.events) == before and (model.waiting_for_sync or model.at_start):
                break
        return (
            f"the fully-read marker is older than the {len(model.events):,} loaded events; "
            "scroll up for more"
        )

    def jump_to_latest(self) -> str:
        self.timeline.scroll_to_latest()
        return ""

    # -- reactions -----------------------------------------------------------------------------

    def reaction_names(self, event_id: str) -> list[tuple[str, list[str]]]:
        """Who reacted to ``event_id`` with what (sanitised), among the loaded events."""
        return self.timeline_model.who_reacted(event_id)

    def reaction_summary(self, event_id: str) -> str:
        """One line per reaction: "👍 alice, bob"; "" if none."""
        return reactions_text(self.reaction_names(event_id))

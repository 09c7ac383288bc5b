"""A room's loaded timeline as a model: the window of events the user has before them,
oldest first, and how it grows — the newest page from the store when the room opens, older
pages from the store and then the server as they scroll back, a sync's new events at the end.

Screens and commands read events here and never keep lists of their own. Items are built
from the window by ``core/timeline.py`` (``build_items``, ``event_item``); the model says what
changed, so a screen rebuilds only that. Gaps that a ``limited`` sync left are filled by the
account before it emits the change (``Account.fill_gaps``); the window is then read again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuimatrix.core.relations import (
    is_relation,
    redaction_target,
    relation,
    relation_targets,
    reply_target,
    thread_root,
)
from tuimatrix.core.search import message_context
from tuimatrix.core.sendqueue import LocalEcho
from tuimatrix.core.sync import SyncChanges
from tuimatrix.core.timeline import TimelineItem, reaction_senders, reply_quote, transaction_id

if TYPE_CHECKING:
    from tuimatrix.core.account import Account

Event = dict[str, Any]

#: Events loaded when the room opens, and per scrollback step.
PAGE = 50


@dataclass
class OlderPage:
    """A page that scrollback put before the window."""

    #: the page, oldest first (empty at the start of the room)
    events: list[Event]
    #: loaded events that the page changes (an edit or redaction that reached the server
    #: before its target): their items are to be built again
    changed: set[str] = field(default_factory=set)


@dataclass
class NewEvents:
    """What a sync did to the window."""

    #: the events added at the end of the window, oldest first
    events: list[Event] = field(default_factory=list)
    #: read the window again from the store (nothing was added): a ``limited`` sync, whose
    #: gap the account filled, or a redaction of someone else's loaded event, which the store
    #: checked (power levels) and pruned its target for, not in the window
    reread: bool = False
    #: membership events came: the member names are to be read again
    members: bool = False
    #: edits, redactions, reactions or thread replies came: items already shown change
    relations: bool = False
    #: scrollback found nothing to ask from before this sync (the room's first): try again
    retry_older: bool = False


class RoomTimeline:
    """The loaded window of one room's events, oldest first, with the stored relations of
    them that lie beyond it and the member names that items and quotes show."""

    def __init__(self, account: Account, room_id: str, page: int = PAGE) -> None:
        self.account = account
        self.room_id = room_id
        self.page = page
        self._events: list[Event] = []
        self._positions: dict[str, int] | None = None  # built when first asked for
        #: stored edits and reactions of loaded events, by the event they change: relations
        #: apply whatever page brought them (core/stored_relations.py)
        self.related: dict[str, list[Event]] = {}
        #: disambiguated display names of the room's members
        self.names: dict[str, str] = {}
        #: scrollback reached the room's first event
        self.at_start = False
        #: scrollback had nothing to ask from (no sync of the room yet)
        self.waiting_for_sync = False

    # -- the window --------------------------------------------------------------------------

    @property
    def events(self) -> Sequence[Event]:
        """The loaded events, oldest first (read only: the model changes them)."""
        return self._events

    def set_events(self, events: list[Event]) -> None:
        """The window becomes ``events`` (oldest first), with no relations from beyond."""
        self._events = events
        self._positions = None
        self.related.clear()

    async def load_latest(self) -> None:
        """The newest page from the store, with the stored relations of it, and the names."""
        self.names = await self.account.member_names(self.room_id)
        self.set_events(await self.account.store.latest_events(self.room_id, self.page))
        await self._load_related(self._events)

    async def load_context(self, event_id: str) -> None:
        """The window becomes ``event_id`` with the events around it, from the server (for a
        found message that is not loaded; nothing is stored, the room's gaps stay)."""
        events, self.names = await message_context(self.account, self.room_id, event_id)
        self.set_events(events)

    async def refresh_names(self) -> None:
        self.names = await self.account.member_names(self.room_id)

    async def pending_echoes(self) -> list[LocalEcho]:
        """Our unsent messages of the room, shown after the window (thread replies show in
        their thread)."""
        return [
            echo
            for echo in await self.account.send_queue.pending(self.room_id)
            if thread_root(echo.content) is None
        ]

    async def _load_related(self, events: list[Event]) -> None:
        for evt in await self.account.store.related_events(events):
            rel = relation(evt)
            if rel is not None:
                self.related.setdefault(rel[1], []).append(evt)

    def with_related(self, events: Sequence[Event]) -> list[Event]:
        """``events`` followed by the stored relations of them from beyond ``events``: what
        ``build_items`` takes to show them as they are now."""
        ids = {e.get("event_id") for e in events}
        related = [
            evt
            for event in events
            for evt in self.related.get(str(event.get("event_id")), ())
            if evt.get("event_id") not in ids
        ]
        return [*events, *related]

    def who_reacted(self, event_id: str) -> list[tuple[str, list[str]]]:
        """Who reacted to ``event_id`` with what (key, sanitised names): the reactions among
        the loaded events and the stored ones from beyond them, as the counts under it are."""
        return reaction_senders(self.with_related(self._events), event_id, self.names)

    # -- scrollback --------------------------------------------------------------------------

    async def load_older(self) -> OlderPage | None:
        """The page before the window, from the store, else from the server (which stores
        it), put before the window. None when there is nothing to ask from yet (the room's
        first sync has not come; ``waiting_for_sync`` is set). Errors are the caller's."""
        older: list[Event] = []
        if self._events:
            older = await self.account.store.events_before(
                self.room_id, self._events[0]["event_id"], self.page
            )
        if not older:
            fetched = await self.account.load_older(self.room_id, self.page)
            if fetched is None:
                self.waiting_for_sync = True
                return None
            older = fetched
            self.at_start = not older
            self.names = await self.account.member_names(self.room_id)
        await self._load_related(older)
        if not older:
            return OlderPage([])
        await self._reread_redacted(older)
        changed = relation_targets(older) & {e["event_id"] for e in self._events}
        self._events = older + self._events
        self._positions = None
        return OlderPage(older, changed)

    # -- sync --------------------------------------------------------------------------------

    def apply_sync(self, change: SyncChanges) -> NewEvents | None:
        """What ``change`` does to the window; None when it brought nothing for the room."""
        if self.room_id in change.limited:
            return NewEvents(reread=True)
        if self.room_id not in change.new_events:
            return None
        return self.add_new(change.new_events[self.room_id])

    def add_new(self, events: list[Event]) -> NewEvents:
        """A sync's new events of the room, at the end of the window."""
        if self._redacted_for_others(events):
            return NewEvents(reread=True)
        if self._positions is not None:
            start = len(self._events)
            for i, evt in enumerate(events):
                self._positions[str(evt.get("event_id"))] = start + i
        self._events.extend(events)
        retry, self.waiting_for_sync = self.waiting_for_sync, False
        return NewEvents(
            events,
            members=any(e.get("type") == "m.room.member" for e in events),
            relations=any(is_relation(e) for e in events),
            retry_older=retry,
        )

    async def _reread_redacted(self, events: list[Event]) -> None:
        """Loaded events that ``events`` redact for someone else, read again from the store:
        there the redaction was checked (power levels) and, if allowed, pruned its target."""
        targets = self._redacted_for_others(events)
        for i, shown in enumerate(self._events):
            if shown.get("event_id") in targets:
                stored = await self.account.store.event(str(shown["event_id"]))
                if stored is not None:
                    self._events[i] = stored

    def _redacted_for_others(self, events: list[Event]) -> set[str]:
        """The loaded events that ``events`` redact and that someone else sent."""
        senders = {e.get("event_id"): e.get("sender") for e in self._events}
        return {
            target
            for e in events
            if (target := redaction_target(e)) is not None
            and target in senders
            and senders[target] != e.get("sender")
        }

    # -- local echoes ------------------------------------------------------------------------

    def echoed_transactions(self) -> set[str | None]:
        """Transaction ids of our messages that came back into the window: their local
        echoes are no longer shown."""
        return {transaction_id(e) for e in self._events}

    # -- replies -----------------------------------------------------------------------------

    def quote_reply(self, item: TimelineItem, evt: Event) -> bool:
        """Give a live reply's item the quote of the message it answers, from the window;
        True when that message is not loaded (``item`` is then marked to be resolved)."""
        target = reply_target(evt)
        if not target:
            return False
        original = self.event(target)
        item.reply = reply_quote(target, original, self.names)
        return original is None

    async def original(self, event_id: str) -> Event | None:
        """The event ``event_id``: loaded, else stored, else from the server (``/event``);
        None when the server will not show it to us."""
        found = self.event(event_id) or await self.account.store.event(event_id)
        if found is not None:
            return found
        try:
            return await self.account.fetch_event(self.room_id, event_id)
        except Exception:
            return None

    async def resolve_replies(self, items: Iterable[TimelineItem]) -> AsyncIterator[TimelineItem]:
        """Quote the messages replies answer in ``items`` (marked by ``build_items`` or
        :meth:`quote_reply`); yields each item as it gets its quote. A message we cannot see
        keeps the generic quote line."""
        for item in items:
            if item.reply is None or item.reply.preview is not None:
                continue
            target = item.reply.event_id
            original = await self.original(target)
            if original is None:
                continue
            item.reply = reply_quote(target, original, self.names)
            yield item

    # -- queries -----------------------------------------------------------------------------

    def position(self, event_id: str) -> int | None:
        """Where ``event_id`` is in the window (0 is the oldest), None if not loaded."""
        if self._positions is None:
            self._positions = {str(e.get("event_id")): i for i, e in enumerate(self._events)}
        return self._positions.get(event_id)

    def is_loaded(self, event_id: str) -> bool:
        return self.position(event_id) is not None

    def event(self, event_id: str) -> Event | None:
        """The loaded event ``event_id``, None if it is not in the window."""
        position = self.position(event_id)
        return self._events[position] if position is not None else None

    def latest_event_id(self) -> str | None:
        """The newest loaded event's id (what read receipts and the fully-read marker take)."""
        return str(self._events[-1].get("event_id")) if self._events else None

    def events_after(self, event_id: str) -> list[Event]:
        """The loaded events newer than ``event_id``; all of them when it is not loaded."""
        position = self.position(event_id)
        return list(self._events[position + 1 :] if position is not None else self._events)

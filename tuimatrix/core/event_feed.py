"""The live event feed of an account: what sync brings, published to subscribers.

``account.feed.subscribe(FeedFilter(...), max_pending=...)`` gives a :class:`Subscription`,
an async iterator of :func:`~.event_json.event_json` objects (with the account's own events
flagged ``own``). What is published: the timeline events of every sync after the first
(already decrypted: core/e2ee/crypto.py decrypts in place before the store writes them), and
invites. An event whose key had not arrived is published as ``m.room.encrypted`` with its
``decryption_error``; when its key comes later and the store decrypts it, it is published
again, decrypted, with ``late_decryption`` true (the feed remembers the last
:data:`REMEMBERED_UNDECRYPTED` of them). Each event says whether it notifies the account's
user by its push rules (``notify``, and ``highlight``), as ``core/notices.py`` evaluated it.
Events fetched to fill a gap or page back are old news and not published.

The feed listens to the account's changes (``Account.add_listener``), which the account
emits after a sync's transaction has committed; the listener only queues the change, and a
task of its own turns it into JSON, so the sync loop never waits for a subscriber. A
subscriber that leaves more than ``max_pending`` events undelivered is closed: its iterator
raises :class:`FellBehind`. Nothing is buffered without bound, and a feed without
subscribers does not even listen.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tuimatrix.core.event_json import ENCRYPTED, RoomsAccount, event_json, room_view
from tuimatrix.core.notices import Notice
from tuimatrix.core.sync import SyncChanges

log = logging.getLogger(__name__)

#: undelivered events a subscriber may have before it is closed with FellBehind
DEFAULT_MAX_PENDING = 1000
#: sync changes waiting to become JSON before every subscriber is closed (the feed's own
#: work fell that far behind the sync: something is badly wrong, and nothing may pile up)
MAX_QUEUED_CHANGES = 1000
#: undecryptable events remembered, to publish them again once their key comes
REMEMBERED_UNDECRYPTED = 1000


class FellBehind(Exception):
    """The subscriber left too many events undelivered: it was closed, events were lost."""


@dataclass(frozen=True)
class FeedFilter:
    """Which events a subscriber gets. Every condition given must hold; empty means any.

    ``rooms``: room ids (names are resolved by the caller); ``types``: exact event types;
    ``senders``: user ids; ``mentions``: only messages that mention the account's user
    (``mentions_me``); ``notifying``: only events that notify the user by its push rules
    (mentions, keywords, DMs… as the user set them); ``keyword``: a case-insensitive part
    of the body.
    """

    rooms: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()
    mentions: bool = False
    notifying: bool = False
    keyword: str = ""
    #: the account (user id) whose events pass; "" for any (a filter over several feeds)
    account: str = ""

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.account and event.get("account") != self.account:
            return False
        if self.rooms and event.get("room_id") not in self.rooms:
            return False
        if self.types and event.get("type") not in self.types:
            return False
        if self.senders and event.get("sender") not in self.senders:
            return False
        if self.mentions and not event.get("mentions_me"):
            return False
        if self.notifying and not event.get("notify"):
            return False
        if self.keyword:
            body = event.get("body")
            if not isinstance(body, str) or self.keyword.casefold() not in body.casefold():
                return False
        return True


class Subscription:
    """Events for one subscriber, as an async iterator; ``close()`` (or leaving ``async
    with``, or cancelling the task that waits on it) unsubscribes."""

    def __init__(self, feed: EventFeed, event_filter: FeedFilter, max_pending: int) -> None:
        self.filter = event_filter
        self.max_pending = max(1, max_pending)
        self._feed = feed
        self._pending: deque[dict[str, Any]] = deque()
        self._error: FellBehind | None = None
        self._closed = False
        self._wakeup = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Events published to this subscriber and not yet taken."""
        return len(self._pending)

    def offer(self, event: dict[str, Any]) -> None:
        """Queue ``event`` if the filter takes it (never waits); a full queue closes it."""
        if self._closed or not self.filter.matches(event):
            return
        if len(self._pending) >= self.max_pending:
            self.fail(
                FellBehind(
                    f"more than {self.max_pending} events were not read in time; "
                    "the subscription was closed and later events were not kept"
                )
            )
            return
        self._pending.append(event)
        self._wakeup.set()

    def fail(self, error: FellBehind) -> None:
        """Close with ``error``, which the iterator raises at once (queued events dropped)."""
        self._pending.clear()
        self._error = error
        self.close()

    def close(self) -> None:
        """Unsubscribe: the iterator ends (after the events already queued)."""
        if not self._closed:
            self._closed = True
            self._feed.unsubscribe(self)
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            try:
                await self._wakeup.wait()
            except asyncio.CancelledError:
                self.close()
                raise

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class FeedAccount(RoomsAccount, Protocol):
    """What the feed uses of an account (``core/account.py`` ``Account`` is one)."""

    def add_listener(self, listener: Callable[[Any, object], None]) -> None: ...

    def remove_listener(self, listener: Callable[[Any, object], None]) -> None: ...


class EventFeed:
    """One account's live events, for its subscribers (``Account.feed``)."""

    def __init__(self, account: FeedAccount) -> None:
        self._account = account
        self._subscriptions: list[Subscription] = []
        self._changes: deque[SyncChanges] = deque()
        self._task: asyncio.Task[None] | None = None
        #: event id -> room id of published events still waiting for their key
        self._undecrypted: OrderedDict[str, str] = OrderedDict()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(
        self, event_filter: FeedFilter | None = None, max_pending: int = DEFAULT_MAX_PENDING
    ) -> Subscription:
        """A new subscriber, which gets the events published from now on that pass the filter."""
        subscription = Subscription(self, event_filter or FeedFilter(), max_pending)
        if not self._subscriptions:
            self._account.add_listener(self._on_change)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription``; the last one gone, the feed stops listening and working."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        if not subscription.closed:
            subscription.close()
        if not self._subscriptions:
            self._account.remove_listener(self._on_change)
            self._changes.clear()
            self._undecrypted.clear()
            task, self._task = self._task, None
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    def close(self) -> None:
        """Close every subscription (the account is closing): their iterators end."""
        for subscription in list(self._subscriptions):
            subscription.close()

    def _on_change(self, account: object, change: object) -> None:
        """The account's listener: runs in the sync loop, so it only queues the change."""
        if not isinstance(change, SyncChanges) or not self._subscriptions:
            return
        if len(self._changes) >= MAX_QUEUED_CHANGES:
            log.warning("the event feed of %s fell behind the sync", self._account.user_id)
            for subscription in list(self._subscriptions):
                subscription.fail(FellBehind("the event feed fell behind the sync"))
            return
        self._changes.append(change)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish(), name="event feed")

    async def _publish(self) -> None:
        while self._changes:
            change = self._changes.popleft()
            try:
                events = await self._events_of(change)
            except Exception:  # a store read failed: these events are lost, the feed goes on
                log.exception("could not publish the events of a sync")
                continue
            for event in events:
                for subscription in list(self._subscriptions):
                    subscription.offer(event)

    async def _events_of(self, change: SyncChanges) -> list[dict[str, Any]]:
        """The JSON of what ``change`` brought: keys that came late, then new events."""
        notices = {n.event_id: n for n in change.notices}
        events = await self._late_decryptions(change.rooms, notices)
        if change.initial:
            return events
        for room_id, new in change.new_events.items():
            view = await room_view(self._account, room_id, (str(e.get("sender")) for e in new))
            for evt in new:
                event = _with_verdict(event_json(view, evt), notices)
                if event["decryption_error"] and event["event_id"]:
                    self._remember_undecrypted(event["event_id"], room_id)
                events.append(event)
        for room_id, membership in change.membership.items():
            if membership == "invite":
                invite = await self._invite(room_id)
                if invite is not None:
                    events.append(invite)
        return events

    def _remember_undecrypted(self, event_id: str, room_id: str) -> None:
        self._undecrypted[event_id] = room_id
        while len(self._undecrypted) > REMEMBERED_UNDECRYPTED:
            self._undecrypted.popitem(last=False)

    async def _late_decryptions(
        self, rooms: set[str], notices: Mapping[str, Notice]
    ) -> list[dict[str, Any]]:
        """Events published undecrypted whose key has come since (the store decrypted them)."""
        waiting = [(e, r) for e, r in self._undecrypted.items() if r in rooms]
        events: list[dict[str, Any]] = []
        for event_id, room_id in waiting:
            evt = await self._account.store.event(event_id)
            if evt is None or evt.get("type") == ENCRYPTED:
                continue
            del self._undecrypted[event_id]
            view = await room_view(self._account, room_id, [str(evt.get("sender"))])
            event = _with_verdict(event_json(view, evt), notices)
            events.append({**event, "late_decryption": True})
        return events

    async def _invite(self, room_id: str) -> dict[str, Any] | None:
        """An invite of the account, as a member event (stripped state: no id, no time)."""
        user_id = self._account.user_id
        state = await self._account.store.state_event(room_id, "m.room.member", user_id)
        if state is None:
            return None
        sender, content = state
        inviter = sender or ""
        evt = {"type": "m.room.member", "state_key": user_id, "sender": inviter, "content": content}
        # Invites always need the user (the server's rules notify of them too).
        invite = event_json(await room_view(self._account, room_id, [inviter]), evt)
        return {**invite, "notify": True, "highlight": False}


def _with_verdict(event: dict[str, Any], notices: Mapping[str, Notice]) -> dict[str, Any]:
    """``event`` with whether it notifies the user (``notify``, ``highlight``)."""
    notice = notices.get(str(event.get("event_id")))
    event["notify"] = notice is not None
    event["highlight"] = notice is not None and notice.highlight
    return event

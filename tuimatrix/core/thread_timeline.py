"""A thread's loaded timeline as a model: its root, the replies and what relates to them, and
our replies not yet back from the server.

The store's part of the thread comes first, then every reply the server has (a thread is
short: its items are built again whole on each change, by ``core/timeline.build_items``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tuimatrix.core.relations import relates_to_any, thread_root
from tuimatrix.core.sendqueue import SENT, LocalEcho
from tuimatrix.core.threads import as_thread_view, fetch_replies, stored_thread
from tuimatrix.core.timeline import TimelineItem, build_items, echo_item, transaction_id

if TYPE_CHECKING:
    from tuimatrix.core.account import Account

Event = dict[str, Any]

#: replies loaded from the server when a thread opens, at most (pages of threads.PAGE)
MAX_REPLIES = 1000


def _ts(evt: Event) -> int:
    ts = evt.get("origin_server_ts")
    return ts if isinstance(ts, int) else 0


class ThreadTimeline:
    """The loaded events of the thread under ``root_id``, by event id."""

    def __init__(self, account: Account, room_id: str, root_id: str) -> None:
        self.account = account
        self.room_id = room_id
        self.root_id = root_id
        #: the root, the replies and what relates to them, by event id
        self.by_id: dict[str, Event] = {}
        #: disambiguated display names of the room's members
        self.names: dict[str, str] = {}
        #: items of our replies not back from the server yet, by transaction id
        self.echoes: dict[str, TimelineItem] = {}

    async def load_stored(self) -> None:
        """The names, and the thread as far as the store holds it."""
        self.names = await self.account.member_names(self.room_id)
        for evt in await stored_thread(self.account.store, self.room_id, self.root_id):
            self.by_id[str(evt["event_id"])] = evt

    async def load_from_server(self, max_replies: int = MAX_REPLIES) -> AsyncIterator[None]:
        """The root if the store lacks it, then the server's replies page by page (up to
        ``max_replies``); yields once the root is there and after each page, for the caller
        to show what there is. Errors are the caller's."""
        if self.root_id not in self.by_id:
            self.by_id[self.root_id] = await self.account.fetch_event(self.room_id, self.root_id)
        yield
        token: str | None = None
        loaded = 0
        while loaded < max_replies:
            replies, token = await fetch_replies(self.account, self.room_id, self.root_id, token)
            loaded += len(replies)
            for evt in replies:
                self.by_id.setdefault(str(evt["event_id"]), evt)
            yield
            if token is None:
                break

    def add_new(self, events: list[Event]) -> bool:
        """A sync's new events of the room: keeps those of the thread (the root, its
        replies, what relates to them); True when there were any."""
        added = False
        for evt in events:
            event_id = str(evt.get("event_id"))
            if (
                event_id == self.root_id
                or thread_root(evt) == self.root_id
                or relates_to_any(evt, set(self.by_id))
            ):
                self.by_id[event_id] = evt
                added = True
        return added

    @property
    def events(self) -> list[Event]:
        """The loaded events, oldest first (as ``RoomTimeline.events``; a copy)."""
        return sorted(self.by_id.values(), key=_ts)

    def event(self, event_id: str) -> Event | None:
        """The loaded event ``event_id``, None if it is not loaded."""
        return self.by_id.get(event_id)

    def items(self, own_user_id: str) -> list[TimelineItem]:
        """The thread's items, our unsent replies last (those that came back are dropped)."""
        events = self.events
        items = build_items(
            [as_thread_view(e, self.root_id) for e in events], self.names, own_user_id
        )
        received = {transaction_id(e) for e in events}
        for txn in [t for t in self.echoes if t in received]:
            del self.echoes[txn]
        return items + list(self.echoes.values())

    def echo(self, change: LocalEcho, now_ms: int) -> TimelineItem | None:
        """The item to show for a local echo of a reply in this thread; None when the reply
        itself is shown already. A discarded echo is :meth:`drop_echo`'s."""
        received = {transaction_id(e) for e in self.by_id.values()}
        if change.txn_id in received or (change.state == SENT and change.txn_id not in self.echoes):
            return None
        own = self.names.get(self.account.user_id, self.account.user_id)
        item = echo_item(change, self.account.user_id, own, now_ms)
        self.echoes[change.txn_id] = item
        return item

    def drop_echo(self, txn_id: str) -> None:
        self.echoes.pop(txn_id, None)

    def latest_reply(self) -> str | None:
        """The newest reply's event id (what threaded receipts and the fallback reply take)."""
        replies = [e for e in self.by_id.values() if thread_root(e) == self.root_id]
        return str(max(replies, key=_ts)["event_id"]) if replies else None

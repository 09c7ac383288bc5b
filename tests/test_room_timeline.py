"""The room timeline model (core/room_timeline.py): the loaded window, paging through the
store and the server, sync's new events, local echoes, reply quotes and the queries.

Pure logic against a fake store first; then against Synapse: scrollback past the store's
window into the server, and a reply whose original is not loaded."""

from __future__ import annotations

from typing import Any

from conftest import MakeUser
from test_room_reading import sent

from tuimatrix.core import auth
from tuimatrix.core.room_timeline import RoomTimeline
from tuimatrix.core.sendqueue import LocalEcho
from tuimatrix.core.sync import SyncChanges
from tuimatrix.core.timeline import TimelineItem, build_items, event_item
from tuimatrix.paths import get_paths

ROOM = "!room:example.org"
ME = "@me:example.org"
MOD = "@mod:example.org"
NAMES = {ME: "Me", MOD: "Moderator"}

Event = dict[str, Any]


def message(n: int, sender: str = ME, **content: Any) -> Event:
    return {
        "event_id": f"$e{n}",
        "type": "m.room.message",
        "sender": sender,
        "origin_server_ts": 1_000 + n,
        "content": {"msgtype": "m.text", "body": f"message {n}", **content},
    }


def reaction(n: int, target: str) -> Event:
    return {
        "event_id": f"$r{n}",
        "type": "m.reaction",
        "sender": MOD,
        "origin_server_ts": 5_000 + n,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}},
    }


def redaction(n: int, target: str, sender: str) -> Event:
    return {
        "event_id": f"$x{n}",
        "type": "m.room.redaction",
        "sender": sender,
        "origin_server_ts": 6_000 + n,
        "redacts": target,
        "content": {"redacts": target},
    }


class FakeStore:
    """The room's events in timeline order, and the relations of them kept elsewhere."""

    def __init__(self, events: list[Event], related: list[Event] | None = None) -> None:
        self.events = events
        self.related = related or []
        self.pruned: dict[str, Event] = {}

    async def latest_events(self, room_id: str, limit: int) -> list[Event]:
        return self.events[-limit:]

    async def events_before(self, room_id: str, event_id: str, limit: int) -> list[Event]:
        ids = [e["event_id"] for e in self.events]
        end = ids.index(event_id)
        return self.events[max(0, end - limit) : end]

    async def related_events(self, events: list[Event]) -> list[Event]:
        ids = {e["event_id"] for e in events}
        return [r for r in self.related if r["content"]["m.relates_to"]["event_id"] in ids]

    async def event(self, event_id: str) -> Event | None:
        if event_id in self.pruned:
            return self.pruned[event_id]
        return next((e for e in self.events if e["event_id"] == event_id), None)


class FakeQueue:
    def __init__(self, echoes: list[LocalEcho]) -> None:
        self.echoes = echoes

    async def pending(self, room_id: str | None = None) -> list[LocalEcho]:
        return self.echoes


class FakeAccount:
    """The server holds ``server`` (older than the store, oldest first); None: no sync yet."""

    user_id = ME
    client: Any = None

    def __init__(
        self,
        store: FakeStore,
        server: list[Event] | None,
        remote: dict[str, Event] | None = None,
    ) -> None:
        self.store = store
        self.server = server
        self.remote = remote or {}
        self.send_queue = FakeQueue([])
        self.fetched: list[str] = []

    async def member_names(self, room_id: str) -> dict[str, str]:
        return dict(NAMES)

    async def load_older(self, room_id: str, limit: int = 50) -> list[Event] | None:
        if self.server is None:
            return None
        page, self.server = self.server[-limit:], self.server[:-limit]
        self.store.events[:0] = page
        return page

    async def decrypt(self, room_id: str, events: list[Event]) -> None:
        pass  # nothing is encrypted here

    async def fetch_event(self, room_id: str, event_id: str) -> Event:
        self.fetched.append(event_id)
        if event_id not in self.remote:
            raise LookupError(event_id)
        return self.remote[event_id]


def model_of(account: FakeAccount, page: int = 3) -> RoomTimeline:
    return RoomTimeline(account, ROOM, page)  # type: ignore[arg-type]


def ids(events: Any) -> list[str]:
    return [e["event_id"] for e in events]


async def test_opening_loads_the_newest_page_its_names_and_the_relations_from_beyond_it() -> None:
    events = [message(n) for n in range(10)]
    outside = reaction(1, "$e8")
    account = FakeAccount(FakeStore(events, [outside]), [])
    model = model_of(account)
    await model.load_latest()
    assert ids(model.events) == ["$e7", "$e8", "$e9"]
    assert model.names == NAMES
    assert model.related == {"$e8": [outside]}
    # build_items takes the window and, after it, the relations not already in it
    assert ids(model.with_related(model.events)) == ["$e7", "$e8", "$e9", "$r1"]
    assert ids(model.with_related([*model.events, outside])) == ["$e7", "$e8", "$e9", "$r1"]


async def test_scrollback_pages_through_the_store_then_the_server_until_the_start() -> None:
    server = [message(n) for n in range(4)]
    store = FakeStore([message(n) for n in range(4, 9)])
    account = FakeAccount(store, server)
    model = model_of(account)
    await model.load_latest()
    pages = []
    while not model.at_start:
        page = await model.load_older()
        assert page is not None
        pages.append(ids(page.events))
    assert pages == [
        ["$e4", "$e5"],  # the rest of the store
        ["$e1", "$e2", "$e3"],  # then the server, a page at a time
        ["$e0"],
        [],  # the start of the room
    ]
    assert ids(model.events) == [f"$e{n}" for n in range(9)]
    # the index of positions follows the window as it grows at both ends
    assert model.position("$e0") == 0 and model.position("$e8") == 8
    model.add_new([message(9)])
    assert model.position("$e9") == 9
    assert model.latest_event_id() == "$e9"


async def test_scrollback_before_the_rooms_first_sync_waits_for_it() -> None:
    account = FakeAccount(FakeStore([]), server=None)
    model = model_of(account)
    await model.load_latest()
    assert await model.load_older() is None
    assert model.waiting_for_sync and not model.at_start
    added = model.add_new([message(1)])
    assert added.retry_older and not model.waiting_for_sync
    assert not model.add_new([message(2)]).retry_older


async def test_an_older_page_reports_the_loaded_events_it_changes() -> None:
    # A reaction that reached the server before the message it annotates (clock skew,
    # federation): scrollback brings it, and the loaded message's item is to be rebuilt.
    store = FakeStore([reaction(1, "$e5"), message(4), message(5)])
    model = model_of(FakeAccount(store, []), page=2)
    await model.load_latest()
    page = await model.load_older()
    assert page is not None
    assert ids(page.events) == ["$r1"]
    assert page.changed == {"$e5"}


async def test_an_older_page_redacting_someone_elses_loaded_event_rereads_it_from_the_store() -> (
    None
):
    target = message(5)
    store = FakeStore([redaction(1, "$e5", MOD), message(4), target])
    pruned = {**target, "content": {}, "unsigned": {"redacted_because": {}}}
    store.pruned["$e5"] = pruned
    model = model_of(FakeAccount(store, []), page=2)
    await model.load_latest()
    assert model.event("$e5") is target
    await model.load_older()
    assert model.event("$e5") is pruned  # what the store decided, power levels checked


async def test_new_events_say_what_they_change() -> None:
    model = model_of(FakeAccount(FakeStore([message(1), message(2, sender=MOD)]), []))
    await model.load_latest()
    plain = model.add_new([message(3)])
    assert not (plain.reread or plain.members or plain.relations)
    member = {
        "event_id": "$m",
        "type": "m.room.member",
        "sender": MOD,
        "state_key": MOD,
        "content": {"membership": "join"},
    }
    assert model.add_new([member]).members
    assert model.add_new([reaction(1, "$e1")]).relations
    assert ids(model.events) == ["$e1", "$e2", "$e3", "$m", "$r1"]
    # Our own redaction of our message is applied from the window like an edit...
    assert model.add_new([redaction(1, "$e1", ME)]).relations
    # ...a moderator's is read again from the store, and not added here.
    before = len(model.events)
    assert model.add_new([redaction(2, "$e2", ME)]).reread
    assert len(model.events) == before


async def test_a_sync_adds_the_rooms_events_or_has_the_window_read_again() -> None:
    model = model_of(FakeAccount(FakeStore([message(1)]), []))
    await model.load_latest()
    assert model.apply_sync(SyncChanges(new_events={"!other:example.org": [message(7)]})) is None
    added = model.apply_sync(SyncChanges(new_events={ROOM: [message(2)]}))
    assert added is not None and ids(added.events) == ["$e2"] and not added.reread
    assert ids(model.events) == ["$e1", "$e2"]
    # A limited sync: the account filled the gap in the store; the window is read again.
    limited = SyncChanges(new_events={ROOM: [message(9)]}, limited={ROOM})
    added = model.apply_sync(limited)
    assert added is not None and added.reread
    assert ids(model.events) == ["$e1", "$e2"]


async def test_our_messages_that_came_back_are_matched_to_their_local_echoes() -> None:
    mine = {**message(1), "unsigned": {"transaction_id": "tm1"}}
    thread_reply = LocalEcho(
        "tm3",
        ROOM,
        "m.room.message",
        {"body": "in a thread", "m.relates_to": {"rel_type": "m.thread", "event_id": "$e1"}},
        "queued",
    )
    queued = LocalEcho("tm2", ROOM, "m.room.message", {"body": "queued"}, "queued")
    account = FakeAccount(FakeStore([mine]), [])
    account.send_queue = FakeQueue([queued, thread_reply])
    model = model_of(account)
    await model.load_latest()
    assert "tm1" in model.echoed_transactions()
    assert "tm2" not in model.echoed_transactions()
    # thread replies are shown in their thread, not after the room's window
    assert await model.pending_echoes() == [queued]


async def test_reply_quotes_come_from_the_window_the_store_or_the_server() -> None:
    def reply(n: int, target: str) -> Event:
        evt = message(n)
        evt["content"]["m.relates_to"] = {"m.in_reply_to": {"event_id": target}}
        return evt

    remote = message(0, body="only on the server")
    store = FakeStore([message(1, body="stored, not loaded"), message(2), message(3)])
    account = FakeAccount(store, [], remote={"$e0": remote})
    model = model_of(account, page=2)
    await model.load_latest()

    live = reply(4, "$e3")
    model.add_new([live])
    item = event_item(live, model.names)
    assert item is not None
    assert not model.quote_reply(item, live)  # loaded: quoted at once
    assert item.reply is not None and item.reply.preview is not None
    assert item.reply.preview.plain.startswith("Me: message 3")

    replies = [reply(5, "$e1"), reply(6, "$e0"), reply(7, "$gone")]
    model.add_new(replies)
    items = build_items(model.with_related(replies), model.names, ME)
    assert all(i.reply is not None and i.reply.preview is None for i in items)
    resolved = [i async for i in model.resolve_replies(items)]
    assert [i.key for i in resolved] == ["$e5", "$e6"]
    assert [quote(i) for i in resolved] == ["Me: stored, not loaded", "Me: only on the server"]
    # not visible to us: the generic quote stays
    assert items[2].reply is not None and items[2].reply.event_id == "$gone"
    assert items[2].reply.preview is None
    assert account.fetched == ["$e0", "$gone"]  # the store first, the server after


async def test_queries_about_the_window() -> None:
    model = model_of(FakeAccount(FakeStore([message(n) for n in range(5)]), []), page=5)
    assert model.latest_event_id() is None and model.position("$e1") is None
    await model.load_latest()
    assert model.is_loaded("$e3") and not model.is_loaded("$nope")
    assert model.event("$e3") == message(3)
    assert model.latest_event_id() == "$e4"
    assert ids(model.events_after("$e2")) == ["$e3", "$e4"]
    assert ids(model.events_after("$nope")) == ids(model.events)
    model.set_events([message(9)])
    assert model.position("$e3") is None and model.position("$e9") == 0


class ContextApi:
    """``GET /context``: the found event, two before (newest first), one after."""

    async def request(self, method: Any, path: Any, query_params: dict[str, str]) -> Any:
        return {
            "event": message(5),
            "events_before": [message(4), message(3)],
            "events_after": [message(6)],
            "state": [],
        }


class ContextClient:
    api = ContextApi()


async def test_a_found_messages_context_is_a_window_of_its_own() -> None:
    store = FakeStore([message(n) for n in range(10, 20)])
    account = FakeAccount(store, [])
    account.client = ContextClient()
    model = model_of(account)
    await model.load_context("$e5")
    assert ids(model.events) == ["$e3", "$e4", "$e5", "$e6"]
    assert model.names == NAMES
    assert len(store.events) == 10  # nothing stored


async def test_scrollback_goes_past_the_stores_window_into_the_server(
    make_user: MakeUser,
) -> None:
    """Against Synapse: a first sync stores the newest 50 events; scrolling back reads them
    from the store, then asks the server for the rest, down to the room's creation; a reply
    to a message not loaded (nor stored) gets its quote from the server."""
    alice = make_user("alice", displayname="Alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    try:
        room_id = await me.create_room("Long history")
        original = await sent(me, room_id, "the original")
        fillers = [await sent(me, room_id, f"filler {n}") for n in range(60)]
        answer = await me.reply(room_id, original, "the answer")
        answer_id = (await me.send_queue.wait(answer.txn_id)).event_id
        await me.sync_once()
        stored = await me.store.latest_events(room_id, 10_000)
        assert original not in ids(stored)  # the first sync's timeline is limited

        model = RoomTimeline(me, room_id, page=20)
        await model.load_latest()
        assert model.latest_event_id() == answer_id
        items = build_items(model.with_related(model.events), model.names, me.user_id)
        waiting = [i for i in items if i.reply is not None and i.reply.preview is None]
        assert [i.key for i in waiting] == [answer_id]
        resolved = [i async for i in model.resolve_replies(waiting)]
        assert quote(resolved[0]) == "Alice: the original"

        while not model.at_start:
            page = await model.load_older()
            assert page is not None
        loaded = ids(model.events)
        assert len(loaded) == len(set(loaded))  # no event twice where store and server meet
        assert len(loaded) > len(stored)
        messages = [e for e in model.events if e["type"] == "m.room.message"]
        assert [e["event_id"] for e in messages] == [original, *fillers, answer_id]
        assert model.events[0]["type"] == "m.room.create"
    finally:
        await me.close()


def quote(item: TimelineItem) -> str:
    """The reply quote shown above ``item`` ("" when it has none yet)."""
    preview = item.reply.preview if item.reply is not None else None
    return preview.plain if preview is not None else ""


async def test_who_reacted_counts_the_stored_reactions_from_beyond_the_window() -> None:
    """The names under "who reacted" agree with the count under the message: a reaction
    stored with an older page (kept as a relation of a loaded event) is among them."""
    store = FakeStore([message(1), message(2), message(3)], related=[reaction(1, "$e3")])
    model = model_of(FakeAccount(store, []))
    await model.load_latest()
    assert model.who_reacted("$e3") == [("👍", ["Moderator"])]
    [item] = [
        i for i in build_items(model.with_related(model.events), model.names, ME) if i.key == "$e3"
    ]
    assert item.reactions == (("👍", 1, False),)
    assert model.who_reacted("$e2") == []

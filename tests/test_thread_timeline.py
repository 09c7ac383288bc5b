"""The thread timeline model (core/thread_timeline.py): the store's part first, the server's
replies page by page, a sync's events of the thread, and our unsent replies. Fakes only: the
thread screen's tests (tests/test_threads.py) run it against Synapse."""

from __future__ import annotations

import json
from typing import Any

from tuimatrix.core.sendqueue import QUEUED, SENT, LocalEcho
from tuimatrix.core.thread_timeline import ThreadTimeline

ROOM = "!room:example.org"
ME = "@me:example.org"
ROOT = "$root"

Event = dict[str, Any]


def event(event_id: str, ts: int, thread: bool = True, **unsigned: Any) -> Event:
    content: dict[str, Any] = {"msgtype": "m.text", "body": event_id}
    if thread:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": ROOT}
    return {
        "event_id": event_id,
        "type": "m.room.message",
        "sender": ME,
        "origin_server_ts": ts,
        "content": content,
        "unsigned": unsigned,
    }


ROOT_EVENT = event(ROOT, 0, thread=False)


class FakeDb:
    """What ``threads.stored_thread`` asks: every stored event (it filters them itself)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def fetch(self, query: str, *args: Any) -> list[dict[str, str]]:
        return [{"json": json.dumps(e)} for e in self.events]


class FakeStore:
    def __init__(self, events: list[Event]) -> None:
        self.db = FakeDb(events)


class FakeApi:
    """The relations endpoint: ``pages`` of replies, newest page first."""

    def __init__(self, pages: list[list[Event]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    async def request(self, method: Any, path: Any, query_params: dict[str, str]) -> Any:
        token = query_params.get("from")
        self.asked.append(token)
        n = int(token or 0)
        following = str(n + 1) if n + 1 < len(self.pages) else None
        return {"chunk": list(reversed(self.pages[n])), "next_batch": following}


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


class FakeAccount:
    user_id = ME

    def __init__(self, stored: list[Event], pages: list[list[Event]]) -> None:
        self.store = FakeStore(stored)
        self.client = FakeClient(FakeApi(pages))
        self.fetched: list[str] = []

    async def member_names(self, room_id: str) -> dict[str, str]:
        return {ME: "Me"}

    async def fetch_event(self, room_id: str, event_id: str) -> Event:
        self.fetched.append(event_id)
        return ROOT_EVENT


def thread_of(account: FakeAccount) -> ThreadTimeline:
    return ThreadTimeline(account, ROOM, ROOT)  # type: ignore[arg-type]


async def test_the_store_first_then_the_root_then_the_servers_replies_page_by_page() -> None:
    stored_reply = event("$a", 1)
    unrelated = event("$other", 2, thread=False)
    pages = [[event("$c", 3), event("$d", 4)], [stored_reply, event("$b", 2)]]
    account = FakeAccount([stored_reply, unrelated], pages)
    model = thread_of(account)
    await model.load_stored()
    assert list(model.by_id) == ["$a"]  # the store's part, without the rest of the room
    assert model.names == {ME: "Me"}
    shown = []
    async for _ in model.load_from_server():
        shown.append([e["event_id"] for e in model.events])
    assert account.fetched == [ROOT]  # the store lacked the root
    assert shown == [
        [ROOT, "$a"],  # the root, shown before any page comes
        [ROOT, "$a", "$c", "$d"],
        [ROOT, "$a", "$b", "$c", "$d"],
    ]
    assert account.client.api.asked == [None, "1"]
    assert model.latest_reply() == "$d"


async def test_replies_from_the_server_stop_at_the_cap() -> None:
    pages = [[event(f"$p{n}", n)] for n in range(1, 6)]
    account = FakeAccount([ROOT_EVENT], pages)
    model = thread_of(account)
    await model.load_stored()
    async for _ in model.load_from_server(max_replies=2):
        pass
    assert account.fetched == []  # the root was stored
    assert account.client.api.asked == [None, "1"]


async def test_a_syncs_events_of_the_thread_are_kept_and_the_rest_ignored() -> None:
    model = thread_of(FakeAccount([ROOT_EVENT, event("$a", 1)], []))
    await model.load_stored()
    reaction = {
        "event_id": "$r",
        "type": "m.reaction",
        "sender": ME,
        "origin_server_ts": 5,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$a", "key": "👍"}},
    }
    assert not model.add_new([event("$elsewhere", 3, thread=False)])
    assert model.add_new([event("$b", 4), reaction])
    assert set(model.by_id) == {ROOT, "$a", "$b", "$r"}
    assert model.event("$r") == reaction and model.event("$elsewhere") is None
    items = model.items(ME)
    assert [i.key for i in items] == [ROOT, "$a", "$b"]
    assert items[1].reactions == (("👍", 1, True),)


async def test_our_unsent_replies_show_last_until_they_come_back() -> None:
    model = thread_of(FakeAccount([ROOT_EVENT], []))
    await model.load_stored()
    content = {"body": "mine", "m.relates_to": {"rel_type": "m.thread", "event_id": ROOT}}
    queued = LocalEcho("tm1", ROOM, "m.room.message", content, QUEUED)
    item = model.echo(queued, 10)
    assert item is not None and item.key == "tm1" and item.sender == "Me"
    assert [i.key for i in model.items(ME)] == [ROOT, "tm1"]
    # Sent before we ever showed it (another screen queued it): nothing to show.
    assert model.echo(LocalEcho("tm2", ROOM, "m.room.message", content, SENT), 11) is None
    # Back from the server: the reply replaces its echo.
    model.add_new([event("$mine", 12, transaction_id="tm1")])
    assert [i.key for i in model.items(ME)] == [ROOT, "$mine"]
    assert model.echo(LocalEcho("tm1", ROOM, "m.room.message", content, SENT), 13) is None
    queued_again = LocalEcho("tm3", ROOM, "m.room.message", content, QUEUED)
    assert model.echo(queued_again, 14) is not None
    model.drop_echo("tm3")
    assert [i.key for i in model.items(ME)] == [ROOT, "$mine"]

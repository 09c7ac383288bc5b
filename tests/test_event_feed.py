"""The live event feed (core/event_feed.py): what sync brings reaches subscribers, filtered,
in plain and encrypted rooms, and a subscriber that falls behind is closed, not buffered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import MakeUser
from mautrix.crypto.sessions import InboundGroupSession
from mautrix.types import RoomID, SessionID
from test_e2ee import encrypted_room, send
from test_event_json import plain_room
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.core.account import Account
from tuimatrix.core.event_feed import FeedFilter, FellBehind, Subscription
from tuimatrix.core.sync import SyncChanges

pytestmark = pytest.mark.timeout(180)


async def next_event(subscription: Subscription, timeout: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        return await anext(subscription)


async def events_until(
    subscription: Subscription, *event_ids: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """The events the subscription gives, until every one of ``event_ids`` came."""
    got: list[dict[str, Any]] = []
    waiting = set(event_ids)
    async with asyncio.timeout(timeout):
        async for event in subscription:
            got.append(event)
            waiting.discard(event["event_id"])
            if not waiting:
                return got
    raise AssertionError("the subscription ended")


async def test_feed_gives_another_users_message_live(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await plain_room(a, b)
    await b.start()
    subscription = b.feed.subscribe(FeedFilter(types=frozenset({"m.room.message"})))
    hello = await send(a, room_id, "hello live")
    event = await next_event(subscription)
    assert event["event_id"] == hello and event["body"] == "hello live"
    assert event["own"] is False and event["account"] == b.user_id
    # Our own messages come too, flagged.
    mine = await send(b, room_id, "mine")
    event = await next_event(subscription)
    assert event["event_id"] == mine and event["own"] is True
    subscription.close()
    assert b.feed.subscribers == 0
    assert b.feed._on_change not in b._listeners  # nothing left behind


async def test_feed_in_an_encrypted_room_and_a_key_that_comes_late(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    subscription = b.feed.subscribe(FeedFilter(rooms=frozenset({room_id})))
    first = await send(a, room_id, "secret hello")
    await b.sync_once()
    got = await events_until(subscription, first)
    assert got[-1]["body"] == "secret hello"
    assert got[-1]["encrypted"] is True and got[-1]["decrypted"] is True

    # Bob loses the room key: the next message comes undecryptable, then the key comes back.
    crypto = b.crypto
    assert crypto is not None
    raw = await b.store.event(first)
    assert raw is not None
    session_id = SessionID(raw["tm_e2ee"]["session_id"])
    session = await crypto.crypto_store.get_group_session(RoomID(room_id), session_id)
    assert session is not None
    exported = session.export_session(session.first_known_index)
    await b.store.db.execute(
        "DELETE FROM crypto_megolm_inbound_session WHERE session_id=$1", session_id
    )
    late = await send(a, room_id, "key comes late")
    await b.sync_once()
    locked = (await events_until(subscription, late))[-1]
    assert locked["type"] == "m.room.encrypted" and locked["decryption_error"]
    assert "key comes late" not in str(locked)

    back = InboundGroupSession.import_session(
        exported, session.signing_key, session.sender_key, RoomID(room_id), []
    )
    await crypto.crypto_store.put_group_session(
        RoomID(room_id), session.sender_key, session_id, back
    )
    assert await crypto.retry() == {room_id}
    b.emit(SyncChanges(rooms={room_id}, limited={room_id}))  # as the sync does after retry()
    again = await next_event(subscription)
    assert again["event_id"] == late and again["body"] == "key comes late"
    assert again["late_decryption"] is True and again["decrypted"] is True


async def test_feed_filters(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob", displayname="Bobby"))
    c = await login(make_user("carol"))
    room_id = await plain_room(a, b, "One")
    other_room = await plain_room(a, b, "Two")
    await c.sync_once()
    await a.invite(room_id, c.user_id)
    await c.sync_once()
    await c.join(room_id)
    await b.sync_once()
    feeds = {
        "room": b.feed.subscribe(FeedFilter(rooms=frozenset({other_room}))),
        "type": b.feed.subscribe(FeedFilter(types=frozenset({"m.reaction"}))),
        "sender": b.feed.subscribe(FeedFilter(senders=frozenset({c.user_id}))),
        "mentions": b.feed.subscribe(FeedFilter(mentions=True)),
        "keyword": b.feed.subscribe(FeedFilter(keyword="DEPLOY")),
        "notifying": b.feed.subscribe(FeedFilter(notifying=True)),
    }
    everything = b.feed.subscribe()
    plain = await send(a, room_id, "nothing special")
    in_two = await send(a, other_room, "in room two")
    by_carol = await send(c, room_id, "carol here")
    mention = await send(a, room_id, "hi", mentions=[b.user_id])
    # m.mentions without Bob: his name in the body does not count (spec).
    named = await send(a, room_id, "ask bobby about it")
    keyword = await send(a, room_id, "the deploy is done")
    reaction_echo = await a.react(room_id, plain, "👍")
    reaction = (await a.send_queue.wait(reaction_echo.txn_id)).event_id
    assert reaction is not None
    last = await send(a, room_id, "the end")
    await b.sync_once()
    every_event = await events_until(
        everything, plain, in_two, by_carol, mention, named, keyword, reaction, last
    )
    everything_ids = [e["event_id"] for e in every_event]
    assert len(everything_ids) == len(set(everything_ids))
    # By the default push rules every message notifies (reactions do not); only the
    # intentional mention highlights (the name in the body does not, with m.mentions).
    highlights = [e["event_id"] for e in every_event if e["highlight"]]
    assert highlights == [mention]
    expected = {
        "room": [in_two],
        "type": [reaction],
        "sender": [by_carol],
        "mentions": [mention],
        "keyword": [keyword],
        "notifying": [plain, in_two, by_carol, mention, named, keyword, last],
    }
    for name, subscription in feeds.items():
        subscription.close()
        got = [e["event_id"] async for e in subscription]
        # The feed goes room by room, in the order each room's events came.
        assert sorted(got) == sorted(expected[name]), name


async def test_legacy_mention_by_display_name(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob", displayname="Bobby"))
    room_id = await plain_room(a, b)
    subscription = b.feed.subscribe(FeedFilter(mentions=True))
    # An older client: no m.mentions at all, the name in the body.
    echo = await a.send_event(room_id, "m.room.message", {"msgtype": "m.text", "body": "Bobby?"})
    legacy = (await a.send_queue.wait(echo.txn_id)).event_id
    await b.sync_once()
    assert (await next_event(subscription))["event_id"] == legacy


async def test_slow_subscriber_falls_behind_and_the_sync_goes_on(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await plain_room(a, b)
    slow = b.feed.subscribe(FeedFilter(types=frozenset({"m.room.message"})), max_pending=2)
    fast = b.feed.subscribe(FeedFilter(types=frozenset({"m.room.message"})))
    sent = [await send(a, room_id, f"message {i}") for i in range(4)]
    await b.sync_once()
    got = [e["event_id"] for e in await events_until(fast, sent[-1])]
    assert got == sent
    assert slow.closed and slow.pending == 0
    with pytest.raises(FellBehind, match="more than 2 events"):
        await next_event(slow)
    # The sync went on, and the feed too.
    more = await send(a, room_id, "after")
    await b.sync_once()
    assert (await next_event(fast))["event_id"] == more
    assert b.feed.subscribers == 1


async def test_cancelling_a_waiting_subscriber_unsubscribes(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    b = await login(make_user("bob"))
    subscription = b.feed.subscribe()
    waiting = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert subscription.closed and b.feed.subscribers == 0


async def test_closing_the_account_ends_the_subscriptions(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    b: Account = await login(make_user("bob"))
    subscription = b.feed.subscribe()
    await b.close()
    assert [e async for e in subscription] == []


async def test_an_invite_is_published(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice", displayname="Alice"))
    b = await login(make_user("bob"))
    await b.sync_once()
    subscription = b.feed.subscribe(FeedFilter(types=frozenset({"m.room.member"})))
    room_id = await a.create_room("Party", invite=[b.user_id], encrypted=False)
    await b.sync_once()
    invite = await next_event(subscription)
    assert invite["room_id"] == room_id and invite["membership"] == "invite"
    assert invite["state_key"] == b.user_id and invite["sender"] == a.user_id


async def test_a_feed_that_falls_behind_the_sync_closes_its_subscribers(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tuimatrix.core import event_feed

    b = await login(make_user("bob"))
    subscription = b.feed.subscribe()
    # As if the feed's own work had fallen that many syncs behind: no queue grows past it.
    monkeypatch.setattr(event_feed, "MAX_QUEUED_CHANGES", 0)
    b.emit(SyncChanges(rooms={"!r:x"}))
    with pytest.raises(FellBehind, match="fell behind the sync"):
        await next_event(subscription)
    assert b.feed.subscribers == 0

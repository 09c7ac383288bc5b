"""The push rules evaluated here on every sync (core/notices.py), against the real server:
counts of encrypted rooms that know about mentions, the notices of a sync, what is read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import MakeUser
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.types import DeviceID, TrustState, UserID
from test_e2ee import (  # noqa: F401
    OtherDevice,
    encrypted_pair,
    encrypted_room,
    other_device,
    send,
)
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.core.account import Account
from tuimatrix.core.notices import Notice
from tuimatrix.core.push_evaluator import Ruleset
from tuimatrix.core.sync import SyncChanges

pytestmark = pytest.mark.timeout(180)


def notices_of(seen: list[object]) -> list[Notice]:
    return [n for change in seen if isinstance(change, SyncChanges) for n in change.notices]


async def receipt(account: Account, room_id: str, event_id: str, **body: Any) -> None:
    await account.client.api.request(
        Method.POST, ApiPath.v3.rooms[room_id].receipt["m.read"][event_id], body
    )


async def test_an_encrypted_mention_highlights_and_a_receipt_reads_it(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    seen: list[object] = []
    a.add_listener(lambda _account, change: seen.append(change))

    plain = await send(b, room_id, "just chatting")
    mention = await send(b, room_id, "alice: look", mentions=[a.user_id])
    await a.sync_once()

    room = a.rooms.summaries[room_id]
    assert room.encrypted
    # The server cannot read these: it counts both, and never a highlight.
    assert (room.notification_count, room.highlight_count) == (2, 1)
    got = notices_of(seen)
    assert [(n.event_id, n.highlight, n.encrypted) for n in got] == [
        (plain, False, True),
        (mention, True, True),
    ]
    assert got[1].event["content"]["body"] == "alice: look"  # decrypted, raw
    assert [n.event_id for n in await a.notices.recent()] == [mention, plain]

    await receipt(a, room_id, plain)
    await a.sync_once()
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (1, 1)
    await receipt(a, room_id, mention)
    await a.sync_once()
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (0, 0)
    assert await a.notices.recent() == []
    # Read ones stay listed for whoever wants the recent ones.
    assert [n.event_id for n in await a.notices.recent(unread_only=False)] == [mention, plain]


async def test_own_messages_read_what_came_before_and_redactions_forget(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    first = await send(b, room_id, "one")
    await a.sync_once()
    assert a.rooms.summaries[room_id].notification_count == 1
    await send(a, room_id, "answered")  # writing in a room reads what is above
    await a.sync_once()
    assert a.rooms.summaries[room_id].notification_count == 0
    assert first not in [n.event_id for n in await a.notices.recent()]

    gone = await send(b, room_id, "@room oops", mentions=[a.user_id])
    await a.sync_once()
    assert a.rooms.summaries[room_id].highlight_count == 1
    await b.redact(room_id, gone)
    await a.sync_once()
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (0, 0)
    assert [n.event_id for n in await a.notices.recent(unread_only=False)] == [first]


async def test_threaded_receipts_read_their_thread_only(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    root = await send(b, room_id, "root")
    reply = await send(
        b, room_id, "in the thread", relates_to={"rel_type": "m.thread", "event_id": root}
    )
    main = await send(b, room_id, "back in the room")
    await a.sync_once()
    assert a.rooms.summaries[room_id].notification_count == 3
    await receipt(a, room_id, reply, thread_id=root)
    await a.sync_once()
    # The thread is read; the room's own messages are not.
    assert {n.event_id for n in await a.notices.recent()} == {root, main}
    await receipt(a, room_id, main, thread_id="main")
    await a.sync_once()
    assert a.rooms.summaries[room_id].notification_count == 0

    # Answering in the thread reads the thread, not the room; and the same in one sync.
    later = await send(b, room_id, "later in the room")
    again = await send(
        b, room_id, "more in the thread", relates_to={"rel_type": "m.thread", "event_id": root}
    )
    await send(a, room_id, "my answer", relates_to={"rel_type": "m.thread", "event_id": root})
    await a.sync_once()
    assert {n.event_id for n in await a.notices.recent()} == {later}
    assert again not in {n.event_id for n in await a.notices.recent(unread_only=False)}
    # And when the answer comes in a later sync than the message it answers.
    third = await send(
        b, room_id, "a third in the thread", relates_to={"rel_type": "m.thread", "event_id": root}
    )
    await a.sync_once()
    assert {n.event_id for n in await a.notices.recent()} == {later, third}
    await send(a, room_id, "answered", relates_to={"rel_type": "m.thread", "event_id": root})
    await a.sync_once()
    assert {n.event_id for n in await a.notices.recent()} == {later}
    assert a.rooms.summaries[room_id].notification_count == 1


async def test_unencrypted_rooms_keep_the_server_counts_and_own_events_never_notify(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await a.create_room("Open", invite=[b.user_id], encrypted=False)
    await b.sync_once()
    await b.join(room_id)
    await send(a, room_id, "mine")
    await send(b, room_id, "hello alice", mentions=[a.user_id])
    seen: list[object] = []
    a.add_listener(lambda _account, change: seen.append(change))
    await a.sync_once()
    assert [n.sender for n in notices_of(seen)] == [b.user_id]
    assert notices_of(seen)[0].highlight and not notices_of(seen)[0].encrypted
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (1, 1)  # the server's


async def test_marked_unread_is_read_from_either_name(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    room_id = await a.create_room("Later", encrypted=False)
    await a.sync_once()
    assert not a.rooms.summaries[room_id].marked_unread
    put = ApiPath.v3.user[a.user_id].rooms[room_id].account_data
    await a.client.api.request(Method.PUT, put["com.famedly.marked_unread"], {"unread": True})
    await a.sync_once()
    assert a.rooms.summaries[room_id].marked_unread
    # The spec's name wins over the unstable one.
    await a.client.api.request(Method.PUT, put["m.marked_unread"], {"unread": False})
    await a.sync_once()
    assert not a.rooms.summaries[room_id].marked_unread


async def test_a_message_decrypted_late_is_evaluated_then(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    other_device: OtherDevice,  # noqa: F811
) -> None:
    bob = make_user("bob")
    a = await login(make_user("alice"))
    b = await login(bob)
    room_id = await encrypted_room(a, b)
    ping = await send(a, room_id, "bob: ping", mentions=[bob.user_id])
    await b.sync_once()

    b2: Account = await other_device(bob)
    assert b.crypto is not None and b2.crypto is not None
    await b2.crypto.load()
    for mine, other in ((b, b2), (b2, b)):  # bob's devices trust each other
        assert mine.crypto is not None
        own = UserID(bob.user_id)
        devices = (await mine.crypto.machine._fetch_keys([own], include_untracked=True))[own]
        devices[DeviceID(other.session.device_id)].trust = TrustState.VERIFIED
        await mine.crypto.crypto_store.put_devices(own, devices)
    seen: list[object] = []
    b2.add_listener(lambda _account, change: seen.append(change))
    await b2.sync_once()
    if await b2.store.event(ping) is None:
        await b2.load_older(room_id)
    # Without its key, the server's rules say what an encrypted message does: no highlight.
    assert b2.rooms.summaries[room_id].highlight_count == 0
    async with asyncio.timeout(30):
        while not any(n.event_id == ping and n.highlight for n in notices_of(seen)):
            await b.sync_once(timeout_ms=500)
            await b2.sync_once(timeout_ms=500)
    late = next(n for n in notices_of(seen) if n.highlight)
    assert late.event["content"]["body"] == "bob: ping" and late.encrypted
    assert b2.rooms.summaries[room_id].highlight_count == 1


async def test_a_keyword_in_an_encrypted_room_highlights_here(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    await a.add_keyword("pineapple")
    await a.sync_once()  # the new rules come as account data
    seen: list[object] = []
    a.add_listener(lambda _account, change: seen.append(change))
    await send(b, room_id, "who wants PINEAPPLE pie?")
    await send(b, room_id, "pineapples are not it")  # whole words only
    await a.sync_once()
    got = notices_of(seen)
    assert [(n.keyword, n.highlight) for n in got] == [(True, True), (False, False)]
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (2, 1)
    assert [n.keyword for n in await a.notices.recent()] == [False, True]


async def test_a_mention_in_a_gap_counts_once_the_gap_is_filled(
    encrypted_pair: tuple[Account, Account, str],  # noqa: F811
) -> None:
    a, b, room_id = encrypted_pair
    # More than the filter's timeline limit (50) while alice is away: the mention is in the gap.
    mention = await send(b, room_id, "alice: in the gap", mentions=[a.user_id])
    for i in range(59):
        await send(b, room_id, f"m{i}")
    changes = await a.sync_once()
    assert room_id in changes.limited
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (50, 0)

    assert await a.fill_gaps(room_id) >= 10
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (60, 1)
    assert mention in [n.event_id for n in await a.notices.recent()]
    # Read by position: a receipt after the gap reads it.
    await receipt(a, room_id, (await a.store.latest_events(room_id, 1))[-1]["event_id"])
    await a.sync_once()
    room = a.rooms.summaries[room_id]
    assert (room.notification_count, room.highlight_count) == (0, 0)


async def test_a_failure_in_the_push_rules_never_stops_the_sync(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    first = await send(b, room_id, "counted")
    await a.sync_once()

    def broken(*_args: object) -> object:
        raise RuntimeError("evaluator bug")

    monkeypatch.setattr(Ruleset, "evaluate", broken)
    lost = await send(b, room_id, "secret words")
    changes = await a.sync_once()
    # The events and the token landed; the half-done notices were undone.
    assert changes.notices == []
    assert (await a.store.event(lost)) is not None
    assert [n.event_id for n in await a.notices.recent()] == [first]
    assert "notices: evaluating the sync's events failed (RuntimeError at broken:" in caplog.text
    assert "secret words" not in caplog.text and "evaluator bug" not in caplog.text
    monkeypatch.undo()
    later = await send(b, room_id, "evaluated again")
    await a.sync_once()
    assert [n.event_id for n in await a.notices.recent()] == [later, first]

"""Encrypted rooms in the app: reading, writing, and a missing key that arrives later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from conftest import MakeUser
from helpers import until
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.crypto.sessions import InboundGroupSession
from mautrix.types import RoomID, SessionID
from test_app import SIZE, peer, timeline_text  # noqa: F401  (the fixture)
from test_room_actions import open_room

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.store import dumps
from tuimatrix.core.sync import SyncChanges
from tuimatrix.paths import get_paths
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView

Peer = Callable[..., "asyncio.Future[Account]"]


async def raw(account: Account, room_id: str, event_id: str) -> dict[str, Any]:
    evt = await account.client.api.request(Method.GET, ApiPath.v3.rooms[room_id].event[event_id])
    assert isinstance(evt, dict)
    return evt


async def test_encrypted_room_in_the_app(make_user: MakeUser, peer: Peer) -> None:  # noqa: F811
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = await peer(bob)
    await me.sync_once()
    await b.sync_once()
    room_id = await me.create_room("Secret", invite=[bob.user_id], encrypted=True)
    await b.sync_once()
    await b.join(room_id)
    await me.sync_once()
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.query_one(TimelineView)

        # Bob writes: the app decrypts it, and marks his device as not verified.
        await b.sync_once()
        sent = await b.send_queue.wait((await b.send_text(room_id, "secret hello")).txn_id)
        assert sent.event_id is not None
        assert (await raw(b, room_id, sent.event_id))["type"] == "m.room.encrypted"
        await until(pilot, lambda: "secret hello" in timeline_text(screen))
        [item] = [i for i in timeline.items if i.body.plain == "secret hello"]
        assert item.e2ee_warning == "unverified device"

        # Alice answers from the composer: encrypted on the wire, readable by Bob.
        composer = screen.query_one(Composer)
        composer.focus()
        await pilot.press(*"hi bob", "enter")

        async def bob_reads() -> dict[str, Any]:
            async with asyncio.timeout(30):
                while True:
                    await b.sync_once(timeout_ms=1000)
                    for evt in await b.store.latest_events(room_id, limit=20):
                        if evt.get("content", {}).get("body") == "hi bob":
                            return evt
                    await pilot.pause(0.1)

        got = await bob_reads()
        assert (await raw(b, room_id, got["event_id"]))["type"] == "m.room.encrypted"

        # A key that is missing shows a placeholder, which turns into the message when the
        # key arrives: take the room key away from Alice's store and give it back.
        later = await b.send_queue.wait((await b.send_text(room_id, "key comes late")).txn_id)
        assert later.event_id is not None
        await until(pilot, lambda: "key comes late" in timeline_text(screen))
        crypto = account.crypto
        assert crypto is not None
        encrypted = await raw(account, room_id, later.event_id)
        session_id = SessionID(encrypted["content"]["session_id"])
        session = await crypto.crypto_store.get_group_session(RoomID(room_id), session_id)
        assert session is not None
        exported = session.export_session(session.first_known_index)
        await account.store.db.execute(
            "DELETE FROM crypto_megolm_inbound_session WHERE session_id=$1", session_id
        )
        encrypted["tm_e2ee"] = {"missing_key": True}
        await account.store.db.execute(
            "UPDATE events SET type='m.room.encrypted', json=$1 WHERE event_id=$2",
            dumps(encrypted),
            later.event_id,
        )
        assert await crypto.retry() == set()  # no key, nothing to do
        account.emit(SyncChanges(rooms={room_id}, limited={room_id}))
        await until(
            pilot,
            lambda: (
                any("waiting for the key from" in t for t in timeline_text(screen))
                and "key comes late" not in timeline_text(screen)
            ),
        )

        back = InboundGroupSession.import_session(
            exported, session.signing_key, session.sender_key, RoomID(room_id), []
        )
        await crypto.crypto_store.put_group_session(
            RoomID(room_id), session.sender_key, session_id, back
        )
        assert await crypto.retry() == {room_id}
        account.emit(SyncChanges(rooms={room_id}, limited={room_id}))
        await until(pilot, lambda: "key comes late" in timeline_text(screen))
        assert not any("waiting for the key" in t for t in timeline_text(screen))

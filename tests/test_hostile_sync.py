"""A hostile event never stops the sync: one nested deeper than orjson writes, or with an
integer past 64 bits (an encrypted payload, which the server cannot check, may hold either;
so may any event from a server other than Synapse), is stored cut to what is storable, and
the sync goes on."""

from __future__ import annotations

import json
import secrets
from typing import Any

import orjson
import pytest
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from mautrix.types import RoomID
from test_e2ee import encrypted_pair  # noqa: F401  (the fixture)
from test_notices_guard import ME, message, response, store, synced  # noqa: F401
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.core.account import Account
from tuimatrix.core.notices import Notices
from tuimatrix.core.store import MAX_DEPTH, Store, dumps, loads


def nested(levels: int) -> Any:
    return orjson.loads(b'{"a":' * levels + b"1" + b"}" * levels)


def test_what_orjson_refuses_is_written_cut() -> None:
    assert loads(dumps({"big": 2**70, "huge": 10**400})) == {"big": float(2**70), "huge": None}
    deep = loads(dumps(nested(1000)))
    for _ in range(MAX_DEPTH):
        deep = deep["a"]
    assert deep is None


async def test_a_sync_with_a_deeply_nested_event_commits(store: Store) -> None:  # noqa: F811
    content = {"msgtype": "m.text", "body": "hi me", "x": nested(300)}
    changes = await synced(store, Notices(store, ME), response([message(1, content=content)]))
    assert [n.event_id for n in changes.notices] == ["$e1"]
    assert await store.next_batch() == "s1"


async def test_an_encrypted_event_nested_deep_or_with_a_huge_integer_is_stored(
    encrypted_pair: tuple[Account, Account, str],  # noqa: F811
) -> None:
    # The server cannot see an encrypted payload: any member can put in it what Synapse
    # refuses in a plain event (it parses events with a depth limit of 128).
    a, b, room_id = encrypted_pair
    sent = []
    for n, extra in enumerate((nested(300), 2**70)):
        content = {"msgtype": "m.text", "body": f"hostile {n}", "x": extra}
        assert b.crypto is not None
        encrypted = await b.crypto.encrypt(room_id, "m.room.message", content)
        resp = await b.client.api.request(
            Method.PUT, ApiPath.v3.rooms[room_id].send["m.room.encrypted"][f"h{n}"], encrypted
        )
        sent.append(resp["event_id"])
    await a.sync_once()
    for n, event_id in enumerate(sent):
        stored = await a.store.event(event_id)
        assert stored is not None and stored["content"]["body"] == f"hostile {n}"
    assert await a.sync_once() is not None  # and the next sync goes on


async def megolm_send(sender: Account, room_id: str, event_type: str, content: Any) -> str:
    """An encrypted event whose payload is exactly ``content`` (mautrix's own encrypt refuses
    what is not an object): a hostile member's client sends whatever it likes."""
    assert sender.crypto is not None
    # A first message shares the room key; then the session encrypts anything.
    await sender.crypto.encrypt(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"})
    machine = sender.crypto.machine
    session = await machine.crypto_store.get_outbound_group_session(RoomID(room_id))
    assert session is not None and machine.account is not None
    payload = json.dumps({"room_id": room_id, "type": event_type, "content": content})
    body = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": session.encrypt(payload),  # type: ignore[no-untyped-call]
        "sender_key": machine.account.identity_key,
        "session_id": session.id,
        "device_id": machine.client.device_id,
    }
    await machine.crypto_store.update_outbound_group_session(session)
    txn = f"hostile-{secrets.token_hex(4)}"
    resp = await sender.client.api.request(
        Method.PUT, ApiPath.v3.rooms[room_id].send["m.room.encrypted"][txn], body
    )
    return str(resp["event_id"])


HOSTILE_PAYLOADS = [
    ("m.room.message", {"msgtype": "m.text", "body": "x", "m.relates_to": "not an object"}),
    ("m.room.message", {"msgtype": "m.image", "body": "x", "url": 5, "info": "bad"}),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": 5, "key": {}}}),
    ("m.room.message", [1, 2]),
    ("m.room.member", {"membership": 5}),
]


async def test_an_encrypted_payload_mautrix_cannot_read_does_not_stop_the_sync(
    encrypted_pair: tuple[Account, Account, str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, room_id = encrypted_pair
    for event_type, content in HOSTILE_PAYLOADS:
        await megolm_send(b, room_id, event_type, content)
    after = await megolm_send(b, room_id, "m.room.message", {"msgtype": "m.text", "body": "ok"})
    await a.sync_once()
    stored = await a.store.event(after)
    assert stored is not None and stored["content"]["body"] == "ok"
    assert "not an object" not in caplog.text  # the payload stays out of the log

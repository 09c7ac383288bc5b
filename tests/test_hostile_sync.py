"""A hostile event never stops the sync: one nested deeper than orjson writes, or with an
integer past 64 bits (an encrypted payload, which the server cannot check, may hold either;
so may any event from a server other than Synapse), is stored cut to what is storable, and
the sync goes on."""

from __future__ import annotations

from typing import Any

import orjson
from conftest import MakeUser
from mautrix.api import Method
from mautrix.api import Path as ApiPath
from test_e2ee import encrypted_room
from test_notices_guard import ME, message, response, store, synced  # noqa: F401
from test_sync import Login, login  # noqa: F401  (the fixture)

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
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    # The server cannot see an encrypted payload: any member can put in it what Synapse
    # refuses in a plain event (it parses events with a depth limit of 128).
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
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

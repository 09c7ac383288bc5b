"""Redactions prune what the store keeps (spec redaction algorithm): the rules against
Synapse's own, the store in every arrival order and its migration, and a real redaction."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import MakeUser
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.synapse_rust.events import redact_event_dict
from test_room_reading import sent

from tuimatrix.core import auth
from tuimatrix.core.redaction import prune_event
from tuimatrix.core.room_timeline import PAGE
from tuimatrix.core.store import Store, dumps
from tuimatrix.core.sync import apply_sync, insert_timeline
from tuimatrix.core.threads import thread_relation
from tuimatrix.paths import get_paths

ROOM = "!room:x"
SECRET = "the secret body"

#: one event of each kind the algorithm treats apart, with keys it must drop and keep
SAMPLES: list[dict[str, Any]] = [
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": SECRET}},
    {
        "type": "m.room.member",
        "state_key": "@a:x",
        "membership": "join",
        "content": {
            "membership": "join",
            "displayname": SECRET,
            "join_authorised_via_users_server": "@b:x",
            "third_party_invite": {"signed": {"token": "t"}, "display_name": SECRET},
        },
    },
    {
        "type": "m.room.create",
        "state_key": "",
        "content": {"creator": "@a:x", "room_version": "9", "m.federate": True},
    },
    {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "x", "allow": []}},
    {
        "type": "m.room.power_levels",
        "state_key": "",
        "content": {"ban": 50, "invite": 0, "users": {}, "notifications": {"room": 50}},
    },
    {"type": "m.room.aliases", "state_key": "x", "content": {"aliases": ["#a:x"]}},
    {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "j"}},
    {"type": "m.room.redaction", "redacts": "$t", "content": {"redacts": "$t", "reason": "r"}},
    {"type": "m.room.topic", "state_key": "", "content": {"topic": SECRET}},
]


def _full(sample: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": "$e",
        "room_id": ROOM,
        "sender": "@a:x",
        "origin_server_ts": 5,
        "origin": "x",
        "depth": 3,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "h"},
        "signatures": {},
        "prev_state": [],
        "unsigned": {"age_ts": 1, "transaction_id": "t", "prev_content": {"topic": SECRET}},
        **sample,
    }


@pytest.mark.parametrize("room_version", [str(v) for v in range(1, 13)])
def test_pruning_keeps_what_synapse_keeps_in_every_room_version(room_version: str) -> None:
    for sample in SAMPLES:
        evt = _full(sample)
        expected = redact_event_dict(KNOWN_ROOM_VERSIONS[room_version], evt)
        assert prune_event(evt, None, room_version) == expected, sample["type"]


def test_a_relation_keeps_only_where_it_points() -> None:
    evt = _full(
        {
            "type": "m.room.message",
            "content": {
                "body": SECRET,
                "m.new_content": {"body": SECRET},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$o", "key": SECRET},
            },
        }
    )
    redaction = {"event_id": "$r", "type": "m.room.redaction", "content": {"reason": "oops"}}
    pruned = prune_event(evt, redaction, "10")
    assert pruned["content"] == {"m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}}
    assert pruned["unsigned"] == {"age_ts": 1, "redacted_because": redaction}


def message(n: int, body: str = SECRET, **content: Any) -> dict[str, Any]:
    return {
        "event_id": f"$m{n}",
        "type": "m.room.message",
        "sender": "@a:x",
        "origin_server_ts": 1000 + n,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def edit(n: int, original: int, body: str) -> dict[str, Any]:
    return message(
        n,
        f"* {body}",
        **{
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": f"$m{original}"},
        },
    )


def redaction(n: int, target: str, reason: str | None = "posted by mistake") -> dict[str, Any]:
    return {
        "event_id": f"$r{n}",
        "type": "m.room.redaction",
        "sender": "@a:x",
        "origin_server_ts": 1000 + n,
        "redacts": target,
        "content": {} if reason is None else {"reason": reason},
    }


def rows_holding(path: Path, text: str) -> list[tuple[str, Any]]:
    """Every row of every table of the database file that holds ``text``."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [
            (table, row)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
            if any(text in str(value) for value in row)
        ]
    finally:
        db.close()


async def stored(path: Path, *pages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Store each page as scrollback would (each one below the previous), in its own
    transaction; returns what each page handed on."""
    store = Store(path)
    await store.open(mautrix=False)
    handed: list[list[dict[str, Any]]] = []
    try:
        for i, page in enumerate(pages):
            async with store.transaction() as conn:
                handed.append(await insert_timeline(conn, ROOM, page, -100.0 * (i + 1), 1.0))
    finally:
        await store.close()
    return handed


async def test_a_redaction_that_arrives_after_its_target_prunes_it_and_its_edits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    await stored(path, [message(1), edit(2, 1, "still secret: " + SECRET)], [redaction(3, "$m1")])
    assert rows_holding(path, SECRET) == []
    db = sqlite3.connect(path)
    [(json,)] = db.execute("SELECT json FROM events WHERE event_id='$m1'")
    assert '"redacted_because"' in json and "posted by mistake" in json


async def test_an_event_that_arrives_after_its_redaction_is_pruned_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    # Scrollback: the newest page (with the redaction) first, then the older ones.
    handed = await stored(path, [redaction(9, "$m1")], [edit(2, 1, SECRET)], [message(1)])
    assert rows_holding(path, SECRET) == []
    # What the pages handed on to the screens is pruned too.
    assert handed[2][0]["content"] == {}
    # The edit came before its original: whether the redacter may remove it could not be
    # known yet (core.relations.may_redact needs the original's sender), so it was pruned in
    # the store when the original came, not in the copy that page handed on.
    db = sqlite3.connect(path)
    [(edit_json,)] = db.execute(
        "SELECT json FROM events WHERE event_id=?", (handed[1][0]["event_id"],)
    )
    assert orjson.loads(edit_json)["content"] == {
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$m1"}
    }


def sync_response(batch: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {
        "next_batch": batch,
        "rooms": {"join": {ROOM: {"timeline": {"events": list(events), "prev_batch": "p"}}}},
    }


@pytest.mark.parametrize("redaction_first", [False, True])
async def test_sync_prunes_whichever_of_event_and_redaction_comes_second(
    tmp_path: Path, redaction_first: bool
) -> None:
    path = tmp_path / "store.db"
    first, second = [message(1)], [edit(2, 1, SECRET), redaction(3, "$m1")]
    if redaction_first:  # federation can deliver a redaction before what it redacts
        first, second = [redaction(3, "$m1")], [message(1), edit(2, 1, SECRET)]
    store = Store(path)
    await store.open(mautrix=False)
    try:
        for n, events in enumerate((first, second)):
            async with store.transaction() as conn:
                changes = await apply_sync(conn, sync_response(f"s{n}", *events), n == 0)
        handed = changes.new_events[ROOM]
    finally:
        await store.close()
    assert rows_holding(path, SECRET) == []
    assert all(SECRET not in str(evt) for evt in handed)  # what the screens are told


async def test_a_redaction_in_another_room_removes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await stored(path, [message(1)])
    store = Store(path)
    await store.open(mautrix=False)
    try:
        async with store.transaction() as conn:
            await insert_timeline(conn, "!other:x", [redaction(2, "$m1")], 1.0, 1.0)
    finally:
        await store.close()
    assert [table for table, _ in rows_holding(path, SECRET)] == ["events"]


async def test_a_late_writer_cannot_put_pruned_content_back(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await stored(path, [message(1)], [redaction(2, "$m1")])
    store = Store(path)
    await store.open(mautrix=False)
    try:
        # As a decryption that began before the redaction came would write its result.
        await store.db.execute("UPDATE events SET json=$1 WHERE event_id='$m1'", dumps(message(1)))
    finally:
        await store.close()
    assert rows_holding(path, SECRET) == []


async def test_the_migration_prunes_events_redacted_before_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await stored(path, [])
    # The store as version 2 left it: no relations table, the redacted body still there (nor
    # what version 4 added: the notices and the local counts).
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TRIGGER events_stay_redacted; DROP TABLE relations; DROP TABLE notices; "
        "ALTER TABLE rooms DROP COLUMN local_notification_count; "
        "ALTER TABLE rooms DROP COLUMN local_highlight_count; UPDATE tm_version SET version=2;"
    )
    for n, evt in enumerate([message(1), edit(2, 1, SECRET), redaction(3, "$m1"), message(4)]):
        db.execute(
            "INSERT INTO events (event_id, room_id, position, type, sender, origin_server_ts,"
            " json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (evt["event_id"], ROOM, n, evt["type"], evt["sender"], 0, dumps(evt)),
        )
    db.execute(
        "INSERT INTO room_state VALUES (?, 'm.room.topic', '', '$m4', '@a:x', ?)",
        (ROOM, dumps({"topic": "kept topic"})),
    )
    db.commit()
    db.close()
    await stored(path, [])  # opening it runs the migration
    assert rows_holding(path, SECRET) == [
        ("events", row)
        for row in sqlite3.connect(path).execute("SELECT * FROM events WHERE event_id='$m4'")
    ]
    assert rows_holding(path, "kept topic") != []


async def test_a_real_redaction_leaves_no_trace_in_any_table(make_user: MakeUser) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    try:
        room_id = await me.create_room("Taken back")
        root = await sent(me, room_id, "thread root")
        echo = await me.send_text(room_id, "secret reply", relates_to=thread_relation(root, root))
        reply = (await me.send_queue.wait(echo.txn_id)).event_id
        message = await sent(me, room_id, "secret message")
        await me.send_queue.wait((await me.edit(room_id, message, "secret edit")).txn_id)
        await me.set_topic(room_id, "secret topic")
        for n in range(PAGE):
            await sent(me, room_id, f"filler {n}")
        await me.sync_once()
        # The root comes by scrollback: /messages bundles the thread's latest reply with it.
        while await me.load_older(room_id):
            pass
        path = me.store.path
        held = rows_holding(path, "secret")
        # Where the store keeps them: the events, the current state, the copy of the latest
        # reply that the server bundles with a thread's root, and our sent messages whose
        # echo came by scrollback rather than sync.
        assert {table for table, _ in held} == {"events", "room_state", "send_queue"}
        assert any(row[0] == root for _, row in held)
        topic = await me.store.db.fetchval(
            "SELECT event_id FROM room_state WHERE room_id=$1 AND type='m.room.topic'", room_id
        )
        assert reply is not None and isinstance(topic, str)
        last = ""
        for event_id in (reply, message, topic):
            last = await me.redact(room_id, event_id)
        async with asyncio.timeout(30):
            while await me.store.event(last) is None:
                await me.sync_once(timeout_ms=1000)
        assert rows_holding(path, "secret") == []
        # The room's state still says there is a topic event: it has no topic any more.
        assert await me.store.state_event(room_id, "m.room.topic") == (alice.user_id, {})
    finally:
        await me.close()


def state(n: int, event_type: str, content: dict[str, Any], sender: str = "@a:x") -> dict[str, Any]:
    return {
        "event_id": f"$s{n}",
        "type": event_type,
        "state_key": "",
        "sender": sender,
        "origin_server_ts": 500 + n,
        "content": content,
    }


def redaction_by(n: int, target: str, sender: str) -> dict[str, Any]:
    return {**redaction(n, target), "sender": sender}


POWER = {"users": {"@a:x": 100, "@mod:x": 50}, "users_default": 0, "redact": 50}


async def synced(path: Path, *batches: list[dict[str, Any]]) -> None:
    store = Store(path)
    await store.open(mautrix=False)
    try:
        for n, events in enumerate(batches):
            async with store.transaction() as conn:
                await apply_sync(conn, sync_response(f"s{n}", *events), n == 0)
    finally:
        await store.close()


@pytest.mark.parametrize("redaction_first", [False, True])
async def test_a_forged_redaction_by_someone_without_power_prunes_nothing(
    tmp_path: Path, redaction_first: bool
) -> None:
    """From room version 3 on, the server passes on a redaction before it knows the redacter
    may redact: one by a member without power must not strip another's message."""
    path = tmp_path / "store.db"
    setup = [state(1, "m.room.power_levels", POWER)]
    forged = [redaction_by(3, "$m1", "@mallory:evil")]
    first, second = [*setup, message(1)], forged
    if redaction_first:
        first, second = [*setup, *forged], [message(1)]
    await synced(path, first, second)
    assert [table for table, _ in rows_holding(path, SECRET)] == ["events"]


async def test_a_moderators_redaction_prunes_anothers_message(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await synced(
        path,
        [state(1, "m.room.power_levels", POWER), message(1)],
        [redaction_by(3, "$m1", "@mod:x")],
    )
    assert rows_holding(path, SECRET) == []


async def test_a_room_once_encrypted_stays_encrypted_after_its_encryption_is_redacted(
    tmp_path: Path,
) -> None:
    """Redacting m.room.encryption leaves no content under the redaction algorithm: the room's
    stored state must keep its algorithm, or the next message would go out in the clear."""
    path = tmp_path / "store.db"
    encryption = state(2, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
    await synced(
        path,
        [state(1, "m.room.power_levels", POWER), encryption],
        [redaction_by(3, "$s2", "@a:x")],
    )
    store = Store(path)
    await store.open(mautrix=False)
    try:
        stored_state = await store.state_event(ROOM, "m.room.encryption")
    finally:
        await store.close()
    assert stored_state is not None
    assert stored_state[1].get("algorithm") == "m.megolm.v1.aes-sha2"


@pytest.mark.parametrize(
    ("sender", "power", "allowed"),
    [
        ("@a:x", None, True),  # its own sender
        ("@mod:x", POWER, True),
        ("@nobody:x", POWER, False),
        ("@creator:x", None, True),  # no power levels yet: the creator has 100
        ("@nobody:x", None, False),
        ("@nobody:x", {"users_default": "60", "redact": 50}, True),  # levels as strings
    ],
)
def test_may_redact_follows_the_power_levels(
    sender: str, power: dict[str, Any] | None, allowed: bool
) -> None:
    from tuimatrix.core.relations import may_redact

    create = {"sender": "@creator:x", "room_version": "10"}
    assert may_redact(sender, "@a:x", power, create) is allowed


async def test_an_emptied_or_redacted_encryption_event_leaves_the_room_encrypted(
    tmp_path: Path,
) -> None:
    from tuimatrix.core.e2ee.crypto_state import CryptoStateStore
    from tuimatrix.core.operations import Operations

    store = Store(tmp_path / "store.db")
    await store.open(mautrix=False)
    settings = {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": 7}
    encryption = {
        "event_id": "$e1",
        "type": "m.room.encryption",
        "state_key": "",
        "sender": "@a:x",
        "origin_server_ts": 1001,
        "content": settings,
    }

    async def no_members(room_id: str) -> list[dict[str, Any]]:
        return []

    crypto_state = CryptoStateStore(store, no_members)
    try:
        for n, evt in enumerate((encryption, redaction(2, "$e1"))):
            async with store.transaction() as conn:
                await apply_sync(conn, sync_response(f"s{n}", evt), n == 0)
        operations = Operations.__new__(Operations)
        operations.store = store
        assert await operations.is_encrypted(ROOM)
        info = await crypto_state.get_encryption_info(ROOM)  # type: ignore[arg-type]
        assert info is not None and info.rotation_period_msgs == 7  # the settings kept
        # A later m.room.encryption with no algorithm does not turn it off either.
        emptied = {**encryption, "event_id": "$e3", "content": {}}
        async with store.transaction() as conn:
            await apply_sync(conn, sync_response("s2", emptied), False)
        assert await operations.is_encrypted(ROOM)
        info = await crypto_state.get_encryption_info(ROOM)  # type: ignore[arg-type]
        assert info is not None and info.algorithm.value == "m.megolm.v1.aes-sha2"
    finally:
        await store.close()

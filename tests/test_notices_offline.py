"""What a sync brings after time away counts as the server would: events that come already
redacted notify nobody (a store-level test: no server needed to forge them)."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from test_notices_guard import (  # noqa: F401
    ME,
    MEMBER,
    ROOM,
    message,
    response,
    state,
    store,
    synced,
)

from tuimatrix.core.notices import MAX_KEPT, Notices
from tuimatrix.core.push_evaluator import Ruleset
from tuimatrix.core.store import Store
from tuimatrix.core.sync import apply_sync


async def test_an_event_that_comes_redacted_notifies_nobody(store: Store) -> None:  # noqa: F811
    redacted = message(
        1,
        type="m.room.encrypted",
        content={},
        unsigned={"redacted_because": {"type": "m.room.redaction", "sender": "@other:x"}},
    )
    changes = await synced(store, Notices(store, ME), response([redacted, message(2)]))
    assert [n.event_id for n in changes.notices] == ["$e2"]
    count = await store.db.fetchval("SELECT local_notification_count FROM rooms")
    assert count == 1


async def test_an_old_message_decrypted_late_after_a_receipt_raises_no_new_notice(
    store: Store,  # noqa: F811
) -> None:
    notices = Notices(store, ME)
    locked = message(1, type="m.room.encrypted", content={"algorithm": "m.megolm.v1.aes-sha2"})
    resp = response([locked, message(2)])
    receipt = {"type": "m.receipt", "content": {"$e2": {"m.read": {ME: {"ts": 5}}}}}
    resp["rooms"]["join"][ROOM]["ephemeral"] = {"events": [receipt]}
    await synced(store, notices, resp)
    # Its key comes much later (a backup restored): it was read, nothing to alert for.
    decrypted = {**message(1), "tm_e2ee": {}}
    async with store.transaction() as conn:
        assert await notices.reevaluate(conn, [(ROOM, decrypted)]) == []
    assert await store.db.fetchval("SELECT local_notification_count FROM rooms") == 0


async def test_a_redaction_in_a_filled_gap_forgets_its_notice(store: Store) -> None:  # noqa: F811
    notices = Notices(store, ME)
    await synced(store, notices, response([message(1), message(2)]))
    redaction = message(3, type="m.room.redaction", redacts="$e1", content={"redacts": "$e1"})
    async with store.transaction() as conn:
        await notices.record_filled(conn, ROOM, [redaction])
    assert [n.event_id for n in await notices.recent()] == ["$e2"]
    assert await store.db.fetchval("SELECT local_notification_count FROM rooms") == 1


async def test_a_store_from_before_notices_counts_its_encrypted_rooms_once(
    store: Store,  # noqa: F811
) -> None:
    encryption = state("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
    resp = response([message(1), message(2)], [encryption])
    await synced(store, Notices(store, ME), resp)
    # As the store was before schema v4 made notices: none, and no local counts.
    await store.db.execute("DELETE FROM notices")
    await store.db.execute("DELETE FROM sync_state WHERE key='notices_backfilled'")
    await store.db.execute("UPDATE rooms SET local_notification_count=0")

    await synced(store, Notices(store, ME), {**response([]), "next_batch": "s2"})
    assert await store.db.fetchval("SELECT local_notification_count FROM rooms") == 2
    # Once: a later process does not evaluate them again.
    await store.db.execute("DELETE FROM notices")
    await synced(store, Notices(store, ME), {**response([]), "next_batch": "s3"})
    assert await store.db.fetchval("SELECT COUNT(*) FROM notices") == 0


async def test_a_catch_up_with_many_events_leaves_the_loop_free_often(
    store: Store,  # noqa: F811
) -> None:
    # 400 rooms of 50 unread messages; the UI shares the loop with the sync.
    rooms = {
        f"!r{r}:x": {
            "timeline": {"events": [message(r * 100 + i) for i in range(50)], "limited": True},
            "state": {"events": [MEMBER]},
            "summary": {"m.joined_member_count": 2},
        }
        for r in range(400)
    }
    resp = {"next_batch": "s1", "rooms": {"join": rooms}}
    notices = Notices(store, ME)
    async with store.transaction() as conn:
        changes = await apply_sync(conn, resp, initial=False)
        # The CPU time the loop's thread spends between two turns of another task (the
        # store's queries run on their own thread, so they do not count).
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.thread_time()
            while not done.is_set():
                await asyncio.sleep(0)
                now = time.thread_time()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        gc.disable()  # a collection's pause is not the evaluation's (the app tunes its own)
        try:
            await notices.record(conn, changes)
        finally:
            gc.enable()
        done.set()
        await task
    assert len(changes.notices) == MAX_KEPT  # the newest: a storm keeps a bounded number
    assert max(gaps) < 0.04  # it was 70-110 ms


async def test_a_room_left_leaves_the_inbox(store: Store) -> None:  # noqa: F811
    notices = Notices(store, ME)
    await synced(store, notices, response([message(1)]))
    assert [n.event_id for n in await notices.recent()] == ["$e1"]
    kicked = {
        "type": "m.room.member",
        "state_key": ME,
        "sender": "@other:x",
        "event_id": "$kick",
        "origin_server_ts": 2000,
        "content": {"membership": "leave"},
    }
    left = {"timeline": {"events": [kicked], "limited": False}, "state": {"events": []}}
    await synced(store, notices, {"next_batch": "s2", "rooms": {"leave": {ROOM: left}}})
    assert await notices.recent() == []


async def test_a_restart_that_gets_the_same_events_again_counts_them_once(
    store: Store,  # noqa: F811
) -> None:
    encryption = state("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
    await synced(store, Notices(store, ME), response([message(1), message(2)], [encryption]))
    # A new process (the token lost, or a crash after the server sent them): the same events.
    again = {**response([message(1), message(2)], [encryption]), "next_batch": "s2"}
    changes = await synced(store, Notices(store, ME), again)
    assert await store.db.fetchval("SELECT local_notification_count FROM rooms") == 2
    assert await store.db.fetchval("SELECT COUNT(*) FROM notices") == 2
    assert changes.notices == []  # nothing new to alert for


async def test_a_failing_evaluation_of_stored_events_costs_the_sync_nothing(
    store: Store,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await synced(store, Notices(store, ME), response([message(1)]))
    await store.db.execute("DELETE FROM sync_state WHERE key='notices_backfilled'")

    async def broken(*_: object) -> None:
        raise RuntimeError("stored events")

    monkeypatch.setattr(Notices, "_backfill", broken)
    changes = await synced(
        store, Notices(store, ME), {**response([message(2)]), "next_batch": "s2"}
    )
    assert [n.event_id for n in changes.notices] == ["$e2"]


async def test_push_rules_sent_again_unchanged_are_not_compiled_again(
    store: Store,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[object] = []
    original = Ruleset.from_account_data

    def counting(user_id: str, content: object) -> Ruleset:
        compiled.append(content)
        return original(user_id, content)

    monkeypatch.setattr(Ruleset, "from_account_data", counting)
    rules = {"global": {"content": [{"rule_id": "k", "pattern": "tea", "actions": ["notify"]}]}}
    notices = Notices(store, ME)
    for n in range(3):  # a server may send m.push_rules with every sync
        await synced(
            store, notices, {**response([message(n)], push_rules=rules), "next_batch": f"s{n}"}
        )
    assert len(compiled) == 1

"""Notices never stop the sync: hostile events, power levels, create events and push rules
evaluate without an error, and an error nobody foresaw is undone, logged in one line without
the message's text, and the sync's events commit all the same."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tuimatrix.core.notices import Notices
from tuimatrix.core.push_evaluator import Ruleset
from tuimatrix.core.store import Store
from tuimatrix.core.sync import SyncChanges, apply_sync

ME = "@me:x"
ROOM = "!room:x"
SECRET = "the secret body"
MEMBER = {
    "type": "m.room.member",
    "state_key": ME,
    "sender": ME,
    "event_id": "$me",
    "origin_server_ts": 1,
    "content": {"membership": "join", "displayname": "me"},
}


def message(n: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"$e{n}",
        "sender": "@other:x",
        "origin_server_ts": 1000 + n,
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": f"{SECRET} for me"},
    }
    event.update(fields)
    return event


def state(kind: str, content: Any, sender: Any = "@other:x") -> dict[str, Any]:
    return {
        "type": kind,
        "state_key": "",
        "sender": sender,
        "event_id": f"${kind}",
        "origin_server_ts": 2,
        "content": content,
    }


def response(
    events: list[dict[str, Any]],
    room_state: list[dict[str, Any]] = (),  # type: ignore[assignment]
    push_rules: Any = None,
) -> dict[str, Any]:
    account_data = [] if push_rules is None else [{"type": "m.push_rules", "content": push_rules}]
    return {
        "next_batch": "s1",
        "account_data": {"events": account_data},
        "rooms": {
            "join": {
                ROOM: {
                    "timeline": {"events": events, "limited": False},
                    "state": {"events": [MEMBER, *room_state]},
                    "summary": {"m.joined_member_count": 2},
                }
            }
        },
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "store.db")
    await store.open(mautrix=False)
    yield store
    await store.close()


async def synced(store: Store, notices: Notices, resp: dict[str, Any]) -> SyncChanges:
    """One sync applied and recorded in one transaction, as ``Account.sync_once`` does."""
    async with store.transaction() as conn:
        changes = await apply_sync(conn, resp, initial=False)
        await notices.record(conn, changes)
    return changes


HOSTILE: dict[str, dict[str, Any]] = {
    "sender not a string": response([message(1, sender={"a": 1}), message(2, sender=5)]),
    "timestamp not a number": response([message(1, origin_server_ts="x")]),
    "content a list": response([message(1, content=[1])]),
    "body an object": response([message(1, content={"body": {"x": 1}})]),
    "type an object": response([message(1, type={"x": 1})]),
    "thread root not a string": response(
        [
            message(
                1, content={"body": "me", "m.relates_to": {"rel_type": "m.thread", "event_id": 5}}
            )
        ]
    ),
    "power levels of the wrong types": response(
        [message(1, content={"body": "@room"})],
        [state("m.room.power_levels", {"users": [1], "notifications": "x", "users_default": {}})],
    ),
    "power levels out of range": response(
        [message(1, content={"body": "@room"})],
        [
            state(
                "m.room.power_levels",
                {"users": {"@other:x": "1e999"}, "notifications": {"room": "9" * 5000}},
            )
        ],
    ),
    "creators of the wrong types": response(
        [message(1, content={"body": "@room"})],
        [state("m.room.create", {"room_version": "12", "additional_creators": [{}, 5]}, sender=7)],
    ),
    "a redaction of nothing usable": response(
        [
            message(1),
            message(2, type="m.room.redaction", redacts={"a": 1}, content={"redacts": [1]}),
        ]
    ),
    "a huge body": response([message(1, content={"body": "me " * 1_000_000})]),
    "push rules of the wrong types": response(
        [message(1)],
        push_rules={
            "global": {"override": [None, 5, {"rule_id": 5}], "content": "x", "underride": {}}
        },
    ),
    "push rules not an object": response([message(1)], push_rules=[1, 2]),
}


@pytest.mark.parametrize("resp", HOSTILE.values(), ids=list(HOSTILE))
async def test_hostile_input_evaluates_without_an_error(
    store: Store, resp: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await synced(store, Notices(store, ME), resp)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await store.next_batch() == "s1"


async def test_an_unforeseen_error_is_undone_and_the_sync_commits(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    notices = Notices(store, ME)
    await synced(store, notices, response([message(1)]))
    assert await store.db.fetchval("SELECT COUNT(*) FROM notices") == 1

    # It fails after this sync's notice is written: the write is undone with it.
    def broken(*_: Any) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(Notices, "recount", broken)
    changes = await synced(store, notices, dict(response([message(2)]), next_batch="s2"))

    assert changes.notices == []
    assert await store.next_batch() == "s2"
    assert await store.db.fetchval("SELECT COUNT(*) FROM events WHERE event_id='$e2'") == 1
    assert await store.db.fetchval("SELECT COUNT(*) FROM notices") == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "RuntimeError" in line and SECRET not in line


async def test_a_late_decryption_that_fails_finds_nothing_and_raises_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    notices = Notices(store, ME)
    await synced(store, notices, response([message(1)]))

    def broken(*_: Any) -> None:
        raise ValueError(SECRET)

    monkeypatch.setattr(Ruleset, "evaluate", broken)
    async with store.transaction() as conn:
        assert await notices.reevaluate(conn, [(ROOM, message(1))]) == []
    # Undone: the notice the first evaluation gave is still there.
    assert await store.db.fetchval("SELECT COUNT(*) FROM notices") == 1
    assert any("ValueError" in r.getMessage() for r in caplog.records)

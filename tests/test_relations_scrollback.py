"""Edits and deletions of old messages apply on scrollback, whatever page brought them:
against Synapse, with the room read back from the store and from the server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from busy_room import EVENING, BusyRoomApp, busy_events
from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_redaction_prune import redaction, rows_holding
from test_room_actions import open_room
from test_room_reading import sent

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.room_timeline import PAGE
from tuimatrix.core.timeline import TimelineItem, build_items
from tuimatrix.paths import get_paths
from tuimatrix.screens.room import RoomScreen

PeerFactory = Any


async def scroll_back_to(
    pilot: Any, screen: RoomScreen, *event_ids: str
) -> dict[str, TimelineItem]:
    """Scroll to the top until the items of ``event_ids`` are loaded; returns them by key."""
    timeline = screen.timeline
    async with asyncio.timeout(60):
        while not all(timeline.item_key_for(e) for e in event_ids):
            timeline.scroll_to(y=0, animate=False)
            await pilot.pause(0.05)
    await until(pilot, lambda: not screen._loading_older)
    return {i.key: i for i in timeline.items if i.key in event_ids}


async def stored(account: Account, event_id: str) -> None:
    """Sync ``account`` until its store holds ``event_id``."""
    async with asyncio.timeout(30):
        while await account.store.event(event_id) is None:
            await account.sync_once(timeout_ms=1000)


async def test_old_messages_show_their_newest_edit_and_their_deletion_from_the_store(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice, bob = make_user("alice", displayname="Alice"), make_user("bob", displayname="Bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Old edits", invite=[bob.user_id])
    b = await peer(bob)
    await b.sync_once()
    await b.join(room_id)
    edited = await sent(me, room_id, "original text")
    deleted = await sent(me, room_id, "text taken back")
    for n in range(2 * PAGE + 10):
        await sent(me, room_id, f"filler {n}")
    # The whole room is read into the store before the edit and the redaction happen.
    await me.sync_once()
    while await me.load_older(room_id):
        pass
    assert (await me.store.event(deleted) or {})["content"]["body"] == "text taken back"

    echo = await me.edit(room_id, edited, "edited text")
    await me.send_queue.wait(echo.txn_id)
    # A later "edit" by someone else is not theirs to make: it never shows.
    forged = await b.send_event(
        room_id,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* forged",
            "m.new_content": {"msgtype": "m.text", "body": "forged"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": edited},
        },
    )
    forged_id = (await b.send_queue.wait(forged.txn_id)).event_id
    assert forged_id is not None
    reaction = (await b.send_queue.wait((await b.react(room_id, edited, "👍")).txn_id)).event_id
    assert reaction is not None
    redaction = await me.redact(room_id, deleted, reason="wrong room")
    await stored(me, forged_id)
    await stored(me, reaction)
    await stored(me, redaction)
    path = me.store.path
    await me.close()
    # Gone from the disk, not only from the screen: no table holds the body any more.
    assert rows_holding(path, "text taken back") == []

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        await until(pilot, lambda: bool(screen.timeline.items))
        assert screen.timeline.item_key_for(edited) is None  # not in the first page
        items = await scroll_back_to(pilot, screen, edited, deleted)
        assert items[edited].body.plain == "edited text"
        assert items[edited].edited
        assert items[edited].reactions == (("👍", 1, False),)
        assert items[deleted].redacted
        assert items[deleted].body.plain == "[deleted: wrong room]"


@pytest.mark.timeout(300)
async def test_a_chain_of_a_thousand_edits_shows_the_newest_after_scrollback(
    make_user: MakeUser,
) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Edit chain")
    original = await sent(me, room_id, "edit 0")
    for n in range(1, 1001):
        # Straight to the server, one after the other: the queue's bookkeeping would
        # only slow a thousand sends down.
        await me.client.send_message_event(
            room_id,  # type: ignore[arg-type]
            "m.room.message",  # type: ignore[arg-type]
            {  # type: ignore[arg-type]
                "msgtype": "m.text",
                "body": f"* edit {n}",
                "m.new_content": {"msgtype": "m.text", "body": f"edit {n}"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": original},
            },
        )
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        # The room opens on the newest edits; the original is twenty pages back, on the server.
        screen = await open_room(pilot, app, room_id)
        items = await scroll_back_to(pilot, screen, original)
        assert items[original].body.plain == "edit 1000"
        assert items[original].edited


def _msg(n: int, body: str, sender: str = "@a:x", **content: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"$m{n}",
        "type": "m.room.message",
        "sender": sender,
        "origin_server_ts": 1000 + n,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def _edit(n: int, original: int, body: str, ts: int) -> dict[str, Any]:
    evt = _msg(
        n,
        f"* {body}",
        "@a:x",
        **{
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": f"$m{original}"},
        },
    )
    evt["origin_server_ts"] = ts
    return evt


def _redaction(n: int, target: str) -> dict[str, Any]:
    return redaction(n, target, reason=None)


def test_the_newest_edit_by_timestamp_wins_and_a_deleted_edit_no_longer_counts() -> None:
    # Arrival order is not the order of edits (spec: origin_server_ts, then event id).
    events = [_msg(1, "v0"), _edit(3, 1, "v2", ts=5000), _edit(2, 1, "v1", ts=4000)]
    assert build_items(events, {})[0].body.plain == "v2"
    # Taking the newest edit back shows the one before it.
    [item] = build_items([*events, _redaction(4, "$m3")], {})
    assert (item.body.plain, item.edited) == ("v1", True)


def test_a_reply_quotes_a_deleted_message_as_deleted() -> None:
    reply = _msg(2, "answer", "@b:x")
    reply["content"]["m.relates_to"] = {"m.in_reply_to": {"event_id": "$m1"}}
    items = build_items([_msg(1, "taken back"), reply, _redaction(3, "$m1")], {})
    assert [i.body.plain for i in items] == ["[deleted]", "answer"]
    assert items[1].reply is not None and items[1].reply.preview is not None
    assert items[1].reply.preview.plain.endswith("[deleted]")


def test_a_deleted_message_that_kept_its_relation_shows_as_deleted() -> None:
    # Pruning keeps where a relation points (MSC3389): the content is not empty, yet the
    # message is gone.
    evt = _msg(1, "")
    evt["content"] = {"m.relates_to": {"rel_type": "m.reference", "event_id": "$x"}}
    evt["unsigned"] = {"redacted_because": _redaction(2, "$m1")}
    [item] = build_items([evt], {})
    assert (item.redacted, item.body.plain) == (True, "[deleted]")


async def test_an_older_page_that_redacts_a_shown_message_shows_it_deleted() -> None:
    # A redaction can reach the server before what it redacts (federation), and so sit
    # below it in the timeline: scrolling back to it must change the message already shown.
    app = BusyRoomApp()
    # Its own sender takes it back (a redaction by someone else shows only once the store,
    # which knows the power levels, has pruned the target: core.relations.may_redact).
    [author] = [e["sender"] for e in busy_events() if e["event_id"] == "$e05"]
    older = [
        {
            "event_id": "$early-redaction",
            "type": "m.room.redaction",
            "sender": author,
            "origin_server_ts": EVENING - 1000,
            "redacts": "$e05",
            "content": {"reason": "leaked"},
        }
    ]
    pages = [older, []]

    async def load_older(room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return pages.pop(0) if pages else []

    app.account.load_older = load_older  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        screen = app.screen
        assert isinstance(screen, RoomScreen)
        await until(pilot, lambda: screen.timeline.item_key_for("$e05") is not None)
        # The room is short: it asks for older events at once, and gets the redaction.
        await until(pilot, lambda: not pages)
        await app.workers.wait_for_complete()
        shown = {i.key: i for i in screen.timeline.items}["$e05"]
        assert (shown.redacted, shown.body.plain) == (True, "[deleted: leaked]")

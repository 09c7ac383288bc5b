"""The quote of a reply whose original is not loaded is looked up after the timeline shows
(core/room_timeline.py resolve_replies); a look-up that ends after the window was read again
must not put back an item the window no longer holds."""

from __future__ import annotations

import asyncio
from typing import Any

from busy_room import ALICE, BOB, MORNING, ROOM, BusyRoomApp, BusyStore
from helpers import until
from test_app import SIZE

from tuimatrix.screens.room import RoomScreen


def reply(event_id: str, target: str, ts: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "room_id": ROOM,
        "type": "m.room.message",
        "sender": BOB,
        "origin_server_ts": ts,
        "content": {
            "msgtype": "m.text",
            "body": "as I said",
            "m.relates_to": {"m.in_reply_to": {"event_id": target}},
        },
    }


async def test_a_late_quote_does_not_bring_back_an_item_the_reload_dropped() -> None:
    app = BusyRoomApp()
    store = app.account.store
    assert isinstance(store, BusyStore)
    late = reply("$late-reply", "$far-away", MORNING + 30 * 60_000)
    store.events = [*store.events, late]
    answered = asyncio.Event()
    asked: list[str] = []

    async def fetch_event(room_id: str, event_id: str) -> dict[str, Any]:
        asked.append(event_id)
        await answered.wait()  # a slow server
        original = {**late, "event_id": event_id, "sender": ALICE}
        return original | {"content": {"msgtype": "m.text", "body": "long ago"}}

    app.account.fetch_event = fetch_event  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        screen = app.screen
        assert isinstance(screen, RoomScreen)
        await until(pilot, lambda: "$far-away" in asked)
        assert screen.timeline.item_key_for("$late-reply") is not None
        # The window is read again (a filled gap) and no longer holds the reply.
        store.events = [e for e in store.events if e["event_id"] != "$late-reply"]
        await screen.reload()
        assert screen.timeline.item_key_for("$late-reply") is None
        answered.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        keys = [item.key for item in screen.timeline.items]
        assert "$late-reply" not in keys, keys[-3:]

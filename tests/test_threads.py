"""Threads: summaries under roots, the thread screen, replying in it, the threads list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from conftest import MakeUser
from helpers import TestUser, until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_cli_exec import texec
from test_room_actions import open_room, server_events
from textual.pilot import Pilot

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.relations import thread_summaries
from tuimatrix.core.threads import as_thread_view, send_in_thread, thread_relation
from tuimatrix.core.timeline import build_items, summary_line
from tuimatrix.paths import get_paths
from tuimatrix.screens.prompts import TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.thread import ThreadPickerScreen, ThreadScreen
from tuimatrix.ui.context import UIContext
from tuimatrix.widgets.composer import Composer
from tuimatrix.widgets.timeline import TimelineView


def message(event_id: str, body: str, ts: int, **content: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "m.room.message",
        "sender": "@bob:x",
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def in_thread(event_id: str, body: str, ts: int, root: str, **relation: Any) -> dict[str, Any]:
    relates = {"rel_type": "m.thread", "event_id": root, "is_falling_back": True, **relation}
    return message(event_id, body, ts, **{"m.relates_to": relates})


def test_replies_leave_the_main_timeline_and_their_root_shows_a_summary() -> None:
    events = [
        message("$root", "root", 1),
        in_thread("$a", "first", 2, "$root"),
        message("$main", "main", 3),
        in_thread("$b", "second\nline", 4, "$root"),
    ]
    items = build_items(events, {"@bob:x": "Bob"})
    assert [i.key for i in items] == ["$root", "$main"]
    summary = items[0].thread
    assert summary is not None and summary.text.plain == "💬 2 replies · last: Bob: second"
    assert summary.count == 2
    assert items[1].thread is None


def test_the_summary_quotes_the_newest_edit_of_the_last_reply_by_its_sender() -> None:
    def edit(event_id: str, target: str, text: str, sender: str = "@bob:x") -> dict[str, Any]:
        evt = message(
            event_id,
            f"* {text}",
            9,
            **{
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": target},
            },
        )
        return {**evt, "sender": sender}

    events = [
        message("$root", "root", 1),
        in_thread("$a", "helo", 2, "$root"),
        edit("$e1", "$a", "hello"),
        edit("$e2", "$a", "FORGED", sender="@mallory:x"),
    ]
    [root] = build_items(events, {"@bob:x": "Bob"})
    assert root.thread is not None
    assert root.thread.text.plain == "💬 1 reply · last: Bob: hello"


def test_the_bundled_count_adds_the_replies_loaded_after_its_latest() -> None:
    bundle = {"count": 5, "latest_event": in_thread("$e", "fifth", 5, "$root")}
    root = message("$root", "root", 1) | {"unsigned": {"m.relations": {"m.thread": bundle}}}
    # Only the bundle: its count and latest.
    only = thread_summaries([root])["$root"]
    assert (only.count, only.latest and only.latest["event_id"]) == (5, "$e")
    # Its latest loaded, and one newer: 6.
    later = [root, in_thread("$e", "fifth", 5, "$root"), in_thread("$f", "sixth", 6, "$root")]
    assert thread_summaries(later)["$root"].count == 6
    # A stale bundle with no anchor loaded: the larger count.
    stale = {"count": 1, "latest_event": in_thread("$old", "old", 2, "$root")}
    root = message("$root", "root", 1) | {"unsigned": {"m.relations": {"m.thread": stale}}}
    assert thread_summaries([root, *later[1:]])["$root"].count == 2


def test_the_summary_is_sanitised() -> None:
    latest = in_thread("$a", "\x1b]52;c;AAAA\x07hi\x1b[31m", 2, "$root")
    (summary,) = thread_summaries([message("$root", "r", 1), latest]).values()
    line = summary_line(summary, {"@bob:x": "Bo\x1b[2Jb\u202e"})
    assert "\x1b" not in line.plain and "\u202e" not in line.plain and "\x07" not in line.plain
    assert "hi" in line.plain


def test_a_thread_shows_real_replies_and_not_fallbacks() -> None:
    fallback = in_thread("$a", "a", 2, "$root", **{"m.in_reply_to": {"event_id": "$root"}})
    real = in_thread(
        "$b", "b", 3, "$root", is_falling_back=False, **{"m.in_reply_to": {"event_id": "$a"}}
    )
    assert "m.relates_to" not in as_thread_view(fallback, "$root")["content"]
    assert as_thread_view(real, "$root")["content"]["m.relates_to"] == {
        "m.in_reply_to": {"event_id": "$a"}
    }
    items = build_items([as_thread_view(e, "$root") for e in (fallback, real)], {})
    assert [i.key for i in items] == ["$a", "$b"]
    assert items[1].reply is not None and items[0].reply is None
    assert thread_relation("$root", "$b") == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$b"},
    }


async def sent(account: Account, echo: Any) -> str:
    done = await account.send_queue.wait(echo.txn_id)
    assert done.event_id, done.error
    return str(done.event_id)


async def thread_room(make_user: MakeUser, bob: Account) -> tuple[str, str, str, str]:
    """A room of a fresh user (session saved) where ``bob`` posted a root and two replies."""
    user = make_user("me")
    me = (await auth.login(get_paths(), user.user_id, user.password)).account
    room_id = await me.create_room("Threads", invite=[bob.user_id])
    await me.close()
    await bob.join(room_id)
    root = await sent(bob, await bob.send_text(room_id, "the root"))
    first = await sent(bob, await send_in_thread(bob, room_id, root, "first reply"))
    second = await sent(bob, await send_in_thread(bob, room_id, root, "second reply"))
    await sent(bob, await bob.send_text(room_id, "in the main timeline"))
    return room_id, root, first, second


async def on_server(
    pilot: Pilot[None], account: Account, room_id: str, predicate: Callable[[Any], bool]
) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            for evt in await server_events(account, room_id):
                if predicate(evt):
                    return evt
            await pilot.pause(0.1)


async def test_thread_summary_screen_reply_and_list(
    make_user: MakeUser, peer: Callable[[TestUser], asyncio.Future[Account]]
) -> None:
    bob = await peer(make_user("bob"))
    room_id, root, first, _ = await thread_room(make_user, bob)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        me = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline

        def summary() -> str:
            item = next((i for i in timeline.items if i.key == root), None)
            return item.thread.text.plain if item and item.thread else ""

        # The root carries the summary; the replies are not in the main timeline.
        await until(pilot, lambda: summary().startswith("💬 2 replies · last: "))
        assert "second reply" in summary()
        shown = [i.body.plain for i in timeline.items]
        assert "in the main timeline" in shown
        assert not {"first reply", "second reply"} & set(shown)
        rendered = [timeline.render_line(y).text for y in range(timeline.size.height)]
        assert any("💬 2 replies" in row for row in rendered)

        # A reply arriving live updates it.
        third = await sent(bob, await send_in_thread(bob, room_id, root, "third reply"))
        await until(pilot, lambda: summary().startswith("💬 3 replies") and "third" in summary())

        # Enter on the root opens the thread: the root, then the replies.
        timeline.focus()
        timeline.select(root)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ThreadScreen))
        thread = app.screen
        assert isinstance(thread, ThreadScreen)
        view = thread.query_one(TimelineView)
        bodies = ["the root", "first reply", "second reply", "third reply"]
        await until(pilot, lambda: [i.body.plain for i in view.items] == bodies)
        assert view.items[0].thread is None

        # Reading the thread sends a threaded receipt for its newest reply.
        async def threaded_receipt() -> bool:
            rows = await me.store.receipts(room_id)
            return any(
                r["user_id"] == me.user_id and r["thread_id"] == root and r["event_id"] == third
                for r in rows
            )

        async with asyncio.timeout(20):
            while not await threaded_receipt():
                await pilot.pause(0.1)

        # An unknown /command is refused with a line, as in the room, and nothing is sent.
        composer = thread.query_one(Composer)
        composer.focus()
        await pilot.press(*"/nope", "enter")
        await until(pilot, lambda: "/nope" in app.status_message)
        assert composer.text == "/nope"
        composer.text = ""

        # The composer sends into the thread, falling back to a reply to its latest event.
        await pilot.press(*"my answer", "enter")
        answer = await on_server(
            pilot, me, room_id, lambda e: e["content"].get("body") == "my answer"
        )
        assert answer["content"]["m.relates_to"] == {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": third},
        }
        await until(pilot, lambda: [i.body.plain for i in view.items][-1] == "my answer")
        assert not any(i.state for i in view.items)  # the echo became the event

        # A reply to a message of the thread stays in it, as a real reply.
        view.focus()
        view.select(first)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"to the first", "enter")
        reply = await on_server(
            pilot, me, room_id, lambda e: e["content"].get("body") == "to the first"
        )
        assert reply["content"]["m.relates_to"] == {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": False,
            "m.in_reply_to": {"event_id": first},
        }
        assert reply["content"]["m.mentions"] == {"user_ids": [bob.user_id]}
        await until(pilot, lambda: any(i.body.plain == "to the first" for i in view.items))
        # Only a command about this thread's room is in the thread: `reply --room` elsewhere
        # from this screen replies in that room.
        ui = UIContext(app).ui
        assert ui.current_thread(me, room_id) == root
        assert ui.current_thread(me, "!elsewhere:localhost") is None

        # Escape goes back to the room, whose timeline never showed the thread's messages.
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: summary().startswith("💬 5 replies"))
        shown = [i.body.plain for i in timeline.items]
        assert not {"my answer", "to the first", "third reply"} & set(shown)

        # The threads command lists the thread, and picking it opens it.
        timeline.focus()
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, ThreadPickerScreen))
        picker = app.screen
        assert isinstance(picker, ThreadPickerScreen)
        assert [r for r, _ in picker.threads] == [root]
        assert "the root" in picker.threads[0][1].plain
        assert "5 replies" in picker.threads[0][1].plain
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ThreadScreen))
        assert isinstance(app.screen, ThreadScreen) and app.screen.root_id == root
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))


async def test_exec_threads_lists_the_room_threads(
    make_user: MakeUser, peer: Callable[[TestUser], asyncio.Future[Account]]
) -> None:
    bob_user = make_user("bob")
    bob = await peer(bob_user)
    room_id, root, _, _ = await thread_room(make_user, bob)
    result = await texec("--json", "threads", "--room", room_id)
    assert result.returncode == 0, result.stderr
    [listed] = [orjson.loads(line) for line in result.stdout.splitlines()]  # JSON lines
    assert listed["event_id"] == root
    name = bob_user.localpart  # the display name Synapse gives
    assert listed["summary"] == f"{name}: the root  💬 2 replies · last: {name}: second reply"
    # Opening a thread needs the app: one clear line, no traceback.
    result = await texec("open-thread", root, "--room", room_id)
    assert result.returncode == 2 and "Traceback" not in result.stderr

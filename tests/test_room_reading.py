"""Reading a room against Synapse: the fully-read line and its move on leaving, others'
receipts, jumps, coalesced membership lines and hiding them, who reacted, headers across a
scrollback join, and per-room settings that survive a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import MakeUser
from helpers import until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_room_actions import open_room

from tuimatrix.app import TuimatrixApp
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.room_timeline import PAGE
from tuimatrix.paths import get_paths
from tuimatrix.screens import room_reading
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.widgets.timeline import MARKER_LABEL, TimelineView

PeerFactory = Any


async def sent(account: Account, room_id: str, text: str) -> str:
    """Send ``text`` and return its event id."""
    done = await account.send_queue.wait((await account.send_text(room_id, text)).txn_id)
    assert done.event_id is not None
    return done.event_id


async def fully_read_on_server(account: Account, room_id: str) -> str | None:
    try:
        content = await account.client.api.request(
            "GET",  # type: ignore[arg-type]
            f"/_matrix/client/v3/user/{account.user_id}/rooms/{room_id}/account_data/m.fully_read",
        )
    except Exception:
        return None
    return str(content.get("event_id")) if isinstance(content, dict) else None


def rows(view: TimelineView) -> list[str]:
    """Every row of the timeline (not just the visible ones), as plain text."""
    total = view.virtual_size.height
    return [view._row(r).text.rstrip() for r in range(total)]


def visible_rows(view: TimelineView) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def test_fully_read_line_stays_while_reading_and_moves_on_leaving(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice, bob = make_user("alice"), make_user("bob", displayname="Bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Reading", invite=[bob.user_id])
    b = await peer(bob)
    await b.join(room_id)
    one = await sent(me, room_id, "one")
    two = await sent(b, room_id, "two")
    three = await sent(b, room_id, "three")
    await me.mark_read(room_id, one)
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline
        await until(pilot, lambda: timeline.fully_read_key == one)
        shown = rows(timeline)
        at = shown.index("  one")
        assert shown[at + 1].strip() == MARKER_LABEL
        assert shown[at + 2].startswith("Bob  ") and shown[at + 3] == "  two"

        # Reading sends the receipt (bob sees it) but leaves the fully-read marker alone.
        async def alice_read_by_bob() -> str | None:
            await b.sync_once()
            for row in await b.store.receipts(room_id):
                if row["user_id"] == alice.user_id and row["receipt_type"] == "m.read":
                    return str(row["event_id"])
            return None

        async with asyncio.timeout(20):
            while await alice_read_by_bob() != three:
                await pilot.pause(0.1)
        assert await fully_read_on_server(account, room_id) == one

        # Bob's receipts show on the line he read up to, and follow him live.
        await b.mark_read(room_id, two, fully_read=False)
        await until(pilot, lambda: timeline.receipts.get(two) == "✓ Bob")
        assert any(row.startswith("  two") and row.endswith("✓ Bob") for row in rows(timeline))
        await b.mark_read(room_id, three, fully_read=False)
        await until(pilot, lambda: timeline.receipts == {three: "✓ Bob"})

        # Leaving the room moves the marker to the newest event, on the server too.
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        async with asyncio.timeout(20):
            while await fully_read_on_server(account, room_id) != three:
                await pilot.pause(0.1)
        assert timeline.fully_read_key == three

        # What arrives while away shows under the line when the user comes back.
        await sent(b, room_id, "four")
        await until(pilot, lambda: "four" in [i.body.plain for i in timeline.items])
        app.open_room(account, room_id)
        await until(pilot, lambda: app.screen is screen)
        shown = rows(timeline)
        at = next(i for i, row in enumerate(shown) if row.startswith("  three"))
        assert shown[at].endswith("✓ Bob")  # Bob's receipt, on the same line
        assert shown[at + 1].strip() == MARKER_LABEL

        # Closing the room (from inside it) moves the marker as leaving does.
        app.close_room(account, room_id)
        async with asyncio.timeout(20):
            while await fully_read_on_server(account, room_id) == three:
                await pilot.pause(0.1)


async def test_jump_to_fully_read_loads_older_pages_and_jump_to_latest(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Long read")
    ids = [await sent(me, room_id, f"message {n}") for n in range(PAGE + 20)]
    marker = ids[5]  # older than the newest page the room opens with
    await me.mark_read(room_id, marker)
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline
        await until(pilot, lambda: any(i.key == ids[-1] for i in timeline.items))
        await until(pilot, lambda: screen._fully_read == marker)
        assert timeline.item_key_for(marker) is None

        # With no pages allowed the jump says why it stopped, in one line.
        monkeypatch.setattr(room_reading, "JUMP_PAGES", 0)
        await pilot.press("ctrl+home")
        await until(pilot, lambda: "older than the" in app.status_message)
        assert timeline.item_key_for(marker) is None

        monkeypatch.undo()
        await pilot.press("ctrl+home")
        await until(pilot, lambda: app.status_message == "at the fully-read marker")
        assert timeline.fully_read_key == marker
        await until(pilot, lambda: MARKER_LABEL in [r.strip() for r in visible_rows(timeline)])
        view = visible_rows(timeline)
        assert view[view.index("  message 5") + 1].strip() == MARKER_LABEL
        assert timeline.scroll_y < timeline.max_scroll_y

        await pilot.press("ctrl+end")
        await until(pilot, lambda: timeline.scroll_y == timeline.max_scroll_y)
        assert visible_rows(timeline)[-1] == f"  message {PAGE + 19}"


async def test_a_sender_header_survives_the_scrollback_join_and_new_messages(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice, bob = make_user("alice", displayname="Alice"), make_user("bob", displayname="Bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Seams", invite=[bob.user_id])
    b = await peer(bob)
    await b.join(room_id)
    # One run by Alice longer than a page: the page boundary falls inside it.
    for n in range(PAGE + 10):
        await sent(me, room_id, f"run {n}")
    await me.close()

    def headers(view: TimelineView) -> list[str]:
        return [row for row in rows(view) if row.startswith(("Alice  ", "Bob  "))]

    async def check(fmt: str) -> None:
        app = TuimatrixApp(get_paths())
        async with app.run_test(size=SIZE) as pilot:
            account = next(iter(app.accounts))
            app.set_message_format(account, room_id, fmt)
            screen = await open_room(pilot, app, room_id)
            timeline = screen.timeline
            await until(
                pilot, lambda: any(i.body.plain == f"run {PAGE + 9}" for i in timeline.items)
            )
            # Scroll back until the whole run is loaded (the room's start).
            async with asyncio.timeout(30):
                while not any(i.body.plain == "run 0" for i in timeline.items):
                    timeline.scroll_to(y=0, animate=False)
                    await pilot.pause(0.1)
            await until(pilot, lambda: not screen._loading_older)
            texts = rows(timeline)
            if fmt == "elemental":
                # One header over the whole run: none lost at its top, none added at the join.
                assert len(headers(timeline)) == 1
                assert texts[texts.index("  run 0") - 1].startswith("Alice  ")
            else:
                # IRC: every message carries its sender; none is left without one at the join.
                run_rows = [r for r in texts if " run " in r]
                assert len(run_rows) == PAGE + 10
                assert all(r.lstrip().startswith("Alice run ") for r in run_rows)

            # New messages join the run (Alice) or start a new one (Bob) at the bottom.
            await sent(b, room_id, f"bob here {fmt}")
            await until(
                pilot, lambda: any(i.body.plain == f"bob here {fmt}" for i in timeline.items)
            )
            if fmt == "elemental":
                assert len(headers(timeline)) == 2
                shown = rows(timeline)
                assert shown[shown.index("  bob here elemental") - 1].startswith("Bob  ")

    await check("elemental")
    await check("irc")


async def test_membership_runs_are_one_line_and_hide_per_room(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice = make_user("alice", displayname="Alice")
    others = [make_user(n, displayname=n.capitalize()) for n in ("carol", "dave", "erin")]
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Crowd", public=True)
    await sent(me, room_id, "welcome")
    peers = [await peer(user) for user in others]
    for account in peers:
        await account.join(room_id)
    await peers[2].leave(room_id)
    await sent(me, room_id, "bye erin")
    await me.close()

    expected = "  3 joined (Carol, Dave, Erin); Erin left"
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline
        await until(pilot, lambda: any(i.body.plain == "bye erin" for i in timeline.items))
        assert expected in rows(timeline)
        texts = [i.body.plain for i in timeline.items]
        assert texts[texts.index("welcome") + 1] == expected.strip()

        app.run_lines(["toggle-membership-events"])
        await until(pilot, lambda: expected not in rows(timeline))
        assert "membership events hidden" == app.status_message
        assert not any(i.event_type == "m.room.member" for i in timeline.items)
        # A join arriving while hidden stays hidden.
        await peers[2].join(room_id)
        await sent(peers[2], room_id, "erin is back")
        await until(pilot, lambda: any(i.body.plain == "erin is back" for i in timeline.items))
        assert not any(i.event_type == "m.room.member" for i in timeline.items)
        await until(pilot, lambda: (get_paths().state_dir / "rooms.json").exists())

    # The choice is the room's, kept across a restart.
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline
        await until(pilot, lambda: any(i.body.plain == "erin is back" for i in timeline.items))
        assert not any(i.event_type == "m.room.member" for i in timeline.items)
        app.run_lines(["toggle-membership-events"])
        await until(pilot, lambda: expected in rows(timeline))
        assert any("Erin joined" in i.body.plain for i in timeline.items)


async def test_who_reacted_lists_sanitised_names(make_user: MakeUser, peer: PeerFactory) -> None:
    alice = make_user("alice")
    bob = make_user("bob", displayname="Bob\x1b]0;pwned\x07")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Reactions", invite=[bob.user_id])
    b = await peer(bob)
    await b.join(room_id)
    target = await sent(me, room_id, "vote please")
    await b.send_queue.wait((await b.react(room_id, target, "👍")).txn_id)
    await me.send_queue.wait((await me.react(room_id, target, "👍")).txn_id)
    await b.send_queue.wait((await b.react(room_id, target, "🎉")).txn_id)
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        timeline = screen.timeline
        await until(pilot, lambda: any(i.reactions for i in timeline.items))
        timeline.focus()
        timeline.select(target)
        await pilot.press("w")

        def notes() -> list[str]:
            return [str(n.message) for n in app._notifications]

        await until(pilot, lambda: any("👍" in n for n in notes()))
        [note] = [n for n in notes() if "👍" in n]
        lines = note.split("\n")
        assert lines[0].startswith("👍 Bob") and alice.user_id.split(":")[0][1:] in lines[0]
        assert lines[1] == "🎉 Bob"
        assert "\x1b" not in note and "\x07" not in note and "pwned" not in note


async def test_format_per_room_persists_and_config_sets_the_default(
    make_user: MakeUser,
) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    chosen = await me.create_room("Chosen")
    other = await me.create_room("Other")
    await sent(me, chosen, "hello")
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, chosen)
        app.run_lines(["set-format irc"])
        await until(pilot, lambda: screen.timeline.message_format == "irc")
        await until(pilot, lambda: (get_paths().state_dir / "rooms.json").exists())

    config = get_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[room]\nformat = "irc"\nhide-membership-events = true\n')
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, chosen)
        assert screen.timeline.message_format == "irc"  # the room's own choice, kept
        app.run_lines(["set-format elemental"])
        await until(pilot, lambda: screen.timeline.message_format == "elemental")
        app.action_show_room_list()
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        screen = await open_room(pilot, app, other)
        assert screen.timeline.message_format == "irc"  # no choice of its own: the config's
        await until(pilot, lambda: bool(screen.timeline_model.events))
        assert any(e["type"] == "m.room.member" for e in screen.timeline_model.events)
        assert not any(i.event_type == "m.room.member" for i in screen.timeline.items)

    config.unlink()
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, chosen)
        assert screen.timeline.message_format == "elemental"
        assert isinstance(screen, RoomScreen)


async def test_quitting_with_a_room_open_moves_the_fully_read_marker(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Quitting", invite=[bob.user_id])
    b = await peer(bob)
    await b.join(room_id)
    one = await sent(me, room_id, "one")
    await me.mark_read(room_id, one)
    await me.close()
    two = await sent(b, room_id, "two")

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_room(pilot, app, room_id)
        await until(pilot, lambda: screen.timeline.fully_read_key == one)
        await until(pilot, lambda: "two" in [i.body.plain for i in screen.timeline.items])
        # Quit (ctrl+q) straight from the room: leaving the context waits for the exit.
        await pilot.press("ctrl+q")

    again = await peer(alice)  # another device of alice's, to read her account data
    assert await fully_read_on_server(again, room_id) == two

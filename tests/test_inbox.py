"""The inbox against Synapse with two accounts in the app: a mention, a keyword, a DM and an
invite show, live; enter jumps to the message (and reading it there clears the counts on the
server); r replies to it; exec prints the same rows; the server's /notifications fills in
history; a room marked unread shows so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from conftest import MakeUser
from helpers import TestUser, eventually, until
from rich.text import Text
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_e2ee import encrypted_room
from test_e2ee import send as e2ee_send
from test_read_commands import accounts_of
from test_read_state import account_data, counts, send
from test_room_actions import open_room
from test_room_list import client as client  # the fixture, shared
from test_room_list import live_app, names, prepared
from test_sync import Login, login  # noqa: F401  (the fixture)
from textual.pilot import Pilot
from textual.widgets import DataTable

from tuimatrix.app import TuimatrixApp
from tuimatrix.cli.output import format_result
from tuimatrix.commands.runner import run_line
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.inbox import (
    DIRECT,
    INVITE,
    KEYWORD,
    MENTION,
    NOTICE,
    InboxEntry,
    account_labels,
    gather_inbox,
    local_inbox,
    merge_entries,
    preview,
    server_inbox,
)
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sync_status import LIVE
from tuimatrix.owner.context import ExecContext
from tuimatrix.paths import get_paths
from tuimatrix.screens.inbox import InboxScreen, entry_matches
from tuimatrix.screens.prompts import TextPromptScreen
from tuimatrix.screens.room import RoomScreen
from tuimatrix.widgets.room_row import room_cells, room_look

PeerFactory = Any
WORD = "pineapple"


async def keyword_rule(account: Account, word: str) -> None:
    """A content rule (a keyword) that notifies without highlighting."""
    await account.set_push_rule("content", word, {"pattern": word, "actions": ["notify"]})


async def open_inbox(pilot: Pilot[None], app: TuimatrixApp) -> InboxScreen:
    """ctrl+n, from anywhere: the inbox screen."""
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, InboxScreen))
    screen = app.screen
    assert isinstance(screen, InboxScreen)
    return screen


def unread_cell(room: RoomSummary) -> str:
    """What the room list's unread column shows for ``room``."""
    look = room_look(room, depth=0, fold="", notify="", account="", now=0)
    return room_cells(look)["unread"].plain


def kinds(screen: InboxScreen) -> set[tuple[str, str, str]]:
    return {(e.user_id, e.room, e.kind) for e in screen.entries}


async def test_inbox_lists_mentions_keywords_dms_and_invites_and_jumps_and_replies(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    alice, carol, bob = make_user("alice"), make_user("carol"), make_user("bob", displayname="Bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    other = (await auth.login(get_paths(), carol.user_id, carol.password)).account
    b = await peer(bob)
    mentions = await b.create_room("Mentions", invite=[alice.user_id])
    keywords = await b.create_room("Keywords", invite=[alice.user_id])
    dm = await b.create_room(invite=[carol.user_id], is_direct=True)
    await keyword_rule(me, WORD)
    for account, room_id in ((me, mentions), (me, keywords), (other, dm)):
        await account.join(room_id)
    await me.close()
    await other.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        accounts = {a.user_id: a for a in app.accounts}
        await until(pilot, lambda: all(a.status.state == LIVE for a in accounts.values()))
        hello = await send(b, mentions, f"hello {alice.user_id}", [alice.user_id])
        pineapple = await send(b, keywords, f"who likes {WORD}?", [])
        await send(b, dm, "hi carol", [])
        invitation = await b.create_room("Invitation", invite=[alice.user_id])

        inbox = await open_inbox(pilot, app)
        wanted = {
            (alice.user_id, "Mentions", MENTION),
            (alice.user_id, "Keywords", KEYWORD),
            (carol.user_id, "Bob", NOTICE),
            (alice.user_id, "Invitation", INVITE),
        }
        await until(pilot, lambda: kinds(inbox) >= wanted)
        mention = next(e for e in inbox.entries if e.event_id == hello)
        assert (mention.sender, mention.preview) == ("Bob", f"hello {alice.user_id}")
        invite = next(e for e in inbox.entries if e.kind == INVITE)
        assert invite.room_id == invitation and invite.event_id is None
        # Newest first; with two accounts, each row names its account (short).
        assert [e.ts for e in inbox.entries] == sorted((e.ts for e in inbox.entries), reverse=True)
        table = inbox.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()][2] == "Account"

        # Live: what arrives while it is open shows.
        again = await send(b, mentions, f"again {alice.user_id}", [alice.user_id])
        await until(pilot, lambda: any(e.event_id == again for e in inbox.entries))

        # The filter narrows the rows.
        await pilot.press("slash", *WORD)
        await until(pilot, lambda: [e.event_id for e in inbox.shown] == [pineapple])
        await pilot.press("enter")  # back to the table, on the one row left

        # r: the keyword's room opens at it and a reply is asked for.
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"me", "enter")

        async def replied() -> bool:
            await b.sync_once()
            for event in await b.store.latest_events(keywords, 5):
                relates = event.get("content", {}).get("m.relates_to", {})
                if relates.get("m.in_reply_to", {}).get("event_id") == pineapple:
                    return True
            return False

        await eventually(replied)

        # enter: the mention's room opens with it selected; reading it there reads the room.
        inbox = await open_inbox(pilot, app)
        await until(pilot, lambda: any(e.event_id == hello for e in inbox.shown))
        # Answered from its room (which read it), the keyword no longer needs you.
        await until(pilot, lambda: all(e.event_id != pineapple for e in inbox.entries))
        room = accounts[alice.user_id].rooms.summaries
        await until(pilot, lambda: room[mentions].highlight_count == 2)
        inbox.query_one(DataTable).move_cursor(
            row=next(n for n, e in enumerate(inbox.shown) if e.event_id == hello)
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        screen = app.screen
        assert isinstance(screen, RoomScreen) and screen.room_id == mentions
        await until(pilot, lambda: screen.timeline.selected_item is not None)
        assert screen.timeline.selected_item is not None
        assert screen.timeline.selected_item.key == hello
        # Reading it there moved the receipt: the server's counts (its next sync's
        # unread_notifications) are back to zero.
        await until(pilot, lambda: room[mentions].highlight_count == 0)
        assert room[mentions].notification_count == 0


async def test_exec_inbox_prints_the_rows_and_merges_the_servers_history(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob", displayname="Bob")
    a, b = await login(alice), await login(bob)
    room_id = await b.create_room("Plain", invite=[alice.user_id])
    await a.join(room_id)
    hello = await send(b, room_id, f"hello {alice.user_id}", [alice.user_id])

    async def noticed() -> bool:
        await a.sync_once()
        return (await counts(a))[room_id][1] > 0

    await eventually(noticed)
    # The server kept it too: merged with ours, it is there once.
    history = await server_inbox(a)
    assert [(e.event_id, e.kind) for e in history] == [(hello, MENTION)]
    assert [e.event_id for e in await gather_inbox([a], history)] == [hello]

    result = await run_line(ExecContext(accounts_of(a), a), "inbox")
    assert result.rows is not None and result.message == "1 in the inbox"
    [row] = result.rows
    keys = ("kind", "account", "room", "sender", "sender_id", "room_id", "event_id")
    assert {k: row[k] for k in keys} == {
        "kind": MENTION,
        "account": alice.user_id,
        "room": "Plain",
        "sender": "Bob",
        "sender_id": bob.user_id,
        "room_id": room_id,
        "event_id": hello,
    }
    assert row["preview"] == f"hello {alice.user_id}" and row["age"] in ("now", "1m")
    lines = format_result(result, as_json=True).split("\n")
    assert [orjson.loads(line) for line in lines] == result.rows

    # Read, it needs nobody: the server marks it read, and ours keeps it out too.
    await run_line(ExecContext(accounts_of(a), a), f"mark-read --room {room_id}")

    async def read() -> bool:
        await a.sync_once()
        return not await server_inbox(a)

    await eventually(read)
    assert (await run_line(ExecContext(accounts_of(a), a), "inbox")).rows == []


async def test_an_encrypted_mention_shows_decrypted_and_only_from_our_evaluation(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob", displayname="Bob"))
    room_id = await encrypted_room(b, a)
    mention = await e2ee_send(b, room_id, "alice: \x1b[2Jlook", mentions=[a.user_id])
    await a.sync_once()
    # The server cannot read it: whatever it kept is not listed from there.
    assert await server_inbox(a) == []
    [entry] = await gather_inbox([a])
    assert (entry.event_id, entry.kind, entry.room) == (mention, MENTION, "Secret")
    assert entry.preview == "alice: look"  # decrypted, and the escape sequence gone


async def test_a_direct_chat_marked_unread_shows_in_the_inbox_and_the_room_list(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob", displayname="Bob")
    a, b = await login(alice), await login(bob)
    dm = await b.create_room(invite=[alice.user_id], is_direct=True)
    await a.sync_once()  # the invite, marked direct: joining it makes it a DM (m.direct)
    await a.join(dm)
    await send(b, dm, "hi", [])
    ctx = ExecContext(accounts_of(a), a)
    await a.sync_once()
    await run_line(ctx, f"mark-read --room {dm}")
    await run_line(ctx, f"mark-unread --room {dm}")

    async def marked() -> bool:
        await a.sync_once()
        room = a.rooms.summaries[dm]
        return room.is_direct and room.marked_unread and room.notification_count == 0

    await eventually(marked)
    [entry] = await gather_inbox([a])
    assert (entry.kind, entry.room_id, entry.preview, entry.sender) == (DIRECT, dm, "hi", "Bob")
    assert unread_cell(a.rooms.summaries[dm]) == "•"


async def test_opening_a_room_clears_its_unread_mark(make_user: MakeUser) -> None:
    alice = make_user("alice")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    room_id = await me.create_room("Mine")
    await send(me, room_id, "a note", [])
    await me.set_marked_unread(room_id, True)
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        rooms = account.rooms.summaries
        await until(pilot, lambda: room_id in rooms and rooms[room_id].marked_unread)
        await open_room(pilot, app, room_id)
        await until(pilot, lambda: not rooms[room_id].marked_unread)
        assert await account_data(account, room_id, "m.marked_unread") == {"unread": False}


async def test_the_room_list_shows_a_room_marked_unread_and_m_and_u_mark_it(
    make_user: MakeUser,
    client: Callable[[TestUser, str], Awaitable[Account]],
) -> None:
    user, rooms = await prepared(make_user, "Kitchen", "Garage")
    other = await client(user, "laptop")  # the same user on another device
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        await until(pilot, lambda: sorted(names(app, "unspaced")) == ["Garage", "Kitchen"])
        assert names(app, "unread") == []
        # Marked unread elsewhere: unread here, live, with its mark in the unread column.
        await other.set_marked_unread(rooms["Garage"], True)
        await until(pilot, lambda: names(app, "unread") == ["Garage"])
        assert unread_cell(account.rooms.summaries[rooms["Garage"]]) == "•"
        # m on it marks it read (the mark goes); u marks the other one unread.
        assert app.room_list.move_to(account, rooms["Garage"])
        await pilot.press("m")
        await until(pilot, lambda: names(app, "unread") == [])
        assert app.room_list.move_to(account, rooms["Kitchen"])
        await pilot.press("u")
        await until(pilot, lambda: names(app, "unread") == ["Kitchen"])


# -- pure ------------------------------------------------------------------------------------


def entry(**fields: Any) -> InboxEntry:
    base: dict[str, Any] = {
        "user_id": "@a:x",
        "room_id": "!r:x",
        "event_id": "$e",
        "kind": NOTICE,
        "room": "Room",
        "sender": "Bob",
        "sender_id": "@b:x",
        "preview": "text",
        "ts": 1,
    }
    return InboxEntry(**(base | fields))


def test_merge_keeps_each_event_once_newest_first() -> None:
    ours = [entry(event_id="$1", ts=5, kind=MENTION), entry(event_id=None, kind=INVITE, ts=9)]
    server = [entry(event_id="$1", ts=5, kind=NOTICE), entry(event_id="$0", ts=1)]
    merged = merge_entries(ours, server)
    assert [(e.event_id, e.kind) for e in merged] == [
        (None, INVITE),
        ("$1", MENTION),
        ("$0", NOTICE),
    ]
    # The same event of two accounts is two entries.
    assert len(merge_entries([entry()], [entry(user_id="@b:x")])) == 2


def test_preview_is_one_clean_line() -> None:
    hostile = {
        "type": "m.room.message",
        "sender": "@b:x",
        "content": {"msgtype": "m.text", "body": "\x1b]0;pwned\x07hi [@click=app.quit]\nline 2"},
    }
    text = preview(hostile)
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    assert text.endswith("hi [@click=app.quit]")
    edit = {"type": "m.room.message", "content": {"body": "* x", "m.new_content": {"body": "x"}}}
    assert preview(edit) == "x"
    assert preview({"type": "m.room.encrypted", "content": {}}).startswith("🔒 waiting for the key")
    assert preview({"type": "m.room.message", "content": "nonsense"}) == ""


def test_account_labels_are_short_when_there_are_several() -> None:
    assert account_labels(["@a:x"]) == {"@a:x": ""}
    assert account_labels(["@a:x", "@b:y"]) == {"@a:x": "a", "@b:y": "b"}
    assert account_labels(["@a:x", "@a:y", "@c:y"]) == {"@a:x": "@a:x", "@a:y": "@a:y", "@c:y": "c"}


def test_the_filter_matches_every_word() -> None:
    one = entry(room="Team", sender="Alice", preview="lunch at noon")
    assert entry_matches(one, ["team", "lunch"]) and entry_matches(one, [])
    assert not entry_matches(one, ["team", "dinner"])


def test_a_room_marked_unread_is_unread_without_counts() -> None:
    room = RoomSummary("!r:x", name="R", display_name="R", marked_unread=True)
    assert room_look(room, depth=0, fold="", notify="", account="", now=0).unread
    assert unread_cell(room) == "•"
    assert unread_cell(RoomSummary("!r:x", notification_count=2, marked_unread=True)) == "2"
    assert unread_cell(RoomSummary("!r:x")) == ""


def test_cells_are_text_never_markup() -> None:
    hostile = entry(room="[@click=app.quit]boom", sender="[b]x[/b]", preview="[link=file:///]y")
    cells = InboxScreen._cells(hostile, {"@a:x": "a"}, several=True)
    assert all(isinstance(cell, Text) for cell in cells)
    assert [cell.plain for cell in cells][3:] == [
        "[@click=app.quit]boom",
        "[b]x[/b]",
        "[link=file:///]y",
    ]


async def test_an_edited_message_shows_its_newest_text(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await encrypted_room(a, b)
    typo = await e2ee_send(b, room_id, "the build is gren")
    edit = await b.edit(room_id, typo, "the build is green")
    assert (await b.send_queue.wait(edit.txn_id)).event_id is not None
    await a.sync_once()
    entries = await local_inbox(a)
    # The edit itself notifies nobody (suppress_edits); its message shows the new text.
    assert [(e.event_id, e.preview) for e in entries] == [(typo, "the build is green")]

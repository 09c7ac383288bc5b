"""The one event shape for programs (core/event_json.py) and the ``messages`` command
(commands/history.py, core/message_page.py), against the real Synapse."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from conftest import MakeUser
from test_commands import ScriptContext
from test_e2ee import encrypted_room, send, stored
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.cli.output import format_json
from tuimatrix.commands import UsageError
from tuimatrix.commands.runner import run_line
from tuimatrix.core.account import Account
from tuimatrix.core.event_json import event_json, mentions_user, room_view
from tuimatrix.core.message_page import MAX_LIMIT, clamp_limit, message_page
from tuimatrix.core.safe_json import safe_json
from tuimatrix.core.threads import send_in_thread

pytestmark = pytest.mark.timeout(180)


async def plain_room(a: Account, b: Account, name: str = "Talk") -> str:
    room_id = await a.create_room(name, invite=[b.user_id], encrypted=False)
    await b.sync_once()
    await b.join(room_id)
    await a.sync_once()
    return room_id


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row for row in rows}


async def test_event_json_of_every_kind_of_message(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice", displayname="Alice"))
    b = await login(make_user("bob", displayname="Bob"))
    room_id = await plain_room(a, b)
    hello = await send(a, room_id, "hello")
    formatted = await send(a, room_id, "bold", html="<b>bold</b> \u202eevil")
    reply_echo = await b.reply(room_id, hello, "hi alice")
    reply = (await b.send_queue.wait(reply_echo.txn_id)).event_id
    edit_echo = await a.edit(room_id, hello, "hello, edited")
    edit = (await a.send_queue.wait(edit_echo.txn_id)).event_id
    thread_echo = await send_in_thread(a, room_id, formatted, "in the thread")
    thread = (await a.send_queue.wait(thread_echo.txn_id)).event_id
    reaction_echo = await b.react(room_id, hello, "👍")
    reaction = (await b.send_queue.wait(reaction_echo.txn_id)).event_id
    gone = await send(a, room_id, "to be deleted")
    await a.redact(room_id, gone, reason="oops")
    await b.sync_once()
    await a.sync_once()
    assert reply and edit and thread and reaction

    rows = by_id((await message_page(b, room_id, limit=50)).rows)
    assert edit not in rows and reaction not in rows  # folded in, not messages
    first = rows[hello]
    assert first["body"] == "hello, edited" and first["edited"] is True
    assert first["account"] == b.user_id and first["room_id"] == room_id
    assert first["room_name"] == "Talk"
    assert first["sender"] == a.user_id and first["sender_name"] == "Alice"
    assert first["own"] is False and first["type"] == "m.room.message"
    assert first["msgtype"] == "m.text"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert isinstance(first["origin_server_ts"], int) and first["origin_server_ts"] > 0
    assert first["encrypted"] is False and first["decrypted"] is False
    assert first["decryption_error"] is None and first["redacted"] is False
    assert rows[formatted]["formatted_body"] == "<b>bold</b> \u202eevil"
    assert rows[formatted]["format"] == "org.matrix.custom.html"
    # As data for programs the HTML is kept; the encoder escapes what a terminal obeys.
    assert "\u202e" not in safe_json(rows[formatted]) and "\\u202e" in safe_json(rows[formatted])
    assert orjson.loads(safe_json(rows[formatted]))["formatted_body"].endswith("\u202eevil")
    assert rows[reply]["relations"]["reply_to"] == hello
    assert rows[reply]["body"] == "hi alice" and rows[reply]["own"] is True
    assert rows[thread]["relations"]["thread_root"] == formatted
    assert rows[thread]["relations"]["reply_to"] is None  # only the fallback for old clients
    assert rows[gone]["redacted"] is True and rows[gone]["body"] is None

    # A reply to Alice mentions her (m.mentions); her own messages do not.
    mine = by_id((await message_page(a, room_id, limit=50)).rows)
    assert mine[reply]["mentions_me"] is True
    assert mine[hello]["mentions_me"] is False and mine[hello]["own"] is True

    # Relations that are not messages, as the feed gives them.
    view = await room_view(b, room_id, [b.user_id])
    react_json = event_json(view, await stored(b, reaction))
    assert react_json["type"] == "m.reaction"
    assert react_json["relations"]["reaction"] == {"key": "👍", "event_id": hello}
    edit_json = event_json(view, await stored(b, edit))
    assert edit_json["relations"]["replaces"] == hello and edit_json["body"] == "* hello, edited"


def test_mentions_by_m_mentions_and_by_legacy_body() -> None:
    me = "@carol:example.org"
    assert mentions_user({"body": "x", "m.mentions": {"user_ids": [me]}}, me)
    assert mentions_user({"body": "x", "m.mentions": {"room": True}}, me)
    # m.mentions present and without us: the body does not count (spec).
    assert not mentions_user({"body": "carol!", "m.mentions": {}}, me)
    assert mentions_user({"body": "hey Carol, look"}, me)
    assert mentions_user({"body": "ping @carol:example.org"}, me)
    assert mentions_user({"body": "ask Dr. Who"}, me, "Dr. Who")
    assert not mentions_user({"body": "caroline and carols"}, me)
    assert not mentions_user({"body": "nothing"}, me, "")


async def test_undecryptable_message_is_a_row_with_its_reason(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    c = await login(make_user("carol"))
    room_id = await encrypted_room(a, b)
    before = await send(a, room_id, "before carol")
    await c.sync_once()
    await a.invite(room_id, c.user_id)
    await c.sync_once()
    await c.join(room_id)
    await a.sync_once()
    after = await send(a, room_id, "after carol")
    await c.sync_once()
    if await c.store.event(before) is None:  # not in the joining sync: scrollback brings it
        await c.load_older(room_id)
    rows = by_id((await message_page(c, room_id, limit=100)).rows)
    assert rows[after]["body"] == "after carol"
    assert rows[after]["encrypted"] is True and rows[after]["decrypted"] is True
    locked = rows[before]
    assert locked["type"] == "m.room.encrypted" and locked["body"] is None
    assert locked["encrypted"] is True and locked["decrypted"] is False
    assert isinstance(locked["decryption_error"], str) and locked["decryption_error"]
    assert "before carol" not in str(locked)


async def test_messages_limit_and_since_poll_without_repeats_or_misses(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await plain_room(a, b, "Ops")
    for i in range(5):
        await send(a, room_id, f"old {i}")
    await b.sync_once()
    ctx = ScriptContext(a, b).at(b, room_id)

    page = await run_line(ctx, "messages --limit 3")
    assert page.message == "3 messages in Ops"
    assert [r["body"] for r in page.rows or []] == ["old 2", "old 3", "old 4"]
    assert page.columns and all(r["next_token"] == page.data["next_token"] for r in page.rows or [])
    assert format_json(page.data)  # plain JSON values only
    assert clamp_limit(0) == 1 and clamp_limit(10**6) == MAX_LIMIT and clamp_limit(None) == 20
    with pytest.raises(UsageError, match="--since"):
        await run_line(ctx, "messages --since nonsense")

    # Alice sends while Bob's sync runs and a script polls with --since: every message once.
    await b.start()
    sent: list[str] = []
    seen: list[str] = []
    token = page.data["next_token"]

    async def sender() -> None:
        for i in range(12):
            sent.append(await send(a, room_id, f"new {i}"))

    sending = asyncio.create_task(sender())
    async with asyncio.timeout(60):
        while not sending.done() or set(seen) != set(sent):
            await asyncio.sleep(0.05)
            polled = await run_line(ctx, f"messages --since {token} --limit 5")
            seen += [r["event_id"] for r in polled.rows or []]
            token = polled.data["next_token"]
    await sending
    assert len(seen) == len(set(seen)) == 12
    assert seen == sent  # in the room's order
    assert (await run_line(ctx, f"messages --since {token}")).rows == []

"""Each operation the commands will call, against the real server."""

from __future__ import annotations

import pytest
from conftest import MakeUser
from test_sync import Login, bodies, login  # noqa: F401  (the fixture)

from tuimatrix.core.errors import UserError
from tuimatrix.core.operations import normalise_tag


async def test_rooms_spaces_and_tags(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    space_id = await a.create_space("Work", topic="all the work")
    room_id = await a.create_room("Standup", topic="daily")
    await a.add_space_child(space_id, room_id)
    await a.set_tag(room_id, "favourite", order=0.25)
    await a.set_tag(room_id, "work")
    await a.sync_once()
    space, room = a.rooms.summaries[space_id], a.rooms.summaries[room_id]
    assert space.is_space and space.display_name == "Work" and space.topic == "all the work"
    assert space.space_children == [room_id]
    assert room.space_parents == [space_id]
    assert room.tags == {"m.favourite": 0.25, "u.work": None}
    assert room.is_favourite and not room.is_low_priority
    hierarchy = await a.space_hierarchy(space_id)
    assert [r["room_id"] for r in hierarchy] == [space_id, room_id]

    await a.remove_space_child(space_id, room_id)
    await a.remove_tag(room_id, "favourite")
    await a.set_tag(room_id, "low-priority")
    await a.set_topic(room_id, "weekly")
    await a.set_name(room_id, "Sync")
    await a.sync_once()
    room = a.rooms.summaries[room_id]
    assert a.rooms.summaries[space_id].space_children == []
    assert room.space_parents == []
    assert room.tags == {"m.lowpriority": None, "u.work": None}
    assert (room.display_name, room.topic) == ("Sync", "weekly")


def test_tag_names() -> None:
    assert normalise_tag("favourite") == "m.favourite"
    assert normalise_tag("low-priority") == "m.lowpriority"
    assert normalise_tag("work") == "u.work"
    assert normalise_tag("u.work") == "u.work"
    with pytest.raises(UserError):
        normalise_tag("  ")


async def test_membership(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await a.create_room("Club")
    await a.invite(room_id, b.user_id, reason="come")
    await b.sync_once()
    assert b.rooms.summaries[room_id].membership == "invite"
    assert b.rooms.summaries[room_id].inviter == a.user_id
    assert await b.join(room_id) == room_id
    await a.kick(room_id, b.user_id, reason="out")
    await b.sync_once()
    assert b.rooms.summaries[room_id].membership == "leave"
    await a.ban(room_id, b.user_id)
    with pytest.raises(Exception, match=r"banned|M_FORBIDDEN"):
        await b.join(room_id)
    await a.unban(room_id, b.user_id)
    await a.invite(room_id, b.user_id)
    await b.join(room_id)
    await b.leave(room_id)
    await b.forget(room_id)
    await b.sync_once()
    assert room_id not in b.rooms.summaries or b.rooms.summaries[room_id].membership == "leave"

    await a.ignore_user(b.user_id)
    assert await a.ignored_users() == [b.user_id]
    await a.unignore_user(b.user_id)
    assert await a.ignored_users() == []


async def test_join_by_alias_and_direct_room(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await a.create_room("Lobby", public=True)
    alias = f"#lobby-{a.user_id[1:].split(':')[0]}:{a.user_id.split(':', 1)[1]}"
    await a.client.add_room_alias(room_id, alias[1:].split(":")[0])  # type: ignore[arg-type]
    assert await b.join(alias) == room_id
    dm = await a.create_room(is_direct=True, invite=[b.user_id])
    await a.sync_once()
    assert a.rooms.summaries[dm].is_direct


async def test_messages_reply_edit_react_redact(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await a.create_room("Talk", invite=[b.user_id])
    await b.sync_once()
    await b.join(room_id)
    hello = await b.send_text(room_id, "hello", html="<b>hello</b>")
    sent = await b.send_queue.wait(hello.txn_id)
    assert sent.state == "sent" and sent.event_id
    reply = await a.reply(room_id, sent.event_id, "hi bob")
    edit_target = await a.send_text(room_id, "typo")
    edit_target = await a.send_queue.wait(edit_target.txn_id)
    assert edit_target.event_id
    await a.edit(room_id, edit_target.event_id, "fixed")
    react = await a.react(room_id, sent.event_id, "👍")
    await a.send_queue.flush()
    # A message of its own to delete: the edited one must keep its edit (a redaction prunes
    # the edits of what it deletes from the store).
    doomed = await a.send_queue.wait((await a.send_text(room_id, "doomed")).txn_id)
    assert doomed.event_id
    redaction = await a.redact(room_id, doomed.event_id, reason="oops")
    assert redaction.startswith("$")
    with pytest.raises(UserError, match="own messages"):
        await a.edit(room_id, sent.event_id, "not mine")
    changes = await b.sync_once()
    events = {e["event_id"]: e for e in changes.new_events.get(room_id, [])}
    events.update({e["event_id"]: e for e in await b.store.latest_events(room_id, 200)})
    by_txn = {}
    for echo in (reply, react):
        done = await a.send_queue.get(echo.txn_id)
        assert done is not None and done.event_id in events
        by_txn[echo.txn_id] = events[done.event_id]
    reply_evt = by_txn[reply.txn_id]["content"]
    assert reply_evt["m.relates_to"] == {"m.in_reply_to": {"event_id": sent.event_id}}
    assert reply_evt["m.mentions"] == {"user_ids": [b.user_id]}
    assert "> " not in reply_evt["body"]  # no reply fallback
    assert by_txn[react.txn_id]["content"]["m.relates_to"]["key"] == "👍"
    own = [e for e in events.values() if e["sender"] == b.user_id and e["type"] == "m.room.message"]
    assert own[0]["content"]["formatted_body"] == "<b>hello</b>"
    edits = [
        e
        for e in events.values()
        if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
    ]
    assert edits and edits[0]["content"]["m.new_content"]["body"] == "fixed"
    assert any(e["type"] == "m.room.redaction" for e in events.values())

"""Events → timeline items: edits, redactions, reactions and reply quotes (pure logic)."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.timeline import ReplyQuote, build_items


def msg(event_id: str, sender: str, body: str, **content: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def react(event_id: str, sender: str, target: str, key: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.reaction",
        "origin_server_ts": 2,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
    }


def test_reactions_gather_under_their_message_once_per_sender() -> None:
    events = [
        msg("$1", "@a:x", "hello"),
        react("$r1", "@b:x", "$1", "👍"),
        react("$r2", "@b:x", "$1", "👍"),  # the same sender twice counts once
        react("$r3", "@me:x", "$1", "👍"),
        react("$r4", "@b:x", "$1", "\x1b]0;x\x07🎉"),
        react("$r5", "@c:x", "$1", "❤"),
        {
            "event_id": "$x",
            "sender": "@c:x",
            "type": "m.room.redaction",
            "redacts": "$r5",
            "content": {},
        },
    ]
    [item] = build_items(events, {}, own_user_id="@me:x")
    assert item.reactions == (("👍", 2, True), ("🎉", 1, False))


def test_a_reply_quotes_its_original_and_drops_the_fallback() -> None:
    events = [
        msg("$1", "@a:x", "what time is it?"),
        msg(
            "$2",
            "@b:x",
            "> <@a:x> what time is it?\n\nnoon",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}},
        ),
        msg("$3", "@b:x", "also", **{"m.relates_to": {"m.in_reply_to": {"event_id": "$old"}}}),
    ]
    items = build_items(events, {"@a:x": "Alice"})
    assert items[1].body.plain == "noon"
    assert items[1].reply is not None and items[1].reply.preview is not None
    assert items[1].reply.preview.plain == "Alice: what time is it?"
    assert items[2].reply == ReplyQuote("$old", None)


def state(kind: str, content: dict[str, Any], state_key: str = "") -> dict[str, Any]:
    return {
        "event_id": f"${kind}",
        "sender": "@a:x",
        "type": kind,
        "state_key": state_key,
        "origin_server_ts": 1,
        "content": content,
    }


def test_state_events_are_quiet_one_liners() -> None:
    items = build_items(
        [
            state("m.room.name", {"name": "Lobby\x1b[2J"}),
            state("m.room.topic", {"topic": "{value} {sender}"}),  # no template injection
            state("m.space.child", {"via": ["x"]}, "!child:x"),  # hidden
            state("org.example.custom", {}),
        ],
        {"@a:x": "Alice"},
    )
    assert [i.body.plain for i in items] == [
        "Alice named the room Lobby",
        "Alice set the topic: {value} {sender}",
        "Alice changed org.example.custom",
    ]
    assert all(i.is_notice for i in items)


def test_reply_preview_of_a_quote_drops_the_quote_bars() -> None:
    from tuimatrix.core.timeline import reply_preview

    original = {
        "sender": "@bob:x",
        "type": "m.room.message",
        "content": {
            "msgtype": "m.text",
            "body": "> ship it\n\nnow",
            "format": "org.matrix.custom.html",
            "formatted_body": "<blockquote><blockquote>ship it</blockquote></blockquote>now",
        },
    }
    assert reply_preview(original, {"@bob:x": "Bob"}).plain == "Bob: ship it"


def test_only_the_sender_edits_and_encrypted_redactions_do_nothing() -> None:
    """Mallory may neither rewrite Alice's message (an edit must come from its sender) nor
    hide it with a redaction sent encrypted (the server never checked that one's power)."""
    from tuimatrix.core.timeline import build_items

    def message(event_id: str, sender: str, **content: Any) -> dict[str, Any]:
        body = {"msgtype": "m.text", "body": "", **content}
        return {
            "event_id": event_id,
            "sender": sender,
            "type": "m.room.message",
            "origin_server_ts": 1,
            "content": body,
        }

    def edit(event_id: str, sender: str, target: str, text: str) -> dict[str, Any]:
        return message(
            event_id,
            sender,
            body=f"* {text}",
            **{
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": target},
            },
        )

    names = {"@alice:x": "alice", "@mallory:x": "mallory"}
    events = [
        message("$a", "@alice:x", body="the real text"),
        edit("$e1", "@alice:x", "$a", "the real text, fixed"),
        edit("$e2", "@mallory:x", "$a", "FORGED"),
        message("$b", "@alice:x", body="still here"),
        {
            "event_id": "$r",
            "sender": "@mallory:x",
            "type": "m.room.redaction",
            "redacts": "$b",
            "origin_server_ts": 2,
            "content": {"redacts": "$b"},
            "tm_e2ee": {"trust": "unverified"},
        },
    ]
    shown = {i.key: i.body.plain for i in build_items(events, names)}
    assert shown["$a"] == "the real text, fixed"
    assert shown["$b"] == "still here"
    # A forged edit of a message that is not loaded with it is refused when it is shown.
    alone = build_items([events[2], events[0]], names)
    assert {i.key: i.body.plain for i in alone}["$a"] == "the real text"


def test_a_deletion_shows_its_reason() -> None:
    from tuimatrix.core.timeline import build_items

    names = {"@a:x": "alice"}
    message = {
        "event_id": "$m",
        "sender": "@a:x",
        "type": "m.room.message",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "oops"},
    }
    live = {
        "event_id": "$r",
        "sender": "@a:x",
        "type": "m.room.redaction",
        "redacts": "$m",
        "origin_server_ts": 2,
        "content": {"redacts": "$m", "reason": "wrong\x1b[31m room"},
    }
    [item] = build_items([message, live], names)
    assert item.redacted and item.body.plain == "[deleted: wrong room]"
    # Redacted on the server already: the reason comes with the event.
    stripped = {
        **message,
        "content": {},
        "unsigned": {"redacted_because": {"content": {"reason": "spam"}}},
    }
    [item] = build_items([stripped], names)
    assert item.body.plain == "[deleted: spam]"
    [item] = build_items([{**stripped, "unsigned": {"redacted_because": {}}}], names)
    assert item.body.plain == "[deleted]"

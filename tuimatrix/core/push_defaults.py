"""The server-default push rules: the ``global`` ruleset Synapse sends a fresh user.

Used when the account has no usable ``m.push_rules`` account data (a server that sends
none, or a broken copy), so local evaluation behaves as the server's would. The rules, their
order, conditions and actions are Synapse's base rules (``rust/src/push/base_rules.rs``) as
its client format gives them (``synapse/push/clientformat.py``: user-id and localpart
patterns filled in), with the experimental rules Synapse leaves off by default left off too,
except the MSC3930 poll rules: clients show polls, so a poll started in a DM rings as a
message would. ``tests/test_push_agreement.py`` checks the ``.m.rule`` ones against the
suite's Synapse.
"""

from __future__ import annotations

from typing import Any

#: The kinds of a ruleset in the order they are evaluated (``postcontent`` is Synapse's
#: MSC4306 class, between content and room; it holds nothing by default).
KINDS = ("override", "content", "postcontent", "room", "sender", "underride")


def is_keyword_rule(rule_id: str) -> bool:
    """Whether a content rule is one of the user's keywords (as Element reads them): every
    rule the server defines is named ``.…``."""
    return not rule_id.startswith(".")


def localpart(user_id: str) -> str:
    """``@alice:example.org`` → ``alice`` (as Synapse cuts it: up to the first colon)."""
    head = user_id.split(":", 1)[0]
    return head[1:]


def _match(key: str, pattern: str) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


def _one_to_one() -> dict[str, Any]:
    return {"kind": "room_member_count", "is": "2"}


def _highlight(value: bool = True) -> dict[str, Any]:
    # Synapse sends a bare tweak for true (the spec's default value) and an explicit false.
    return {"set_tweak": "highlight"} if value else {"set_tweak": "highlight", "value": False}


def _sound(value: str = "default") -> dict[str, Any]:
    return {"set_tweak": "sound", "value": value}


def _rule(rule_id: str, conditions: list[dict[str, Any]], actions: list[Any]) -> dict[str, Any]:
    return {
        "conditions": conditions,
        "actions": actions,
        "rule_id": rule_id,
        "default": True,
        "enabled": True,
    }


def _override(user_id: str) -> list[dict[str, Any]]:
    room_permission = {"kind": "sender_notification_permission", "key": "room"}
    master = _rule(".m.rule.master", [], [])
    master["enabled"] = False
    return [
        master,
        _rule(".m.rule.suppress_notices", [_match("content.msgtype", "m.notice")], []),
        _rule(
            ".m.rule.invite_for_me",
            [
                _match("type", "m.room.member"),
                _match("content.membership", "invite"),
                _match("state_key", user_id),
            ],
            ["notify", _highlight(False), _sound()],
        ),
        _rule(".m.rule.member_event", [_match("type", "m.room.member")], []),
        _rule(
            ".m.rule.is_user_mention",
            [
                {
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user_id,
                }
            ],
            ["notify", _highlight(), _sound()],
        ),
        _rule(
            ".m.rule.contains_display_name",
            [{"kind": "contains_display_name"}],
            ["notify", _highlight(), _sound()],
        ),
        _rule(
            ".m.rule.is_room_mention",
            [
                {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                room_permission,
            ],
            ["notify", _highlight()],
        ),
        _rule(
            ".m.rule.roomnotif",
            [room_permission, _match("content.body", "@room")],
            ["notify", _highlight()],
        ),
        _rule(
            ".m.rule.tombstone",
            [_match("type", "m.room.tombstone"), _match("state_key", "")],
            ["notify", _highlight()],
        ),
        _rule(".m.rule.reaction", [_match("type", "m.reaction")], []),
        _rule(
            ".m.rule.room.server_acl",
            [_match("type", "m.room.server_acl"), _match("state_key", "")],
            [],
        ),
        _rule(
            ".m.rule.suppress_edits",
            [
                {
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                }
            ],
            [],
        ),
        _rule(
            ".org.matrix.msc3930.rule.poll_response",
            [_match("type", "org.matrix.msc3381.poll.response")],
            [],
        ),
    ]


def _content(user_id: str) -> list[dict[str, Any]]:
    return [
        {
            "actions": ["notify", _highlight(), _sound()],
            "pattern": localpart(user_id),
            "rule_id": ".m.rule.contains_user_name",
            "default": True,
            "enabled": True,
        }
    ]


def _underride() -> list[dict[str, Any]]:
    quiet = _highlight(False)
    poll_start = _match("type", "org.matrix.msc3381.poll.start")
    poll_end = _match("type", "org.matrix.msc3381.poll.end")
    return [
        _rule(".m.rule.call", [_match("type", "m.call.invite")], ["notify", _sound("ring"), quiet]),
        _rule(
            ".m.rule.encrypted_room_one_to_one",
            [_match("type", "m.room.encrypted"), _one_to_one()],
            ["notify", _sound(), quiet],
        ),
        _rule(
            ".m.rule.room_one_to_one",
            [_match("type", "m.room.message"), _one_to_one()],
            ["notify", _sound(), quiet],
        ),
        _rule(".m.rule.message", [_match("type", "m.room.message")], ["notify", quiet]),
        _rule(".m.rule.encrypted", [_match("type", "m.room.encrypted")], ["notify", quiet]),
        _rule(
            ".im.vector.jitsi",
            [
                _match("type", "im.vector.modular.widgets"),
                _match("content.type", "jitsi"),
                _match("state_key", "*"),
            ],
            ["notify", quiet],
        ),
        _rule(
            ".org.matrix.msc3930.rule.poll_start_one_to_one",
            [_one_to_one(), poll_start],
            ["notify", _sound()],
        ),
        _rule(".org.matrix.msc3930.rule.poll_start", [poll_start], ["notify"]),
        _rule(
            ".org.matrix.msc3930.rule.poll_end_one_to_one",
            [_one_to_one(), poll_end],
            ["notify", _sound()],
        ),
        _rule(".org.matrix.msc3930.rule.poll_end", [poll_end], ["notify"]),
    ]


def server_default_rules(user_id: str) -> dict[str, Any]:
    """The ``global`` ruleset a server gives ``user_id`` before they change anything."""
    return {
        "override": _override(user_id),
        "content": _content(user_id),
        "postcontent": [],
        "room": [],
        "sender": [],
        "underride": _underride(),
    }

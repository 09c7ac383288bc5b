"""The spec's redaction algorithm (client-server spec "Redactions", room versions 1–12).

A redacted event keeps only what the room's authorisation needs; everything its sender wrote
goes. The store keeps redacted events in this form only, so a deleted message is gone from
the disk, not just hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: top-level keys every room version keeps
_KEYS = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
    }
)
#: and those only room versions 1–10 keep
_KEYS_BEFORE_V11 = frozenset({"prev_state", "membership", "origin"})
#: what a client also keeps in ``unsigned`` (as Synapse serves a redacted event)
_UNSIGNED = ("age_ts", "replaces_state")

#: the room version whose rules apply when the room's is unknown (the spec's default)
DEFAULT_ROOM_VERSION = "1"


def _version(room_version: str | None) -> int:
    """The room version as a number; an unknown (e.g. experimental) one gets the newest rules."""
    value = room_version or DEFAULT_ROOM_VERSION
    return int(value) if value.isascii() and value.isdigit() and len(value) < 4 else 12


def _content_keys(event_type: str, version: int) -> tuple[str, ...]:
    """The content keys the room version keeps for this event type (besides special cases)."""
    if event_type == "m.room.member":
        return (
            ("membership", "join_authorised_via_users_server") if version >= 9 else ("membership",)
        )
    if event_type == "m.room.create":
        return ("creator",)
    if event_type == "m.room.join_rules":
        return ("join_rule", "allow") if version >= 8 else ("join_rule",)
    if event_type == "m.room.power_levels":
        keys: tuple[str, ...] = ("ban", "events", "events_default", "kick", "redact")
        keys += ("state_default", "users", "users_default")
        return (*keys, "invite") if version >= 11 else keys
    if event_type == "m.room.aliases" and version <= 5:
        return ("aliases",)
    if event_type == "m.room.history_visibility":
        return ("history_visibility",)
    if event_type == "m.room.redaction" and version >= 11:
        return ("redacts",)
    return ()


def _pruned_content(event_type: str, content: Mapping[str, Any], version: int) -> dict[str, Any]:
    if event_type == "m.room.create" and version >= 11:
        return dict(content)  # room version 11: a create event keeps all its content
    kept = {k: content[k] for k in _content_keys(event_type, version) if k in content}
    if event_type == "m.room.member" and version >= 11:
        invite = content.get("third_party_invite")
        if isinstance(invite, dict):
            kept["third_party_invite"] = {k: v for k, v in invite.items() if k == "signed"}
    # Which event a relation points at is not what the sender wrote but where the event
    # belongs (MSC3389 keeps it too): without it a deleted edit, reaction or thread reply
    # would show up as a "[deleted]" message of its own in the main timeline.
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and isinstance(relates.get("rel_type"), str):
        kept["m.relates_to"] = {
            k: relates[k] for k in ("rel_type", "event_id") if isinstance(relates.get(k), str)
        }
    return kept


def prune_event(
    evt: Mapping[str, Any], redaction: Mapping[str, Any] | None, room_version: str | None
) -> dict[str, Any]:
    """``evt`` as the redaction algorithm of ``room_version`` leaves it, with the
    ``redaction`` that removed it in ``unsigned.redacted_because`` (as the server sends it)."""
    version = _version(room_version)
    keys = _KEYS if version >= 11 else _KEYS | _KEYS_BEFORE_V11
    pruned = {k: v for k, v in evt.items() if k in keys}
    if version >= 12 and evt.get("type") == "m.room.create":
        pruned.pop("room_id", None)  # room version 12: the create event's hash is the room id
    content = evt.get("content")
    pruned["content"] = _pruned_content(
        str(evt.get("type", "")), content if isinstance(content, dict) else {}, version
    )
    unsigned = evt.get("unsigned")
    unsigned = unsigned if isinstance(unsigned, dict) else {}
    kept_unsigned = {k: unsigned[k] for k in _UNSIGNED if k in unsigned}
    because = redaction if redaction is not None else unsigned.get("redacted_because")
    if isinstance(because, Mapping):
        kept_unsigned["redacted_because"] = dict(because)
    pruned["unsigned"] = kept_unsigned
    return pruned


def is_pruned(evt: Mapping[str, Any]) -> bool:
    """Whether ``evt`` is already in its redacted form."""
    unsigned = evt.get("unsigned")
    return isinstance(unsigned, dict) and "redacted_because" in unsigned

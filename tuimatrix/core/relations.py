"""Which events change others, and how: the rules every view of relations shares.

Edits (``m.replace``), redactions, reactions and thread replies are decided here once, so the
room timeline, the thread view and the store agree on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the relation type the store records redactions under (they have no ``m.relates_to``)
REDACTION = "m.redaction"
EDIT = "m.replace"
ANNOTATION = "m.annotation"
THREAD = "m.thread"


def is_redaction(evt: Mapping[str, Any]) -> bool:
    """A redaction the server checked: a plaintext ``m.room.redaction``. One that arrived
    encrypted was never checked against the sender's power level (anyone could send it)."""
    return evt.get("type") == "m.room.redaction" and "tm_e2ee" not in evt


def _level(value: Any, default: int) -> int:
    """A power level as the spec reads it (old rooms may carry numbers as strings)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def may_redact(
    redaction_sender: Any,
    target_sender: Any,
    power_levels: Mapping[str, Any] | None,
    create: Mapping[str, Any] | None,
) -> bool:
    """Whether a redaction by ``redaction_sender`` may remove an event of ``target_sender``.

    From room version 3 on, the server accepts a redaction into the room (and sends it to
    every client) before it knows the redacter may redact; applying it is the client's call
    (spec "Redactions": the sender of the original, or a power level of at least ``redact``).
    ``power_levels`` and ``create`` are the contents of the room's current state events.
    """
    if not isinstance(redaction_sender, str):
        return False
    if redaction_sender == target_sender:
        return True
    create = create or {}
    creators = {create.get("creator"), create.get("sender")}
    extra = create.get("additional_creators")
    if create.get("room_version") == "12" and redaction_sender in {
        *creators,
        *(extra if isinstance(extra, list) else []),
    }:
        return True  # room version 12: creators hold unlimited power
    if power_levels is None:
        # No power levels yet: the creator has 100 and everyone else 0 (spec).
        return redaction_sender in creators
    users = power_levels.get("users")
    users = users if isinstance(users, dict) else {}
    default = _level(power_levels.get("users_default"), 0)
    power = _level(users.get(redaction_sender), default)
    return power >= _level(power_levels.get("redact"), 50)


def _content(evt: Mapping[str, Any]) -> Mapping[str, Any]:
    content = evt.get("content")
    return content if isinstance(content, dict) else {}


def redaction_target(evt: Mapping[str, Any]) -> str | None:
    """The event a checked redaction removes (``redacts``: top level before room version 11,
    in the content since)."""
    if not is_redaction(evt):
        return None
    target = evt.get("redacts") or _content(evt).get("redacts")
    return target if isinstance(target, str) else None


def relation(evt: Mapping[str, Any]) -> tuple[str, str] | None:
    """(relation type, target event id) of an event that relates to another, redactions
    included (as REDACTION); None for the rest. Replies are not relations here."""
    target = redaction_target(evt)
    if target is not None:
        return REDACTION, target
    relates = _content(evt).get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    rel_type, target = relates.get("rel_type"), relates.get("event_id")
    if isinstance(rel_type, str) and isinstance(target, str):
        return rel_type, target
    return None


def edit_target(evt: Mapping[str, Any]) -> str | None:
    """The original an edit replaces, if ``evt`` is one that can be shown (has new content)."""
    rel = relation(evt)
    if rel is None or rel[0] != EDIT or not isinstance(_content(evt).get("m.new_content"), dict):
        return None
    return rel[1]


def edit_order(evt: Mapping[str, Any]) -> tuple[int, str]:
    """Sort key of edits: the newest is the greatest (spec "Event replacements": the highest
    ``origin_server_ts``, ties broken by the lexicographically largest event id)."""
    ts = evt.get("origin_server_ts")
    return (ts if isinstance(ts, int) else 0, str(evt.get("event_id", "")))


def newest_edit(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The edit that wins of two (either may be None)."""
    if a is None or b is None:
        return a or b
    return a if edit_order(a) >= edit_order(b) else b

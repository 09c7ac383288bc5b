"""What relation an event has to another: the shape of ``m.relates_to`` read once, for all.

Redactions have no ``m.relates_to`` but change their target like the rest, so :func:`relation`
reports them too (as :data:`REDACTION`). Replies (``m.in_reply_to``) only point at a message
to quote: they change nothing, and are read apart (:func:`reply_target`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: the relation type the store records redactions under (they have no ``m.relates_to``)
REDACTION = "m.redaction"
EDIT = "m.replace"
ANNOTATION = "m.annotation"
THREAD = "m.thread"


def content_of(evt: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event's content, or an empty mapping when it has none (a pruned or odd event)."""
    content = evt.get("content")
    return content if isinstance(content, dict) else {}


def relates_to(evt: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event's ``m.relates_to``, or an empty mapping."""
    relates = content_of(evt).get("m.relates_to")
    return relates if isinstance(relates, dict) else {}


def is_redaction(evt: Mapping[str, Any]) -> bool:
    """A redaction the server checked: a plaintext ``m.room.redaction``. One that arrived
    encrypted was never checked against the sender's power level (anyone could send it)."""
    return evt.get("type") == "m.room.redaction" and "tm_e2ee" not in evt


def redaction_target(evt: Mapping[str, Any]) -> str | None:
    """The event a checked redaction removes (``redacts``: top level before room version 11,
    in the content since)."""
    if not is_redaction(evt):
        return None
    target = evt.get("redacts") or content_of(evt).get("redacts")
    return target if isinstance(target, str) else None


def relation(evt: Mapping[str, Any]) -> tuple[str, str] | None:
    """(relation type, target event id) of an event that relates to another, redactions
    included (as REDACTION); None for the rest. Replies are not relations here."""
    target = redaction_target(evt)
    if target is not None:
        return REDACTION, target
    relates = content_of(evt).get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    rel_type, target = relates.get("rel_type"), relates.get("event_id")
    if isinstance(rel_type, str) and isinstance(target, str):
        return rel_type, target
    return None


def relation_targets(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """The events that ``events`` edit, redact, react to or reply in a thread to."""
    return {rel[1] for evt in events if (rel := relation(evt)) is not None}


def reply_target(evt: Mapping[str, Any]) -> str | None:
    """The message ``evt`` replies to (``m.in_reply_to``), if it is a reply."""
    reply = relates_to(evt).get("m.in_reply_to")
    target = reply.get("event_id") if isinstance(reply, dict) else None
    return target if isinstance(target, str) else None


def is_relation(evt: Mapping[str, Any]) -> bool:
    """Events that change other items (edits, redactions, reactions, thread replies: their
    root's summary) rather than add one. Encrypted redactions too: a view rebuilds, and
    :func:`redactions.redaction_target` decides whether they remove anything."""
    if evt.get("type") in ("m.room.redaction", "m.reaction"):
        return True
    relates = relates_to(evt)
    rel_type = relates.get("rel_type")
    return rel_type == EDIT or (rel_type == THREAD and isinstance(relates.get("event_id"), str))

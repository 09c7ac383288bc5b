"""Redactions: who may remove whose event, and which redactions a view applies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tuimatrix.core.redaction import is_pruned
from tuimatrix.core.relations.kinds import redaction_target


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


def shown_redactions(
    events: Iterable[Mapping[str, Any]], by_id: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """Target id -> the redaction that removes it from view, of the redactions in ``events``.

    ``by_id`` holds the events in hand. A redaction counts when its target is not in hand, is
    already pruned (the store applied it, having checked the redacter's power with
    :func:`may_redact`), or was sent by the redacter itself: a forged redaction by someone
    without power must not blank another's message on screen either.
    """
    shown: dict[str, Mapping[str, Any]] = {}
    for evt in events:
        target = redaction_target(evt)
        if target is None:
            continue
        redacted = by_id.get(target)
        if redacted is None or is_pruned(redacted) or redacted.get("sender") == evt.get("sender"):
            shown[target] = evt
    return shown

"""Reactions (``m.annotation``, spec "Reactions"): who reacted to which message with what."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from tuimatrix.core.relations.kinds import ANNOTATION, relates_to
from tuimatrix.core.relations.redactions import shown_redactions

#: target event id -> reaction key -> the senders, an ordered set (first reaction first)
Reactions = dict[str, dict[str, dict[str, None]]]


def reactions(
    events: Iterable[Mapping[str, Any]], redacted: Collection[str] | None = None
) -> Reactions:
    """The reactions among ``events``, each sender counted once per key (as the spec asks).

    ``redacted``: the reactions taken back; by default those a redaction among ``events``
    takes back by the rule the timeline's counts follow (:func:`.redactions.shown_redactions`:
    a redaction by someone else of a reaction in hand counts only once the store applied it).
    """
    events = events if isinstance(events, (list, tuple)) else list(events)
    if redacted is None:
        redacted = shown_redactions(events, {str(e.get("event_id")): e for e in events})
    out: Reactions = {}
    for evt in events:
        if evt.get("type") != "m.reaction" or evt.get("event_id") in redacted:
            continue
        relates = relates_to(evt)
        if relates.get("rel_type") != ANNOTATION:
            continue
        target, key = relates.get("event_id"), relates.get("key")
        if isinstance(target, str) and isinstance(key, str) and key:
            out.setdefault(target, {}).setdefault(key, {})[str(evt.get("sender"))] = None
    return out

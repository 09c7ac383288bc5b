"""Edits (spec "Event replacements"): which ``m.replace`` of a message is the one shown.

One rule for every view (room timeline, thread view and its summaries, the edit, quote, copy
and media commands): the newest edit, by ``edit_order``, among those that carry
``m.new_content``, were sent by the original's sender, and are not themselves redacted. An
edit of an edit replaces nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from tuimatrix.core.relations.kinds import EDIT, content_of, relation
from tuimatrix.core.relations.redactions import shown_redactions


def edit_target(evt: Mapping[str, Any]) -> str | None:
    """The original an edit replaces, if ``evt`` is one that can be shown (has new content)."""
    rel = relation(evt)
    if rel is None or rel[0] != EDIT or not isinstance(content_of(evt).get("m.new_content"), dict):
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


def new_content(edit: Mapping[str, Any]) -> dict[str, Any]:
    """What an edit (one :func:`edit_target` accepts) says the message now is."""
    new = content_of(edit).get("m.new_content")
    return new if isinstance(new, dict) else {}


def bundled_edit(evt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The newest edit the server bundled with ``evt`` (a whole event since spec v1.7)."""
    unsigned = evt.get("unsigned")
    relations = unsigned.get("m.relations") if isinstance(unsigned, dict) else None
    edit = relations.get(EDIT) if isinstance(relations, dict) else None
    if isinstance(edit, dict) and isinstance(edit.get("content"), dict) and "event_id" in edit:
        return edit
    return None


class Edits:
    """The edits among a batch of events, to look up the one shown for any original.

    Kept per (original, sender): the original may not be among the events, and a newer
    "edit" by someone else must not hide the sender's own.
    """

    __slots__ = ("_newest",)

    def __init__(self, events: Iterable[Mapping[str, Any]], redacted: Collection[str] = ()) -> None:
        """``redacted``: the event ids whose redaction the caller honours (an edit taken back
        no longer counts)."""
        self._newest: dict[tuple[str, Any], Mapping[str, Any]] = {}
        for evt in events:
            original = edit_target(evt)
            if original is None or evt.get("event_id") in redacted:
                continue
            key = (original, evt.get("sender"))
            self._newest[key] = newest_edit(self._newest.get(key), evt) or evt

    def __bool__(self) -> bool:
        return bool(self._newest)

    def newest(self, original_id: str, original_sender: Any) -> Mapping[str, Any] | None:
        """The edit shown for the message ``original_id`` that ``original_sender`` sent."""
        return self._newest.get((original_id, original_sender)) if self._newest else None

    def shown(self, original: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The edit shown for ``original`` (None for an edit: an edit of one replaces nothing)."""
        if not self._newest or edit_target(original) is not None:
            return None
        return self.newest(str(original.get("event_id", "")), original.get("sender"))

    def shown_content(self, original: Mapping[str, Any]) -> Mapping[str, Any]:
        """``original``'s content as shown: its newest edit's new content, else its own."""
        edit = self.shown(original)
        return new_content(edit) if edit is not None else content_of(original)


def shown_edits(events: Iterable[Mapping[str, Any]]) -> Edits:
    """The edits among ``events`` as the timeline shows them: an edit that a redaction among
    ``events`` takes back (by the timeline's rule, :func:`.redactions.shown_redactions`)
    no longer counts."""
    events = list(events)
    by_id = {str(evt.get("event_id")): evt for evt in events}
    return Edits(events, shown_redactions(events, by_id))


def shown_content(
    original: Mapping[str, Any], loaded: Iterable[Mapping[str, Any]] = ()
) -> Mapping[str, Any]:
    """``original``'s content as shown, of the edits among ``loaded`` (those a redaction
    among them took back left out, as the timeline leaves them) and the one the server
    bundled with it."""
    bundled = bundled_edit(original)
    return shown_edits([*loaded, *([bundled] if bundled else [])]).shown_content(original)

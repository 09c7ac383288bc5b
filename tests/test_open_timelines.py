"""An account's open timelines: what commands read as "loaded" (core/open_timelines.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuimatrix.core.open_timelines import OpenTimelines


@dataclass
class Window:
    room_id: str
    events: list[dict[str, Any]] = field(default_factory=list)


def evt(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "type": "m.room.message", "content": {"body": event_id}}


def test_a_rooms_loaded_events_are_its_window_and_its_open_threads_each_once() -> None:
    timelines = OpenTimelines()
    room = Window("!r:x", [evt("$root"), evt("$1")])
    thread = Window("!r:x", [evt("$root"), evt("$t1")])  # a thread repeats its root
    other = Window("!o:x", [evt("$elsewhere")])
    for window in (room, thread, other):
        timelines.open(window)
    timelines.open(room)  # opening twice keeps one
    ids = [e["event_id"] for e in timelines.loaded_events("!r:x")]
    assert ids == ["$root", "$1", "$t1"]
    assert timelines.of_room("!r:x") == [room, thread]
    timelines.close(thread)
    assert [e["event_id"] for e in timelines.loaded_events("!r:x")] == ["$root", "$1"]
    timelines.close(room)
    assert timelines.loaded_events("!r:x") == [] and timelines.of_room("!o:x") == [other]


def test_a_window_read_later_is_read_as_it_is_then() -> None:
    """The account keeps the model, not a copy: what a page loads later is seen."""
    timelines = OpenTimelines()
    room = Window("!r:x")
    timelines.open(room)
    room.events.append(evt("$late"))
    assert [e["event_id"] for e in timelines.loaded_events("!r:x")] == ["$late"]

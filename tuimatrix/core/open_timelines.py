"""The timelines an account has open: the windows of events its room and thread views have
loaded, so that commands read what is loaded from core, never from a screen.

A view opens its model (``core/room_timeline.py``, ``core/thread_timeline.py``) here when it
mounts and closes it when it goes; ``exec`` and the shell open none, and a command there sees
nothing loaded (it reads the store instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Event = dict[str, Any]


class LoadedTimeline(Protocol):
    """What a room's or a thread's timeline model offers here."""

    @property
    def room_id(self) -> str: ...

    @property
    def events(self) -> Sequence[Event]:
        """The loaded events, oldest first."""


class OpenTimelines:
    """An account's open timelines, by room (a room's window and its open threads)."""

    def __init__(self) -> None:
        self._open: list[LoadedTimeline] = []

    def open(self, timeline: LoadedTimeline) -> None:
        if not any(t is timeline for t in self._open):
            self._open.append(timeline)

    def close(self, timeline: LoadedTimeline) -> None:
        self._open = [t for t in self._open if t is not timeline]

    def of_room(self, room_id: str) -> list[LoadedTimeline]:
        return [t for t in self._open if t.room_id == room_id]

    def loaded_events(self, room_id: str) -> list[Event]:
        """Every event the room's open timelines hold (its window's and its open threads',
        each oldest first), each event once."""
        seen: set[str] = set()
        events: list[Event] = []
        for timeline in self.of_room(room_id):
            for evt in timeline.events:
                key = evt.get("event_id")
                if isinstance(key, str):
                    if key in seen:
                        continue
                    seen.add(key)
                events.append(evt)
        return events

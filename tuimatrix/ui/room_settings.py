"""Per-room view choices kept between runs: the message format, hidden membership events.

One small JSON file in the platform state dir, keyed by account and room, written atomically
(in a thread: fsync may be slow). A missing file is the first run; an unreadable one means the
config defaults, with a one-line notice, never a failure to start.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuimatrix.core.timeline import FORMATS
from tuimatrix.paths import Paths
from tuimatrix.ui.state_files import StateFile, corrupt, read_state

VERSION = 1
LABEL = "room settings"
#: setting name -> the values it may take (anything else in the file is dropped on load)
SETTINGS: dict[str, tuple[object, ...]] = {
    "format": FORMATS,
    "hide-membership-events": (True, False),
}

Value = str | bool


def settings_file(paths: Paths) -> Path:
    return paths.state_dir / "rooms.json"


def _room_key(user_id: str, room_id: str) -> str:
    return f"{user_id}|{room_id}"


class RoomSettings(StateFile):
    """The saved per-room choices; ``path`` None keeps them in memory only."""

    def __init__(self, path: Path | None, rooms: dict[str, dict[str, Value]] | None = None):
        super().__init__(path)
        self.rooms: dict[str, dict[str, Value]] = {k: dict(v) for k, v in (rooms or {}).items()}
        self.mark_saved()

    @classmethod
    def load(cls, paths: Paths) -> tuple[RoomSettings, str]:
        """The saved choices, and a notice ("" if none) when the file was unusable."""
        path = settings_file(paths)
        data, notice = read_state(path, LABEL, VERSION)
        if data is None:
            return cls(path), notice
        rooms = data.get("rooms")
        if not isinstance(rooms, dict):
            return cls(path), corrupt(path, LABEL, "bad rooms")
        return cls(path, _rooms(rooms)), ""

    def get(self, user_id: str, room_id: str, name: str) -> Value | None:
        """The room's own choice for ``name``, or None (then the config default applies)."""
        return self.rooms.get(_room_key(user_id, room_id), {}).get(name)

    def set(self, user_id: str, room_id: str, name: str, value: Value) -> None:
        if value not in SETTINGS[name]:
            raise ValueError(f"{name}: {value!r} is not one of {SETTINGS[name]}")
        self.rooms.setdefault(_room_key(user_id, room_id), {})[name] = value

    def dump(self) -> bytes:
        data = {"version": VERSION, "rooms": self.rooms}
        return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")


def _rooms(rooms: dict[str, object]) -> dict[str, dict[str, Value]]:
    result: dict[str, dict[str, Value]] = {}
    for key, values in rooms.items():
        if not isinstance(key, str) or not isinstance(values, dict):
            continue
        # A value this version does not know is skipped, not fatal: the default applies.
        kept = {
            name: value
            for name, value in values.items()
            if name in SETTINGS and isinstance(value, str | bool) and value in SETTINGS[name]
        }
        if kept:
            result[key] = kept
    return result

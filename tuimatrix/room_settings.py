"""Per-room view choices kept between runs: the message format, hidden membership events.

One small JSON file in the platform state dir, keyed by account and room, written atomically
(in a thread: fsync may be slow). A missing file is the first run; an unreadable one means the
config defaults, with a one-line notice, never a failure to start.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tuimatrix.core.files import write_atomic
from tuimatrix.core.timeline import FORMATS
from tuimatrix.paths import Paths

VERSION = 1
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


class RoomSettings:
    """The saved per-room choices; ``path`` None keeps them in memory only."""

    def __init__(self, path: Path | None, rooms: dict[str, dict[str, Value]] | None = None):
        self.path = path
        self.rooms: dict[str, dict[str, Value]] = {k: dict(v) for k, v in (rooms or {}).items()}
        self._saved = self.dump()
        self._lock = asyncio.Lock()

    @classmethod
    def load(cls, paths: Paths) -> tuple[RoomSettings, str]:
        """The saved choices, and a notice ("" if none) when the file was unusable."""
        path = settings_file(paths)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path), ""
        except OSError as e:
            return cls(path), f"room settings: cannot read {path} ({e.strerror}); defaults"
        try:
            rooms = _parse(raw)
        except ValueError as e:
            return cls(path), f"room settings: {path} is corrupt ({e}); defaults"
        return cls(path, rooms), ""

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

    async def save(self) -> None:
        """Write the choices as they are now; calls queue up, so the newest always wins."""
        async with self._lock:
            data = self.dump()
            if self.path is None or data == self._saved:
                return
            await asyncio.to_thread(write_atomic, self.path, data)
            self._saved = data


def _parse(raw: bytes) -> dict[str, dict[str, Value]]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("unknown format")
    rooms = data.get("rooms")
    if not isinstance(rooms, dict):
        raise ValueError("bad rooms")
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

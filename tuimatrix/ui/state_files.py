"""Small JSON files of UI state (room-list folds, per-room view choices) kept between runs.

Each is read once at start; a missing file is the first run, an unreadable or corrupt one
means the defaults with a one-line notice, never a failure to start. Writes are atomic, in a
thread (fsync may be slow), queued so that the newest state always lands last.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def read_state(path: Path, label: str, version: int) -> tuple[dict[str, Any] | None, str]:
    """The file's top-level object (None if there is none to use) and a notice ("" if none).

    ``label`` names the file in the notice ("room list", "room settings").
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        return None, f"{label}: cannot read {path} ({e.strerror}); defaults"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, f"{label}: {path} is corrupt (not JSON); defaults"
    if not isinstance(data, dict) or data.get("version") != version:
        return None, f"{label}: {path} is corrupt (unknown format); defaults"
    return data, ""


def corrupt(path: Path, label: str, what: str) -> str:
    """The notice for a file whose format is right but whose ``what`` is not."""
    return f"{label}: {path} is corrupt ({what}); defaults"


class StateFile:
    """Saving for a state object: ``dump()`` says what to write to ``path`` (None: memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._saved = b""
        self._lock = asyncio.Lock()

    def dump(self) -> bytes:
        raise NotImplementedError

    def mark_saved(self) -> None:
        """What is in memory now is what the file holds (just read from it)."""
        self._saved = self.dump()

    async def save(self) -> None:
        """Write the state as it is now; calls queue up, so the newest always wins."""
        from tuimatrix.core.files import write_atomic

        async with self._lock:
            data = self.dump()
            if self.path is None or data == self._saved:
                return
            await asyncio.to_thread(write_atomic, self.path, data)
            self._saved = data

    def save_now(self) -> None:
        """Write at once, on this thread (at exit, when no later write can follow)."""
        from tuimatrix.core.files import write_atomic

        data = self.dump()
        if self.path is not None and data != self._saved:
            try:
                write_atomic(self.path, data)
            except OSError as e:  # at exit there is no screen left to say it on
                log.warning("cannot save %s: %s", self.path, e.strerror or e)
                return
            self._saved = data

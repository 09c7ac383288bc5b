"""UI state kept between runs: which room-list sections and space subtrees are folded.

One small JSON file per set of accounts in the platform state dir (logging in a second account
starts from that pair's own folds), written atomically. A missing file is the first run; an
unreadable one means the defaults, with a one-line notice, never a failure to start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from tuimatrix.paths import Paths
from tuimatrix.ui.state_files import StateFile, corrupt, read_state

VERSION = 1
LABEL = "room list"


def state_file(paths: Paths, user_ids: Iterable[str]) -> Path:
    """The room list's state file for this set of accounts (named by a digest of the ids)."""
    digest = hashlib.sha256("\n".join(sorted(user_ids)).encode("utf-8")).hexdigest()[:16]
    return paths.state_dir / f"room-list-{digest}.json"


def section_key(section_id: str) -> str:
    return f"section:{section_id}"


def space_key(user_id: str, space_id: str) -> str:
    return f"space:{user_id}|{space_id}"


class RoomListState(StateFile):
    """The folds of one account set; ``path`` None keeps them in memory only (no accounts)."""

    def __init__(
        self, path: Path | None, user_ids: Iterable[str] = (), folds: dict[str, bool] | None = None
    ) -> None:
        super().__init__(path)
        self.user_ids = sorted(user_ids)
        self.folds: dict[str, bool] = dict(folds or {})
        if folds is not None:
            self.mark_saved()

    @classmethod
    def load(cls, paths: Paths, user_ids: Iterable[str]) -> tuple[RoomListState, str]:
        """The saved state of these accounts, and a notice ("" if none) when it was unusable."""
        users = sorted(user_ids)
        if not users:
            return cls(None), ""
        path = state_file(paths, users)
        data, notice = read_state(path, LABEL, VERSION)
        if data is None:
            return cls(path, users), notice
        folds = data.get("folds")
        if not isinstance(folds, dict) or not all(
            isinstance(k, str) and isinstance(v, bool) for k, v in folds.items()
        ):
            return cls(path, users), corrupt(path, LABEL, "bad folds")
        return cls(path, users, folds), ""

    def is_folded(self, key: str) -> bool:
        return self.folds.get(key, False)

    def toggle(self, key: str) -> bool:
        """Fold ``key`` if it was open, open it if it was folded; returns the new state."""
        self.folds[key] = folded = not self.is_folded(key)
        return folded

    def dump(self) -> bytes:
        data = {"version": VERSION, "accounts": self.user_ids, "folds": self.folds}
        return json.dumps(data, indent=1, sort_keys=True).encode("utf-8")

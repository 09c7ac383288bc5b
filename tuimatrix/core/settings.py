"""The few config.toml settings that core itself needs, read without the UI's config module.

``tuimatrix.config`` reads and checks the whole file for the app (and reports bad entries);
``exec`` and ``shell`` run commands without loading Textual, so what a command's behaviour
depends on is read here, straight from the TOML, falling back to the default on any problem.
"""

from __future__ import annotations

import tomllib
from typing import Any

from tuimatrix.paths import Paths


def _table(paths: Paths, name: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(paths.config_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    table = data.get(name)
    return table if isinstance(table, dict) else {}


def encrypt_new_rooms(paths: Paths) -> bool:
    """``[encryption] new-rooms``: new private rooms and direct chats are encrypted (default)."""
    value = _table(paths, "encryption").get("new-rooms", True)
    return value if isinstance(value, bool) else True

"""The few config.toml settings that core itself needs, read without the UI's config module.

``tuimatrix.config`` reads and checks the whole file for the app (and reports bad entries);
``exec`` and ``shell`` run commands without loading Textual, so what a command's behaviour
depends on is read here, straight from the TOML, falling back to the default on any problem.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tuimatrix.paths import Paths


def read_config_file(path: Path) -> tuple[dict[str, Any], str, str]:
    """config.toml's tables, its text, and a problem line ("" if none).

    A missing file is no problem; an unreadable one, text that is not UTF-8 or not TOML is
    one line naming the file (and the line, where known) and means the defaults.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, "", ""
    except OSError as e:
        return {}, "", f"{path}: cannot read: {(e.strerror or str(e)).lower()} (defaults used)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return {}, "", f"{path}:{line}: not UTF-8 text (the whole file is ignored)"
    try:
        return tomllib.loads(text), text, ""
    except tomllib.TOMLDecodeError as e:
        return {}, text, f"{path}: {e} (the whole file is ignored)"


def _table(paths: Paths, name: str) -> dict[str, Any]:
    data, _text, _problem = read_config_file(paths.config_file)
    table = data.get(name)
    return table if isinstance(table, dict) else {}


def encrypt_new_rooms(paths: Paths) -> bool:
    """``[encryption] new-rooms``: new private rooms and direct chats are encrypted (default)."""
    value = _table(paths, "encryption").get("new-rooms", True)
    return value if isinstance(value, bool) else True

"""config.toml: typed settings, read with tomllib. A bad entry is reported, never fatal.

Keys (so far)::

    [keys]                    # everywhere
    "ctrl+f" = "tag-room favourite"
    "f5" = ["join-room #team:example.org", "open-room #team:example.org"]   # a macro
    [keys.room-list]          # on the room list only
    "x" = "close-room"
    [keys.room]               # in a room only
    "escape" = ""             # unbind a default
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.keys import Keys

from tuimatrix.commands import UsageError, parse_line

#: The keymap scopes: everywhere, and per screen.
SCOPES = ("global", "room-list", "room")

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_KEY_NAMES = {k.value for k in Keys} | {
    "enter", "escape", "tab", "space", "backspace", "delete", "insert", "home", "end",
    "pageup", "pagedown", "up", "down", "left", "right",
    *(f"f{i}" for i in range(1, 25)),
}  # fmt: skip


@dataclass
class Config:
    #: scope -> key -> command lines (an empty list unbinds the key's default)
    keys: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {s: {} for s in SCOPES})
    #: one line per problem: "FILE:LINE: reason"
    errors: list[str] = field(default_factory=list)


def valid_key(key: str) -> bool:
    """``ctrl+f``, ``f5``, ``a``, ``shift+enter``…: modifiers, then one key."""
    *mods, base = key.split("+")
    if any(m not in _MODIFIERS for m in mods) or not base:
        return False
    return len(base) == 1 or base in _KEY_NAMES


def _line_of(text: str, key: str) -> int:
    """The line where ``key`` is assigned (tomllib keeps no positions)."""
    pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def load_config(path: Path) -> Config:
    config = Config()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return config
    except OSError as e:
        config.errors.append(f"{path}: cannot read: {e.strerror}")
        return config
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        config.errors.append(f"{path}: {e} (the whole file is ignored)")
        return config
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        config.errors.append(f"{path}:{_line_of(text, 'keys')}: [keys] must be a table")
        return config
    for name, value in keys.items():
        if isinstance(value, dict):
            if name not in SCOPES[1:]:
                config.errors.append(
                    f"{path}:{_line_of(text, name)}: unknown keys section [keys.{name}] "
                    f"(sections: {', '.join(SCOPES[1:])})"
                )
                continue
            for key, lines in value.items():
                _add(config, path, text, name, key, lines)
        else:
            _add(config, path, text, "global", name, value)
    return config


def _add(config: Config, path: Path, text: str, scope: str, key: str, value: object) -> None:
    where = f"{path}:{_line_of(text, key)}"
    if not valid_key(key):
        config.errors.append(f"{where}: {key!r} is not a key (e.g. ctrl+f, f5, a, shift+enter)")
        return
    if value == "":
        config.keys[scope][key] = []
        return
    lines = [value] if isinstance(value, str) else value
    if not isinstance(lines, list) or not lines or not all(isinstance(v, str) for v in lines):
        config.errors.append(f'{where}: {key}: a command line, a list of them, or ""')
        return
    for line in lines:
        try:
            parse_line(line)
        except UsageError as e:
            config.errors.append(f"{where}: {key}: {e}")
            return
    config.keys[scope][key] = list(lines)

"""config.toml: typed settings, read with tomllib. A bad entry is reported, never fatal.

Keys (so far)::

    [keys]                    # everywhere
    "ctrl+f" = "tag-room favourite"
    "f5" = ["join-room #team:example.org", "open-room #team:example.org"]   # a macro
    [keys.room-list]          # on the room list only
    "x" = "close-room"
    [keys.room]               # in a room only
    "escape" = ""             # unbind a default

    [room-list]               # the room list (every key optional; these are the defaults)
    # the sections, in order; also "rooms" (spaced and unspaced rooms together)
    sections = ["invites", "favourites", "open", "unread", "spaces", "spaced", "unspaced",
                "people", "low-priority"]
    sort = "unread-then-recent"   # within a section; or "recent", or "name"
    # the columns, in order ("name" always shows; narrow terminals drop the least important)
    columns = ["name", "unread", "activity", "topic", "members", "notifications", "account"]
    [room-list.section-sort]  # a sort for one section
    people = "name"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textual.keys import Keys

from tuimatrix.commands import UsageError, parse_line
from tuimatrix.core.sections import DEFAULT_SECTIONS, DEFAULT_SORT, SECTION_TITLES, SORTS

#: The keymap scopes: everywhere, and per screen.
SCOPES = ("global", "room-list", "room")

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_KEY_NAMES = {k.value for k in Keys} | {
    "enter", "escape", "tab", "space", "backspace", "delete", "insert", "home", "end",
    "pageup", "pagedown", "up", "down", "left", "right",
    *(f"f{i}" for i in range(1, 25)),
}  # fmt: skip


#: The room list's columns, most important first: a narrow terminal drops them from the end.
COLUMNS = ("name", "unread", "activity", "account", "members", "notifications", "topic")
#: The columns shown by default, in display order.
DEFAULT_COLUMNS = ("name", "unread", "activity", "topic", "members", "notifications", "account")


@dataclass
class RoomListConfig:
    """``[room-list]``: what the room list shows, and in which order."""

    #: section ids, in display order (see ``tuimatrix.core.sections.SECTION_TITLES``)
    sections: tuple[str, ...] = DEFAULT_SECTIONS
    #: the order within sections: ``unread-then-recent``, ``recent`` or ``name``
    sort: str = DEFAULT_SORT
    #: section id -> its own sort, over ``sort``
    section_sort: dict[str, str] = field(default_factory=dict)
    #: column ids, in display order (``name`` is always shown)
    columns: tuple[str, ...] = DEFAULT_COLUMNS


@dataclass
class Config:
    #: scope -> key -> command lines (an empty list unbinds the key's default)
    keys: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {s: {} for s in SCOPES})
    room_list: RoomListConfig = field(default_factory=RoomListConfig)
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
    room_list = data.get("room-list", {})
    if isinstance(room_list, dict):
        config.room_list = _room_list(room_list, path, text, config.errors)
    else:
        config.errors.append(f"{path}:{_line_of(text, 'room-list')}: [room-list] must be a table")
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


def _names(
    value: object, known: Sequence[str], what: str, where: str, errors: list[str]
) -> list[str]:
    """The known names of a list setting; each unknown one is reported and skipped."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{where}: {what} must be a list of names ({', '.join(known)})")
        return list(known)
    for name in value:
        if name not in known:
            errors.append(f"{where}: {what}: unknown {name!r} (one of {', '.join(known)})")
    return [name for name in dict.fromkeys(value) if name in known]


def _room_list(
    table: dict[str, object], path: Path, text: str, errors: list[str]
) -> RoomListConfig:
    result = RoomListConfig()
    for key, value in table.items():
        where = f"{path}:{_line_of(text, key)}"
        if key == "sections":
            result.sections = tuple(_names(value, list(SECTION_TITLES), key, where, errors))
        elif key == "columns":
            columns = _names(value, DEFAULT_COLUMNS, key, where, errors)
            result.columns = tuple(columns if "name" in columns else ["name", *columns])
        elif key == "sort":
            if value in SORTS:
                result.sort = str(value)
            else:
                errors.append(f"{where}: sort: one of {', '.join(SORTS)}, not {value!r}")
        elif key == "section-sort":
            if not isinstance(value, dict):
                errors.append(f"{where}: section-sort must be a table (section = sort)")
                continue
            for section, sort in value.items():
                if section not in SECTION_TITLES:
                    errors.append(f"{where}: section-sort: unknown section {section!r}")
                elif sort not in SORTS:
                    errors.append(f"{where}: section-sort: {section}: one of {', '.join(SORTS)}")
                else:
                    result.section_sort[section] = str(sort)
        else:
            errors.append(
                f"{where}: unknown room-list setting {key!r} "
                "(sections, sort, section-sort, columns)"
            )
    return result

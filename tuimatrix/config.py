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

    [room]                    # rooms (each room's own choice, made in the app, wins)
    format = "elemental"      # or "irc": sender and time in columns
    hide-membership-events = false

    [encryption]
    new-rooms = true          # new private rooms and direct chats are end-to-end encrypted

    [[hooks]]                 # a program run on events (core/hook_config.py; any number)
    command = ["notify-send", "Matrix"]   # an argv list: no shell; the event's JSON on stdin
    mention = true            # filters, all optional: mention, room, sender, type, keyword
    timeout = 10              # seconds; then its process group is killed
    [hook-runner]
    max-running = 3           # hooks running at once; more wait (a bounded queue)

    [notifications]           # alerts for messages that notify (mentions, DMs, ...)
    enabled = true
    desktop = true            # each channel on or off: desktop notifications (D-Bus),
    terminal = "auto"         # the terminal's own (or "osc9", "osc777", "osc99", "off"),
    bell = true               # the bell, and a count in the terminal title
    title = true
    highlight = ["desktop", "terminal", "bell", "title"]   # what mentions and keywords use
    other = ["title"]         # what other notifying messages use (the status line: always)
    show-encrypted-text = false   # in encrypted rooms: room and sender only
    rate-limit = 30           # seconds between two alerts of one room
    summary-after = 5         # more in one sync (or a catch-up): one summary

    [media]
    download-dir = "~/Downloads/matrix"   # default: the platform's download directory
    opener = "xdg-open"                   # default: xdg-open (open on macOS)

The one reader of config.toml, for the app and for ``exec`` and ``shell`` alike: it imports no
Textual (key names are checked against a table of Textual's), so the command line can use it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuimatrix.commands import UsageError, parse_line
from tuimatrix.core.alert_policy import CHANNELS, TERMINAL_CHOICES, AlertSettings
from tuimatrix.core.hook_config import HookSettings, parse_hooks
from tuimatrix.core.sections import DEFAULT_SECTIONS, DEFAULT_SORT, SECTION_TITLES, SORTS
from tuimatrix.core.timeline import FORMATS
from tuimatrix.paths import Paths

#: ``[room] read-receipts``: the receipt type sent, ``m.read`` or ``m.read.private``.
READ_RECEIPTS = ("public", "private")

#: The keymap scopes: everywhere, and per screen.
SCOPES = ("global", "room-list", "room", "thread")

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
#: The values of ``textual.keys.Keys`` (textual 8.2) that name one key, without a modifier:
#: the only ones a key's last ``+`` part can match. Kept here so that reading the config needs
#: no Textual; tests/test_config.py checks the table against the installed Textual.
TEXTUAL_KEY_NAMES = frozenset({
    "<any>", "<ignore>", "<scroll-down>", "<scroll-up>", "backspace", "ctrl-at", "delete",
    "down", "end", "enter", "escape", "home", "insert", "left", "pagedown", "pageup", "return",
    "right", "space", "tab", "up",
    *(f"f{i}" for i in range(1, 25)),
})  # fmt: skip


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
class MediaConfig:
    """``[media]``: where downloads go and what opens them."""

    #: the download directory (default: the platform's, or TUIMATRIX_HOME/downloads)
    download_dir: Path | None = None
    #: the program that opens files and links (default: xdg-open, or open on macOS)
    opener: str | None = None


@dataclass
class RoomConfig:
    """``[room]``: defaults for rooms that have no choice of their own saved."""

    #: the message format: ``elemental`` (a sender header over each run) or ``irc``
    format: str = "elemental"
    #: hide joins, leaves, invites and name changes (toggle-membership-events, per room)
    hide_membership_events: bool = False
    #: rows of a message body shown before "… N more lines" (space on it shows all)
    max_message_lines: int = 40
    #: ``public`` (``m.read``: others see how far you read) or ``private`` (``m.read.private``:
    #: only your own devices and the server's unread counts see it)
    read_receipts: str = "public"

    @property
    def private_receipts(self) -> bool:
        """Whether read receipts go as ``m.read.private`` (what every receipt sent asks)."""
        return self.read_receipts == "private"


@dataclass
class EncryptionConfig:
    """``[encryption]``: end-to-end encryption of the rooms this client creates."""

    #: new private rooms and direct chats are end-to-end encrypted
    new_rooms: bool = True


#: ``[notifications]``: which notifying messages alert, and how (``core/alert_policy.py``)
NotificationsConfig = AlertSettings


@dataclass
class Config:
    #: scope -> key -> command lines (an empty list unbinds the key's default)
    keys: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {s: {} for s in SCOPES})
    room_list: RoomListConfig = field(default_factory=RoomListConfig)
    room: RoomConfig = field(default_factory=RoomConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    #: ``[[hooks]]`` and ``[hook-runner]``: programs run on events (core/hook_config.py)
    hooks: HookSettings = field(default_factory=HookSettings)
    #: one line per problem: "FILE:LINE: reason"
    errors: list[str] = field(default_factory=list)


def valid_key(key: str) -> bool:
    """``ctrl+f``, ``f5``, ``a``, ``shift+enter``…: modifiers, then one key."""
    *mods, base = key.split("+")
    if any(m not in _MODIFIERS for m in mods) or not base:
        return False
    return len(base) == 1 or base in TEXTUAL_KEY_NAMES


def _line_of(text: str, key: str) -> int:
    """The line where ``key`` is assigned (tomllib keeps no positions)."""
    pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


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


def encrypt_new_rooms(paths: Paths) -> bool:
    """``[encryption] new-rooms``, read afresh: a change applies to the next room created."""
    return load_config(paths.config_file).encryption.new_rooms


def load_config(path: Path) -> Config:
    config = Config()
    data, text, problem = read_config_file(path)
    if problem:
        config.errors.append(problem)
        return config
    room_list = data.get("room-list", {})
    if isinstance(room_list, dict):
        config.room_list = _room_list(room_list, path, text, config.errors)
    else:
        config.errors.append(f"{path}:{_line_of(text, 'room-list')}: [room-list] must be a table")
    media = data.get("media", {})
    if isinstance(media, dict):
        config.media = _media(media, path, text, config.errors)
    else:
        config.errors.append(f"{path}:{_line_of(text, 'media')}: [media] must be a table")
    room = data.get("room", {})
    if isinstance(room, dict):
        config.room = _room(room, path, text, config.errors)
    else:
        config.errors.append(f"{path}:{_line_of(text, 'room')}: [room] must be a table")
    encryption = data.get("encryption", {})
    new_rooms = encryption.get("new-rooms", True) if isinstance(encryption, dict) else None
    if isinstance(new_rooms, bool):
        config.encryption.new_rooms = new_rooms
    else:
        config.errors.append(
            f"{path}:{_line_of(text, 'encryption')}: [encryption] new-rooms must be true or false"
        )
    notifications = data.get("notifications", {})
    if isinstance(notifications, dict):
        config.notifications = _notifications(notifications, path, text, config.errors)
    else:
        config.errors.append(
            f"{path}:{_line_of(text, 'notifications')}: [notifications] must be a table"
        )
    config.hooks = parse_hooks(data, str(path))
    config.errors += config.hooks.errors
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


def _media(table: dict[str, object], path: Path, text: str, errors: list[str]) -> MediaConfig:
    result = MediaConfig()
    for key, value in table.items():
        where = f"{path}:{_line_of(text, key)}"
        if key not in ("download-dir", "opener"):
            errors.append(f"{where}: unknown media setting {key!r} (download-dir, opener)")
        elif not isinstance(value, str) or not value.strip():
            errors.append(f"{where}: {key} must be a non-empty string")
        elif key == "download-dir":
            result.download_dir = Path(value).expanduser()
        else:
            result.opener = value
    return result


def _room(table: dict[str, object], path: Path, text: str, errors: list[str]) -> RoomConfig:
    result = RoomConfig()
    for key, value in table.items():
        where = f"{path}:{_line_of(text, key)}"
        if key == "format":
            if value in FORMATS:
                result.format = str(value)
            else:
                errors.append(f"{where}: format: one of {', '.join(FORMATS)}, not {value!r}")
        elif key == "hide-membership-events":
            if isinstance(value, bool):
                result.hide_membership_events = value
            else:
                errors.append(f"{where}: hide-membership-events: true or false")
        elif key == "max-message-lines":
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                result.max_message_lines = value
            else:
                errors.append(f"{where}: max-message-lines: a whole number above 0, not {value!r}")
        elif key == "read-receipts":
            if value in READ_RECEIPTS:
                result.read_receipts = str(value)
            else:
                errors.append(
                    f"{where}: read-receipts: one of {', '.join(READ_RECEIPTS)}, not {value!r}"
                )
        else:
            errors.append(
                f"{where}: unknown room setting {key!r} "
                "(format, hide-membership-events, max-message-lines, read-receipts)"
            )
    return result


_NOTIFICATION_KEYS = (
    "enabled, desktop, terminal, bell, title, highlight, other, show-encrypted-text, "
    "rate-limit, summary-after"
)


def _notifications(
    table: dict[str, object], path: Path, text: str, errors: list[str]
) -> NotificationsConfig:
    result = NotificationsConfig()
    off: set[str] = set()
    for key, value in table.items():
        where = f"{path}:{_line_of(text, key)}"
        if key in ("enabled", "show-encrypted-text", "desktop", "bell", "title"):
            if not isinstance(value, bool):
                errors.append(f"{where}: {key}: true or false, not {value!r}")
            elif key == "enabled":
                result.enabled = value
            elif key == "show-encrypted-text":
                result.show_encrypted_text = value
            elif not value:
                off.add(key)
        elif key == "terminal":
            choice = (
                {True: "auto", False: "off"}.get(value, value) if isinstance(value, bool) else value
            )
            if choice in TERMINAL_CHOICES:
                result.terminal = str(choice)
                if choice == "off":
                    off.add("terminal")
            else:
                errors.append(
                    f"{where}: terminal: one of {', '.join(TERMINAL_CHOICES)}, not {value!r}"
                )
        elif key in ("highlight", "other"):
            channels = frozenset(_names(value, CHANNELS, key, where, errors))
            if key == "highlight":
                result.highlight = channels
            else:
                result.other = channels
        elif key == "rate-limit":
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                errors.append(f"{where}: rate-limit: seconds, at least 0, not {value!r}")
            else:
                result.rate_limit = float(value)
        elif key == "summary-after":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors.append(f"{where}: summary-after: a whole number above 0, not {value!r}")
            else:
                result.summary_after = value
        else:
            errors.append(f"{where}: unknown notifications setting {key!r} ({_NOTIFICATION_KEYS})")
    result.off = frozenset(off)
    return result

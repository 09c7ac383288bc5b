"""Which key runs which command line, per scope: the defaults, overlaid by config.toml.

Every default binding is a command line here, so users rebind and unbind them all the same
way; the binding's id is the command's id (stable: the README and the `keys` command list them).
"""

from __future__ import annotations

from tuimatrix.commands import ALIASES, REGISTRY, find_command, load_commands, parse_line
from tuimatrix.config import SCOPES, Config

#: The universal prefix (Emacs's C-u): the next room command asks for the room and account.
PREFIX_KEY = "ctrl+u"

DEFAULT_KEYS: dict[str, dict[str, list[str]]] = {
    "global": {
        "ctrl+r": ["room-list"],
        "f5": ["sync-now"],
        "f1": ["keys"],
        # What needs you, from anywhere (ctrl+n: "notifications"; free in the composer).
        "ctrl+n": ["inbox"],
    },
    "room-list": {
        "space": ["next-unread"],
        # Ement.el's TAB: on this screen there is nothing else for Textual's focus cycling.
        "tab": ["toggle-section"],
        # Ement.el kills a room's buffer with k, which is "up" here (j/k move the cursor).
        "c": ["close-room"],
        "f": ["tag-room favourite"],
        "l": ["tag-room low-priority"],
        "s": ["toggle-space"],
        "i": ["invite"],
        "m": ["mark-read"],
        "u": ["mark-unread"],
    },
    "room": {
        "escape": ["room-list"],
        # On the selected message (tab to the timeline, ↑ ↓ to select); typing in the
        # composer never reaches these.
        "r": ["reply"],
        "e": ["edit"],
        "d": ["delete"],
        "a": ["react"],
        # On a failed message of ours: send it again, or drop it.
        "R": ["retry-send"],
        "x": ["discard-send"],
        # ctrl+o is free in the composer: attach a file while writing.
        "ctrl+o": ["send-file"],
        "s": ["download"],
        "o": ["open-media"],
        "l": ["open-link"],
        "i": ["view-image"],
        "u": ["reveal-spoiler"],
        # ctrl+f is free in the composer too, so search works while typing.
        "ctrl+f": ["search"],
        "alt+f": ["search --server"],
        "enter": ["open-thread"],
        "t": ["threads"],
        "w": ["show-reactions"],
        # Not bound by the composer, so they work while typing too.
        "ctrl+home": ["jump-to-fully-read"],
        "ctrl+end": ["jump-to-latest"],
    },
    # Over the room's keys, in a thread's screen.
    "thread": {
        "escape": ["close-thread"],
    },
}


def merged_keys(config: Config) -> dict[str, dict[str, list[str]]]:
    """The defaults with the user's keys over them; a key bound to "" is dropped."""
    table = {
        scope: {k: list(v) for k, v in DEFAULT_KEYS.get(scope, {}).items()} for scope in SCOPES
    }
    for scope, keys in config.keys.items():
        for key, lines in keys.items():
            if lines:
                table[scope][key] = lines
            else:
                table[scope].pop(key, None)
    return table


def binding_id(lines: list[str]) -> str:
    """A default's id is its command id; a macro's, the ids joined with '+'."""
    return "+".join(line.split(maxsplit=1)[0] for line in lines)


def binding_title(lines: list[str]) -> str:
    """The palette/footer description of a binding: its commands' titles."""
    load_commands()
    titles = []
    for line in lines:
        cmd = find_command(line.split(maxsplit=1)[0]) if line.strip() else None
        titles.append(cmd.title if cmd else line)
    return " then ".join(titles)


def describe(table: dict[str, dict[str, list[str]]]) -> list[tuple[str, str, str, str]]:
    """(scope, key, command lines, title) for every binding, to list them."""
    load_commands()
    rows = [("global", PREFIX_KEY, "(universal prefix)", "ask for the room of the next command")]
    for scope in SCOPES:
        for key, lines in sorted(table[scope].items()):
            titles = []
            for line in lines:
                cmd, _ = parse_line(line)
                titles.append(cmd.title)
            rows.append((scope, key, " ; ".join(lines), " then ".join(titles)))
    return rows


def key_for(table: dict[str, dict[str, list[str]]], command_id: str, scope: str) -> str | None:
    """The key that runs ``command_id`` alone in ``scope`` (or globally), for the palette."""
    for where in (scope, "global"):
        for key, lines in table.get(where, {}).items():
            if len(lines) == 1 and lines[0].split()[0] == command_id:
                return key
    return None


def known_commands() -> set[str]:
    load_commands()
    return set(REGISTRY) | set(ALIASES)

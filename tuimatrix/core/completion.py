"""Completing what the user types: ``@member`` and ``#alias`` mentions, and file paths."""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tuimatrix.core.markdown import ROOM_MENTION
from tuimatrix.core.sanitize import clean_line

#: The word being completed: ``@…`` or ``#…`` at the start or after a space, up to the cursor.
_MENTION_WORD = re.compile(r"(?:^|(?<=\s))([@#][^\s]*)$")
#: Something like a user id inside a display name ("Alice (@alice:x)"): someone else's name.
_ID = re.compile(r"@\S*:\S")
#: Candidates offered at most (a large room has thousands of members).
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Candidate:
    """A completion: the text inserted, and the Matrix id its pill links to."""

    text: str
    target: str


def mention_word(line_before_cursor: str) -> str | None:
    """The ``@…``/``#…`` word that ends at the cursor, if any."""
    match = _MENTION_WORD.search(line_before_cursor)
    return match.group(1) if match else None


def _member_name(user_id: str, display_name: str) -> str:
    """The name a member is completed as: the display name, unless it is empty or could pass
    for something else (a user id, or ``@room`` which would notify the whole room)."""
    name = clean_line(display_name).strip()
    looks = unicodedata.normalize("NFKC", name)
    if not name or looks.startswith("@") or ROOM_MENTION.search(looks) or _ID.search(looks):
        return clean_line(user_id)
    return name


def mention_candidates(
    word: str, members: Mapping[str, str], aliases: Iterable[str]
) -> list[Candidate]:
    """Members (user id → display name) for ``@word``, room aliases for ``#word``.

    Names and ids that start with what was typed come first, then those that contain it.
    Members who share a display name are told apart by their id.
    """
    query = word[1:].lower()
    scored: list[tuple[int, str, Candidate]] = []
    if word.startswith("@"):
        names = {user_id: _member_name(user_id, name) for user_id, name in members.items()}
        shared = Counter(name.casefold() for name in names.values())
        for user_id, name in names.items():
            if shared[name.casefold()] > 1 and not name.startswith("@"):
                # Two members of one name look the same: the id tells which one is picked.
                name = f"{name} ({clean_line(user_id)})"
            local = user_id[1:].split(":", 1)[0].lower()
            if name.lower().startswith(query) or local.startswith(query):
                rank = 0
            elif query in name.lower() or query in user_id.lower():
                rank = 1
            else:
                continue
            scored.append((rank, name.lower(), Candidate(name, user_id)))
        if "room".startswith(query):
            scored.append((2, "@room", Candidate("@room", "@room")))
    else:
        for alias in set(aliases):
            alias = clean_line(alias)
            lowered = alias[1:].lower()
            if lowered.startswith(query):
                rank = 0
            elif query in lowered:
                rank = 1
            else:
                continue
            scored.append((rank, lowered, Candidate(alias, alias)))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [c for _, _, c in scored[:MAX_CANDIDATES]]


def complete_path(text: str, limit: int = 200) -> list[str]:
    """Paths that complete ``text``, written the way it was (``~`` kept); folders end in "/".

    Hidden entries only when the typed name starts with a dot. Blocking (reads a directory):
    call it from a thread.
    """
    folder, _, prefix = text.rpartition("/")
    if "/" in text:
        base = folder + "/"
        where = Path(os.path.expanduser(folder or "/"))
    else:
        base = ""
        where = Path(".")
    try:
        entries = list(os.scandir(where))
    except OSError:
        return []
    out = []
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        out.append(base + name + ("/" if is_dir else ""))
    out.sort(key=lambda p: (not p.endswith("/"), p.lower()))
    return out[:limit]


def common_prefix(options: list[str]) -> str:
    """What every option starts with (what tab can fill in without choosing)."""
    # Character by character on purpose: "pho" completes "photo.png" and "photos/" to "photo".
    return os.path.commonprefix(options) if options else ""  # noqa: RUF071

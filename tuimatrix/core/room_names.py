"""Which room the user means, and what a room is called on screen.

One place for both, so the runner (``--room``), the shell (``use``, completion), the room
picker and the palette agree: a room is named by its display name, and found by its id, its
canonical alias, its name (exact, then contained) or a fuzzy match of its letters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.errors import UsageError, UserError
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line

#: memberships of the rooms a user may name (left and banned rooms are not offered)
NAMEABLE = ("join", "invite")


def room_label(account: Account, room_id: str) -> str:
    """The room's display name as one safe line; its id when it has no name (or is unknown)."""
    room = account.rooms.summaries.get(room_id)
    return summary_label(room) if room is not None else clean_line(room_id)


def nameable_rooms(
    accounts: Accounts, account: Account | None = None, *, spaces_only: bool = False
) -> Iterator[tuple[Account, RoomSummary]]:
    """The joined and invited rooms (or spaces) of ``account``, or of every account."""
    for acc, room in accounts.rooms():
        if account is not None and acc is not account:
            continue
        if room.membership not in NAMEABLE or (spaces_only and not room.is_space):
            continue
        yield acc, room


async def resolve_room(
    accounts: Accounts, text: str, account: Account | None = None
) -> tuple[Account, str]:
    """A room by id, alias or name, among ``account``'s rooms or every account's.

    A name matches exactly (any case), else as a part of a room's name; it must match one
    room. An alias no account knows is asked of the server; an unknown id is taken as is
    (to join it), when it is clear which account acts.
    """
    candidates = [account] if account else list(accounts)
    text = text.strip()
    if text.startswith("!"):
        for acc in candidates:
            if text in acc.rooms.summaries:
                return acc, text
        if account is not None or len(candidates) == 1:
            return candidates[0], text  # not known locally (e.g. to join it): let the server say
        raise UsageError(f"no account knows room {text}; give --account")
    if text.startswith("#"):
        for acc in candidates:
            for room in acc.rooms.summaries.values():
                if room.canonical_alias == text:
                    return acc, room.room_id
        if not candidates:
            raise UsageError("no account is logged in")
        try:
            resolved = await candidates[0].client.resolve_room_alias(text)  # type: ignore[arg-type]
        except Exception as e:
            raise UserError(f"cannot resolve {text}: {getattr(e, 'message', e)}") from e
        return candidates[0], str(resolved.room_id)
    exact, partial = [], []
    needle = text.lower()
    for acc in candidates:
        for room in acc.rooms.summaries.values():
            if room.membership not in NAMEABLE:
                continue
            name = room.display_name.lower()
            if name == needle:
                exact.append((acc, room.room_id))
            elif needle in name:
                partial.append((acc, room.room_id))
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no room matches {text!r}")
    raise UsageError(f"{len(matches)} rooms match {text!r}; give its id or alias")


# -- fuzzy matching: what a picker offers as the user types ----------------------------------


def _fold(s: str) -> str:
    """``s`` lower-cased character by character, keeping its length (so offsets stay valid)."""
    return "".join(low if len(low := c.lower()) == 1 else c for c in s)


def fuzzy_offsets(needle: str, haystack: str) -> list[int] | None:
    """Where the characters of ``needle`` are in ``haystack``, in order (case-insensitive):
    the first contiguous run if there is one, else the leftmost letters. None if some are
    missing. Linear in the haystack, unlike Textual's matcher, which tries every combination
    and hangs for seconds on a long room name crafted to repeat the query's letters."""
    needle, haystack = _fold(needle), _fold(haystack)
    start = haystack.find(needle)
    if start >= 0:
        return list(range(start, start + len(needle)))
    offsets: list[int] = []
    for ch in needle:
        found = haystack.find(ch, offsets[-1] + 1 if offsets else 0)
        if found < 0:
            return None
        offsets.append(found)
    return offsets


def fuzzy_score(needle: str, haystack: str) -> int | None:
    """Characters of ``needle`` in order in ``haystack`` (case-insensitive); higher is better.

    None when they are not all there. Contiguous and early matches score higher.
    """
    offsets = fuzzy_offsets(needle, haystack)
    if offsets is None:
        return None
    if not offsets:
        return 0
    if offsets[-1] - offsets[0] == len(offsets) - 1:
        return 1000 - offsets[0]
    score, pos = 0, 0
    for found in offsets:
        score += 10 if found == pos else 1
        pos = found + 1
    return score


def best_score(query: str, texts: Iterable[str]) -> int | None:
    """The best :func:`fuzzy_score` of ``query`` over ``texts`` (a label, an alias); None if
    it matches none."""
    return max(
        (s for s in (fuzzy_score(query, text) for text in texts) if s is not None),
        default=None,
    )

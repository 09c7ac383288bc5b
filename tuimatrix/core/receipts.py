"""Other members' read receipts (spec "Receipts"): who has read up to which event.

The store keeps every receipt sync brought (one row per user, type and thread); a timeline
shows each other member once, at the newest event their public receipt points at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tuimatrix.core.sanitize import clean_line

#: names spelled out on a receipt label before "+N"
LABEL_NAMES = 2
#: the read receipt others see, and the one only the user's own devices (and the server) see
PUBLIC_RECEIPT = "m.read"
PRIVATE_RECEIPT = "m.read.private"
#: the unthreaded receipt and the main timeline's one both apply to the room's timeline
_MAIN = ("", "main")


def receipt_type(private: bool) -> str:
    """The read receipt type to send (``[room] read-receipts``)."""
    return PRIVATE_RECEIPT if private else PUBLIC_RECEIPT


def readers(rows: Iterable[Mapping[str, Any]], own_user_id: str) -> dict[str, str]:
    """user id -> the event their newest main-timeline read receipt points at (ours left out).

    ``rows`` as ``Store.receipts`` returns them: user_id, receipt_type, thread_id, event_id, ts.
    """
    best: dict[str, tuple[int, str]] = {}
    for row in rows:
        user_id = row["user_id"]
        if user_id == own_user_id or row["receipt_type"] != PUBLIC_RECEIPT:
            continue
        if row["thread_id"] not in _MAIN:
            continue
        ts = row["ts"] if isinstance(row["ts"], int) else 0
        if user_id not in best or ts >= best[user_id][0]:
            best[user_id] = (ts, row["event_id"])
    # Newest first, so a label names the most recent readers.
    ordered = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)
    return {user_id: event_id for user_id, (_, event_id) in ordered}


def receipt_label(names: list[str]) -> str:
    """A label like "✓ alice, bob +3": the first names spelled out (sanitised), the rest counted."""
    shown = [clean_line(name) for name in names[:LABEL_NAMES]]
    more = f" +{len(names) - LABEL_NAMES}" if len(names) > LABEL_NAMES else ""
    return "✓ " + ", ".join(shown) + more

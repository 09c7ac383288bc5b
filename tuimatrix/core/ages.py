"""How long ago, in a few cells: the room list's activity column and the inbox's age."""

from __future__ import annotations

import time


def short_age(ts_ms: int, now: float | None = None) -> str:
    """``3m``, ``2h``, ``5d``…, or "" for never."""
    if not ts_ms:
        return ""
    seconds = max(0, (time.time() if now is None else now) - ts_ms / 1000)
    for unit, size in (("y", 31_536_000), ("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return "now"

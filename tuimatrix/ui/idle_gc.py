"""Full garbage collections while the user is idle, not in the middle of a scroll.

A full collection walks every object the collector tracks: with a 10,000-event room loaded
that is 30–100 ms, and CPython starts one whenever enough objects have survived into the oldest
generation, which paging through a timeline does (each new page caches its rendered rows).
Landing inside a frame, it is the slowest frame by far. So the app moves the oldest generation's
collections here: they run once nothing has happened for :data:`QUIET` seconds (no key, no
mouse, no scrolling), or, should activity never stop, after :data:`MAX_DEFERRED` young
collections have piled up, so that garbage in cycles is still bounded. Young collections
(cheap, a few hundred objects) are left to CPython as they are.
"""

from __future__ import annotations

import gc
import time

#: Seconds without activity before a deferred full collection runs.
QUIET = 1.0
#: Run it anyway after this many middle-generation collections (CPython's default is 10).
MAX_DEFERRED = 200
#: How often the app asks (seconds).
CHECK_INTERVAL = 0.25
#: CPython's default cadence: one full collection per this many middle-generation ones.
_NORMAL = 10
#: A threshold that CPython's own full collections never reach.
_NEVER = 1 << 30

_last_activity = 0.0


def install() -> None:
    """Take over full collections from CPython (young generations stay automatic)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)


def uninstall() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NORMAL)


def touch() -> None:
    """Something the user does or watches is happening (a key, a scroll): not now."""
    global _last_activity
    _last_activity = time.monotonic()


def check() -> bool:
    """Collect if one is due and the moment is right; whether it did."""
    if not gc.isenabled():  # paused on purpose (a sync being applied, see core/sync.py)
        return False
    due = gc.get_count()[2]
    quiet = time.monotonic() - _last_activity >= QUIET
    if (due >= _NORMAL and quiet) or due >= MAX_DEFERRED:
        gc.collect()
        return True
    return False

"""Where an account's sync loop stands, as its listeners are told (``Account.status``).

Apart from ``account.py`` so that what listens to an account (the key backup, verification)
can tell a stopped account without importing the module that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

STARTING = "starting"
INITIAL_SYNC = "initial sync"
CATCHING_UP = "catching up"
LIVE = "live"
#: a live sync is overdue: nothing has come for longer than the long-poll should take
WAITING = "waiting for the server"
RECONNECTING = "reconnecting"
SOFT_LOGGED_OUT = "soft logged out"
LOGGED_OUT = "logged out"
STOPPED = "stopped"


@dataclass(frozen=True)
class SyncStatus:
    state: str
    detail: str = ""
    #: when the next attempt is due (time.time()), while reconnecting
    retry_at: float | None = None
    #: when the initial sync (or an overdue one) started (time.time()), to show how long
    started: float | None = None

"""An account the server signed out: what is kept, and what a new login takes back.

When the server has really revoked our token (checked, not taken from one answer), the
token is useless and is forgotten, but the account's directory stays: its store holds
messages not yet sent and the crypto store (the olm account, the room keys), which nothing
can rebuild. A marker file says what happened, for the next ``tuimatrix login`` and the app.

Logging in again to the same account starts a new device (the server deleted the old one,
and its olm account is no use without it): the old directory is set aside under
``signed-out/`` (its room keys may still be needed to read old messages), and its unsent
messages are queued again in the new session. Logging out removes what was set aside.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from tuimatrix.core.files import ensure_private_dir, write_atomic
from tuimatrix.core.sendqueue import QUEUED, SendQueue
from tuimatrix.core.session import STORE_FILE, account_dir, remove_session_file
from tuimatrix.core.store import Store
from tuimatrix.paths import Paths

if TYPE_CHECKING:
    from tuimatrix.core.account import Account

log = logging.getLogger(__name__)

MARKER_FILE = "signed_out.json"
#: under the accounts directory; not a user id, so never taken for a saved session
SET_ASIDE_DIR = "signed-out"


@dataclass(frozen=True)
class SignedOut:
    """What the marker of a signed-out account says."""

    reason: str
    #: when it happened (time.time())
    at: float


def record(paths: Paths, user_id: str, reason: str) -> None:
    """Forget the dead token, keep the store, and say why (atomically, owner-only)."""
    directory = account_dir(paths, user_id)
    if directory.is_dir():
        data = {"reason": reason, "at": time.time()}
        write_atomic(directory / MARKER_FILE, json.dumps(data) + "\n", mode=0o600)
    remove_session_file(paths, user_id)


def read(paths: Paths, user_id: str) -> SignedOut | None:
    """The marker of ``user_id``, or None if the server did not sign it out."""
    path = account_dir(paths, user_id) / MARKER_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
        return SignedOut(str(data["reason"]), float(data["at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("unreadable %s: %s", path, e)
        return SignedOut("reason not recorded", path.stat().st_mtime if path.exists() else 0.0)


def all_signed_out(paths: Paths) -> list[tuple[str, SignedOut]]:
    """Every account the server signed out and the user has not logged in to again."""
    if not paths.accounts_dir.is_dir():
        return []
    found = []
    for directory in sorted(paths.accounts_dir.iterdir()):
        user_id = unquote(directory.name)
        if user_id.startswith("@") and (directory / MARKER_FILE).is_file():
            marker = read(paths, user_id)
            if marker is not None:
                found.append((user_id, marker))
    return found


def set_aside(paths: Paths, user_id: str) -> Path:
    """Move the signed-out account's directory out of the way of a new login."""
    parent = ensure_private_dir(paths.accounts_dir / SET_ASIDE_DIR)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = parent / f"{quote(user_id, safe='@._-=')}.{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = parent / f"{quote(user_id, safe='@._-=')}.{stamp}.{n}"
    account_dir(paths, user_id).rename(target)
    return target


def set_aside_dirs(paths: Paths, user_id: str) -> list[Path]:
    """Every set-aside directory of ``user_id``."""
    parent = paths.accounts_dir / SET_ASIDE_DIR
    if not parent.is_dir():
        return []
    prefix = quote(user_id, safe="@._-=") + "."
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix))


def remove_set_aside(paths: Paths, user_id: str) -> None:
    """The user logged out: what was kept of signed-out sessions goes too."""
    for directory in set_aside_dirs(paths, user_id):
        shutil.rmtree(directory, ignore_errors=True)


async def requeue(old_directory: Path, account: Account) -> int:
    """Queue the old session's unsent messages in ``account``'s; returns how many.

    They get new transaction ids: ids are scoped to an access token, so the old ones would
    not protect against a double send anyway. A message whose answer was lost just before
    the sign-out may therefore go out twice; losing it silently would be worse.
    """
    path = old_directory / STORE_FILE
    if not path.exists():
        return 0
    old = Store(path)
    await old.open()
    try:
        pending = await SendQueue(old, _no_send, lambda echo: None).pending()
    finally:
        await old.close()
    queued = [echo for echo in pending if echo.state == QUEUED]
    for echo in queued:
        await account.send_queue.enqueue(echo.room_id, echo.event_type, echo.content)
    return len(queued)


async def _no_send(room_id: str, event_type: str, txn_id: str, content: object) -> str:
    raise RuntimeError("a signed-out session sends nothing")

"""An account the server signed out: what is kept, and what a new login takes back.

When the server seems to have revoked our token (checked, not taken from one answer), the
account's directory stays as it is: its store holds messages not yet sent and the crypto
store (the olm account, the room keys), which nothing can rebuild. A marker file says what
happened, for the next ``tuimatrix login`` and the app. The session file is not deleted but
renamed (``session.json.signed-out``): a proxy or a captive portal can answer 401 for longer
than any in-process check, and only the server, asked again later with the same token, can
tell a false alarm (:func:`check_kept_session`, at the next start and before a login) from
a real sign-out. A false alarm gets its session back as it was: same device, same store.

Logging in again after a real sign-out starts a new device (never deleting the old one: the
server did, or it keeps it; either way that is not ours to decide on a guess). The old
directory is set aside under ``signed-out/`` (its room keys may still be needed to read old
messages), and its unsent messages are moved to the new session, queued or failed as they
were. Logging out removes what was set aside.
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

from tuimatrix.core.errors import describe_error, soft_logout
from tuimatrix.core.files import ensure_private_dir, write_atomic
from tuimatrix.core.lazy import Method
from tuimatrix.core.lazy import Path as ApiPath
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import FAILED, QUEUED, SendQueue
from tuimatrix.core.session import (
    SESSION_FILE,
    STORE_FILE,
    BrokenSession,
    account_dir,
    parse_session_file,
)
from tuimatrix.core.store import Store
from tuimatrix.paths import Paths

if TYPE_CHECKING:
    from tuimatrix.core.account_like import AccountLike

log = logging.getLogger(__name__)

MARKER_FILE = "signed_out.json"
#: the session file of a signed-out account, kept to ask the server again
KEPT_SESSION_FILE = "session.json.signed-out"
#: in a set-aside directory: its unsent messages are in the new session (written after)
REQUEUED_FILE = "requeued"
#: the total deadline of asking the server about a kept token (seconds): the app's first
#: frame waits for it, so it is short; no answer in time changes nothing
KEPT_TOKEN_CHECK_DEADLINE = 15.0
#: under the accounts directory; not a user id, so never taken for a saved session
SET_ASIDE_DIR = "signed-out"


@dataclass(frozen=True)
class SignedOut:
    """What the marker of a signed-out account says."""

    reason: str
    #: when it happened (time.time())
    at: float


def record(paths: Paths, user_id: str, reason: str) -> None:
    """Put the token out of use (kept, owner-only), keep the store, and say why."""
    directory = account_dir(paths, user_id)
    if directory.is_dir():
        data = {"reason": reason, "at": time.time()}
        write_atomic(directory / MARKER_FILE, json.dumps(data) + "\n", mode=0o600)
    try:
        # A rename keeps the file's 0600 mode, and is atomic.
        (directory / SESSION_FILE).replace(directory / KEPT_SESSION_FILE)
    except FileNotFoundError:
        pass


async def check_kept_session(paths: Paths, user_id: str) -> str:
    """Ask the server (``/whoami``) whether the token kept at ``user_id``'s sign-out works.

    If it does (or the server only asks for a password again: the device is still there),
    the sign-out was a false alarm: the session file and the store are back in use and the
    marker goes; returns a line that says so. Otherwise nothing changes: "" if the server
    still refuses the token (or there is none kept), a line if it cannot tell now.
    """
    directory = account_dir(paths, user_id)
    kept = directory / KEPT_SESSION_FILE
    if read(paths, user_id) is None or not kept.is_file():
        return ""
    who = clean_line(user_id)
    try:
        info = parse_session_file(kept, directory)
    except (OSError, BrokenSession) as e:
        return f"{who}: the session kept at its sign-out ({kept}) is unusable: {e}"
    from mautrix.errors import MatrixRequestError

    from tuimatrix.core.http import TuiHTTPAPI
    from tuimatrix.core.http_session import make_http_session

    try:
        async with make_http_session() as http:
            api = TuiHTTPAPI(info.homeserver, info.access_token, client_session=http)
            api.request_deadline = KEPT_TOKEN_CHECK_DEADLINE
            resp = await api.request(Method.GET, ApiPath.v3.account.whoami)
    except MatrixRequestError as e:
        if getattr(e, "errcode", None) == "M_UNKNOWN_TOKEN" and not soft_logout(e):
            return ""  # really signed out
        if not soft_logout(e):
            return f"{who}: could not ask the server about its sign-out: {describe_error(e)}"
    except Exception as e:  # unreachable, a deadline, not JSON: no verdict
        return f"{who}: could not ask the server about its sign-out: {describe_error(e)}"
    else:
        if not isinstance(resp, dict) or resp.get("user_id") != info.user_id:
            return f"{who}: the server's answer about its sign-out names another user"
    session = directory / SESSION_FILE
    if session.exists():  # a login since then saved a session of its own: that one stays
        return ""
    kept.rename(session)
    (directory / MARKER_FILE).unlink(missing_ok=True)
    return (
        f"{who}: the server still accepts the session it seemed to have signed out: "
        f"restored as it was (device {clean_line(info.device_id)})"
    )


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


async def requeue_set_aside(paths: Paths, account: AccountLike) -> tuple[int, list[Path]]:
    """Move the unsent messages of ``account``'s set-aside sessions into its queue: how many,
    and from which directories. Run it before the account starts sending.

    Queued ones are queued again, failed ones stay failed (visible, and retried only if the
    user asks). They get new transaction ids: ids are scoped to an access token, so the old
    ones would not protect against a double send anyway. A message whose answer was lost
    just before the sign-out may therefore go out twice; losing it silently would be worse.
    Each message leaves the old store only once it is in the new one, and a directory is
    marked done only when all have: a failure half-way loses nothing, and the next start or
    login goes on where this one stopped.
    """
    moved, sources = 0, []
    for directory in set_aside_dirs(paths, account.user_id):
        path = directory / STORE_FILE
        if (directory / REQUEUED_FILE).exists() or not path.exists():
            continue
        old = Store(path)
        await old.open()
        try:
            queue = SendQueue(old, _no_send, lambda echo: None)
            for echo in await queue.pending():
                if echo.state not in (QUEUED, FAILED):
                    continue
                new = await account.send_queue.enqueue(echo.room_id, echo.event_type, echo.content)
                if echo.state == FAILED:
                    await account.send_queue.give_up(new.txn_id, echo.error or "not sent")
                await old.db.execute("DELETE FROM send_queue WHERE txn_id=$1", echo.txn_id)
                moved += 1
                if directory not in sources:
                    sources.append(directory)
        finally:
            await old.close()
        write_atomic(directory / REQUEUED_FILE, "", mode=0o600)
    return moved, sources


async def requeue_notice(paths: Paths, account: AccountLike) -> list[str]:
    """Take over the unsent messages of ``account``'s set-aside sessions; what to tell."""
    try:
        moved, sources = await requeue_set_aside(paths, account)
    except Exception as e:  # they stay where they are, for the next start or login
        log.debug("cannot requeue", exc_info=True)
        return [
            f"could not take over the unsent messages of the signed-out session: "
            f"{describe_error(e)}; they are kept and tried again at the next start"
        ]
    if not moved:
        return []
    where = ", ".join(str(d) for d in sources)
    return [f"{moved} unsent message{'s' if moved != 1 else ''} queued again (from {where})"]


async def _no_send(room_id: str, event_type: str, txn_id: str, content: object) -> str:
    raise RuntimeError("a signed-out session sends nothing")

"""Saved sessions: one private directory per account, written atomically.

Layout under ``Paths.accounts_dir``::

    <quoted user id>/        mode 0700
        session.json         mode 0600: homeserver, user id, device id, access token
        store.db             the account's SQLite store (see store.py)
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from tuimatrix.core.files import ensure_private_dir, write_atomic
from tuimatrix.paths import Paths

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
STORE_FILE = "store.db"


@dataclass(frozen=True)
class SessionInfo:
    user_id: str
    homeserver: str
    device_id: str
    access_token: str


def account_dir(paths: Paths, user_id: str) -> Path:
    # Quoting keeps any user id a single, reversible path component.
    return paths.accounts_dir / quote(user_id, safe="@._-=")


def save_session(paths: Paths, info: SessionInfo) -> Path:
    directory = ensure_private_dir(account_dir(paths, info.user_id))
    ensure_private_dir(paths.accounts_dir)
    write_atomic(directory / SESSION_FILE, json.dumps(asdict(info), indent=2) + "\n", mode=0o600)
    return directory


def load_session(directory: Path) -> SessionInfo | None:
    """The session saved in ``directory``, or None (with a log line) if it is unreadable."""
    try:
        data = json.loads((directory / SESSION_FILE).read_text("utf-8"))
        return SessionInfo(
            user_id=str(data["user_id"]),
            homeserver=str(data["homeserver"]),
            device_id=str(data["device_id"]),
            access_token=str(data["access_token"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable session in %s: %s", directory, e)
        return None


def load_sessions(paths: Paths) -> list[SessionInfo]:
    """Every saved session, sorted by user id."""
    if not paths.accounts_dir.is_dir():
        return []
    sessions = []
    for directory in sorted(paths.accounts_dir.iterdir()):
        if directory.is_dir() and unquote(directory.name).startswith("@"):
            info = load_session(directory)
            if info is not None:
                sessions.append(info)
    return sessions


def remove_session_file(paths: Paths, user_id: str) -> None:
    """Forget the token but keep the store (a soft logout: the same device logs in again)."""
    (account_dir(paths, user_id) / SESSION_FILE).unlink(missing_ok=True)


def remove_account_dir(paths: Paths, user_id: str) -> None:
    """Remove everything saved for ``user_id`` (after a real logout)."""
    shutil.rmtree(account_dir(paths, user_id), ignore_errors=True)

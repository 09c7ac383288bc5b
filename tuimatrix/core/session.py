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
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from tuimatrix.core.files import ensure_private_dir, write_atomic
from tuimatrix.core.sanitize import clean_line
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


def account_dir_name(user_id: str) -> str:
    # Quoting keeps any user id a single, reversible path component.
    return quote(user_id, safe="@._-=")


def account_dir(paths: Paths, user_id: str) -> Path:
    return paths.accounts_dir / account_dir_name(user_id)


def save_session(paths: Paths, info: SessionInfo) -> Path:
    directory = ensure_private_dir(account_dir(paths, info.user_id))
    ensure_private_dir(paths.accounts_dir)
    write_atomic(directory / SESSION_FILE, json.dumps(asdict(info), indent=2) + "\n", mode=0o600)
    return directory


class BrokenSession(ValueError):
    """A session file that is there but cannot be used (and why, in a few words)."""


def _parse_session(raw: bytes, directory: Path) -> SessionInfo:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BrokenSession(f"not UTF-8 text (byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise BrokenSession(f"not JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(data, dict):
        raise BrokenSession("not a JSON object")
    fields = {}
    for name in ("user_id", "homeserver", "device_id", "access_token"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise BrokenSession(f"{name} is missing or not text")
        fields[name] = value
    # The store beside it is found by the user id: a session of another account must not
    # be used with this directory's store (and its encryption keys).
    if account_dir_name(fields["user_id"]) != directory.name:
        raise BrokenSession("its user_id is not this directory's account")
    if not fields["homeserver"].startswith(("https://", "http://")):
        raise BrokenSession("homeserver is not an http(s) URL")
    return SessionInfo(**fields)


def parse_session_file(path: Path, directory: Path) -> SessionInfo:
    """The session in ``path`` (a file of ``directory``'s account); raises BrokenSession or
    OSError."""
    return _parse_session(path.read_bytes(), directory)


def _keep_aside(path: Path) -> Path | None:
    """Rename a broken session file for the user to look at; its new path, or None."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():  # never over an earlier one
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    try:
        path.rename(target)
    except OSError as e:
        log.warning("cannot rename %s: %s", path, e.strerror)
        return None
    return target


def read_session(directory: Path) -> tuple[SessionInfo | None, str]:
    """The session saved in ``directory`` (None if there is none to use), and a problem line.

    A file that is there but unusable is renamed to ``session.json.broken-<time>`` (never
    deleted or overwritten) and the line says which account lost its session, and where
    the file went.
    """
    path = directory / SESSION_FILE
    try:
        return _parse_session(path.read_bytes(), directory), ""
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        reason = f"cannot read it ({(e.strerror or str(e)).lower()})"
    except BrokenSession as e:
        reason = str(e)
    kept = _keep_aside(path)
    where = f"kept as {kept.name}" if kept is not None else f"left as it is in {directory}"
    account = clean_line(unquote(directory.name))
    return None, f"{account}: the saved session {path} is unusable: {reason}; {where}; log in again"


def load_session(directory: Path) -> SessionInfo | None:
    """The session saved in ``directory``, or None (with a log line) if it is unusable."""
    info, problem = read_session(directory)
    if problem:
        log.warning("%s", problem)
    return info


def read_sessions(paths: Paths) -> tuple[list[SessionInfo], list[str]]:
    """Every saved session, sorted by user id; and one line per session that is unusable."""
    if not paths.accounts_dir.is_dir():
        return [], []
    sessions, problems = [], []
    for directory in sorted(paths.accounts_dir.iterdir()):
        if directory.is_dir() and unquote(directory.name).startswith("@"):
            info, problem = read_session(directory)
            if info is not None:
                sessions.append(info)
            if problem:
                problems.append(problem)
    return sessions, problems


def load_sessions(paths: Paths) -> list[SessionInfo]:
    """Every saved session, sorted by user id (an unusable one is logged and kept aside)."""
    sessions, problems = read_sessions(paths)
    for problem in problems:
        log.warning("%s", problem)
    return sessions


def remove_session_file(paths: Paths, user_id: str) -> None:
    """Forget the token but keep the store (a soft logout: the same device logs in again)."""
    (account_dir(paths, user_id) / SESSION_FILE).unlink(missing_ok=True)


def remove_account_dir(paths: Paths, user_id: str) -> None:
    """Remove everything saved for ``user_id`` (after a real logout)."""
    shutil.rmtree(account_dir(paths, user_id), ignore_errors=True)

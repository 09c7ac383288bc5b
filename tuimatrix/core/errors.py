"""Errors a user sees: one clear line, never a traceback."""

from __future__ import annotations

import asyncio
import errno
import math
import socket
import sqlite3
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

# aiohttp and mautrix.errors are imported inside the functions: the app's first frame comes
# before the network stack is imported (see core/lazy.py), and only a failure needs them here.


#: The longest delay a server may ask of us (seconds); a longer one is cut to this. A day of
#: silence because a header said so is never what the user wants.
MAX_SERVER_DELAY = 300.0


class UserError(Exception):
    """An error whose message is meant for the user as it stands (one line)."""


class UsageError(UserError):
    """The command line is wrong (exit status 2 in ``exec``).

    Defined here, not with the commands, so that the core's room resolver can say that a
    name matches no room (or several) as the usage error it is.
    """


#: errno values that mean the local disk or file system, never the network.
LOCAL_ERRNOS = frozenset(
    {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EIO}
    | {errno.EISDIR, errno.ENOTDIR, errno.ENOENT, errno.EMFILE, errno.ENFILE, errno.EFBIG}
)


class StoreError(UserError):
    """An account's SQLite store cannot be opened or used."""

    @classmethod
    def opening(cls, path: Path, exc: BaseException) -> StoreError:
        """The one line for a store that would not open, with what the user can do."""
        reason = local_reason(exc)
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            # Damaged: only moving it aside helps (it holds this device's encryption keys).
            advice = "rename it to sync this account afresh (keep the copy: it holds the keys)"
        else:
            advice = "check the disk has room and the directory is writable"
        return cls(f"cannot open the store {path}: {reason}; {advice}")


def is_local_error(exc: BaseException) -> bool:
    """True for a failure of this machine's disk or files (not of the network)."""
    if isinstance(exc, sqlite3.Error):
        return True
    if not isinstance(exc, OSError) or isinstance(
        exc, ConnectionError | TimeoutError | socket.gaierror | socket.herror
    ):
        return False
    # aiohttp's connection errors are OSErrors too; they are the network's.
    if type(exc).__module__.startswith(("aiohttp", "mautrix")):
        return False
    return exc.errno in LOCAL_ERRNOS or exc.filename is not None


def local_reason(exc: BaseException) -> str:
    """A few words on a local failure: what went wrong, and on which file if it is known."""
    from tuimatrix.core.sanitize import clean_line

    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        where = f": {exc.filename}" if exc.filename is not None else ""
        return clean_line(f"{what[:1].lower()}{what[1:]}{where}")
    return clean_line(str(exc)) or type(exc).__name__


def describe_local_error(exc: BaseException) -> str:
    """The one line for a local failure: the disk, or the store database, and which file."""
    if isinstance(exc, sqlite3.Error):
        return f"the account's store (store.db) failed: {local_reason(exc)}"
    return f"local disk error: {local_reason(exc)}"


def describe_error(exc: BaseException) -> str:
    """One line that says what went wrong, for the status line or stderr."""
    if isinstance(exc, UserError):
        return str(exc)
    if is_local_error(exc):
        return describe_local_error(exc)
    import aiohttp
    from mautrix.errors import MatrixConnectionError, MatrixRequestError, MatrixResponseError

    from tuimatrix.core.sanitize import clean_line  # messages from servers are untrusted

    if isinstance(exc, MatrixRequestError):
        code = getattr(exc, "errcode", None) or f"HTTP {getattr(exc, 'http_status', '?')}"
        message = getattr(exc, "message", None) or ""
        # The message comes from the server: untrusted.
        return clean_line(f"{code}: {message}" if message else code)
    if isinstance(exc, MatrixConnectionError | aiohttp.ClientConnectionError | OSError):
        return f"cannot reach the server ({connection_reason(exc)})"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, MatrixResponseError):
        return clean_line(f"unexpected answer from the server: {exc}")
    return clean_line(f"{type(exc).__name__}: {exc}")


def connection_reason(exc: BaseException) -> str:
    """A few words on why a connection failed."""
    import aiohttp

    from tuimatrix.core.sanitize import clean_line

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, aiohttp.ClientConnectorDNSError) or (
            isinstance(cause, OSError) and "Name or service not known" in str(cause)
        ):
            return "host name not found"
        if isinstance(cause, aiohttp.ClientConnectorCertificateError):
            return "its TLS certificate is not valid"
        if isinstance(cause, TimeoutError | asyncio.TimeoutError):
            return "timed out"
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return "the server closed the connection"
        os_error = getattr(cause, "os_error", None)
        cause = os_error if isinstance(os_error, BaseException) else cause.__cause__
    return clean_line(str(exc)) or type(exc).__name__


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that mean "try again later" rather than "the request is wrong"."""
    import aiohttp
    from mautrix.errors import MatrixConnectionError, MatrixRequestError, MatrixResponseError

    if isinstance(exc, MatrixRequestError):
        if getattr(exc, "errcode", None) == "M_UNKNOWN_TOKEN":
            # Whether the session is over is the sync loop's call, after checking with the
            # server (one such answer may come from a proxy): until then, nothing is failed.
            return True
        # A 429 is "later" even when its delay was missing or unusable (inf, a string).
        return getattr(exc, "http_status", 0) in (429, 502, 503, 504) or (
            retry_after(exc) is not None
        )
    return isinstance(
        exc,
        MatrixConnectionError
        | aiohttp.ClientError
        | OSError
        | asyncio.TimeoutError
        | TimeoutError
        | MatrixResponseError,
    )


def server_delay(value: object, *, scale: float = 1.0) -> float | None:
    """A delay a server gave (seconds, or ``scale`` of a second), as seconds in
    ``[0, MAX_SERVER_DELAY]``; None if it is not a usable number.

    Accepts numbers and strings of digits or an HTTP date (``Retry-After``). A negative or
    past value means "now"; a huge one is cut to the maximum; ``inf``, ``nan``, ``1e309``,
    booleans and other junk are refused, so that no caller ever sleeps on them.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return _http_date_delay(text)
        if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return None  # a word, not a number of seconds
    else:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float: "huge"
            return MAX_SERVER_DELAY if value > 0 else 0.0
    if math.isnan(number):
        return None
    seconds = number * scale
    if math.isinf(seconds):
        # "1e309" parses to inf: an absurd but numeric answer, cut like any huge one.
        return MAX_SERVER_DELAY if seconds > 0 else 0.0
    return min(max(seconds, 0.0), MAX_SERVER_DELAY)


def _http_date_delay(text: str) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zoneless one is not an HTTP date
    return min(max(when.timestamp() - time.time(), 0.0), MAX_SERVER_DELAY)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (429), if it said so, clamped to a sane range."""
    return server_delay(getattr(exc, "retry_after", None))


def soft_logout(exc: BaseException) -> bool:
    return bool(getattr(exc, "soft_logout", False))

"""One process per profile: an OS lock that the owning process holds for its whole life.

Two processes on one profile both sync: with encryption they regenerate one-time keys from the
same olm account, the server rejects one upload and that process's sync is stuck, and both
write the same stores. The owner serves the other processes of the profile over a local socket
(:mod:`tuimatrix.owner`); this module only decides who owns.

``flock`` makes this race-free: the kernel gives the lock to exactly one process, and takes it
back when that process ends, however it ends (``kill -9`` included), so no stale lock is left.
The owner's pid is written into the file for the refusal message only; the lock is the truth.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tuimatrix.core.errors import UserError
from tuimatrix.paths import Paths

LOCK_FILE = "profile.lock"
# The pid is written padded to this width, so that every write covers the previous one.
_PID_WIDTH = 20
#: How long a refused process waits for the new owner to write its pid (seconds).
_PID_WAIT = 1.0

# The lock files this process holds, open: the lock lives as long as the descriptor does.
_held: dict[Path, int] = {}


class ProfileInUse(UserError):
    """Another process owns the profile."""


def lock_file(paths: Paths) -> Path:
    return paths.data_dir / LOCK_FILE


def own_profile(paths: Paths) -> None:
    """Own the profile for the rest of this process's life; ProfileInUse if another does."""
    if not try_own_profile(paths):
        try:
            fd = os.open(lock_file(paths), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pid = None
        else:
            try:
                pid = _owner_pid(fd)
            finally:
                os.close(fd)
        owner = f"pid {pid}" if pid is not None else "pid unknown"
        raise ProfileInUse(
            f"the profile in {paths.data_dir} is in use by another tuimatrix ({owner}); "
            "quit that one first, or give this one another profile with TUIMATRIX_HOME=DIR"
        )


def try_own_profile(paths: Paths) -> bool:
    """Own the profile for the rest of this process's life (or until :func:`release_profile`)
    if nobody does: True when this process owns it now. Never waits."""
    path = lock_file(paths)
    if path in _held:
        return True
    # O_CLOEXEC: a child process (Synapse in the demo, an opener) must not inherit the lock.
    try:
        # Made if missing, but an existing directory keeps its mode: a profile the user made
        # read-only stays read-only (the writes that matter then fail and name their file).
        paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        writable = True
    except OSError as e:
        # A profile that cannot be written (read-only) cannot be synced into either: an owner
        # could only be one that started before, and then its lock file exists.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True  # nobody owns it; whatever must be written will fail and say where
        except OSError:
            raise UserError(f"cannot open the profile's lock file {path}: {e.strerror}") from e
        writable = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as e:  # e.g. a file system without locks
            raise UserError(f"cannot lock the profile ({path}): {e.strerror or e}") from e
        if writable:
            os.fchmod(fd, 0o600)
            # One fixed-width write, no truncation: a reader never sees an empty file.
            os.pwrite(fd, f"{os.getpid():<{_PID_WIDTH}}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[path] = fd
    return True


def release_profile(paths: Paths) -> None:
    """Give the profile up (an owner that hands over to the app): closing the descriptor
    releases the lock; the pid written in the file is left, and the next owner overwrites it."""
    fd = _held.pop(lock_file(paths), None)
    if fd is not None:
        os.close(fd)


def owns_profile(paths: Paths) -> bool:
    """Whether this process holds the profile's lock."""
    return lock_file(paths) in _held


def owner_pid(paths: Paths) -> int | None:
    """The pid written by the profile's owner, if it is alive (for messages only)."""
    try:
        fd = os.open(lock_file(paths), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        pid = _written_pid(fd)
    finally:
        os.close(fd)
    return pid if pid is not None and pid_alive(pid) else None


def _owner_pid(fd: int) -> int | None:
    """The owner's pid, or None if it is not known.

    An owner that has just taken the lock writes its pid a moment later; until then the file
    holds nothing or a dead predecessor's pid: wait a little for a live one.
    """
    deadline = time.monotonic() + _PID_WAIT
    while True:
        pid = _written_pid(fd)
        if pid is not None and pid_alive(pid):
            return pid
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _written_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, _PID_WIDTH + 1, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (anyone's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return True

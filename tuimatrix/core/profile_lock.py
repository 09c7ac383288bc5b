"""One process per profile: an OS lock that the owning process holds for its whole life.

Two processes on one profile both sync: with encryption they regenerate one-time keys from the
same olm account, the server rejects one upload and that process's sync is stuck, and both
write the same stores. Until the owner serves other processes over a local socket, a second
process that would sync or send refuses to start.

``flock`` makes this race-free: the kernel gives the lock to exactly one process, and takes it
back when that process ends, however it ends (``kill -9`` included), so no stale lock is left.
The owner's pid is written into the file for the refusal message only; the lock is the truth.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tuimatrix.core.errors import UserError
from tuimatrix.core.files import ensure_private_dir
from tuimatrix.paths import Paths

LOCK_FILE = "profile.lock"

# The lock files this process holds, open: the lock lives as long as the descriptor does.
_held: dict[Path, int] = {}


class ProfileInUse(UserError):
    """Another process owns the profile."""


def lock_file(paths: Paths) -> Path:
    return paths.data_dir / LOCK_FILE


def own_profile(paths: Paths) -> None:
    """Own the profile for the rest of this process's life; ProfileInUse if another does."""
    path = lock_file(paths)
    if path in _held:
        return
    # O_CLOEXEC: a child process (Synapse in the demo, an opener) must not inherit the lock.
    try:
        ensure_private_dir(paths.data_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        writable = True
    except OSError as e:
        # A profile that cannot be written (read-only) cannot be synced into either: an owner
        # could only be one that started before, and then its lock file exists.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # nobody owns it; whatever must be written will fail and say where
        except OSError:
            raise UserError(f"cannot open the profile's lock file {path}: {e.strerror}") from e
        writable = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _owner_pid(fd)
            owner = f"pid {pid}" if pid is not None else "pid unknown"
            raise ProfileInUse(
                f"the profile in {paths.data_dir} is in use by another tuimatrix ({owner}); "
                "quit that one first, or give this one another profile with TUIMATRIX_HOME=DIR"
            ) from None
        except OSError as e:  # e.g. a file system without locks
            raise UserError(f"cannot lock the profile ({path}): {e.strerror or e}") from e
        if writable:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[path] = fd


def _owner_pid(fd: int) -> int | None:
    """The pid the owner wrote (None before it has written it, or if it is not a pid)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None

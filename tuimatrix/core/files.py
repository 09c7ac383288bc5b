"""Atomic, private file writes: temp file in the same directory, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700, and tighten it if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_atomic(
    path: Path, data: bytes | str, mode: int = 0o600, *, private_dir: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, never half.

    The file is created with ``mode`` from the start (never briefly world-readable). Our own
    directories are made (or tightened to) 0700; a directory the user chose for a file
    (``private_dir=False``: an export in ~/Downloads) is left as it is; one that is missing is
    made, 0700.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if private_dir:
        ensure_private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

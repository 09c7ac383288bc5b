"""Serving accounts a test holds open, as the app does: an owner on the profile's socket.

The profile lock is taken on a descriptor of its own (not through profile_lock, which
remembers what this process holds), so that a client in this same process (a shell, an
exec) finds the profile owned and connects, as another process would.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tuimatrix.core.accounts import Accounts
from tuimatrix.core.profile_lock import lock_file
from tuimatrix.owner.attach import owner_handlers
from tuimatrix.owner.server import OwnerServer
from tuimatrix.paths import get_paths


@asynccontextmanager
async def serving(accounts: Accounts, kind: str = "app") -> AsyncIterator[OwnerServer]:
    paths = get_paths()
    paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_file(paths), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        server = OwnerServer(paths, accounts, kind, owner_handlers(accounts))
        await server.start()
        server.ready.set()
        try:
            yield server
        finally:
            await server.close(1.0)
    finally:
        os.close(fd)

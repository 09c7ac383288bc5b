"""Handing a file or a URL to the system's opener (xdg-open, open), without a shell.

The argument is passed as one argv entry, never through a shell, so no character in a file
name or URL can run anything. The opener runs in its own session with no terminal: it must not
draw over the app or read its keys.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

from tuimatrix.core.errors import UserError

#: Set to an executable (path or name) to use it instead of the platform's opener.
OPENER_ENV = "TUIMATRIX_OPENER"

# The running openers, so that they are waited for (no zombies) and not garbage-collected.
_running: set[asyncio.Task[int]] = set()


def default_opener() -> str:
    if sys.platform == "darwin":
        return "open"
    if sys.platform == "win32":
        return "explorer"
    return "xdg-open"


def find_opener(configured: str | None = None) -> str:
    """The opener's executable: ``configured``, else ``$TUIMATRIX_OPENER``, else the platform's.

    Raises a UserError naming what is missing.
    """
    name = configured or os.environ.get(OPENER_ENV) or default_opener()
    found = shutil.which(name)
    if found is None:
        raise UserError(f"no program to open files with: {name} is not installed")
    return found


async def open_with_system(target: str, configured: str | None = None) -> None:
    """Start the opener on ``target`` (a path or a URL) and return at once."""
    if target.startswith("-"):
        target = "./" + target  # never an option to the opener
    program = find_opener(configured)
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            target,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as e:
        raise UserError(f"cannot start {program}: {e.strerror or e}") from None
    task = asyncio.create_task(proc.wait())
    _running.add(task)
    task.add_done_callback(_running.discard)

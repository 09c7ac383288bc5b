"""The app owns its profile: it takes it over from a headless owner, or refuses beside an app.

A second app on one profile would need every screen's model over the socket; instead it
refuses with one line that says where the first one is and what works beside it (``shell``,
``exec``, ``listen``). Every other owner (``serve``, or an ``exec``, ``shell`` or ``listen``
that hosts one while it lives) hands the profile over when asked: it finishes what it is
doing, closes its accounts and releases the lock, and its clients attach to the app.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from tuimatrix.core.errors import UserError
from tuimatrix.core.profile_lock import ProfileInUse, owner_pid, try_own_profile

if TYPE_CHECKING:
    from tuimatrix.owner.attach import OwnerClient
    from tuimatrix.paths import Paths

#: How long the app waits for an owner to hand over (its requests under way may finish: an
#: exec's send has a 30 s deadline by default).
HANDOVER_WAIT = 60.0
#: How long it waits for a held profile's socket to answer (a login under way does not).
ANSWER_WAIT = 5.0
_POLL = 0.05


def take_profile(paths: Paths) -> None:
    """Own the profile for the app (asking its owner to hand over); ProfileInUse if another
    app has it, UserError if the owner neither answers nor lets go."""
    if try_own_profile(paths):
        return
    asyncio.run(_take_over(paths))


async def _take_over(paths: Paths) -> None:
    while True:
        client = await _reach_owner(paths)
        if client is None:
            return  # nobody owned it (any longer): this process does now
        try:
            if client.kind == "app" or not client.hello.get("yields"):
                raise ProfileInUse(
                    f"already open on this profile ({client.describe()}): use that "
                    "one, or work beside it with `tuimatrix shell`, `exec` or `listen`; "
                    "TUIMATRIX_HOME=DIR opens another profile"
                )
            answer = await client.request({"op": "yield"})
            if "error" in answer:
                raise UserError(f"{client.describe()} would not hand the profile over")
            print(f"tuimatrix: taking the profile over from {client.describe()}…", file=sys.stderr)
        finally:
            await client.close()
        if await _handed_over(paths, client):
            return
        # Another process (a second app started at the same time) took the profile first:
        # look again at who owns it now.


async def _reach_owner(paths: Paths) -> OwnerClient | None:
    """A connection to the profile's owner; None once this process owns the profile."""
    from tuimatrix.owner.attach import OwnerClient

    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_WAIT
    while True:
        if try_own_profile(paths):
            return None
        try:
            return await OwnerClient.connect(paths)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
            pass
        if loop.time() >= deadline:
            raise ProfileInUse(
                f"the profile in {paths.data_dir} is in use by pid "
                f"{owner_pid(paths) or 'unknown'} (a login or logout?); try again when it is "
                "done, or open another profile with TUIMATRIX_HOME=DIR"
            )
        await asyncio.sleep(_POLL)


async def _handed_over(paths: Paths, asked: OwnerClient) -> bool:
    """Wait until this process owns the profile (True), or another owner answers on its
    socket than the one ``asked`` to hand over (False)."""
    from tuimatrix.owner.attach import OwnerClient

    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANDOVER_WAIT
    while not try_own_profile(paths):
        if loop.time() >= deadline:
            raise UserError(
                f"{asked.describe()} did not hand the profile over within {HANDOVER_WAIT:g} s"
            )
        try:
            now = await OwnerClient.connect(paths)
        except (OSError, UserError):
            pass  # the one asked is closing, or nobody listens yet
        else:
            await now.close()
            if (now.pid, now.kind) != (asked.pid, asked.kind):
                return False
        await asyncio.sleep(_POLL)
    return True

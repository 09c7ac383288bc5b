"""``tuimatrix serve``: the profile's owner without a terminal (a server, ``systemd --user``).

It syncs every saved account, runs the config's hooks and serves ``exec``, ``shell`` and
``listen`` over the profile's socket until it is stopped; SIGTERM or SIGINT close it cleanly
(exit status 0). When the app starts on the profile, serve hands the profile over and waits
in standby until the app has quit, then owns it again. Its log goes to standard error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING

from tuimatrix.core.errors import UserError
from tuimatrix.core.profile_lock import owner_pid, pid_alive, try_own_profile

if TYPE_CHECKING:
    from tuimatrix.paths import Paths

log = logging.getLogger("tuimatrix.serve")

#: How often a standby serve looks whether the profile is free again (seconds).
STANDBY_POLL = 0.5
#: How long serve leaves the profile to the process that asked for it (seconds): as long as
#: an app waits to get it. One that has not taken it by then never will (a script that
#: asked, an app that failed): serve owns the profile again if nobody else does.
HANDOVER_WAIT = 60.0


def serve_command() -> int:
    """``tuimatrix serve``: 0 when stopped by a signal after a clean close."""
    from tuimatrix.paths import get_paths

    return asyncio.run(serve(get_paths()))


async def serve(paths: Paths) -> int:
    from tuimatrix.owner.attach import Host, OwnerClient

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    host: Host | None = None
    try:
        waiting_said = False
        while not stop.is_set():
            if not try_own_profile(paths):
                if not waiting_said:
                    waiting_said = True
                    try:
                        client = await OwnerClient.connect(paths)
                    except (OSError, UserError):
                        who = f"pid {owner_pid(paths) or 'unknown'}"
                    else:
                        who = client.describe()
                        await client.close()
                        if client.kind == "serve":
                            raise UserError(f"this profile is served already, by {who}")
                    log.warning("the profile is owned by %s: standing by until it ends", who)
                await asyncio.wait([stopping], timeout=STANDBY_POLL)
                continue
            waiting_said = False
            host = Host(paths, "serve")
            await host.start()
            for problem in host.problems:
                log.warning("%s", problem)
            names = ", ".join(account.user_id for account in host.accounts)
            log.info("serving %s on %s (pid %d)", names, paths.owner_socket, os.getpid())
            handing = asyncio.ensure_future(host.yield_requested.wait())
            await asyncio.wait([stopping, handing], return_when=asyncio.FIRST_COMPLETED)
            handing.cancel()
            if stop.is_set():
                await host.close()
                break
            app = host.yielded_to
            await host.close()  # the host hands over by itself too; this waits for it
            log.info("handed the profile over to the app (pid %s); standing by", app)
            # Until the app owns it: then the standby above waits while anyone does.
            given_up = loop.time() + HANDOVER_WAIT
            while app is not None and pid_alive(app) and owner_pid(paths) != app:
                if stop.is_set() or loop.time() >= given_up:
                    break
                await asyncio.wait([stopping], timeout=STANDBY_POLL)
    finally:
        stopping.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if host is not None:
            # However serve ends (cancelled too): its accounts close, the profile is freed.
            await asyncio.shield(host.close())
    log.info("stopped")
    return 0

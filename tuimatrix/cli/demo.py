"""``tuimatrix demo``: a throwaway Synapse, seeded, and the TUI logged in to it."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tuimatrix.cli import demo_seed as demo
from tuimatrix.core.profile_lock import own_profile
from tuimatrix.paths import get_paths


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_demo(
    *, peer_interval: tuple[float, float] = (15.0, 45.0), log: Callable[[], None] | None = None
) -> int:
    """``log`` is called once the demo profile is in place, before the app starts."""
    with tempfile.TemporaryDirectory(prefix="tuimatrix-demo-") as tmp:
        directory = Path(tmp)
        demo.use_demo_profile(directory)
        own_profile(get_paths())  # a fresh profile, but the rule is the same for every one
        _say(f"starting a local Synapse in {directory} …")
        server = demo.start_server(directory)
        try:
            _say(f"homeserver {server.synapse.base_url}")
            for line in server.sign_in_lines():
                _say(line)
            asyncio.run(_prepare(server, directory))
            from tuimatrix.app import TuimatrixApp

            if log is not None:
                log()
            peers = demo.DemoPeers(server, directory, peer_interval)
            from tuimatrix.screens.image import probe_terminal

            probe_terminal()  # image support is asked of the terminal before the app owns it
            TuimatrixApp(background=[peers.run]).run()
        finally:
            server.synapse.stop()
    return 0


async def _prepare(server: demo.DemoServer, directory: Path) -> None:
    await demo.seed(server, directory, _say)
    await demo.prepare_demo_user(server)
    await demo.encrypted_hello(directory)

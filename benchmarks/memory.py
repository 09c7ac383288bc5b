"""5. Memory: resident set size with the large account loaded and 20,000 events cached.

The store is built first; then a fresh process (so the generator's garbage is not counted)
starts the real app headless on that profile, waits for the room list, and reads every joined
room's newest events into memory as the room screens keep them — raw events and built
timeline items — 20,000 events for the large account. Its RSS is read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, goal, rss_mb, run_script
from benchmarks.generator import LARGE, SMALL, SyncGenerator, make_profile, profile_paths

NAME = "5. memory"
GOAL_MB = 150.0
#: Events per room kept, as a room screen loads them.
PAGE = 50


async def _child(home: Path) -> dict[str, Any]:
    """In the fresh process: start the app, cache the events; the RSS figures."""
    figures: dict[str, Any] = {"start": rss_mb()}
    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.timeline import build_items

    figures["imported"] = rss_mb()
    app = TuimatrixApp(profile_paths(home))
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.perf_counter() + 60
        while not len(app.accounts) and time.perf_counter() < deadline:
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        account = next(iter(app.accounts))
        figures["rooms"] = len(account.rooms.summaries)
        figures["loaded"] = rss_mb()
        cache: list[tuple[list[dict[str, Any]], list[Any]]] = []
        events = 0
        for room_id, summary in account.rooms.summaries.items():
            if summary.membership != "join":
                continue
            names = await account.member_names(room_id)
            room_events = await account.store.latest_events(room_id, PAGE)
            cache.append((room_events, build_items(room_events, names)))
            events += len(room_events)
        await pilot.pause(0.2)
        figures["events"] = events
        figures["cached"] = rss_mb()
    return figures


def _measure_in_fresh_process(home: Path) -> dict[str, Any]:
    out = home / "memory.json"
    env = dict(os.environ)
    env.pop("BENCHMARKS_JSON", None)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--child", str(home), str(out)],
        check=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=300,
    )
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


async def measure(quick: bool) -> list[Result]:
    size = SMALL if quick else LARGE
    with tempfile.TemporaryDirectory(prefix="tm-memory-") as tmp:
        home = Path(tmp)
        resp, _ = SyncGenerator(seed=7).initial_sync(size)
        await make_profile(home, [resp])
        del resp
        figures = _measure_in_fresh_process(home)
    return [
        Result(NAME, "RSS: interpreter", figures["start"], "MB"),
        Result(
            NAME,
            "RSS: tuimatrix imported (as for its first frame)",
            figures["imported"],
            "MB",
            note="aiohttp, mautrix and the crypto stack come after the first frame",
        ),
        Result(
            NAME,
            f"RSS: app running, {size.name} account's {figures['rooms']:,} rooms listed",
            figures["loaded"],
            "MB",
        ),
        goal(
            NAME,
            f"RSS: and {figures['events']:,} events cached (events + timeline items)",
            figures["cached"],
            "MB",
            GOAL_MB,
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        result = asyncio.run(_child(Path(sys.argv[2])))
        Path(sys.argv[3]).write_text(json.dumps(result))
    else:
        run_script(measure)

"""2. UI-loop stall during the large initial-sync ingest, with a Textual app running.

A Textual app (headless, 120×40) ticks a 5 ms timer that redraws a label; the longest gap
between two ticks is the longest the UI could not answer a key. While it runs, the large
account's first ``/sync`` is applied (``apply_sync`` in one transaction, then
``RoomModels.refresh``) as a task on the app's loop, as the sync loop does. The JSON parse of
the same bytes is measured the same way, on its own: it is one C call, which no chunking of
ours can split.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from textual.app import App, ComposeResult
from textual.widgets import Label

from benchmarks.common import Result, goal, run_script
from benchmarks.generator import LARGE, OWN_USER, SMALL, SyncGenerator, to_bytes

NAME = "2. UI stall during ingest"
#: The probe's period, and the goal for the longest gap.
TICK = 0.005
GOAL_MS = 50.0


class ProbeApp(App[None]):
    """Redraws a counter every 5 ms and records the gaps between ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps: list[float] = []
        self.recording = False
        self._last = 0.0
        self._ticks = 0
        # Held, not queried: a tick may come while the app is shutting down, its screen gone.
        self._label = Label("0", id="ticks")

    def compose(self) -> ComposeResult:
        yield self._label

    def on_mount(self) -> None:
        self._last = time.perf_counter()
        self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.recording:
            self.gaps.append(now - self._last)
        self._last = now
        self._ticks += 1
        self._label.update(str(self._ticks))

    async def probe(self, work: Any) -> tuple[float, float, int]:
        """Run ``work`` (a coroutine) while recording; (its seconds, longest gap, ticks)."""
        await asyncio.sleep(0.1)  # settle: the first frames are not the ingest's fault
        self.gaps = []
        self._last = time.perf_counter()
        self.recording = True
        start = time.perf_counter()
        await work
        elapsed = time.perf_counter() - start
        await asyncio.sleep(2 * TICK)  # the tick that ends the last gap
        self.recording = False
        return elapsed, max(self.gaps, default=elapsed), len(self.gaps)


async def _ingest(app: ProbeApp, resp: dict[str, Any], directory: Path) -> tuple[float, float, int]:
    """Apply ``resp`` to a fresh store and refresh the models, under the probe."""
    from tuimatrix.core.rooms import RoomModels
    from tuimatrix.core.store import Store
    from tuimatrix.core.sync import apply_sync

    store = Store(directory / "store.db")
    await store.open()
    try:
        models = RoomModels(store, OWN_USER)
        await models.load()

        async def work() -> None:
            async with store.transaction() as conn:
                changes = await apply_sync(conn, resp, initial=True)
            await models.refresh(changes.rooms, account_data_changed=bool(changes.account_data))

        return await app.probe(work())
    finally:
        await store.close()


async def _parse(raw: bytes) -> None:
    orjson.loads(raw)


async def measure(quick: bool) -> list[Result]:
    size = SMALL if quick else LARGE
    resp, _ = SyncGenerator(seed=7).initial_sync(size)
    raw = to_bytes(resp)
    app = ProbeApp()
    with tempfile.TemporaryDirectory(prefix="tm-stall-") as tmp:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            # Idle first: the probe's own jitter, for scale.
            idle = await app.probe(asyncio.sleep(0.5))
            ingest_s, ingest_gap, ticks = await _ingest(app, orjson.loads(raw), Path(tmp))
            parse_s, parse_gap, _ = await app.probe(_parse(raw))
    return [
        Result(NAME, "longest gap, idle app", idle[1] * 1000, "ms", note="the probe's jitter"),
        goal(
            NAME,
            f"longest gap during apply_sync + refresh, {size.name}",
            ingest_gap * 1000,
            "ms",
            GOAL_MS,
            note=f"ingest took {ingest_s:.2f} s on the UI loop; {ticks} ticks ran meanwhile",
        ),
        Result(
            NAME,
            f"longest gap during orjson.loads of the same {len(raw) / 1e6:.1f} MB",
            parse_gap * 1000,
            "ms",
            note=f"one C call of {parse_s * 1000:.0f} ms, in core/http.py",
        ),
    ]


if __name__ == "__main__":
    run_script(measure)

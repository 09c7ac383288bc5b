"""3. Warm start: from the large account's store to the first frame with rooms.

Each start is a fresh process in a pseudo-terminal of 120×40 (a real terminal driver, not
headless), timed from just before the process is spawned to the moment the app sends its first
frame showing room names (see :mod:`benchmarks.warm_start_child`), with its modules compiled
beforehand as an installed package has them. The profile is a saved
session whose homeserver is a closed loopback port, so nothing reaches a network: the app opens
the store, builds the room list and then fails to sync, as it would offline. A bare Textual
app with one label is started the same way, alternately, in the same run.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, goal, median, run_script
from benchmarks.generator import LARGE, SMALL, SyncGenerator, make_profile

NAME = "3. warm start"
GOAL_S = 1.0
GOAL_RATIO = 2.0
ROWS, COLUMNS = 40, 120
TIMEOUT = 90.0


def start_once(mode: str, home: Path | None, pycache: Path) -> dict[str, Any]:
    """Spawn the child in a new pseudo-terminal; its timings, with ``spawned`` added.

    Compiled modules are kept in ``pycache``, as an installed package has them.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
    env.pop("TEXTUAL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if home is not None:
        env["TUIMATRIX_HOME"] = str(home)
    spawned = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.warm_start_child", mode, str(out)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=Path(__file__).parent.parent,
        start_new_session=True,
    )
    os.close(slave)
    deadline = time.monotonic() + TIMEOUT
    try:
        # Read everything the app writes, as a terminal would, until it exits.
        while child.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    os.read(master, 1 << 16)
                except OSError:
                    break
        if child.poll() is None:
            child.kill()
        child.wait(10)
    finally:
        os.close(master)
    try:
        data: dict[str, Any] = json.loads(out.read_text() or "{}")
    finally:
        out.unlink(missing_ok=True)
    if not data.get("frame"):
        raise RuntimeError(f"{mode} start failed: {data.get('detail', 'no result')}")
    data["spawned"] = spawned
    return data


async def measure(quick: bool) -> list[Result]:
    size = SMALL if quick else LARGE
    runs = 1 if quick else 5
    with tempfile.TemporaryDirectory(prefix="tm-warm-") as tmp:
        home = Path(tmp)
        resp, _ = SyncGenerator(seed=7).initial_sync(size)
        await make_profile(home, [resp])
        del resp
        bare: list[dict[str, Any]] = []
        app: list[dict[str, Any]] = []
        pycache = home / "pycache"
        # Compile the modules and warm the page cache for both.
        start_once("bare", None, pycache)
        start_once("app", home, pycache)
        for _ in range(runs):
            bare.append(start_once("bare", None, pycache))
            app.append(start_once("app", home, pycache))

    def total(runs: list[dict[str, Any]]) -> float:
        return median([r["frame"] - r["spawned"] for r in runs])

    def part(runs: list[dict[str, Any]], start: str, end: str) -> float:
        return median([r[end] - r[start] for r in runs])

    bare_s, app_s = total(bare), total(app)
    note = (
        f"interpreter + imports {part(app, 'spawned', 'imported'):.2f} s, "
        f"App.run → frame {part(app, 'run', 'frame'):.2f} s; median of {runs}"
    )
    return [
        Result(
            NAME,
            "bare Textual app: spawn → first frame",
            bare_s,
            "s",
            note=(
                f"interpreter + imports {part(bare, 'spawned', 'imported'):.2f} s, "
                f"App.run → frame {part(bare, 'run', 'frame'):.2f} s"
            ),
        ),
        goal(
            NAME,
            f"tuimatrix, {size.name} store: spawn → first frame with rooms",
            app_s,
            "s",
            GOAL_S,
            note=note,
        ),
        goal(NAME, "tuimatrix / bare app", app_s / bare_s, "×", GOAL_RATIO),
    ]


if __name__ == "__main__":
    run_script(measure)

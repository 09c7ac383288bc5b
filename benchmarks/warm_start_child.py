"""The process that :mod:`benchmarks.warm_start` times: one app, until its first useful frame.

``python -m benchmarks.warm_start_child bare|app OUT`` starts a bare Textual app, or tuimatrix
on the profile in ``TUIMATRIX_HOME``, in the terminal it was given, and writes to ``OUT`` (JSON)
the ``time.perf_counter()`` moments (system-wide on Linux, so comparable with the parent's) when
its imports were done, when ``App.run`` was called, and when the first frame was sent to the
terminal: for the bare app any frame, for tuimatrix the first that shows room names. The check
reads the frame itself, so it does not depend on how the room list is built.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock starts before the imports it measures
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Label  # noqa: E402

#: Room names in a frame that make it "a frame with rooms".
NAMES_NEEDED = 3
#: Give up (and say so) after this long.
TIMEOUT = 60.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


class _Record:
    def __init__(self, out: Path, mode: str) -> None:
        self.out = out
        self.mode = mode
        self.imported = 0.0
        self.run = 0.0
        self.done = False

    def write(self, frame: float | None, detail: str = "") -> None:
        self.done = True
        data = {
            "mode": self.mode,
            "started": STARTED,
            "imported": self.imported,
            "run": self.run,
            "frame": frame,
            "detail": detail,
        }
        self.out.write_text(json.dumps(data))


class BareApp(App[None]):
    """The smallest Textual app: one label."""

    def __init__(self, record: _Record) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        yield Label("Hello from a bare Textual app")

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None and not self.record.done and self.screen.is_mounted:
            self.record.write(time.perf_counter())
            self.exit()


def tuimatrix_app(record: _Record) -> App[None]:
    from tuimatrix.app import TuimatrixApp

    class BenchApp(TuimatrixApp):
        """tuimatrix, noting the first frame that shows room names."""

        def on_ready(self) -> None:
            self.set_timer(TIMEOUT, self._give_up)

        def _give_up(self) -> None:
            if not record.done:
                record.write(None, "no frame with rooms in time")
                self.exit()

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            # The frame is out now; reading it back for room names is the benchmark's work.
            sent = time.perf_counter()
            if renderable is None or record.done or not hasattr(renderable, "render_segments"):
                return
            names = {
                summary.display_name[:12]
                for account in self.accounts
                for summary in account.rooms.summaries.values()
                if len(summary.display_name) >= 4
            }
            if not names:
                return
            text = _ANSI.sub("", renderable.render_segments(self.console))
            seen = sum(1 for name in names if name in text)
            if seen >= min(NAMES_NEEDED, len(names)):
                record.write(sent, f"{seen} room names in the frame")
                self.exit()

    return BenchApp()


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    record = _Record(out, mode)
    if mode != "bare":
        import tuimatrix.app  # noqa: F401 - timed apart from the app's start
    record.imported = time.perf_counter()
    app = BareApp(record) if mode == "bare" else tuimatrix_app(record)
    record.run = time.perf_counter()
    app.run()
    if not record.done:
        record.write(None, "the app ended before a frame with rooms")


if __name__ == "__main__":
    main()

"""4. Room open and scroll: the 10,000-event room and the 5,000-membership-event room.

The real app (headless, 120×40) on a profile whose store holds the large account plus the two
stress rooms; the session's homeserver is a closed port, so nothing goes out.

- **open**: ``RoomScreen.reload()`` — the store reads (member names, newest events, unsent
  messages), ``build_items`` and ``TimelineView.set_items`` — median of several, and the wall
  time from ``open_room`` to the first frame that shows the timeline, screen creation included.
- **everything loaded**: all of the room's events read, built and set at once, as after
  scrolling back through the whole room.
- **scroll step**: with all 10,000 events loaded, the UI-loop work of one step — the scroll
  call plus the frame it causes (Textual paints at most 60 times a second, so the wait for the
  frame is not work and is left out) — by three lines and by a page, upwards from the bottom.

The scroll figures are wall time, what a user waits. Each note adds the UI thread's CPU time
for the same steps (``time.thread_time``), the work alone: on this shared 2-core machine the
slowest step in wall time is often one during which the process waited for a core while other
work ran, and a slowest wall time far above the slowest CPU time says that happened. The
figure held to the goal stays the wall time.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from textual.screen import Screen

from benchmarks.common import Result, goal, median, run_script
from benchmarks.generator import (
    BIG_ROOM_EVENTS,
    LARGE,
    SMALL,
    STORM_EVENTS,
    generate_account,
    make_profile,
    profile_paths,
)

NAME = "4. room open and scroll"
OPEN_GOAL_MS = 150.0
STORM_GOAL_MS = 300.0
#: every event of the storm room into items: consecutive membership events coalesce into one
#: line per run, at a cost linear in the events (Ement.el once took minutes on such a room)
STORM_BUILD_GOAL_MS = 150.0
SCROLL_GOAL_MS = 16.0
SIZE = (120, 40)
FRAME_TIMEOUT = 5.0

#: (end time, seconds of work, seconds of the UI thread's CPU) of every frame painted.
_frames: list[tuple[float, float, float]] = []


def _time_frames() -> None:
    """Record the work of every frame (``Screen._on_timer_update`` paints one)."""
    original: Any = Screen._on_timer_update
    if getattr(original, "timed", False):
        return

    def timed(self: Screen[Any]) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        original(self)
        end = time.perf_counter()
        _frames.append((end, end - start, time.thread_time() - cpu))

    timed.timed = True  # type: ignore[attr-defined]
    Screen._on_timer_update = timed  # type: ignore[method-assign]


async def _next_frame(after: float) -> tuple[float, float, float]:
    """The first frame painted after ``after``: (its end time, its work, its CPU time)."""
    deadline = time.perf_counter() + FRAME_TIMEOUT
    while time.perf_counter() < deadline:
        later = [frame for frame in _frames[-50:] if frame[0] > after]
        if later:
            return later[0]
        await asyncio.sleep(0.001)
    raise TimeoutError("no frame was painted")


async def _open(app: Any, account: Any, room_id: str, reloads: int) -> dict[str, float]:
    """Open the room; the wall time to its first frame with items, and its reload times."""
    from tuimatrix.screens.room import RoomScreen
    from tuimatrix.widgets.timeline import TimelineView

    start = time.perf_counter()
    app.open_room(account, room_id)
    deadline = start + 30
    screen: RoomScreen | None = None
    while time.perf_counter() < deadline:
        current = app.screen
        if isinstance(current, RoomScreen) and current.room_id == room_id:
            screen = current
            views = list(current.query(TimelineView))
            if views and views[0].items:
                break
        await asyncio.sleep(0.001)
    if screen is None:
        raise TimeoutError("the room did not open")
    items_at = time.perf_counter()
    frame_end, _, _ = await _next_frame(items_at)
    times = []
    for _ in range(reloads):
        t0 = time.perf_counter()
        await screen.reload()
        times.append(time.perf_counter() - t0)
    return {"first_frame": frame_end - start, "reload": median(times)}


async def _load_all(app: Any, account: Any, room_id: str) -> dict[str, float]:
    """Every stored event of the room into its timeline at once; seconds per step."""
    from tuimatrix.core.timeline import build_items
    from tuimatrix.screens.room import RoomScreen

    screen = app.screen
    assert isinstance(screen, RoomScreen) and screen.room_id == room_id
    t0 = time.perf_counter()
    names = await account.member_names(room_id)
    events = await account.store.latest_events(room_id, 1_000_000)
    t1 = time.perf_counter()
    items = build_items(events, names)
    t2 = time.perf_counter()
    screen.timeline_model.set_events(events)
    screen.timeline.set_items(items)
    t3 = time.perf_counter()
    _, frame_work, _ = await _next_frame(t3)
    return {
        "events": len(events),
        "items": len(items),
        "read": t1 - t0,
        "build": t2 - t1,
        "set": t3 - t2,
        "frame": frame_work,
        "total": t3 - t0 + frame_work,
    }


async def _scroll(app: Any, step: str, count: int) -> tuple[list[float], list[float]]:
    """``count`` steps up; the work of each (scroll call + the frame it caused) in seconds,
    of wall time and of the UI thread's CPU time.

    Near the top the room screen loads older events from the store, as it does for a user.
    """
    view = app.screen.timeline
    works, cpus = [], []
    for _ in range(count):
        await asyncio.sleep(0.03)  # let the previous frame (and any scrollback) go
        t0, c0 = time.perf_counter(), time.thread_time()
        if step == "page":
            view.scroll_page_up(animate=False)
        else:
            view.scroll_relative(y=-3, animate=False)
        t1, c1 = time.perf_counter(), time.thread_time()
        _, frame_work, frame_cpu = await _next_frame(t1)
        works.append(t1 - t0 + frame_work)
        cpus.append(c1 - c0 + frame_cpu)
    return works, cpus


async def measure(quick: bool) -> list[Result]:
    from tuimatrix.app import TuimatrixApp

    size = SMALL if quick else LARGE
    big_n, storm_n = (600, 300) if quick else (BIG_ROOM_EVENTS, STORM_EVENTS)
    generated = generate_account(size, big_room=big_n, storm_room=storm_n)
    assert generated.big_room and generated.storm_room
    _time_frames()
    with tempfile.TemporaryDirectory(prefix="tm-room-") as tmp:
        home = Path(tmp)
        await make_profile(home, generated.responses)
        big, storm = generated.big_room, generated.storm_room
        del generated
        app = TuimatrixApp(profile_paths(home))
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.perf_counter() + 30
            while not len(app.accounts) and time.perf_counter() < deadline:
                await pilot.pause(0.05)
            account = next(iter(app.accounts))
            await pilot.pause(0.3)
            # A first room, so one-time costs (the first screen, the first request) are paid.
            await _open(app, account, _other_room(account, big, storm), reloads=1)
            app.action_show_room_list()
            await pilot.pause(0.2)
            big_open = await _open(app, account, big, reloads=5)
            back, back_cpu = await _scroll(app, "page", 10 if quick else 30)
            start = len(_frames)
            big_all = await _load_all(app, account, big)
            lines, lines_cpu = await _scroll(app, "lines", 10 if quick else 40)
            pages, pages_cpu = await _scroll(app, "page", 5 if quick else 20)
            longest = max(work for _, work, _ in _frames[start:])
            app.action_show_room_list()
            await pilot.pause(0.2)
            storm_open = await _open(app, account, storm, reloads=5)
            storm_all = await _load_all(app, account, storm)
    ms = 1000.0
    return [
        goal(
            NAME,
            f"{big_n:,}-event room: open (store reads + build_items + set_items)",
            big_open["reload"] * ms,
            "ms",
            OPEN_GOAL_MS,
            note="the newest 50 events, as the room screen loads them",
        ),
        goal(
            NAME,
            f"{big_n:,}-event room: open_room → first frame",
            big_open["first_frame"] * ms,
            "ms",
            OPEN_GOAL_MS,
            note="screen, composer and timeline created; includes waiting for the frame clock",
        ),
        goal(
            NAME,
            "scroll step (a page) back from the newest, older pages loading: slowest",
            max(back) * ms,
            "ms",
            SCROLL_GOAL_MS,
            note=f"median {median(back) * ms:.1f} ms over {len(back)} pages; {_cpu(back_cpu)}",
        ),
        Result(
            NAME,
            f"{big_n:,}-event room: all {big_all['events']:,} events loaded at once",
            big_all["total"] * ms,
            "ms",
            note=_steps(big_all) + " (stress case: a room scrolled back to its start)",
        ),
        goal(
            NAME,
            "scroll step (3 lines), all events loaded: slowest",
            max(lines) * ms,
            "ms",
            SCROLL_GOAL_MS,
            note=f"median {median(lines) * ms:.1f} ms over {len(lines)} steps; {_cpu(lines_cpu)}",
        ),
        goal(
            NAME,
            "scroll step (a page), all events loaded: slowest",
            max(pages) * ms,
            "ms",
            SCROLL_GOAL_MS,
            note=f"median {median(pages) * ms:.1f} ms over {len(pages)} pages of new rows; "
            f"longest frame of these {longest * ms:.1f} ms; {_cpu(pages_cpu)}",
        ),
        goal(
            NAME,
            f"{storm_n:,}-membership-event room: open (store reads + build_items + set_items)",
            storm_open["reload"] * ms,
            "ms",
            STORM_GOAL_MS,
        ),
        goal(
            NAME,
            f"{storm_n:,}-membership-event room: open_room → first frame",
            storm_open["first_frame"] * ms,
            "ms",
            STORM_GOAL_MS,
        ),
        Result(
            NAME,
            f"{storm_n:,}-membership-event room: all {storm_all['events']:,} events loaded",
            storm_all["total"] * ms,
            "ms",
            note=_steps(storm_all),
        ),
        goal(
            NAME,
            f"{storm_n:,}-membership-event room: build_items of every event (coalesced runs)",
            storm_all["build"] * ms,
            "ms",
            STORM_BUILD_GOAL_MS,
            note=f"{storm_all['items']:,} items (one line per run; a run ends at a date line)",
        ),
    ]


def _other_room(account: Any, *busy: str) -> str:
    """An ordinary joined room of the account."""
    for room_id, summary in account.rooms.summaries.items():
        if room_id not in busy and summary.membership == "join" and not summary.is_space:
            return str(room_id)
    raise LookupError("no ordinary room")


def _cpu(cpus: list[float]) -> str:
    """The CPU-time figures of a run of steps, for a note."""
    return f"in CPU time slowest {max(cpus) * 1000:.1f} ms, median {median(cpus) * 1000:.1f} ms"


def _steps(steps: dict[str, float]) -> str:
    return (
        f"store {steps['read'] * 1000:.0f} ms, build_items {steps['build'] * 1000:.0f} ms, "
        f"set_items {steps['set'] * 1000:.0f} ms, first frame {steps['frame'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    run_script(measure)

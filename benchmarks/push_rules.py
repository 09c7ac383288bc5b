"""9. Push rules: evaluating them on every event of the large account's first sync.

Every sync evaluates its new timeline events (``core/push_evaluator.py``); the goal is that
this adds at most 10 % to the initial-sync ingest (benchmark 1, measured again here on the
same bytes so both figures come from one machine state). Two rule sets: the server-default
rules (``core/push_defaults.py``), and those plus five keywords (one a glob), as a user who
set some has. The room facts (members, display name, power levels) are built once per room
from the sync, outside the timing: the store has them at hand when the sync evaluates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import Result, goal, median, run_script, settle, stopwatch
from benchmarks.generator import LARGE, OWN_USER, SMALL, Size, SyncGenerator, to_bytes
from benchmarks.ingest import ours as ingest
from tuimatrix.core.push_defaults import server_default_rules
from tuimatrix.core.push_evaluator import RoomFacts, Ruleset

NAME = "9. push rules"
#: The most evaluation may add to the initial-sync ingest.
GOAL_SHARE = 0.10
KEYWORDS = ("deploy", "release", "lunch", "outage", "bench*")


def room_facts(room_id: str, room: dict[str, Any]) -> RoomFacts:
    """What the conditions need, from the room's state in the sync."""
    state = {
        (e["type"], e.get("state_key")): e
        for e in [*room["state"]["events"], *room["timeline"]["events"]]
        if "state_key" in e
    }
    me = state.get(("m.room.member", OWN_USER), {}).get("content", {})
    levels = state.get(("m.room.power_levels", ""))
    return RoomFacts(
        member_count=room["summary"].get("m.joined_member_count", 0),
        display_name=me.get("displayname"),
        power_levels=levels["content"] if levels else None,
        room_id=room_id,
    )


def with_keywords() -> dict[str, Any]:
    rules = server_default_rules(OWN_USER)
    rules["content"] = [
        {"rule_id": word, "pattern": word, "actions": ["notify"], "enabled": True, "default": False}
        for word in KEYWORDS
    ] + rules["content"]
    return {"global": rules}


def evaluate_all(ruleset: Ruleset, rooms: list[tuple[list[Any], RoomFacts]]) -> tuple[float, int]:
    """Seconds to evaluate every event, and how many notified."""
    settle()
    notified = 0
    with stopwatch() as elapsed:
        for events, facts in rooms:
            for event in events:
                notified += ruleset.evaluate(event, facts).notify
    return elapsed[0], notified


async def measure_size(size: Size, runs: int) -> list[Result]:
    resp, _ = SyncGenerator(seed=7).initial_sync(size)
    raw = to_bytes(resp)
    parsed = orjson.loads(raw)
    rooms = [
        (room["timeline"]["events"], room_facts(room_id, room))
        for room_id, room in parsed["rooms"]["join"].items()
    ]
    events = sum(len(timeline) for timeline, _ in rooms)
    ingest_runs = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="tm-push-") as tmp:
            ingest_runs.append((await ingest(raw, Path(tmp)))["total"])
    ingest_s = median(ingest_runs)
    results = [
        Result(
            NAME, f"ingest (benchmark 1), {size.name}: {events:,} timeline events", ingest_s, "s"
        )
    ]
    for label, content in (("default rules", None), ("defaults + 5 keywords", with_keywords())):
        ruleset = Ruleset.from_account_data(OWN_USER, content)
        timings = [evaluate_all(ruleset, rooms) for _ in range(runs + 2)]
        seconds = median([t for t, _ in timings])
        notified = timings[0][1]
        results += [
            Result(
                NAME,
                f"{label}: events per second, {size.name}",
                round(events / seconds),
                "events/s",
                note=f"{seconds * 1000:.0f} ms for {events:,} events, {notified:,} notify",
            ),
            goal(
                NAME,
                f"{label}: evaluation / ingest, {size.name}",
                round(100 * seconds / ingest_s, 1),
                "%",
                100 * GOAL_SHARE,
            ),
        ]
    return results


async def measure(quick: bool) -> list[Result]:
    if quick:
        return await measure_size(SMALL, runs=1)
    return await measure_size(LARGE, runs=3)


if __name__ == "__main__":
    run_script(measure)

"""The benchmarks' synthetic account: deterministic, valid, and taken whole by our sync path.

No timings are asserted here (benchmarks are not tests); the last test runs every benchmark at
the small size so that none of them rots.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package

from benchmarks.generator import (  # noqa: E402
    OWN_USER,
    SMALL,
    Account,
    SyncGenerator,
    build_store,
    generate_account,
    to_bytes,
)
from tuimatrix.core.rooms import RoomModels  # noqa: E402
from tuimatrix.core.store import Store  # noqa: E402

STORM = 200
BIG = 300


def digest(seed: int) -> str:
    resp, _ = SyncGenerator(seed).initial_sync(SMALL)
    return hashlib.sha256(to_bytes(resp)).hexdigest()


def timeline_events(account: Account) -> list[dict[str, Any]]:
    return [
        evt
        for resp in account.responses
        for section in ("join", "leave")
        for room in resp.get("rooms", {}).get(section, {}).values()
        for evt in room["timeline"]["events"]
    ]


def test_same_seed_same_bytes_in_any_process() -> None:
    here = digest(7)
    assert digest(7) == here
    assert digest(8) != here
    # Another interpreter with another string-hash seed: no set or hash order leaks in.
    code = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
        "from benchmarks.generator import SMALL, SyncGenerator, to_bytes;"
        "r, _ = SyncGenerator(7).initial_sync(SMALL);"
        "print(hashlib.sha256(to_bytes(r)).hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == here


def test_account_has_every_kind_of_room() -> None:
    account = generate_account(SMALL, big_room=BIG, storm_room=STORM)
    expected = account.expected
    assert len(expected.joined) == SMALL.rooms + 2  # and the two stress rooms
    assert expected.spaces and expected.direct and expected.invited and expected.left
    assert expected.encrypted and (expected.favourites or expected.low_priority)
    assert expected.events[account.big_room or ""] == BIG
    assert expected.events[account.storm_room or ""] == STORM
    initial = account.responses[0]
    assert initial["account_data"]["events"][0]["type"] == "m.direct"


def test_events_are_well_formed_and_unique() -> None:
    account = generate_account(SMALL, big_room=BIG, storm_room=STORM)
    events = timeline_events(account)
    ids = Counter(evt["event_id"] for evt in events)
    assert ids.most_common(1)[0][1] == 1
    kinds = Counter(evt["type"] for evt in events)
    for kind in ("m.room.message", "m.reaction", "m.room.member", "m.room.encrypted"):
        assert kinds[kind], kind
    formats = Counter(evt["content"].get("format") for evt in events)
    assert formats["org.matrix.custom.html"]
    for evt in events:
        assert evt["event_id"].startswith("$") and evt["sender"].startswith("@")
        assert isinstance(evt["origin_server_ts"], int) and isinstance(evt["content"], dict)
        if evt["type"] == "m.room.member":
            assert evt["content"]["membership"] in ("join", "leave", "invite", "ban")
            assert evt["state_key"].startswith("@")
    storm = account.responses[-1]["rooms"]["join"][account.storm_room]
    assert {e["type"] for e in storm["timeline"]["events"]} == {"m.room.member"}


async def test_our_sync_path_takes_all_of_it(tmp_path: Path) -> None:
    account = generate_account(SMALL, big_room=BIG, storm_room=STORM)
    expected = account.expected
    path = tmp_path / "store.db"
    await build_store(path, account.responses)
    store = Store(path)
    await store.open()
    try:
        assert await store.next_batch() == account.responses[-1]["next_batch"]
        for room_id, count in expected.events.items():
            assert await store.count_events(room_id) == count, room_id
        models = RoomModels(store, OWN_USER)
        await models.load()
        rooms = models.summaries
        assert set(rooms) == {*expected.joined, *expected.invited, *expected.left}
        by = Counter(summary.membership for summary in rooms.values())
        assert by == {
            "join": len(expected.joined),
            "invite": len(expected.invited),
            "leave": len(expected.left),
        }
        assert {r for r, s in rooms.items() if s.is_direct} == set(expected.direct)
        assert {r for r, s in rooms.items() if s.is_space} == set(expected.spaces)
        assert {r for r, s in rooms.items() if s.encrypted} == set(expected.encrypted)
        assert {r for r, s in rooms.items() if s.is_favourite} == set(expected.favourites)
        assert {r for r, s in rooms.items() if s.is_low_priority} == set(expected.low_priority)
        assert all(rooms[s].space_children for s in expected.spaces)
        for room_id, name in expected.names.items():
            assert rooms[room_id].display_name == name
        for room_id in expected.invited:
            assert rooms[room_id].inviter
        for room_id in expected.direct:  # unnamed: named after the other member
            assert rooms[room_id].display_name not in ("", "Empty room")
    finally:
        await store.close()


def test_matrix_nio_accepts_the_payload() -> None:
    """nio validates a sync against the spec's schema: a second opinion on validity."""
    import nio  # the test extra installs it: no skip

    account = generate_account(SMALL, big_room=BIG, storm_room=STORM)
    for resp in account.responses:
        assert isinstance(nio.SyncResponse.from_dict(resp), nio.SyncResponse)


@pytest.mark.timeout(260)
def test_every_benchmark_runs_at_the_small_size(tmp_path: Path) -> None:
    """A smoke run of ``python -m benchmarks --quick``: each script still works end to end."""
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text("utf-8")
    for name in ("ingest", "UI stall", "warm start", "room open", "memory", "Encrypted send"):
        assert name in table
    assert "| goal | met |" in table

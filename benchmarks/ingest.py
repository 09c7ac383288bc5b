"""1. Initial-sync ingest: the large account's first ``/sync``, through our sync path.

Ours: ``orjson.loads`` of the bytes (as ``core/http.py`` parses), ``apply_sync`` and the
push rules evaluated on its events (``Notices.record``) in one transaction on a fresh store,
then ``RoomModels.refresh`` — what ``Account.sync_once`` does minus the network and the crypto
hook. The floor: the standard library's ``json.loads`` of the
same bytes. The peer: matrix-nio's ``SyncResponse.from_dict`` (its schema check) and
``AsyncClient.receive_response`` on the same bytes; nio keeps rooms in memory and writes
nothing, so it does strictly less than we do. Medians of a few runs each, in one process.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import Result, median, run_script, settle, stopwatch
from benchmarks.generator import HUGE, LARGE, OWN_USER, SMALL, Size, SyncGenerator, to_bytes

NAME = "1. initial-sync ingest"


async def ours(raw: bytes, directory: Path) -> dict[str, float]:
    """Our sync path on ``raw`` into a fresh store in ``directory``; seconds per stage."""
    from tuimatrix.core.notices import Notices
    from tuimatrix.core.rooms import RoomModels
    from tuimatrix.core.store import Store
    from tuimatrix.core.sync import apply_sync

    store = Store(directory / "store.db")
    await store.open()
    try:
        models = RoomModels(store, OWN_USER)
        await models.load()
        settle()
        with stopwatch() as parse:
            resp = orjson.loads(raw)
        async with store.transaction() as conn:
            with stopwatch() as apply:
                changes = await apply_sync(conn, resp, initial=True)
            with stopwatch() as notices:
                await Notices(store, OWN_USER).record(conn, changes)
        with stopwatch() as refresh:
            await models.refresh(changes.rooms, account_data_changed=bool(changes.account_data))
        if len(models.summaries) < len(resp["rooms"]["join"]):
            raise AssertionError("the store lost rooms")
    finally:
        await store.close()
    return {
        "parse": parse[0],
        "apply": apply[0],
        "notices": notices[0],
        "refresh": refresh[0],
        "total": parse[0] + apply[0] + notices[0] + refresh[0],
    }


def nio_available() -> bool:
    return importlib.util.find_spec("nio") is not None


async def nio(raw: bytes) -> dict[str, float]:
    """matrix-nio on ``raw``: parse, schema-check and build its response, then process it."""
    import nio

    config = nio.AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
    client = nio.AsyncClient("http://127.0.0.1:9", OWN_USER, device_id="NIOBENCH", config=config)
    client.user_id = OWN_USER
    try:
        settle()
        with stopwatch() as parse:
            parsed: Any = json.loads(raw)
        with stopwatch() as build:
            response = nio.SyncResponse.from_dict(parsed)
        if not isinstance(response, nio.SyncResponse):
            raise AssertionError(f"nio refused the payload: {response}")
        with stopwatch() as process:
            await client.receive_response(response)
        if len(client.rooms) < len(parsed["rooms"]["join"]):
            raise AssertionError("nio lost rooms")
    finally:
        await client.close()
    return {
        "parse": parse[0],
        "build": build[0],
        "process": process[0],
        "total": parse[0] + build[0] + process[0],
    }


def floor(raw: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        settle()
        with stopwatch() as t:
            json.loads(raw)
        times.append(t[0])
    return median(times)


async def measure_size(size: Size, runs: int, peer: bool) -> list[Result]:
    resp, _ = SyncGenerator(seed=7).initial_sync(size)
    raw = to_bytes(resp)
    del resp
    mb = len(raw) / 1e6
    label = f"{size.name} ({size.rooms:,} rooms × {size.events_per_room} events, {mb:.1f} MB)"
    floor_s = floor(raw, runs + 2)
    runs_ours = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="tm-ingest-") as tmp:
            runs_ours.append(await ours(raw, Path(tmp)))
    mid = sorted(runs_ours, key=lambda r: r["total"])[len(runs_ours) // 2]
    results = [
        Result(NAME, f"floor: json.loads, {label}", floor_s, "s"),
        Result(
            NAME,
            f"ours: parse + apply_sync + push rules + refresh, {size.name}",
            mid["total"],
            "s",
            note=(
                f"parse {mid['parse'] * 1000:.0f} ms, apply_sync {mid['apply'] * 1000:.0f} ms, "
                f"push rules {mid['notices'] * 1000:.0f} ms "
                f"({mid['notices'] / mid['apply']:.0%} of apply_sync), "
                f"refresh {mid['refresh'] * 1000:.0f} ms"
            ),
        ),
        Result(NAME, f"ours / floor, {size.name}", mid["total"] / floor_s, "×"),
    ]
    if not peer:
        return results
    if not nio_available():
        results.append(
            Result(NAME, f"nio, {size.name}", float("nan"), "s", note="matrix-nio not installed")
        )
        return results
    runs_nio = [await nio(raw) for _ in range(runs)]
    nio_mid = sorted(runs_nio, key=lambda r: r["total"])[len(runs_nio) // 2]
    results += [
        Result(
            NAME,
            f"nio: json.loads + SyncResponse.from_dict + receive_response, {size.name}",
            nio_mid["total"],
            "s",
            note=(
                f"parse {nio_mid['parse'] * 1000:.0f} ms, from_dict "
                f"{nio_mid['build'] * 1000:.0f} ms, receive_response "
                f"{nio_mid['process'] * 1000:.0f} ms; in memory, nothing persisted"
            ),
        ),
        Result(NAME, f"nio / ours, {size.name}", nio_mid["total"] / mid["total"], "×"),
    ]
    return results


async def measure(quick: bool) -> list[Result]:
    if quick:
        return await measure_size(SMALL, runs=1, peer=True)
    results = await measure_size(LARGE, runs=3, peer=True)
    # The huge account: ours and the floor only (nio would take half a minute a run).
    results += await measure_size(HUGE, runs=1, peer=False)
    return results


if __name__ == "__main__":
    run_script(measure)

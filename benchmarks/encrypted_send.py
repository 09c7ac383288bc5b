"""7. The first message into an encrypted room with 50 member devices, on a real Synapse.

Ten members with five devices each (their keys made and uploaded with python-olm, as their
clients would) share an encrypted room with us. The first message needs a new room key:
claim a one-time key of each of the 50 devices, start an olm session with each, encrypt the
room key 50 times, send it, then encrypt and send the message. The time from queueing the
message to the server's answer is the figure (goal: under 2 s; weechat-matrix users report
over 10 s). A 5 ms ticker on the same loop records the longest stall meanwhile: what the UI
would feel. The second message (the room key is reused) is measured for comparison.
``BENCH_PROFILE=1`` prints a pyinstrument profile of each send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from olm.account import Account as OlmAccount

from benchmarks.common import Result, goal, run_script

NAME = "7. Encrypted send"
MEMBERS = 10
DEVICES_EACH = 5
GOAL_S = 2.0
STALL_GOAL_MS = 100.0
PASSWORD = "bench-password-1"


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def _device(http: aiohttp.ClientSession, base: str, user_id: str, n: int) -> str:
    """Log ``user_id`` in as a new device and upload its device keys and one-time keys."""
    async with http.post(
        f"{base}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": PASSWORD,
            "device_id": f"BENCH{n}",
        },
    ) as resp:
        resp.raise_for_status()
        login = await resp.json()
    token, device_id = login["access_token"], login["device_id"]
    account = OlmAccount()
    keys = account.identity_keys
    device_keys: dict[str, Any] = {
        "user_id": user_id,
        "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            f"curve25519:{device_id}": keys["curve25519"],
            f"ed25519:{device_id}": keys["ed25519"],
        },
    }
    device_keys["signatures"] = {
        user_id: {f"ed25519:{device_id}": account.sign(_canonical(device_keys))}
    }
    account.generate_one_time_keys(2)
    one_time: dict[str, Any] = {}
    for key_id, key in account.one_time_keys["curve25519"].items():
        signed: dict[str, Any] = {"key": key}
        signed["signatures"] = {user_id: {f"ed25519:{device_id}": account.sign(_canonical(signed))}}
        one_time[f"signed_curve25519:{key_id}"] = signed
    async with http.post(
        f"{base}/_matrix/client/v3/keys/upload",
        json={"device_keys": device_keys, "one_time_keys": one_time},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        resp.raise_for_status()
    return str(token)


async def measure(quick: bool) -> list[Result]:
    from tuimatrix.cli.localserver import LocalSynapse
    from tuimatrix.core import auth
    from tuimatrix.paths import get_paths

    # mautrix warns about every device that is not cross-signed: none of these is.
    logging.getLogger("mau").setLevel(logging.ERROR)
    members, devices_each = (3, 2) if quick else (MEMBERS, DEVICES_EACH)
    with tempfile.TemporaryDirectory(prefix="tm-bench-e2ee-") as tmp:
        os.environ["TUIMATRIX_HOME"] = str(Path(tmp) / "home")
        server = LocalSynapse(Path(tmp) / "synapse")
        server.start()
        try:
            me_id = server.register_user("bench-me", PASSWORD)
            user_ids = [server.register_user(f"bench-{i}", PASSWORD) for i in range(members)]
            async with aiohttp.ClientSession() as http:
                tokens = {
                    u: [await _device(http, server.base_url, u, d) for d in range(devices_each)]
                    for u in user_ids
                }
                me = (await auth.login(get_paths(), me_id, PASSWORD, server.base_url)).account
                try:
                    await me.sync_once()
                    room_id = await me.create_room("Big secret", invite=user_ids, encrypted=True)
                    for user_id in user_ids:
                        async with http.post(
                            f"{server.base_url}/_matrix/client/v3/join/{room_id}",
                            json={},
                            headers={"Authorization": f"Bearer {tokens[user_id][0]}"},
                        ) as resp:
                            resp.raise_for_status()
                    await me.sync_once()
                    first, stall = await _timed_send(me, room_id, "the first secret")
                    second, _ = await _timed_send(me, room_id, "the second secret")
                finally:
                    await me.close()
        finally:
            server.stop()
    n = members * devices_each
    return [
        goal(NAME, f"first message, {n} member devices", first, "s", GOAL_S),
        goal(NAME, "longest loop stall meanwhile", stall * 1000, "ms", STALL_GOAL_MS),
        Result(NAME, "second message (room key reused)", second, "s"),
    ]


async def _timed_send(me: Any, room_id: str, text: str) -> tuple[float, float]:
    """(seconds from queueing to sent, longest gap of a 5 ms ticker meanwhile)."""
    longest = 0.0
    running = True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest = max(longest, now - last - 0.005)
            last = now

    tick = asyncio.create_task(ticker())
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    start = time.perf_counter()
    echo = await me.send_text(room_id, text)
    done = await me.send_queue.wait(echo.txn_id)
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, show_all=False))
    running = False
    await tick
    if done.state != "sent":
        raise RuntimeError(f"not sent: {done.error}")
    return elapsed, longest


if __name__ == "__main__":
    run_script(measure)

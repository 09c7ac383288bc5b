"""8. Scripts through the profile's owner: ``exec`` round trip and ``listen`` latency.

On a real Synapse, with ``tuimatrix serve`` owning the profile:

- **exec round trip**: ``tuimatrix exec "send --room R TEXT"``, from process start to exit
  (the message confirmed by the server), beside a plain ``curl`` that sends a message to the
  homeserver itself in the same run. Goal: ≤ 0.3 s. For comparison, the same exec when no
  owner runs (it hosts one for its own life: opens the store, catches up, sends, closes).
- **listen latency**: another user sends a message; the time until ``tuimatrix listen``
  prints its line, against the time the server takes to hand the same event to a bare
  long-poll ``/sync`` of ours started before the send (the server's own latency). Goal: the
  difference ≤ 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import Result, goal, median, run_script

NAME = "8. Scripts through the owner"
PASSWORD = "bench-password-1"
EXEC_GOAL_S = 0.3
LISTEN_GOAL_MS = 100.0


def _tuimatrix(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuimatrix", *args]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from process start to exit; the command must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[-1]!r} failed: {done.stderr.strip()}")
    return elapsed


def _start(argv: list[str], env: dict[str, str], stdout: int) -> subprocess.Popen[str]:
    """A process left running (serve, listen): started at once, it is not waited for."""
    return subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.DEVNULL, text=True)


async def _login(http: aiohttp.ClientSession, base: str, user_id: str) -> str:
    async with http.post(
        f"{base}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": PASSWORD,
        },
    ) as resp:
        resp.raise_for_status()
        return str((await resp.json())["access_token"])


async def _wait_for_owner(paths: Any) -> None:
    from tuimatrix.owner.attach import OwnerClient

    async with asyncio.timeout(120):
        while True:
            try:
                client = await OwnerClient.connect(paths)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            await client.close()
            return


class _Lines:
    """A process's output lines, read by a thread, each with the time it was read."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        stream = proc.stdout
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()

        def read() -> None:
            for line in stream:
                self.lines.put((time.perf_counter(), line))

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if text in line:
                return at


async def measure(quick: bool) -> list[Result]:
    from tuimatrix.cli.localserver import LocalSynapse
    from tuimatrix.core import auth
    from tuimatrix.paths import get_paths

    rounds = 3 if quick else 10
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tm-bench-owner-") as tmp:
        os.environ["TUIMATRIX_HOME"] = str(Path(tmp) / "home")
        env = dict(os.environ)
        server = LocalSynapse(Path(tmp) / "synapse")
        server.start()
        serve: subprocess.Popen[str] | None = None
        listen: subprocess.Popen[str] | None = None
        try:
            me_id = server.register_user("bench-me", PASSWORD)
            other_id = server.register_user("bench-other", PASSWORD)
            me = (await auth.login(get_paths(), me_id, PASSWORD, server.base_url)).account
            try:
                room_id = await me.create_room("Bench", invite=[other_id], encrypted=False)
            finally:
                await me.close()
            base = server.base_url
            async with aiohttp.ClientSession() as http:
                other_token = await _login(http, base, other_id)
                me_token = await _login(http, base, me_id)  # the bare client's own device
                async with http.post(
                    f"{base}/_matrix/client/v3/join/{room_id}",
                    json={},
                    headers={"Authorization": f"Bearer {other_token}"},
                ) as resp:
                    resp.raise_for_status()

                send = "send --room Bench 'hosting {}'"
                hosting = [
                    await asyncio.to_thread(_timed, _tuimatrix("exec", send.format(i)), env)
                    for i in range(max(1, rounds // 3))
                ]

                serve = _start(_tuimatrix("serve"), env, subprocess.DEVNULL)
                await _wait_for_owner(get_paths())
                through = []
                curl = []
                for i in range(rounds):
                    through.append(
                        await asyncio.to_thread(
                            _timed, _tuimatrix("exec", f"send --room Bench 'through {i}'"), env
                        )
                    )
                    url = (
                        f"{base}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/"
                        f"curl{i}.{time.time_ns()}"
                    )
                    curl.append(
                        await asyncio.to_thread(
                            _timed,
                            [
                                "curl",
                                "-sf",
                                "-X",
                                "PUT",
                                "-H",
                                f"Authorization: Bearer {me_token}",
                                "-H",
                                "Content-Type: application/json",
                                "-d",
                                json.dumps({"msgtype": "m.text", "body": f"curl {i}"}),
                                url,
                            ],
                            env,
                        )
                    )
                exec_s, curl_s = median(through), median(curl)
                results.append(
                    goal(
                        NAME,
                        "exec send through serve (process start → exit)",
                        exec_s,
                        "s",
                        EXEC_GOAL_S,
                        f"median of {rounds}; curl {curl_s * 1000:.0f} ms, "
                        f"{exec_s / curl_s:.1f}× curl",
                    )
                )
                results.append(
                    Result(
                        NAME,
                        "exec send with no owner running (hosts one)",
                        median(hosting),
                        "s",
                        note=f"median of {len(hosting)}: opens, catches up, sends, closes",
                    )
                )

                listen = _start(_tuimatrix("listen", "--room", "Bench"), env, subprocess.PIPE)
                lines = _Lines(listen)
                overheads: list[float] = []
                own: list[float] = []
                since = await _since(http, base, me_token)
                attempt = 0
                while len(overheads) < rounds:
                    attempt += 1
                    marker = f"latency {attempt}"
                    poll = asyncio.create_task(_long_poll(http, base, me_token, since, marker))
                    await asyncio.sleep(0.2)  # the long poll is waiting at the server
                    sent = time.perf_counter()
                    url = (
                        f"{base}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/"
                        f"m{attempt}.{time.time_ns()}"
                    )
                    async with http.put(
                        url,
                        json={"msgtype": "m.text", "body": marker},
                        headers={"Authorization": f"Bearer {other_token}"},
                    ) as resp:
                        resp.raise_for_status()
                    raw_at, since = await poll
                    try:
                        printed = await asyncio.to_thread(lines.wait_for, marker, 5)
                    except queue.Empty:
                        continue  # the listener was not subscribed yet: its first round
                    own.append(raw_at - sent)
                    overheads.append(printed - raw_at)
                overhead_ms = median(overheads) * 1000
                results.append(
                    goal(
                        NAME,
                        "listen: event printed, over the server's own long poll",
                        overhead_ms,
                        "ms",
                        LISTEN_GOAL_MS,
                        f"median of {rounds}; the server's own: {median(own) * 1000:.0f} ms",
                    )
                )
        finally:
            for proc in (listen, serve):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            server.stop()
    return results


async def _since(http: aiohttp.ClientSession, base: str, token: str) -> str:
    async with http.get(
        f"{base}/_matrix/client/v3/sync",
        params={"timeout": "0"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        resp.raise_for_status()
        return str((await resp.json())["next_batch"])


async def _long_poll(
    http: aiohttp.ClientSession, base: str, token: str, since: str, marker: str
) -> tuple[float, str]:
    """When a bare long-poll /sync hands us the event with ``marker`` (perf_counter time),
    and the token to go on from."""
    while True:
        async with http.get(
            f"{base}/_matrix/client/v3/sync",
            params={"since": since, "timeout": "30000"},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            resp.raise_for_status()
            body = await resp.json()
        at = time.perf_counter()
        since = str(body["next_batch"])
        for room in body.get("rooms", {}).get("join", {}).values():
            for event in room.get("timeline", {}).get("events", []):
                if event.get("content", {}).get("body") == marker:
                    return at, since


if __name__ == "__main__":
    run_script(measure)

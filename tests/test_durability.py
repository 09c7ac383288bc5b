"""Nothing is lost and nothing is doubled: crashes, a stopped server, rate limits."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import Mock

import pytest
from conftest import MakeUser
from helpers import wait_for
from mautrix.types import (
    EncryptionAlgorithm,
    EventType,
    RoomEncryptionStateEventContent,
    RoomID,
)
from proxy import FaultProxy
from test_sync import Login, bodies, login  # noqa: F401  (the fixture)

from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, RECONNECTING, Account
from tuimatrix.core.session import SessionInfo, load_sessions
from tuimatrix.paths import get_paths

RECEIVER = Path(__file__).with_name("crash_receiver.py")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    encrypted: bool,
) -> None:
    """Bob's client is killed at random moments while 200 messages arrive; every one is
    stored once, in order. Encrypted, the room key changes every 10 messages, so room keys
    (to-device messages) arrive all along: a key lost to a kill leaves messages unreadable."""
    seed = random.randrange(1 << 30)
    print(f"crash test seed: {seed}")
    rng = random.Random(seed)
    alice, bob = make_user("alice"), make_user("bob")
    a = await login(alice)
    b = (await auth.login(get_paths(), bob.user_id, bob.password)).account
    room_id = await a.create_room("Crashy", invite=[bob.user_id])
    if encrypted:
        await a.sync_once()
        await a.client.send_state_event(
            RoomID(room_id),
            EventType.ROOM_ENCRYPTION,
            RoomEncryptionStateEventContent(
                algorithm=EncryptionAlgorithm.MEGOLM_V1, rotation_period_msgs=10
            ),
        )
    await b.sync_once()
    await b.join(room_id)
    await b.sync_once()
    await b.close()
    await a.sync_once()  # alice knows bob joined: he gets the room keys

    total = 200
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def spawn(*extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(RECEIVER), bob.user_id, room_id, *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def sender() -> None:
        for i in range(total):
            await a.send_text(room_id, f"msg {i}")
            if i % 10 == 9:
                await a.send_queue.flush()
                await asyncio.sleep(rng.uniform(0, 0.2))
        await a.send_queue.flush()

    sending = asyncio.create_task(sender())
    kills = 0
    while not sending.done() or kills < 5:
        proc = spawn()
        await asyncio.sleep(rng.uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    await sending

    final = spawn(str(total))
    try:
        returncode = await asyncio.to_thread(final.wait, 120)
    except subprocess.TimeoutExpired:
        final.kill()
        raise
    assert returncode == 0, final.stderr.read().decode() if final.stderr else ""

    [info] = [s for s in load_sessions(get_paths()) if s.user_id == bob.user_id]
    check = await Account.open(info, get_paths())
    try:
        got = await bodies(check, room_id)
        stored = await check.store.latest_events(room_id, limit=10_000)
    finally:
        await check.close()
    assert got == [f"msg {i}" for i in range(total)], f"seed {seed}, {kills} kills"
    if encrypted:
        # Every message was decrypted, under the many room keys the rotation made.
        sessions = {e["tm_e2ee"]["session_id"] for e in stored if e["type"] == "m.room.message"}
        assert len(sessions) >= total // 10


def via(info: SessionInfo, url: str) -> SessionInfo:
    return SessionInfo(info.user_id, url, info.device_id, info.access_token)


async def test_message_sent_while_server_is_down_arrives_once(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    b = await login(bob)
    a0 = await login(alice)
    room_id = await a0.create_room("Offline", invite=[bob.user_id])
    await b.sync_once()
    await b.join(room_id)
    await a0.close()

    async with FaultProxy(alice.base_url) as proxy:
        [info] = [s for s in load_sessions(get_paths()) if s.user_id == alice.user_id]
        a = await Account.open(via(info, proxy.url), get_paths())
        await a.start()
        await wait_for(lambda: a.status.state == LIVE)
        await proxy.go_down()
        attempts = Mock(side_effect=a.send_queue._send)  # counts the send queue's tries
        a.send_queue._send = attempts
        echo = await a.send_text(room_id, "written offline")
        await wait_for(lambda: a.status.state == RECONNECTING)
        await wait_for(lambda: attempts.call_count >= 3)  # several failed attempts
        assert (await a.send_queue.get(echo.txn_id)).state == "queued"  # type: ignore[union-attr]
        # A restart while offline keeps the message (and its transaction id).
        await a.close()
        a = await Account.open(via(info, proxy.url), get_paths())
        [pending] = await a.send_queue.pending(room_id)
        assert pending.txn_id == echo.txn_id
        await a.start()
        await proxy.come_up()
        done = await asyncio.wait_for(a.send_queue.wait(echo.txn_id), 60)
        assert done.state == "sent"
        await a.close()

    await b.sync_once()
    assert (await bodies(b, room_id)).count("written offline") == 1


async def test_429_retry_after_is_honoured(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    alice = make_user("alice")
    a0 = await login(alice)
    room_id = await a0.create_room("Limits")
    await a0.close()
    async with FaultProxy(alice.base_url) as proxy:
        [info] = [s for s in load_sessions(get_paths()) if s.user_id == alice.user_id]
        a = await Account.open(via(info, proxy.url), get_paths())
        try:
            proxy.inject_429("/send/", retry_after=2)
            started = time.monotonic()
            echo = await a.send_text(room_id, "patience")
            await a.send_queue.flush()
            done = await a.send_queue.get(echo.txn_id)
            assert done is not None and done.state == "sent"
            sends = [t for t, method, path in proxy.requests if "/send/" in path]
            assert len(sends) == 2
            assert sends[1] - sends[0] >= 2.0
            assert time.monotonic() - started >= 2.0

            # retry_after_ms in the body, on /sync
            proxy.inject_429("/sync", retry_after=None, retry_after_ms=1500)
            await a.sync_once()
            syncs = [t for t, method, path in proxy.requests if path.endswith("/sync")]
            assert len(syncs) >= 2 and syncs[1] - syncs[0] >= 1.5
        finally:
            await a.close()


async def test_starting_offline_uploads_the_device_keys_once_online(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    """A first start without a server must not fail: the device keys go up when it is back."""
    alice = make_user("alice")
    a0 = await login(alice)  # logged in, never synced: the device has no keys on the server
    await a0.close()
    async with FaultProxy(alice.base_url) as proxy:
        [info] = [s for s in load_sessions(get_paths()) if s.user_id == alice.user_id]
        a = await Account.open(via(info, proxy.url), get_paths())
        try:
            await proxy.go_down()
            await a.start()  # no exception
            assert a.crypto is not None and not a.crypto.loaded
            await wait_for(lambda: a.status.state == RECONNECTING)
            await proxy.come_up()
            a.sync_now()
            await wait_for(lambda: a.status.state == LIVE)
            assert a.crypto.loaded
        finally:
            await a.close()

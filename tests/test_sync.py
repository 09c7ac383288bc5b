"""The sync loop we own: resume from the saved token, gaps, de-duplication, scrollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import MakeUser
from helpers import TestUser
from proxy import FaultProxy

from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.session import load_sessions
from tuimatrix.paths import get_paths

Login = Callable[..., Awaitable[Account]]


@pytest.fixture
async def login() -> AsyncIterator[Login]:
    """``await login(user, homeserver=None)``: a logged-in account, closed after the test."""
    opened: list[Account] = []

    async def make(user: TestUser, homeserver: str | None = None) -> Account:
        result = await auth.login(get_paths(), user.user_id, user.password, homeserver)
        opened.append(result.account)
        return result.account

    yield make
    for account in opened:
        await account.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def bodies(account: Account, room_id: str) -> list[str]:
    events = await account.store.latest_events(room_id, limit=10_000)
    return [e["content"]["body"] for e in events if e["type"] == "m.room.message"]


async def test_restart_resumes_with_the_saved_token(make_user: MakeUser, login: Login) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a = await login(alice)
    b = await login(bob)
    room_id = await a.create_room("Resume", invite=[bob.user_id])
    await b.sync_once()
    await b.join(room_id)
    await a.sync_once()
    echo = await a.send_text(room_id, "before restart")
    await a.send_queue.flush()
    assert (await a.send_queue.get(echo.txn_id)).state == "sent"  # type: ignore[union-attr]
    await b.sync_once()
    token = await b.store.next_batch()
    assert token
    await b.close()

    # A new process would do exactly this: open every saved session from disk.
    [info] = [s for s in load_sessions(get_paths()) if s.user_id == bob.user_id]
    proxy = FaultProxy(bob.base_url)
    await proxy.start()
    try:
        info = type(info)(info.user_id, proxy.url, info.device_id, info.access_token)
        b2 = await Account.open(info, get_paths())
        assert room_id in b2.rooms.summaries  # from the store, before any network
        assert b2.rooms.summaries[room_id].display_name == "Resume"
        await a.send_text(room_id, "after restart")
        await a.send_queue.flush()
        await b2.start()
        await wait_for(lambda: b2.status.state == LIVE)
        async with asyncio.timeout(20):
            while "after restart" not in await bodies(b2, room_id):
                await asyncio.sleep(0.05)
        assert b2.sync_log[0] == token
        syncs = [path for path in proxy.raw_paths if "/sync?" in path]
        assert syncs and f"since={token}" in syncs[0]
        assert all("since=" in path for path in syncs)
        assert await bodies(b2, room_id) == ["before restart", "after restart"]
        await b2.close()
    finally:
        await proxy.stop()


async def test_limited_sync_leaves_a_gap_that_fills(make_user: MakeUser, login: Login) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a = await login(alice)
    b = await login(bob)
    room_id = await a.create_room("Gappy", invite=[bob.user_id])
    await b.sync_once()
    await b.join(room_id)
    await b.sync_once()
    # More than the filter's timeline limit (50) while bob is away.
    for i in range(80):
        await a.send_text(room_id, f"m{i}")
    await a.send_queue.flush()
    changes = await b.sync_once()
    assert room_id in changes.limited
    assert len(await b.store.gaps(room_id)) == 1
    assert await bodies(b, room_id) == [f"m{i}" for i in range(30, 80)]
    added = await b.fill_gaps(room_id)
    assert added >= 30
    assert await b.store.gaps(room_id) == []
    assert await bodies(b, room_id) == [f"m{i}" for i in range(80)]


async def test_scrollback_loads_older_messages(make_user: MakeUser, login: Login) -> None:
    alice = make_user("alice")
    a = await login(alice)
    room_id = await a.create_room("History")
    for i in range(70):
        await a.send_text(room_id, f"h{i}")
    await a.send_queue.flush()
    b = await login(make_user("bob"))
    await a.invite(room_id, b.user_id)
    await b.sync_once()
    await b.join(room_id)
    await b.sync_once()
    before = await bodies(b, room_id)
    while older := await b.load_older(room_id, limit=30):
        assert older
    after = await bodies(b, room_id)
    assert after == [f"h{i}" for i in range(70)]
    assert len(after) > len(before)

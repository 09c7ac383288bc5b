"""The sync loop we own: resume from the saved token, gaps, de-duplication, scrollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import MakeUser
from helpers import TestUser, wait_for
from proxy import FaultProxy

from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.session import load_sessions
from tuimatrix.core.sync import SyncChanges
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


async def test_two_accounts_sync_live_in_one_process(make_user: MakeUser, login: Login) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    seen: dict[str, list[str]] = {a.user_id: [], b.user_id: []}

    def listener(account: Account, change: object) -> None:
        if isinstance(change, SyncChanges):
            for events in change.new_events.values():
                seen[account.user_id].extend(
                    e["content"].get("body", "") for e in events if e["type"] == "m.room.message"
                )

    a.add_listener(listener)
    b.add_listener(listener)
    await a.start()
    await b.start()
    await wait_for(lambda: a.status.state == LIVE and b.status.state == LIVE)
    room_id = await a.create_room("Both", invite=[b.user_id])
    await wait_for(lambda: room_id in b.rooms.summaries)
    await b.join(room_id)
    await a.send_text(room_id, "from a")
    await b.send_text(room_id, "from b")
    await wait_for(lambda: {"from a", "from b"} <= set(seen[a.user_id]))
    await wait_for(lambda: {"from a", "from b"} <= set(seen[b.user_id]))
    # Sent messages leave the queue once the sync has brought them back.
    assert await a.send_queue.pending() == []
    assert await a.store.db.fetchval("SELECT COUNT(*) FROM send_queue") == 0


async def test_store_is_wal_and_versioned(make_user: MakeUser, login: Login) -> None:
    a = await login(make_user("alice"))
    assert (await a.store.db.fetchval("PRAGMA journal_mode")).lower() == "wal"
    for table in ("tm_version", "crypto_version", "mx_version"):
        assert await a.store.db.fetchval(f"SELECT version FROM {table}") >= 1
    for table in ("events", "rooms", "room_state", "receipts", "account_data", "send_queue"):
        assert await a.store.db.table_exists(table)


async def test_a_refused_message_is_marked_failed(make_user: MakeUser, login: Login) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    room_id = await b.create_room("Not yours")
    echo = await a.send_text(room_id, "let me in")
    done = await a.send_queue.wait(echo.txn_id)
    assert done.state == "failed"
    assert done.error and "M_FORBIDDEN" in done.error
    assert [e.txn_id for e in await a.send_queue.pending(room_id)] == [echo.txn_id]
    await b.invite(room_id, a.user_id)
    await a.join(room_id)
    await a.send_queue.retry(echo.txn_id)
    assert (await a.send_queue.wait(echo.txn_id)).state == "sent"
    await b.sync_once()
    assert await bodies(b, room_id) == ["let me in"]


async def test_accepting_a_dm_invite_records_it_as_direct(
    make_user: MakeUser, login: Login
) -> None:
    a = await login(make_user("alice"))
    b = await login(make_user("bob"))
    dm = await a.create_room(is_direct=True, invite=[b.user_id])
    await b.sync_once()
    assert b.rooms.summaries[dm].membership == "invite"
    await b.join(dm)
    await b.sync_once()
    summary = b.rooms.summaries[dm]
    assert summary.is_direct and summary.membership == "join"
    # Named after the other member (the spec's heroes), here by display name or user id.
    assert summary.display_name in (a.user_id, a.user_id.split(":")[0][1:])

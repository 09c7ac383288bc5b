"""What the account's helpers (history, key backup, key export, recovery) call on it, now
that they see it only as an ``AccountLike``: the public ``emit``, ``messages`` and
``room_keys_imported``; and the HTTP session apart from the account."""

from __future__ import annotations

import pytest
from conftest import MakeUser
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.core import http_session
from tuimatrix.core.account import SYNC_TIMEOUT_MS, Account
from tuimatrix.core.e2ee.key_backup import KeyBackup
from tuimatrix.core.sync import SyncChanges


async def test_emit_reaches_every_listener(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    seen: list[tuple[Account, object]] = []
    a.add_listener(lambda account, change: seen.append((account, change)))
    change = SyncChanges(rooms={"!r:localhost"})
    a.emit(change)
    assert seen == [(a, change)]


async def test_room_keys_imported_reloads_the_rooms_and_wakes_the_backup(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = await login(make_user("alice"))
    woken: list[bool] = []
    monkeypatch.setattr(KeyBackup.of(a), "wake", lambda: woken.append(True))
    changes: list[object] = []
    a.add_listener(lambda account, change: changes.append(change))

    a.room_keys_imported({"!r:localhost"})
    assert changes == [SyncChanges(rooms={"!r:localhost"}, limited={"!r:localhost"})]
    assert woken == [True]

    a.room_keys_imported(set())  # keys that decrypt nothing stored yet: no reload
    assert changes == [SyncChanges(rooms={"!r:localhost"}, limited={"!r:localhost"})]
    assert woken == [True, True]


async def test_messages_pages_backwards_from_a_token(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a = await login(make_user("alice"))
    room_id = await a.create_room("Paging", encrypted=False)
    for n in range(3):
        await a.client.send_text(room_id, f"message {n}")  # type: ignore[arg-type]
    await a.sync_once()
    token = await a.store.next_batch()  # a sync token is a place in the room's history too
    assert token
    page = await a.messages(room_id, token, 2)
    newest = [e["content"]["body"] for e in page["chunk"]]
    assert newest == ["message 2", "message 1"]  # newest first, as many as asked
    older = await a.messages(room_id, page["end"], 1)
    assert [e["content"]["body"] for e in older["chunk"]] == ["message 0"]


async def test_the_http_session_has_finite_deadlines_longer_than_a_long_poll() -> None:
    async with http_session.make_http_session() as session:
        assert session.timeout.total == http_session.SESSION_DEADLINE
        assert session.timeout.sock_read == http_session.READ_TIMEOUT
    assert http_session.READ_TIMEOUT > SYNC_TIMEOUT_MS / 1000


async def test_start_loads_the_cross_signing_keys_beside_the_key_backup(
    make_user: MakeUser,
    login: Login,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Account starts both (the key backup no longer imports recovery to do it)."""
    import asyncio

    from tuimatrix.core.e2ee import recovery

    a = await login(make_user("alice"))
    loaded = asyncio.Event()

    async def load_cross_signing(account: object) -> bool:
        assert account is a
        loaded.set()
        return False

    monkeypatch.setattr(recovery, "load_cross_signing", load_cross_signing)
    started: list[bool] = []
    monkeypatch.setattr(KeyBackup.of(a), "start", lambda: started.append(True))
    await a.start()
    async with asyncio.timeout(10):
        await loaded.wait()
    assert started == [True]

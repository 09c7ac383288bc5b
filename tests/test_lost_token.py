"""A 401 M_UNKNOWN_TOKEN is confirmed before anything is given up, and a real sign-out
keeps what cannot be rebuilt (unsent messages, the crypto store) for the next login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from conftest import MakeUser
from helpers import TestUser, until, wait_for
from proxy import FaultProxy
from test_auth import server_devices
from test_sync import bodies

from tuimatrix.core import account as acc
from tuimatrix.core import auth, signed_out
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.sendqueue import FAILED, QUEUED, SENT, SendQueue
from tuimatrix.core.session import SESSION_FILE, STORE_FILE, SessionInfo, account_dir, load_sessions
from tuimatrix.core.store import Store
from tuimatrix.paths import get_paths

UNKNOWN_TOKEN: dict[str, object] = {
    "errcode": "M_UNKNOWN_TOKEN",
    "error": "Invalid access token passed.",
}
#: a send that the server keeps refusing for now: the message stays queued
UNAVAILABLE: dict[str, object] = {"errcode": "M_UNKNOWN", "error": "try later"}


@dataclass
class Setup:
    user: TestUser
    proxy: FaultProxy
    account: Account
    room_id: str


@pytest.fixture
async def setup(make_user: MakeUser) -> AsyncIterator[Setup]:
    """Alice, synced and live through the proxy, in a room of her own."""
    paths = get_paths()
    user = make_user("alice")
    first = (await auth.login(paths, user.user_id, user.password)).account
    room_id = await first.create_room("Precious")
    await first.sync_once()
    await first.close()
    [info] = load_sessions(paths)
    async with FaultProxy(user.base_url) as proxy:
        via = SessionInfo(info.user_id, proxy.url, info.device_id, info.access_token)
        account = await Account.open(via, paths)
        account.token_check_pauses = (0.2, 0.2)
        account.sync_timeout_ms = 1000  # the injected 401 comes with the next long-poll
        try:
            await account.start()
            await wait_for(lambda: account.status.state == LIVE)
            yield Setup(user, proxy, account, room_id)
        finally:
            await account.close()


async def queue_unsent(s: Setup, body: str) -> str:
    """A message that stays queued: every send is refused with 503 until the faults go."""
    s.proxy.inject_error("/send/", 503, UNAVAILABLE, count=10_000)
    echo = await s.account.send_text(s.room_id, body)
    await wait_for(lambda: any("/send/" in path for _, _, path in s.proxy.requests))
    return echo.txn_id


async def test_one_unknown_token_answer_loses_nothing(setup: Setup) -> None:
    s, paths = setup, get_paths()
    directory = account_dir(paths, s.user.user_id)
    txn_id = await queue_unsent(s, "must survive")
    token = await s.account.store.next_batch()
    whoamis = sum(1 for _, _, p in s.proxy.requests if p.endswith("/whoami"))
    s.proxy.inject_error("/sync", 401, UNKNOWN_TOKEN)
    # The token is checked with the server, which still accepts it; syncing goes on.
    await wait_for(
        lambda: sum(1 for _, _, p in s.proxy.requests if p.endswith("/whoami")) > whoamis
    )
    await wait_for(lambda: s.account.status.state == LIVE)
    assert s.account.status.state == LIVE
    assert (directory / SESSION_FILE).exists() and (directory / STORE_FILE).exists()
    assert load_sessions(paths)[0].access_token == s.account.session.access_token
    assert signed_out.read(paths, s.user.user_id) is None
    assert s.room_id in s.account.rooms.summaries
    assert (await s.account.store.next_batch()) not in (None, "")
    assert token is not None
    queued = await s.account.send_queue.get(txn_id)
    assert queued is not None and queued.state == QUEUED
    # Once sends go through again, the message goes out, once.
    s.proxy.clear_faults()
    s.account.send_queue._wakeup.set()
    sent = await s.account.send_queue.wait(txn_id)
    assert sent.state == SENT
    await wait_for(lambda: s.account.status.state == LIVE)
    await s.account.sync_once()
    assert (await bodies(s.account, s.room_id)).count("must survive") == 1


async def sign_out_from_elsewhere(s: Setup) -> None:
    """Another client logs this very token out (the server deletes the device); wait until
    the account has noticed."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{s.user.base_url}/_matrix/client/v3/logout",
            headers={"Authorization": f"Bearer {s.account.session.access_token}"},
        ) as response:
            assert response.status == 200
    await wait_for(lambda: s.account.status.state == acc.LOGGED_OUT, timeout=60)


async def test_a_real_sign_out_keeps_unsent_messages_for_the_next_login(setup: Setup) -> None:
    s, paths = setup, get_paths()
    directory = account_dir(paths, s.user.user_id)
    old_device = s.account.session.device_id
    await queue_unsent(s, "written before the sign-out")
    await sign_out_from_elsewhere(s)
    assert "signed out by the server" in s.account.status.detail
    assert "1 unsent message kept" in s.account.status.detail
    # The dead token is forgotten; the store (queue and crypto) is kept.
    assert load_sessions(paths) == []
    assert (directory / STORE_FILE).exists()
    marker = signed_out.read(paths, s.user.user_id)
    assert marker is not None and "M_UNKNOWN_TOKEN" in marker.reason
    kept = Store(directory / STORE_FILE)
    await kept.open()
    try:
        [unsent] = await SendQueue(kept, _never, lambda e: None).pending()
        assert unsent.content["body"] == "written before the sign-out"
        assert await kept.crypto_device_id(s.user.user_id) == old_device
    finally:
        await kept.close()

    # Logging in again takes the message over into the new session, on a new device.
    result = await auth.login(paths, s.user.user_id, s.user.password)
    again = result.account
    try:
        assert "signed out by the server" in result.notice
        assert "1 unsent message queued again" in result.notice
        assert again.session.device_id != old_device
        [aside] = signed_out.set_aside_dirs(paths, s.user.user_id)
        assert (aside / STORE_FILE).exists() and str(aside) in result.notice
        assert signed_out.read(paths, s.user.user_id) is None
        [pending] = await again.send_queue.pending()
        await again.start()
        assert (await again.send_queue.wait(pending.txn_id)).state == SENT
        await wait_for(lambda: again.status.state == LIVE, timeout=30)
        await again.sync_once()
        assert (await bodies(again, s.room_id)).count("written before the sign-out") == 1
    finally:
        await again.close()
    # Logging out removes what was kept too.
    await auth.logout(paths, s.user.user_id)
    assert signed_out.set_aside_dirs(paths, s.user.user_id) == []
    assert not directory.exists()


async def _never(room_id: str, event_type: str, txn_id: str, content: object) -> str:
    raise AssertionError("nothing is sent from a kept store")


async def test_the_login_screen_says_which_account_the_server_signed_out() -> None:
    from textual.widgets import Input, Label

    from tuimatrix.app import TuimatrixApp
    from tuimatrix.core.files import ensure_private_dir
    from tuimatrix.screens.login import LoginScreen

    paths = get_paths()
    user_id = "@zoe:example.org"
    ensure_private_dir(account_dir(paths, user_id))
    # The reason quotes the server: markup and escape sequences must come out as text.
    signed_out.record(paths, user_id, "M_UNKNOWN_TOKEN: [@click=app.quit]gone\x1b]0;x\x07")
    app = TuimatrixApp(paths)
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen))
        shown = app.screen.query_one("#signed-out", Label)
        text = str(shown.render())
        assert f"{user_id} was signed out by the server" in text
        assert "[@click=app.quit]gone" in text and "\x1b" not in text
        assert app.screen.query_one("#user", Input).value == user_id


async def test_one_unknown_token_answer_to_a_send_keeps_the_message_queued(setup: Setup) -> None:
    s = setup
    s.proxy.inject_error("/send/", 401, UNKNOWN_TOKEN)
    echo = await s.account.send_text(s.room_id, "sent after a fake 401")
    sent = await asyncio.wait_for(s.account.send_queue.wait(echo.txn_id), 30)
    assert sent.state == SENT
    assert sum(1 for _, _, path in s.proxy.requests if "/send/" in path) == 2
    await s.account.sync_once()
    assert (await bodies(s.account, s.room_id)).count("sent after a fake 401") == 1


async def fake_sign_out(s: Setup) -> None:
    """Something between us and the server answers 401 M_UNKNOWN_TOKEN to /sync and /whoami
    for longer than the account's checks take, then goes away."""
    s.proxy.inject_error("/sync", 401, UNKNOWN_TOKEN, count=10_000)
    s.proxy.inject_error("/whoami", 401, UNKNOWN_TOKEN, count=10_000)
    await wait_for(lambda: s.account.status.state == acc.LOGGED_OUT, timeout=60)
    s.proxy.clear_faults()


async def token_works(s: Setup, token: str) -> bool:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{s.user.base_url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status == 200


async def test_a_fake_sign_out_is_undone_at_the_next_start(setup: Setup) -> None:
    s, paths = setup, get_paths()
    device, token = s.account.session.device_id, s.account.session.access_token
    await queue_unsent(s, "written before the fake 401s")
    await fake_sign_out(s)
    assert signed_out.read(paths, s.user.user_id) is not None
    # The next start asks the server, which still accepts the token: all is as it was.
    accounts = Accounts(paths)
    try:
        notices = await accounts.open_saved()
        again = accounts.get(s.user.user_id)
        assert again is not None, notices
        assert any("restored as it was" in line and device in line for line in notices)
        assert again.session.device_id == device and again.session.access_token == token
        assert signed_out.read(paths, s.user.user_id) is None
        assert device in await server_devices(s.user, token)
        assert await token_works(s, token)
        [unsent] = await again.send_queue.pending()
        assert unsent.content["body"] == "written before the fake 401s"
        assert s.room_id in again.rooms.summaries
    finally:
        await accounts.close_all()


async def test_a_fake_sign_out_does_not_cost_the_device_at_the_next_login(setup: Setup) -> None:
    s, paths = setup, get_paths()
    device, token = s.account.session.device_id, s.account.session.access_token
    await fake_sign_out(s)
    result = await auth.login(paths, s.user.user_id, s.user.password)
    try:
        assert result.account.session.device_id == device
        assert "restored as it was" in result.notice
        assert "signed out by the server" not in result.notice
        assert device in await server_devices(s.user, token)
        assert await token_works(s, token)
        assert signed_out.read(paths, s.user.user_id) is None
        assert signed_out.set_aside_dirs(paths, s.user.user_id) == []
        assert s.room_id in result.account.rooms.summaries
    finally:
        await result.account.close()


async def test_a_real_sign_out_stays_signed_out_at_the_next_start(setup: Setup) -> None:
    s, paths = setup, get_paths()
    await sign_out_from_elsewhere(s)
    accounts = Accounts(paths)
    try:
        assert await accounts.open_saved() == []
        assert len(accounts) == 0
        assert signed_out.read(paths, s.user.user_id) is not None
    finally:
        await accounts.close_all()


FORBIDDEN: dict[str, object] = {"errcode": "M_FORBIDDEN", "error": "not allowed here"}


async def test_failed_messages_of_a_signed_out_session_stay_failed_not_lost(setup: Setup) -> None:
    s, paths = setup, get_paths()
    s.proxy.inject_error("/send/", 403, FORBIDDEN)
    refused = await s.account.send_text(s.room_id, "refused before the sign-out")
    assert (await s.account.send_queue.wait(refused.txn_id)).state == FAILED
    await queue_unsent(s, "queued before the sign-out")
    await sign_out_from_elsewhere(s)
    result = await auth.login(paths, s.user.user_id, s.user.password)
    try:
        assert "2 unsent messages queued again" in result.notice
        states = {e.content["body"]: e for e in await result.account.send_queue.pending()}
        assert states["queued before the sign-out"].state == QUEUED
        failed = states["refused before the sign-out"]
        assert failed.state == FAILED and failed.error and "not allowed here" in failed.error
        # Still retryable.
        assert await result.account.send_queue.retry(failed.txn_id) is not None
    finally:
        await result.account.close()


async def test_unsent_messages_survive_a_login_that_fails_half_way(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, paths = setup, get_paths()
    for body in ("first", "second", "third"):
        await queue_unsent(s, body)
    await sign_out_from_elsewhere(s)
    enqueue = SendQueue.enqueue
    calls = 0

    async def fails_the_second_time(self: SendQueue, *args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        return await enqueue(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SendQueue, "enqueue", fails_the_second_time)
    result = await auth.login(paths, s.user.user_id, s.user.password)
    await result.account.close()
    assert "could not take over the unsent messages" in result.notice
    monkeypatch.setattr(SendQueue, "enqueue", enqueue)
    # The next start takes over the rest: every message once.
    accounts = Accounts(paths)
    try:
        notices = await accounts.open_saved()
        again = accounts.get(s.user.user_id)
        assert again is not None, notices
        bodies_queued = sorted(e.content["body"] for e in await again.send_queue.pending())
        assert bodies_queued == ["first", "second", "third"]
        assert any("2 unsent messages queued again" in line for line in notices)
        [aside] = signed_out.set_aside_dirs(paths, s.user.user_id)
        assert (aside / signed_out.REQUEUED_FILE).exists()  # done: not taken over again
    finally:
        await accounts.close_all()

"""Login, device naming and reuse, sessions on disk, discovery, bad input."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from typing import Any

import aiohttp
import pytest
from conftest import MakeUser
from helpers import TestUser, wait_for
from proxy import FaultProxy

from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, LOGGED_OUT, SOFT_LOGGED_OUT, Account
from tuimatrix.core.errors import UserError
from tuimatrix.core.session import STORE_FILE, SessionInfo, account_dir, load_sessions
from tuimatrix.paths import get_paths


async def server_devices(user: TestUser, token: str) -> dict[str, Any]:
    """The user's devices on the server, but the one that registration made."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{user.base_url}/_matrix/client/v3/devices",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        data = await resp.json()
    return {
        d["device_id"]: d
        for d in data["devices"]
        if (d.get("display_name") or "").startswith("tuimatrix:")
    }


async def test_login_names_the_device_and_saves_a_private_session(make_user: MakeUser) -> None:
    user = make_user("alice")
    paths = get_paths()
    result = await auth.login(paths, user.user_id, user.password)
    account = result.account
    try:
        devices = await server_devices(user, account.session.access_token)
        assert account.session.device_id in devices
        assert (
            devices[account.session.device_id]["display_name"]
            == f"tuimatrix: {user.localpart}@{socket.gethostname()}"
        )
        directory = account_dir(paths, user.user_id)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(directory / "session.json").st_mode) == 0o600
        [saved] = load_sessions(paths)
        assert saved == account.session
        assert saved.homeserver == user.base_url.rstrip("/")  # found through .well-known
    finally:
        await account.close()


async def test_second_login_from_this_machine_reuses_the_device(make_user: MakeUser) -> None:
    user = make_user("bob")
    paths = get_paths()
    first = await auth.login(paths, user.user_id, user.password)
    await first.account.start()  # uploads the device keys
    await first.account.close()
    second = await auth.login(paths, user.user_id, user.password)
    try:
        assert second.notice == ""
        assert second.account.session.device_id == first.account.session.device_id
        devices = await server_devices(user, second.account.session.access_token)
        assert list(devices) == [first.account.session.device_id]
    finally:
        await second.account.close()


async def test_login_with_lost_keys_starts_a_fresh_device(make_user: MakeUser) -> None:
    user = make_user("carol")
    paths = get_paths()
    first = await auth.login(paths, user.user_id, user.password)
    await first.account.start()
    await first.account.close()
    old_device = first.account.session.device_id
    # The store (with the device's olm keys) is lost; the session on the server remains.
    (account_dir(paths, user.user_id) / "store.db").unlink()
    second = await auth.login(paths, user.user_id, user.password)
    try:
        new_device = second.account.session.device_id
        assert new_device != old_device
        assert old_device in second.notice and new_device in second.notice
        devices = await server_devices(user, second.account.session.access_token)
        assert old_device not in devices and new_device in devices
        await second.account.start()
        await second.account.close()
        # And the new device is the one reused from now on.
        third = await auth.login(paths, user.user_id, user.password)
        assert third.account.session.device_id == new_device
        assert third.notice == ""
        await third.account.close()
    finally:
        await second.account.close()


async def test_login_with_localpart_and_homeserver(make_user: MakeUser) -> None:
    user = make_user("dave")
    result = await auth.login(get_paths(), user.localpart, user.password, user.base_url)
    try:
        assert result.account.user_id == user.user_id
    finally:
        await result.account.close()


async def test_wrong_password_is_one_clear_line(make_user: MakeUser) -> None:
    user = make_user("erin")
    with pytest.raises(UserError, match="wrong user name or password"):
        await auth.login(get_paths(), user.user_id, "not the password")
    assert load_sessions(get_paths()) == []


async def test_unreachable_server_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match="cannot reach"):
        await auth.login(get_paths(), "@x:localhost", "pw", f"http://127.0.0.1:{port}")


async def test_not_a_matrix_server_is_one_clear_line(aiohttp_text_server: str) -> None:
    with pytest.raises(UserError, match="not a Matrix homeserver"):
        await auth.login(get_paths(), "@x:localhost", "pw", aiohttp_text_server)


def test_bad_user_ids_are_refused() -> None:
    with pytest.raises(UserError):
        auth.parse_user("@nocolon", None)
    with pytest.raises(UserError):
        auth.parse_user("bare", None)
    assert auth.parse_user("@a:example.org", None) == ("@a:example.org", "a", "example.org")


async def test_soft_logout_keeps_the_store_and_the_device(make_user: MakeUser) -> None:
    user = make_user("frank")
    paths = get_paths()
    first = await auth.login(paths, user.user_id, user.password)
    room_id = await first.account.create_room("Kept")
    await first.account.sync_once()
    await first.account.close()
    [info] = load_sessions(paths)
    async with FaultProxy(user.base_url) as proxy:
        account = await Account.open(
            SessionInfo(info.user_id, proxy.url, info.device_id, info.access_token), paths
        )
        try:
            token = await account.store.next_batch()
            proxy.inject_error(
                "/sync",
                401,
                {"errcode": "M_UNKNOWN_TOKEN", "error": "Token expired", "soft_logout": True},
            )
            await account.start()
            await wait_for(lambda: account.status.state == SOFT_LOGGED_OUT)
            assert "M_UNKNOWN_TOKEN" in account.status.detail
            assert room_id in account.rooms.summaries  # nothing was thrown away
            with pytest.raises(UserError, match="wrong user name or password"):
                await auth.relogin(account, "wrong")
            await auth.relogin(account, user.password)
            assert account.session.device_id == info.device_id
            assert account.session.access_token != info.access_token
            [saved] = load_sessions(paths)
            assert saved.access_token == account.session.access_token
            await account.start()
            await wait_for(lambda: account.status.state == LIVE)
            assert account.sync_log[-1] is not None and account.sync_log[1] == token
        finally:
            await account.close()


async def test_hard_logout_from_elsewhere_forgets_the_token_and_keeps_the_store(
    make_user: MakeUser,
) -> None:
    user = make_user("gina")
    paths = get_paths()
    result = await auth.login(paths, user.user_id, user.password)
    account = result.account
    account.token_check_pauses = (0.2, 0.2)  # the checks before a sign-out is believed
    await account.start()
    await wait_for(lambda: account.status.state == LIVE)
    # Another client deletes this session's token.
    async with aiohttp.ClientSession() as http:
        await http.post(
            f"{user.base_url}/_matrix/client/v3/logout",
            headers={"Authorization": f"Bearer {account.session.access_token}"},
        )
    await wait_for(lambda: account.status.state == LOGGED_OUT, timeout=60)
    assert load_sessions(paths) == []
    # Unsent messages and the crypto store are kept until the user logs in or out again.
    assert (account_dir(paths, user.user_id) / STORE_FILE).exists()
    await account.close()
    await auth.logout(paths, user.user_id)
    assert not account_dir(paths, user.user_id).exists()


async def test_logout_removes_the_device_and_the_files(make_user: MakeUser) -> None:
    user = make_user("hank")
    paths = get_paths()
    result = await auth.login(paths, user.user_id, user.password)
    token = result.account.session.access_token
    await result.account.close()
    await auth.logout(paths, user.user_id)
    assert load_sessions(paths) == []
    assert not account_dir(paths, user.user_id).exists()
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{user.base_url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 401
    with pytest.raises(UserError, match="no saved session"):
        await auth.logout(paths, user.user_id)


async def test_a_trickling_well_known_ends_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A byte a second keeps a read timeout from ever firing; the total deadline ends it."""
    from aiohttp import web
    from helpers import loopback_server

    monkeypatch.setattr(auth, "DISCOVERY_DEADLINE", 1.0)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(600):
            await response.write(b" ")
            await asyncio.sleep(0.2)
        return response

    async with loopback_server(trickle) as url:
        server = url.removeprefix("http://")
        async with asyncio.timeout(15):
            with pytest.raises(UserError, match=r"cannot reach .*timed out"):
                await auth.login(get_paths(), f"@x:{server}", "pw")

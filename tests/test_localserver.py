"""The loopback Synapse (cli/localserver.py) and the fault-injecting proxy (tests/proxy.py)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from conftest import MakeUser
from helpers import password_login, wait_for
from proxy import FaultProxy

from tuimatrix.cli.localserver import LocalSynapse

VERSIONS = "/_matrix/client/versions"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def proxy(synapse: LocalSynapse) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(synapse.base_url) as fault_proxy:
        yield fault_proxy


def test_home_is_isolated(tuimatrix_home: Path) -> None:
    assert os.environ["TUIMATRIX_HOME"] == str(tuimatrix_home)
    assert not any(tuimatrix_home.iterdir())


async def test_versions(synapse: LocalSynapse, http: aiohttp.ClientSession) -> None:
    assert synapse.server_name == f"localhost:{synapse.port}"
    assert synapse.base_url == f"http://127.0.0.1:{synapse.port}"
    async with http.get(synapse.base_url + VERSIONS) as response:
        assert response.status == 200
        assert "versions" in await response.json()


async def test_register_and_password_login(
    synapse: LocalSynapse, make_user: MakeUser, http: aiohttp.ClientSession
) -> None:
    user = make_user("alice", displayname="Alice")
    assert user.user_id == f"@{user.localpart}:localhost:{synapse.port}"
    assert user.server_name == synapse.server_name
    login = await password_login(http, user.base_url, user, device_id="TESTDEVICE")
    assert login["user_id"] == user.user_id
    assert login["device_id"] == "TESTDEVICE"

    headers = {"Authorization": f"Bearer {login['access_token']}"}
    profile_url = f"{synapse.base_url}/_matrix/client/v3/profile/{user.user_id}"
    async with http.get(profile_url, headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["displayname"] == "Alice"


async def test_wrong_password_is_refused(make_user: MakeUser, http: aiohttp.ClientSession) -> None:
    user = make_user()
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": user.password + "x",
    }
    async with http.post(f"{user.base_url}/_matrix/client/v3/login", json=body) as response:
        assert response.status == 403


async def test_admin_user(
    synapse: LocalSynapse, make_user: MakeUser, http: aiohttp.ClientSession
) -> None:
    admin = make_user("admin", admin=True)
    token = (await password_login(http, synapse.base_url, admin))["access_token"]
    url = f"{synapse.base_url}/_synapse/admin/v2/users/{admin.user_id}"
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200
        assert (await response.json())["admin"] is True


async def test_client_well_known(synapse: LocalSynapse, http: aiohttp.ClientSession) -> None:
    # Discovery from @u:localhost:PORT fetches http://localhost:PORT/.well-known/matrix/client.
    # The listener is IPv4-only, so "localhost" works only via its 127.0.0.1 address; ask for
    # that explicitly rather than depend on the resolver's order.
    url = f"http://127.0.0.1:{synapse.port}/.well-known/matrix/client"
    async with http.get(url) as response:
        assert response.status == 200
        base_url = (await response.json())["m.homeserver"]["base_url"]
    assert base_url.rstrip("/") == synapse.base_url
    async with http.get(base_url.rstrip("/") + VERSIONS) as response:
        assert response.status == 200


def test_reused_directory_keeps_port_and_rejects_another(tmp_path: Path) -> None:
    config = tmp_path / "hs.yaml"
    config.write_text("server_name: localhost:4321\n", encoding="utf-8")
    assert LocalSynapse(tmp_path).port == 4321
    with pytest.raises(ValueError, match="localhost:4321"):
        LocalSynapse(tmp_path, port=4322)


def test_port_in_use_is_refused_at_once(synapse: LocalSynapse, tmp_path: Path) -> None:
    # Otherwise the server already on the port would answer the readiness probe for us.
    server = LocalSynapse(tmp_path, port=synapse.port)
    with pytest.raises(RuntimeError, match="already in use"):
        server.start()
    assert not server.running


def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    pytest.importorskip("synapse")
    # rc_federation takes only window_size/sleep_*/reject_limit/concurrent: Synapse exits.
    server = LocalSynapse(tmp_path, extra_config={"rc_federation": {"per_second": 1}})
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited") as excinfo:
        server.start(timeout=60)
    # Reported as soon as the process died, with the reason from its output.
    assert time.monotonic() - started < 30
    assert "per_second" in str(excinfo.value)
    assert not server.running
    server.stop()  # idempotent, also after a failed start


# -- FaultProxy ---------------------------------------------------------------------------


async def test_proxy_forwards(proxy: FaultProxy, http: aiohttp.ClientSession) -> None:
    async with http.get(proxy.url + VERSIONS + "?x=%21a") as response:
        assert response.status == 200
        assert "versions" in await response.json()
    assert [(m, p) for _, m, p in proxy.requests] == [("GET", VERSIONS)]


async def test_proxy_429_with_retry_after_then_passes(
    proxy: FaultProxy, http: aiohttp.ClientSession
) -> None:
    proxy.inject_429("/versions", retry_after=2)
    async with http.get(proxy.url + VERSIONS) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
        body = await response.json()
        assert body["errcode"] == "M_LIMIT_EXCEEDED"
        assert "retry_after_ms" not in body
    async with http.get(proxy.url + VERSIONS) as response:
        assert response.status == 200
    assert len(proxy.requests) == 2


async def test_proxy_429_with_retry_after_ms(
    proxy: FaultProxy, http: aiohttp.ClientSession
) -> None:
    proxy.inject_429("/versions", count=2, retry_after=None, retry_after_ms=1500)
    for _ in range(2):
        async with http.get(proxy.url + VERSIONS) as response:
            assert response.status == 429
            assert "Retry-After" not in response.headers
            assert (await response.json())["retry_after_ms"] == 1500
    # Other paths are not affected, and the fault is used up.
    async with http.get(proxy.url + "/.well-known/matrix/client") as response:
        assert response.status == 200
    async with http.get(proxy.url + VERSIONS) as response:
        assert response.status == 200


async def test_proxy_streams_long_poll_sync(
    proxy: FaultProxy, make_user: MakeUser, http: aiohttp.ClientSession
) -> None:
    user = make_user()
    token = (await password_login(http, proxy.url, user))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    sync_url = f"{proxy.url}/_matrix/client/v3/sync"
    async with http.get(sync_url, headers=auth) as response:
        since = (await response.json())["next_batch"]

    async def long_poll() -> dict[str, object]:
        params = {"since": since, "timeout": "20000"}
        async with http.get(sync_url, headers=auth, params=params) as response:
            assert response.status == 200
            result: dict[str, object] = await response.json()
            return result

    started = time.monotonic()
    poll = asyncio.create_task(long_poll())
    await wait_for(lambda: any("since=" in path for path in proxy.raw_paths))  # it is through
    assert not poll.done()  # Synapse is holding it open, and the proxy with it.
    # The proxy must not hold up the loop while the long-poll waits: other requests still pass.
    async with http.get(proxy.url + VERSIONS) as response:
        assert response.status == 200
    create = f"{proxy.url}/_matrix/client/v3/createRoom"
    async with http.post(create, headers=auth, json={"name": "wake up"}) as response:
        room_id = (await response.json())["room_id"]
    result = await asyncio.wait_for(poll, 10)
    assert time.monotonic() - started < 10
    assert room_id in result["rooms"]["join"]  # type: ignore[index]


async def test_proxy_go_down_and_come_up(
    proxy: FaultProxy, make_user: MakeUser, http: aiohttp.ClientSession
) -> None:
    url = proxy.url
    user = make_user()
    token = (await password_login(http, url, user))["access_token"]
    params = {"timeout": "20000", "filter": '{"room": {"rooms": []}}'}
    sync_url = f"{url}/_matrix/client/v3/sync"
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(sync_url, headers=auth) as response:
        params["since"] = (await response.json())["next_batch"]

    async def long_poll() -> int:
        async with http.get(sync_url, headers=auth, params=params) as response:
            await response.read()
            return response.status

    poll = asyncio.create_task(long_poll())
    await wait_for(lambda: any("since=" in path for path in proxy.raw_paths))  # it is open
    assert not poll.done()

    await proxy.go_down()
    # The open long-poll is cut off at once, not left hanging until its timeout.
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(poll, 5)
    # New connections are refused.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(url + VERSIONS):
            pass

    await proxy.come_up()
    assert proxy.url == url
    async with http.get(url + VERSIONS) as response:
        assert response.status == 200


async def test_rate_limits_are_raised(
    synapse: LocalSynapse, make_user: MakeUser, http: aiohttp.ClientSession
) -> None:
    # Synapse's defaults allow bursts of 5 logins per account and 10 messages per user.
    user = make_user()
    logins = [await password_login(http, synapse.base_url, user) for _ in range(8)]
    auth = {"Authorization": f"Bearer {logins[-1]['access_token']}"}
    api = f"{synapse.base_url}/_matrix/client/v3"
    async with http.post(f"{api}/createRoom", headers=auth, json={}) as response:
        room_id = (await response.json())["room_id"]
    for n in range(15):
        url = f"{api}/rooms/{room_id}/send/m.room.message/t{n}"
        body = {"msgtype": "m.text", "body": str(n)}
        async with http.put(url, headers=auth, json=body) as response:
            assert response.status == 200, await response.text()

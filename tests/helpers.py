"""Reusable test helpers that are not fixtures (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

_counter = itertools.count(1)


@dataclass(frozen=True)
class TestUser:
    """A user registered on the session's Synapse, with what a client needs to log in."""

    # Not a test class, despite the name: stop pytest trying to collect it where imported.
    __test__: ClassVar[bool] = False

    user_id: str
    localpart: str
    password: str
    base_url: str
    server_name: str


def unique_localpart(prefix: str = "u") -> str:
    """A localpart no other call in any test session will produce.

    The counter keeps names readable and ordered in logs; the random suffix keeps them unique
    across sessions that reuse a server directory.
    """
    return f"{prefix.lower()}{next(_counter)}-{secrets.token_hex(3)}"


async def password_login(
    session: aiohttp.ClientSession,
    base_url: str,
    user: TestUser,
    *,
    device_id: str | None = None,
) -> dict[str, Any]:
    """Log ``user`` in with a plain ``POST /login`` and return the response JSON.

    Raises aiohttp.ClientResponseError on a non-2xx answer.
    """
    body: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": user.password,
    }
    if device_id is not None:
        body["device_id"] = device_id
    async with session.post(f"{base_url}/_matrix/client/v3/login", json=body) as response:
        response.raise_for_status()
        result: dict[str, Any] = await response.json()
        return result


@contextlib.asynccontextmanager
async def loopback_server(handle: Any, method: str = "GET") -> AsyncIterator[str]:
    """A web server on 127.0.0.1 answering every path with ``handle``; yields its base URL."""
    from aiohttp import web

    app = web.Application()
    app.router.add_route(method, "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def media_server(handle: Any) -> AsyncIterator[Any]:
    """A content repository answering with ``handle``; yields an account pointing at it (what
    the media code reads of one: its API's base URL and token, and an HTTP session)."""
    from types import SimpleNamespace

    from yarl import URL

    async with loopback_server(handle) as url, aiohttp.ClientSession() as http:
        api = SimpleNamespace(base_url=URL(url), token="tok")
        yield SimpleNamespace(client=SimpleNamespace(api=api), http=http)

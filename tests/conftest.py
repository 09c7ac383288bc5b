"""Shared fixtures: an isolated TUIMATRIX_HOME per test, one Synapse per session, users."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from helpers import TestUser, loopback_server, unique_localpart

from tuimatrix.cli.localserver import LocalSynapse

MakeUser = Callable[..., TestUser]


@pytest.fixture(autouse=True)
def tuimatrix_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh, empty TUIMATRIX_HOME, so no test reads or writes the developer's real files;
    and no session bus, so no test shows the developer a desktop notification (the alert
    tests start a bus of their own)."""
    home = tmp_path_factory.mktemp("tuimatrix-home")
    monkeypatch.setenv("TUIMATRIX_HOME", str(home))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={home / 'no-session-bus'}")
    return home


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    """One real Synapse on loopback for the whole session (starting it costs ~2 s)."""
    # No skip without Synapse: the end-to-end tests are the point (install the 'test' extra).
    server = LocalSynapse(tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_user(synapse: LocalSynapse) -> MakeUser:
    """A factory: ``make_user(prefix="u", *, admin=False, displayname=None) -> TestUser``.

    Every call registers a new user with a unique localpart and a random password.
    """

    def make(prefix: str = "u", *, admin: bool = False, displayname: str | None = None) -> TestUser:
        localpart = unique_localpart(prefix)
        password = secrets.token_urlsafe(12)
        user_id = synapse.register_user(localpart, password, admin=admin, displayname=displayname)
        return TestUser(
            user_id=user_id,
            localpart=localpart,
            password=password,
            base_url=synapse.base_url,
            server_name=synapse.server_name,
        )

    return make


@pytest.fixture
async def aiohttp_text_server() -> AsyncIterator[str]:
    """A loopback web server that is not a homeserver: every path answers a plain page."""
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    async with loopback_server(page, "*") as url:
        yield url

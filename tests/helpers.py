"""Reusable test helpers that are not fixtures (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import aiohttp

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot

T = TypeVar("T")

_counter = itertools.count(1)

#: How often a wait looks at its condition again (seconds): soon enough that a test goes on
#: almost as the state arrives, seldom enough that looking costs next to nothing.
POLL = 0.05


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


# -- waiting on state -------------------------------------------------------------------------
# Tests wait for the condition they are about to check, never for a fixed time: a sleep is too
# short on a loaded machine (a flaky test) and too long on an idle one (a slow suite).


async def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Return once ``predicate()`` holds; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(POLL)


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 30) -> None:
    """:func:`wait_for` in a running app: between looks it handles its pending messages."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(POLL)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """:func:`wait_for` a condition that has to be fetched (from the server, a store, a file)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(2 * POLL)  # each look is a request: fewer of them


def busy(app: App[Any], group: str) -> bool:
    """Whether a worker of ``group`` is still at work (a command, a save, a search)."""
    return any(w.group == group and not w.is_finished for w in app.workers)


async def palette_search(pilot: Pilot[Any], query: str) -> None:
    """Open the command palette and type ``query``; return once the search is done and a hit
    is highlighted (enter then runs that hit)."""
    from textual.command import CommandInput, CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await until(
        pilot,
        lambda: (
            isinstance(app.screen, CommandPalette) and app.screen.query_one(CommandInput).has_focus
        ),
    )
    palette = app.screen
    await pilot.press(*query)
    await until(
        pilot,
        lambda: (
            palette.query_one(CommandInput).value == query
            and not any(w.node is palette and not w.is_finished for w in app.workers)  # searching
            and palette.query_one(CommandList).highlighted is not None
        ),
    )


# -- costs ------------------------------------------------------------------------------------
# A wall-clock limit ("under a second") fails on a machine busy with other work, and passes a
# regression on a fast one. A cost is checked against a baseline measured in the same test,
# in CPU time of this thread, which other processes do not inflate.

#: The smallest baseline a cost is compared with (seconds): below it, timer granularity.
MIN_BASELINE = 0.001


def cpu_seconds(work: Callable[[], object]) -> float:
    """The CPU time ``work`` takes on this thread."""
    start = time.thread_time()
    work()
    return time.thread_time() - start


def costs_at_most(
    factor: float, baseline: Callable[[], object], work: Callable[[], T], tries: int = 3
) -> T:
    """Run ``work``, check it costs at most ``factor`` times ``baseline``, and return what it
    returned. Each cost is the least of up to ``tries`` runs (a cold cache in one run is no
    regression, while a real one fails every run), with the cyclic garbage collector off: what
    it costs depends on everything else the test process holds, not on the code measured."""
    cost = base = math.inf
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(tries):
            start = time.thread_time()
            result = work()
            cost = min(cost, time.thread_time() - start)
            base = min(base, max(cpu_seconds(baseline), MIN_BASELINE))
            if cost <= factor * base:
                return result
    finally:
        if collecting:
            gc.enable()
    raise AssertionError(f"{cost:.4f} s of CPU: more than {factor} × the baseline's {base:.4f} s")

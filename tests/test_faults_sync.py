"""The sync loop through a misbehaving network: 5xx bursts, resets, cut and trickled
answers, stalls, rate limits in every form, a server that goes and comes back.

Each test runs against the real Synapse through tests/proxy.py, with the loop's timings
lowered, and ends the same way: the client is live again and every message sent to the room
meanwhile is in its store exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from types import SimpleNamespace

import pytest
from conftest import MakeUser
from helpers import wait_for
from mautrix.errors import MatrixRequestError
from proxy import FaultProxy
from test_sync import bodies

from tuimatrix.core import account as acc
from tuimatrix.core import auth, errors, http
from tuimatrix.core.account import LIVE, RECONNECTING, Account, SyncStatus
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.session import SessionInfo, load_sessions
from tuimatrix.paths import get_paths
from tuimatrix.widgets.status import status_text

SYNC = "/sync"
#: the lowered timings: a 1 s long-poll, given up 2 s after it should have ended
LONG_POLL_MS = 1000
LONG_POLL_MARGIN = 2.0
REQUEST_DEADLINE = 3.0


@dataclass
class Room:
    """Our account (through the proxy) in a room where another user writes."""

    proxy: FaultProxy
    account: Account
    sender: Account
    room_id: str
    sent: list[str] = field(default_factory=list)
    statuses: list[SyncStatus] = field(default_factory=list)

    @property
    def states(self) -> list[str]:
        return [status.state for status in self.statuses]

    async def send(self, body: str) -> None:
        """A message from the other user, straight to Synapse."""
        echo = await self.sender.send_text(self.room_id, body)
        await self.sender.send_queue.flush()
        sent = await self.sender.send_queue.get(echo.txn_id)
        assert sent is not None and sent.state == "sent"
        self.sent.append(body)

    async def live_with_every_message_once(self, timeout: float = 30) -> None:
        await wait_for(lambda: self.account.status.state == LIVE, timeout)
        wanted = set(self.sent)
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = await bodies(self.account, self.room_id)
            if wanted <= set(got):
                break
            await asyncio.sleep(0.1)
        assert Counter(got) == Counter(self.sent), got

    def status_line(self, status: SyncStatus | None = None) -> str:
        """The status line as it was drawn with ``status`` (the account's current one)."""
        accounts = Accounts(get_paths())
        shown = SimpleNamespace(user_id=self.account.user_id, status=status or self.account.status)
        accounts.by_user[self.account.user_id] = shown  # type: ignore[assignment]
        return status_text(accounts).plain


@pytest.fixture
async def room(make_user: MakeUser, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Room]:
    monkeypatch.setattr(acc, "BACKOFF_MIN", 0.2)
    paths = get_paths()
    alice, bob = make_user("alice"), make_user("bob")
    a0 = (await auth.login(paths, alice.user_id, alice.password)).account
    b = (await auth.login(paths, bob.user_id, bob.password)).account
    room_id = await a0.create_room("Faults", invite=[bob.user_id])
    await b.sync_once()
    await b.join(room_id)
    await a0.sync_once()
    await a0.close()
    [info] = [s for s in load_sessions(paths) if s.user_id == alice.user_id]
    async with FaultProxy(alice.base_url) as proxy:
        via = SessionInfo(info.user_id, proxy.url, info.device_id, info.access_token)
        a = await Account.open(via, paths)
        a.sync_timeout_ms = LONG_POLL_MS
        a.sync_overdue_after = 0.5
        a.client.api.long_poll_margin = LONG_POLL_MARGIN  # type: ignore[attr-defined]
        a.client.api.request_deadline = REQUEST_DEADLINE  # type: ignore[attr-defined]
        r = Room(proxy, a, b, room_id)
        a.add_listener(
            lambda _, change: r.statuses.append(change) if isinstance(change, SyncStatus) else None
        )
        try:
            await a.start()
            await wait_for(lambda: a.status.state == LIVE)
            await r.send("before")
            yield r
        finally:
            await a.close()
            await b.close()


def syncs(proxy: FaultProxy) -> int:
    return sum(1 for _, _, path in proxy.requests if path.endswith(SYNC))


async def test_a_burst_of_5xx_on_sync(room: Room) -> None:
    for status in (500, 502, 503, 504):
        room.proxy.inject_error(SYNC, status, {"errcode": "M_UNKNOWN", "error": "busy"}, count=1)
    await room.send("during the burst")
    await wait_for(lambda: RECONNECTING in room.states)
    await room.send("after the burst")
    await room.live_with_every_message_once()


async def test_connection_reset_on_sync(room: Room) -> None:
    before = syncs(room.proxy)
    room.proxy.inject_reset(SYNC, count=2)
    await room.send("across a reset")
    await wait_for(lambda: syncs(room.proxy) >= before + 3)
    await room.live_with_every_message_once()


async def test_truncated_sync_answers(room: Room) -> None:
    before = syncs(room.proxy)
    # Cut off before its Content-Length, then complete but not JSON.
    room.proxy.inject_truncated(SYNC, count=1)
    room.proxy.inject_raw(SYNC, 200, '{"next_batch": "s9_bogus", "rooms": {"join": {"!x:', count=1)
    await room.send("across cut answers")
    await wait_for(lambda: syncs(room.proxy) >= before + 3)
    assert RECONNECTING in room.states
    await room.live_with_every_message_once()


#: more 429s in a row than one request waits out by itself (core.http)
MAX_RATE_LIMITED = 7
#: stands for an HTTP date one second after the request (written when the test runs)
IN_ONE_SECOND = "<an HTTP date 1 s ahead>"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({}, {}, id="no-retry-after"),
        pytest.param({"Retry-After": "1"}, {}, id="seconds"),
        pytest.param({"Retry-After": IN_ONE_SECOND}, {}, id="http-date"),
        pytest.param({"Retry-After": "inf"}, {}, id="inf"),
        pytest.param({"Retry-After": "-30"}, {}, id="negative"),
        pytest.param({"Retry-After": "1e309"}, {}, id="overflowing"),
        pytest.param({"Retry-After": "86400000"}, {}, id="huge"),
        pytest.param({}, {"retry_after_ms": 10**400}, id="ms-overflowing"),
        pytest.param({}, {"retry_after_ms": -5000}, id="ms-negative"),
        pytest.param({}, {"retry_after_ms": "soon"}, id="ms-string"),
        pytest.param({}, {"retry_after_ms": 1e300}, id="ms-huge"),
    ],
)
async def test_rate_limits_in_every_form(
    room: Room,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    body: dict[str, object],
) -> None:
    # A huge delay is cut to the maximum: lowered here, so that the test does not wait 5 min.
    monkeypatch.setattr(errors, "MAX_SERVER_DELAY", 0.5)
    # Without a delay named, waits double from this one.
    monkeypatch.setattr(http, "DEFAULT_RETRY_AFTER", 0.1)
    if headers.get("Retry-After") == IN_ONE_SECOND:
        headers = {"Retry-After": formatdate(time.time() + 1, usegmt=True)}
    payload = json.dumps({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", **body})
    before = syncs(room.proxy)
    room.proxy.inject_raw(
        SYNC,
        429,
        # json.dumps writes 10**400 as digits, as a server could
        payload,
        headers={"Content-Type": "application/json", **headers},
        count=MAX_RATE_LIMITED,
    )
    await room.send("while rate limited")
    await wait_for(lambda: syncs(room.proxy) >= before + MAX_RATE_LIMITED + 1, timeout=60)
    # Whatever the server said, every status it led to can be drawn, with a sane countdown.
    for status in room.statuses:
        assert room.account.user_id in room.status_line(status)
        if status.retry_at is not None:
            assert status.retry_at - time.time() < 120
    await room.live_with_every_message_once(timeout=60)


async def test_a_trickling_sync_is_given_up_and_the_status_says_so(room: Room) -> None:
    """One byte every half second: a read timeout never fires, the total deadline does."""
    room.proxy.inject_trickle(SYNC, count=1, interval=0.5)
    started = time.monotonic()
    await wait_for(lambda: room.account.status.state == acc.WAITING, timeout=15)
    assert "waiting for the server" in room.status_line()
    await room.send("after the trickle")
    await wait_for(lambda: RECONNECTING in room.states, timeout=15)
    # Given up at the deadline (1 s long-poll + 2 s margin), not when the trickle ended.
    assert time.monotonic() - started < 15
    await room.live_with_every_message_once()


async def test_a_stalled_sync_is_given_up(room: Room) -> None:
    room.proxy.inject_stall(SYNC, count=1)
    await wait_for(lambda: room.account.status.state == acc.WAITING, timeout=15)
    await room.send("after the stall")
    await wait_for(lambda: RECONNECTING in room.states, timeout=15)
    await room.live_with_every_message_once()


async def test_the_server_gone_and_back(room: Room) -> None:
    await room.proxy.go_down()
    await wait_for(lambda: room.account.status.state == RECONNECTING)
    await room.send("while the server was away")
    await room.send("and another")
    await room.proxy.come_up()
    room.account.sync_now()
    await room.live_with_every_message_once()


async def test_rate_limit_waits_count_against_the_request_deadline(room: Room) -> None:
    """Five 429s that each ask for a wait the client accepts must not make one request last
    five waits: the request gives the 429 back to its caller once its deadline would pass."""
    room.account.client.api.request_deadline = 3.0  # type: ignore[attr-defined]
    room.proxy.inject_429("/joined_rooms", count=6, retry_after=2)
    async with asyncio.timeout(30):
        with pytest.raises(MatrixRequestError) as caught:
            await room.account.client.get_joined_rooms()
    assert caught.value.http_status == 429
    # One 2 s wait fits in the 3 s deadline, a second would not: two attempts, where the
    # request used to sit out all five waits and try six times.
    assert sum(1 for _, _, path in room.proxy.requests if "/joined_rooms" in path) == 2

"""``tuimatrix exec send`` through a faulty network: its exit status tells the truth.

Each test puts a FaultProxy between ``exec`` (a real subprocess) and Synapse, breaks the
message's ``PUT /send/`` in one way, and checks what the server ended up with: the message
exactly once when ``exec`` said it was sent, never when it said it was not, and nothing left
queued behind a failure for a later ``exec`` to send.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import aiohttp
import pytest
from conftest import MakeUser
from proxy import FaultProxy

from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.session import load_sessions, save_session
from tuimatrix.paths import get_paths

ROOM = "Faulty room"
UNAVAILABLE: dict[str, object] = {"errcode": "M_UNKNOWN", "error": "Service unavailable (injected)"}


@dataclass
class Sender:
    """A user whose saved session talks to Synapse through ``proxy``, with a room."""

    proxy: FaultProxy
    synapse_url: str
    room_id: str
    access_token: str

    async def bodies(self) -> list[str]:
        """The bodies of the room's messages as the server has them, oldest first."""
        url = f"{self.synapse_url}/_matrix/client/v3/rooms/{self.room_id}/messages"
        params = {"dir": "b", "limit": "100"}
        headers = {"Authorization": f"Bearer {self.access_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, params=params, headers=headers) as response,
        ):
            response.raise_for_status()
            chunk = (await response.json())["chunk"]
        return [e["content"]["body"] for e in reversed(chunk) if e["type"] == "m.room.message"]

    async def queued(self) -> list[str]:
        """The bodies still in the local send queue (queued or failed)."""
        [info] = load_sessions(get_paths())
        account = await Account.open(info, get_paths(), crypto=False)
        try:
            return [e.content["body"] for e in await account.send_queue.pending()]
        finally:
            await account.close()


@pytest.fixture
async def sender(make_user: MakeUser, synapse: LocalSynapse) -> AsyncIterator[Sender]:
    user = make_user("faulty")
    async with FaultProxy(synapse.base_url) as proxy:
        result = await auth.login(get_paths(), user.user_id, user.password)
        try:
            room_id = await result.account.create_room(ROOM, encrypted=False)
        finally:
            await result.account.close()
        info = result.account.session
        # Every later process talks to the server through the proxy.
        save_session(get_paths(), replace(info, homeserver=proxy.url))
        yield Sender(proxy, synapse.base_url, room_id, info.access_token)


def run_exec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuimatrix", "exec", *args],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )


async def send(text: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``tuimatrix exec [OPTIONS] send --room ROOM TEXT``, off the test's event loop."""
    return await asyncio.to_thread(run_exec, *options, f"send --room '{ROOM}' '{text}'")


async def another_exec() -> None:
    """Any later ``exec``: the old defect sent what an earlier failure had left queued."""
    result = await asyncio.to_thread(run_exec, f"describe-room --room '{ROOM}'")
    assert result.returncode == 0, result.stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    return line


FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    # Twice each: aiohttp itself retries an idempotent PUT once when a reused connection is
    # cut, so the second cut is the one the client sees.
    "reset before the server saw it": lambda p: p.inject_reset("/send/", 2, after_upstream=False),
    "reset after the server stored it": lambda p: p.inject_reset("/send/", 2, after_upstream=True),
    "answer cut short after it was stored": lambda p: p.inject_truncated("/send/"),
    "a burst of 503": lambda p: p.inject_error("/send/", 503, UNAVAILABLE, count=3),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_exec_send_retries_a_fault_and_the_message_arrives_once(
    sender: Sender, fault: str
) -> None:
    FAULTS[fault](sender.proxy)
    result = await send("exactly once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("message sent to")
    assert await sender.bodies() == ["exactly once"]
    sends = [path for _, method, path in sender.proxy.requests if "/send/" in path]
    assert len(set(sends)) == 1  # every retry with the same transaction id
    await another_exec()
    assert await sender.bodies() == ["exactly once"]
    assert await sender.queued() == []


async def test_exec_send_that_cannot_get_through_fails_and_leaves_nothing(
    sender: Sender,
) -> None:
    sender.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    result = await send("never", "--timeout", "1")
    assert result.returncode == 1
    line = one_line(result)
    assert "not sent" in line and "nothing is queued" in line
    assert await sender.queued() == []
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == []


#: The owner's live syncs (long polls) get no answer: it cannot learn from its own event
#: coming back that a send whose answer was lost did reach the server.
LIVE_SYNC = "timeout=30000"


async def test_exec_send_whose_answer_is_lost_learns_from_the_sync_that_it_was_sent(
    sender: Sender,
) -> None:
    """Every answer is lost after the server stored the event, but the owner's sync brings
    the event back with its transaction id: exec knows it was sent, once."""
    sender.proxy.inject_reset("/send/", 1000, after_upstream=True)
    result = await send("echoed", "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert await sender.bodies() == ["echoed"]
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == ["echoed"]
    assert await sender.queued() == []


async def test_exec_send_whose_fate_is_unknown_says_so_and_is_not_sent_again(
    sender: Sender,
) -> None:
    # Every answer is lost after the server stored the event: it may or may not be there.
    sender.proxy.inject_reset("/send/", 1000, after_upstream=True)
    sender.proxy.inject_stall(LIVE_SYNC, 1000)
    result = await send("maybe", "--timeout", "1")
    assert result.returncode == 3
    assert "may have stored it" in one_line(result)
    assert await sender.queued() == []
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == ["maybe"]


async def test_exec_send_queue_keeps_it_and_a_later_exec_sends_it_once(sender: Sender) -> None:
    sender.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    result = await send("later", "--queue", "--timeout", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 message queued, not sent yet (M_UNKNOWN: Service unav")
    assert await sender.queued() == ["later"]
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == ["later"]
    assert await sender.queued() == []


async def test_until_exec_send_loop_posts_the_message_once(sender: Sender) -> None:
    """The shell idiom ``until tuimatrix exec send X; do :; done`` must not post X twice."""
    sender.proxy.inject_error("/send/", 503, UNAVAILABLE, count=4)
    script = (
        f"tries=0; until {sys.executable} -m tuimatrix exec \"send --room '{ROOM}' looped\"; "
        'do tries=$((tries+1)); [ "$tries" -ge 10 ] && exit 99; done; echo "done after $tries"'
    )
    result = await asyncio.to_thread(
        subprocess.run, ["sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "done after" in result.stdout
    assert await sender.bodies() == ["looped"]
    assert await sender.queued() == []


async def test_exec_retry_send_that_fails_again_leaves_it_failed(sender: Sender) -> None:
    """A failed message retried from exec that cannot get through is failed again, as it was,
    and no later run sends it behind the caller's back."""
    [info] = load_sessions(get_paths())
    account = await Account.open(info, get_paths(), crypto=False)
    try:
        forbidden: dict[str, object] = {"errcode": "M_FORBIDDEN", "error": "not now"}
        sender.proxy.inject_error("/send/", 403, forbidden)
        echo = await account.send_text(sender.room_id, "retried")
        await account.send_queue.flush()
        failed = await account.send_queue.get(echo.txn_id)
        assert failed is not None and failed.state == "failed"
    finally:
        await account.close()
    sender.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    result = await asyncio.to_thread(
        run_exec, "--timeout", "1", f"retry-send {echo.txn_id} --room '{ROOM}'"
    )
    assert result.returncode == 1
    assert "not sent" in one_line(result)
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == []
    assert await sender.queued() == ["retried"]  # still there, failed, to retry or discard


async def test_older_queued_messages_do_not_fail_another_command(sender: Sender) -> None:
    """A message an earlier run left queued (the app, --queue) that still cannot go is a
    warning for an unrelated command, which succeeded; the message waits for the next run."""
    [info] = load_sessions(get_paths())
    account = await Account.open(info, get_paths(), crypto=False)
    try:
        await account.send_text(sender.room_id, "from the app")  # queued, not sent yet
    finally:
        await account.close()
    sender.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    result = await asyncio.to_thread(run_exec, f"describe-room --room '{ROOM}'")
    assert result.returncode == 0, result.stderr
    assert "1 queued message waits still" in one_line(result)
    assert await sender.queued() == ["from the app"]
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == ["from the app"]


async def test_exec_send_to_a_server_that_never_answers_ends_at_its_timeout(
    sender: Sender,
) -> None:
    """The server stores the event and never answers: exec gives up at --timeout (no hang)
    and says the fate is unknown; the event is on the server once, and never sent again."""
    sender.proxy.inject_stall("/send/", 1000, after_upstream=True)
    sender.proxy.inject_stall(LIVE_SYNC, 1000)
    started = time.monotonic()
    result = await send("stalled", "--timeout", "2")
    assert time.monotonic() - started < 30  # the HTTP read timeout alone is 90 s
    assert result.returncode == 3, result.stderr
    assert "may have stored it" in one_line(result)
    sender.proxy.clear_faults()
    await another_exec()
    assert await sender.bodies() == ["stalled"]
    assert await sender.queued() == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_exec_timeout_must_be_a_positive_number_of_seconds(value: str) -> None:
    result = run_exec("--timeout", value, "send --room x hi")
    assert result.returncode == 2
    assert "--timeout" in one_line(result) and "not a number of seconds" in one_line(result)


async def test_exec_send_with_a_txn_id_can_be_run_again_after_an_unknown_fate(
    sender: Sender,
) -> None:
    """A script that gets exit status 3 (the answer was lost) runs the same send again with
    the same --txn-id: the server keeps the message once, and the second run says it was sent.
    Without a key, a second run would post it again (the loop test above shows why)."""
    sender.proxy.inject_reset("/send/", 1000, after_upstream=True)
    sender.proxy.inject_stall(LIVE_SYNC, 1000)
    first = await send("keyed", "--timeout", "2", "--txn-id", "cron-42")
    assert first.returncode == 3, first.stderr
    assert await sender.bodies() == ["keyed"]  # stored although its answer was lost
    sender.proxy.clear_faults()
    again = await send("keyed", "--txn-id", "cron-42")
    assert again.returncode == 0, again.stderr
    assert await sender.bodies() == ["keyed"]
    assert await sender.queued() == []
    once_more = await send("keyed", "--txn-id", "cron-42")  # after a success: still once
    assert once_more.returncode == 0, once_more.stderr
    assert await sender.bodies() == ["keyed"]


@pytest.mark.parametrize("key", ["", "a/b", "x" * 65, "é"])
def test_exec_txn_id_must_fit_in_a_url_path(key: str) -> None:
    result = run_exec("--txn-id", key, "send --room x hi")
    assert result.returncode == 2
    assert "--txn-id" in one_line(result)

"""One engine per profile: the owner process, its clients, handover, kill -9, listen, hooks.

Every process here is the real ``tuimatrix`` (a subprocess, or the app in tmux) against the
suite's Synapse. Another user (bob) talks from an account of his own profile, in-process.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import MakeUser
from helpers import TestUser, eventually, wait_for
from mautrix.api import Method
from owner_helpers import serving
from proxy import FaultProxy
from tmux import Tmux, binary_env, tuimatrix_command

from tuimatrix import __version__ as VERSION
from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.session import load_sessions, save_session
from tuimatrix.owner.attach import OwnerClient, OwnerSession
from tuimatrix.owner.wire import MAX_LINE, PROTOCOL, encode
from tuimatrix.paths import Paths, get_paths

ROOM = "Ops"
UNAVAILABLE: dict[str, object] = {"errcode": "M_UNKNOWN", "error": "Service unavailable (injected)"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuimatrix", *args]


def start(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), input=stdin, capture_output=True, text=True, env={**os.environ}, timeout=120
    )


async def arun(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, *args, stdin=stdin)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Signal the process, and its exit status and output once it has ended."""
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


async def owner_kind() -> str | None:
    """What owns the profile now, as its socket says (None: nothing answers)."""
    try:
        client = await OwnerClient.connect(get_paths())
    except OSError:
        return None
    await client.close()
    return client.kind


@dataclass
class Profile:
    """Alice's saved session in this test's profile, with a room shared with bob."""

    alice: TestUser
    room_id: str
    #: bob, talking from a profile of his own (open for the whole test)
    bob: Account

    async def bodies(self) -> list[str]:
        """The room's message bodies as the server has them, oldest first (bob's view)."""
        resp = await self.bob.client.api.request(
            Method.GET,
            f"/_matrix/client/v3/rooms/{self.room_id}/messages",
            query_params={"dir": "b", "limit": "200"},
        )
        chunk = resp["chunk"]
        return [
            e["content"].get("body", "")
            for e in reversed(chunk)
            if e["type"] == "m.room.message" and e["sender"] == self.alice.user_id
        ]


def bob_paths(root: Path) -> Paths:
    return Paths(root / "config", root / "data", root / "state", root / "cache", root / "dl")


@pytest.fixture
async def profile(make_user: MakeUser, tmp_path: Path) -> AsyncIterator[Profile]:
    alice, bob_user = make_user("alice"), make_user("bob")
    result = await auth.login(get_paths(), alice.user_id, alice.password)
    a = result.account
    bob = (
        await auth.login(bob_paths(tmp_path / "bob"), bob_user.user_id, bob_user.password)
    ).account
    try:
        room_id = await a.create_room(ROOM, invite=[bob.user_id], encrypted=False)
        await bob.sync_once()
        await bob.join(room_id)
        await a.sync_once()
    finally:
        await a.close()  # from here on only tuimatrix processes open alice's profile
    try:
        yield Profile(alice, room_id, bob)
    finally:
        await bob.close()


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[str]]]:
    """Start ``tuimatrix serve`` with ``procs.append(start("serve"))``; all stopped after."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


async def started_serve(procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    proc = start("serve")
    procs.append(proc)
    await wait_for_owner("serve")
    return proc


async def wait_for_owner(kind: str, timeout: float = 60) -> None:
    async def answers() -> bool:
        return await owner_kind() == kind

    await eventually(answers, timeout)


# -- exact results, one owner ----------------------------------------------------------------


async def test_twenty_parallel_exec_sends_arrive_once_each_and_all_exit_0(
    profile: Profile,
) -> None:
    """No owner runs: the twenty start together, one hosts the owner, the rest are its
    clients. Before, five of six said KeyError (sent all the same) and one "database is
    locked" (not sent)."""
    texts = [f"parallel {i}" for i in range(20)]
    procs = [start("exec", f"send --room {ROOM} '{text}'") for text in texts]
    results = [await asyncio.to_thread(proc.communicate, timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.startswith("message sent to Ops"), out
        assert "locked" not in err and "Traceback" not in err
    bodies = await profile.bodies()
    assert sorted(bodies) == sorted(texts)  # each exactly once


async def test_exec_and_a_shell_work_through_serve_without_a_stall(
    profile: Profile, serve: list[subprocess.Popen[str]]
) -> None:
    owner = await started_serve(serve)
    shell_lines = "".join(f"send --room {ROOM} 'from the shell {i}'\n" for i in range(6))
    shell = asyncio.to_thread(run, "shell", stdin=f"use {ROOM}\n{shell_lines}rooms\nexit\n")
    execs = [arun("exec", f"send --room {ROOM} 'from exec {i}'") for i in range(6)]
    shell_done, *exec_done = await asyncio.gather(shell, *execs)
    for done in exec_done:
        assert done.returncode == 0, done.stderr
    assert shell_done.returncode == 0, shell_done.stderr
    assert shell_done.stdout.count("message sent to Ops") == 6
    assert "through tuimatrix serve" in shell_done.stdout
    status, _out, err = stop(owner)
    assert status == 0, err  # SIGTERM: a clean close
    assert "locked" not in err and "Traceback" not in err
    expected = [f"from the shell {i}" for i in range(6)] + [f"from exec {i}" for i in range(6)]
    assert sorted(await profile.bodies()) == sorted(expected)


async def test_exec_reports_a_usage_error_through_the_owner(
    profile: Profile, serve: list[subprocess.Popen[str]]
) -> None:
    await started_serve(serve)
    unknown = await arun("exec", "frobnicate --room Ops")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("tuimatrix: unknown command 'frobnicate'")
    confirm = await arun("exec", f"leave-room --room {ROOM}")
    assert confirm.returncode == 2 and "--yes" in confirm.stderr
    body = await arun("exec", f"send --room {ROOM} -", stdin="from standard input\n")
    assert body.returncode == 0, body.stderr
    empty = await arun("exec", f"send --room {ROOM} -", stdin="")
    assert empty.returncode == 2 and "standard input is empty" in empty.stderr
    assert await profile.bodies() == ["from standard input"]


# -- the app and other owners ------------------------------------------------------------------


async def test_a_killed_owner_leaves_nothing_that_blocks_and_loses_no_queued_message(
    profile: Profile, serve: list[subprocess.Popen[str]], synapse: LocalSynapse
) -> None:
    """A listener is connected when serve is killed (-9): it says so and attaches again,
    hosting the owner itself; a message queued before the kill is sent by the new owner."""
    async with FaultProxy(synapse.base_url) as proxy:
        [info] = load_sessions(get_paths())
        save_session(get_paths(), replace(info, homeserver=proxy.url))
        owner = await started_serve(serve)
        listener = start("listen", "--room", ROOM)
        serve.append(listener)
        await listening(Lines(listener), profile)
        proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
        queued = await arun("exec", "--queue", "--timeout", "1", f"send --room {ROOM} queued")
        assert queued.returncode == 0, queued.stderr
        assert queued.stdout.startswith("1 message queued"), queued.stdout
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        # The listener hosts the owner now: no stale lock, no stale socket stood in its way.
        await wait_for_owner("listen")
        proxy.clear_faults()
        await eventually(lambda: _bodies_are(profile, ["queued"]), 60)
        after = await arun("exec", f"send --room {ROOM} 'after the kill'")
        assert after.returncode == 0, after.stderr
        assert await profile.bodies() == ["queued", "after the kill"]
        _status, _out, err = stop(listener, signal.SIGINT)
    assert "tuimatrix serve" in err and "stopped" in err and "attaching again" in err, err


class Lines:
    """The lines a process prints, read by a thread of their own (a look can time out)."""

    def __init__(self, proc: subprocess.Popen[str], *, stderr: bool = False) -> None:
        stream = proc.stderr if stderr else proc.stdout
        assert stream is not None
        self._lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for line in stream:
                self._lines.put(line)

        threading.Thread(target=read, daemon=True).start()

    async def text(self, timeout: float) -> str | None:
        """The next line as it is; None if none came in time."""
        try:
            return await asyncio.to_thread(self._lines.get, True, timeout)
        except queue.Empty:
            return None

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next line as JSON; None if none came in time."""
        try:
            line = await asyncio.to_thread(self._lines.get, True, timeout)
        except queue.Empty:
            return None
        value: dict[str, Any] = orjson.loads(line)
        return value


async def listening(lines: Lines, profile: Profile) -> None:
    """Wait until the listener prints events: bob sends markers until one shows (one sent
    before the listener has subscribed is not for it)."""
    for attempt in range(30):
        echo = await profile.bob.send_text(profile.room_id, f"marker {attempt}")
        assert (await profile.bob.send_queue.wait(echo.txn_id)).state == "sent"
        event = await lines.next(2.0)
        if event is not None:
            assert event["body"].startswith("marker")
            return
    raise AssertionError("the listener printed nothing")


async def _bodies_are(profile: Profile, expected: list[str]) -> bool:
    return await profile.bodies() == expected


# -- listen and hooks --------------------------------------------------------------------------


async def test_listen_prints_another_users_messages_encrypted_rooms_included(
    profile: Profile, serve: list[subprocess.Popen[str]]
) -> None:
    await started_serve(serve)
    listener = start("listen", "--type", "m.room.message")
    serve.append(listener)
    lines = Lines(listener)
    await listening(lines, profile)
    # An encrypted room with bob, made by alice's device in the owner.
    made = await arun("exec", "create-room Secret --encrypted")
    assert made.returncode == 0, made.stderr
    invited = await arun("exec", f"invite {profile.bob.user_id} --room Secret")
    assert invited.returncode == 0, invited.stderr
    await profile.bob.sync_once()
    [secret] = [r for r in profile.bob.rooms.summaries.values() if r.membership == "invite"]
    await profile.bob.join(secret.room_id)
    await profile.bob.sync_once()
    for room_id, text in ((profile.room_id, "plain hello"), (secret.room_id, "secret hello")):
        echo = await profile.bob.send_text(room_id, text)
        done = await profile.bob.send_queue.wait(echo.txn_id)
        assert done.state == "sent", done.error
    seen = [await lines.next(30), await lines.next(30)]
    assert [(e["body"], e["encrypted"], e["decrypted"]) for e in seen if e] == [
        ("plain hello", False, False),
        ("secret hello", True, True),
    ]
    assert all(e and e["sender"] == profile.bob.user_id for e in seen)


async def test_hooks_get_the_event_on_stdin_and_a_hanging_one_is_killed(
    profile: Profile, serve: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    copied = tmp_path / "copied.json"
    copier = tmp_path / "copier.py"
    copier.write_text(
        f"import sys, pathlib\npathlib.Path({str(copied)!r}).write_text(sys.stdin.read())\n"
    )
    config = get_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "[[hooks]]\n"
        f'command = ["{sys.executable}", "{copier}"]\n'
        'type = "m.room.message"\n'
        "[[hooks]]\n"
        f'command = ["{sys.executable}", "-c", "import time; time.sleep(1000)"]\n'
        "timeout = 1\n"
    )
    owner = await started_serve(serve)
    echo = await profile.bob.send_text(profile.room_id, "hook me")
    assert (await profile.bob.send_queue.wait(echo.txn_id)).state == "sent"
    await wait_for(copied.exists, 30)
    await wait_for(lambda: bool(copied.read_text()), 10)
    event = orjson.loads(copied.read_text())
    assert event["body"] == "hook me" and event["sender"] == profile.bob.user_id
    log = Lines(owner, stderr=True)
    said: list[str] = []
    while not any("still running after 1 s: killed" in line for line in said):
        line = await log.text(30)
        assert line is not None, said
        said.append(line)
    assert stop(owner)[0] == 0


# -- nobody else -----------------------------------------------------------------------------


def test_another_user_of_the_machine_cannot_connect(profile: Profile, serve: Any) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run a process as another user")
    proc = start("serve")
    serve.append(proc)
    asyncio.run(wait_for_owner("serve"))
    socket_path = get_paths().owner_socket
    probe = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({str(socket_path)!r})\n"
        "except OSError as e:\n"
        "    print('refused', e.errno); sys.exit(0)\n"
        "try:\n"
        '    s.sendall(b\'{"op": "hello"}\\n\')\n'
        "    print('answer', repr(s.recv(100)))\n"
        "except ConnectionError:\n"
        "    print('hung up')\n"
    )
    refused = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert refused.stdout.startswith("refused"), refused
    # Even with the file modes opened up, the owner hangs up on another uid unanswered.
    directory = socket_path.parent
    modes = [(p, p.stat().st_mode & 0o777) for p in (directory, socket_path)]
    chain = [p for p in directory.parents if p != Path("/")]
    chain_modes = [(p, p.stat().st_mode & 0o777) for p in chain]
    try:
        for path, mode in chain_modes:
            path.chmod(mode | 0o005)
        directory.chmod(0o777)
        socket_path.chmod(0o777)
        opened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    finally:
        for path, mode in modes + chain_modes:
            path.chmod(mode)
    assert opened.stdout.strip() in ("answer b''", "hung up"), opened


# -- the app -----------------------------------------------------------------------------------


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    yield t
    t.stop()


async def test_the_app_shell_and_exec_share_one_profile_without_a_stall(
    profile: Profile, tmux: Tmux
) -> None:
    """The app owns the profile; a shell and six execs work through it at once. Before,
    the shell and the app both synced one store (25 s stalls, "database is locked")."""
    tmux.start(tuimatrix_command(), binary_env())
    await asyncio.to_thread(tmux.wait_for, ROOM)
    tmux.keys("Enter")  # the room screen: its timeline shows what the others send
    await asyncio.to_thread(tmux.wait_for, "live")
    await wait_for_owner("app")
    shell_lines = "".join(f"send 'shell says {i}'\n" for i in range(3))
    shell = asyncio.to_thread(run, "shell", stdin=f"use {ROOM}\n{shell_lines}exit\n")
    execs = [arun("exec", f"send --room {ROOM} 'exec says {i}'") for i in range(6)]
    shell_done, *exec_done = await asyncio.gather(shell, *execs)
    assert shell_done.returncode == 0, shell_done.stderr
    assert shell_done.stdout.count("message sent to Ops") == 3, shell_done.stdout
    assert "through the tuimatrix app" in shell_done.stdout
    for done in exec_done:
        assert done.returncode == 0, done.stderr
    for i in range(6):
        await asyncio.to_thread(tmux.wait_for, f"exec says {i}")
    await asyncio.to_thread(tmux.wait_for, "shell says 2")
    # A second app on the profile refuses with one line that says what works beside it.
    second = await arun()
    assert second.returncode == 1
    [refusal] = second.stderr.splitlines()
    assert "already open on this profile (the tuimatrix app (pid " in refusal
    assert "tuimatrix shell" in refusal
    tmux.keys("C-q")
    await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    log = (get_paths().state_dir / "tuimatrix.log").read_text("utf-8")
    assert "locked" not in log
    expected = [f"exec says {i}" for i in range(6)] + [f"shell says {i}" for i in range(3)]
    assert sorted(await profile.bodies()) == sorted(expected)


async def test_the_app_takes_the_profile_over_from_serve_which_owns_it_again_after(
    profile: Profile, serve: list[subprocess.Popen[str]], tmux: Tmux
) -> None:
    owner = await started_serve(serve)
    log = Lines(owner, stderr=True)
    tmux.start(tuimatrix_command(), binary_env())
    await asyncio.to_thread(tmux.wait_for, ROOM)
    await wait_for_owner("app")
    through_app = await arun("exec", f"send --room {ROOM} 'while the app is open'")
    assert through_app.returncode == 0, through_app.stderr
    tmux.keys("C-q")
    await asyncio.to_thread(tmux.wait_for, "EXITED=0")
    await wait_for_owner("serve")  # serve stood by, and owns the profile again
    said = [line async for line in _lines_until(log, "serving")]
    assert any("handed the profile over to the app" in line for line in said), said
    after = await arun("exec", f"send --room {ROOM} 'after the app'")
    assert after.returncode == 0, after.stderr
    assert stop(owner)[0] == 0
    assert await profile.bodies() == ["while the app is open", "after the app"]


async def _lines_until(lines: Lines, text: str) -> AsyncIterator[str]:
    """The lines up to the second one that holds ``text`` (the first is serve's start)."""
    seen = 0
    while seen < 2:
        line = await lines.text(60)
        assert line is not None
        yield line
        seen += text in line


async def test_a_listener_that_falls_behind_gets_a_clear_error_and_the_owner_goes_on(
    make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that asks to listen and then reads nothing: events wait in its subscription,
    which is closed past its limit; when the client reads again it gets the events sent
    before, then one error, never an unbounded buffer in the owner. (In-process owner, with
    the limit made small and the events big, so that the socket's buffers fill quickly.)"""
    from tuimatrix.owner import requests
    from tuimatrix.owner.wire import read_message, send_message

    monkeypatch.setattr(requests, "LISTEN_MAX_PENDING", 3)
    monkeypatch.setattr(requests, "LISTEN_BUFFER", 1)
    alice, bob_user = make_user("slowreader"), make_user("flood")
    a = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    bob_login = await auth.login(bob_paths(tmp_path / "bob"), bob_user.user_id, bob_user.password)
    bob = bob_login.account
    try:
        room_id = await a.create_room("Flood", invite=[bob.user_id], encrypted=False)
        await bob.sync_once()
        await bob.join(room_id)
        await a.sync_once()
        await a.start()
        accounts = Accounts(get_paths())
        accounts.add(a)
        async with serving(accounts):
            # A plain socket, not asyncio's (whose transport would read ahead without end).
            slow = socket.socket(socket.AF_UNIX)
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.connect(str(get_paths().owner_socket))
            lines = slow.makefile("rb")
            hello = {"op": "hello", "protocol": PROTOCOL, "version": VERSION}
            slow.sendall(encode(hello) + encode({"op": "listen"}))
            assert "hello" in orjson.loads(await asyncio.to_thread(lines.readline))
            assert "listening" in orjson.loads(await asyncio.to_thread(lines.readline))
            big = "x" * 60_000  # each event fills a good part of the socket's buffers
            sent = 0
            while a.feed.subscribers and sent < 100:
                echo = await bob.send_text(room_id, f"{sent} {big}")
                assert (await bob.send_queue.wait(echo.txn_id)).state == "sent"
                sent += 1
            await wait_for(lambda: a.feed.subscribers == 0, 60)  # dropped: nothing kept
            answers = []
            while line := await asyncio.to_thread(lines.readline):
                answers.append(orjson.loads(line))
                if "error" in answers[-1]:
                    break
            slow.close()
            assert "fell behind" in answers[-1]["error"]["message"]
            assert 0 < len(answers) - 1 < sent  # some events, then the error
            # The owner goes on: a new listener gets the next message.
            reader, writer = await asyncio.open_unix_connection(
                str(get_paths().owner_socket), limit=MAX_LINE
            )
            await send_message(writer, {"op": "hello", "protocol": PROTOCOL, "version": VERSION})
            assert "hello" in (await read_message(reader) or {})
            await send_message(writer, {"op": "listen"})
            assert "listening" in (await read_message(reader) or {})
            echo = await bob.send_text(room_id, "after")
            assert (await bob.send_queue.wait(echo.txn_id)).state == "sent"
            while True:
                message = await asyncio.wait_for(read_message(reader), 30)
                assert message is not None and "event" in message, message
                if message["event"]["body"] == "after":
                    break
            writer.close()
    finally:
        await a.close()
        await bob.close()


async def test_a_shell_whose_owner_is_killed_goes_on_with_the_next_command(
    profile: Profile, serve: list[subprocess.Popen[str]]
) -> None:
    owner = await started_serve(serve)
    shell = start("shell", stdin=subprocess.PIPE)
    serve.append(shell)
    assert shell.stdin is not None
    lines = Lines(shell)

    async def said(text: str) -> str:
        while True:
            line = await lines.text(60)
            assert line is not None, f"the shell never said {text!r}"
            if text in line:
                return line

    shell.stdin.write(f"use {ROOM}\nsend 'before the kill'\n")
    shell.stdin.flush()
    await said("message sent to Ops")
    owner.send_signal(signal.SIGKILL)
    owner.wait(30)
    shell.stdin.write("send 'after the kill'\nexit\n")
    shell.stdin.flush()
    notice = await said("now working through")
    assert "tuimatrix shell" in notice  # nobody owned the profile: the shell hosts it now
    await said("message sent to Ops")
    assert shell.wait(60) == 0
    assert await profile.bodies() == ["before the kill", "after the kill"]


async def test_serve_started_while_the_server_is_down_keeps_running(
    profile: Profile, serve: list[subprocess.Popen[str]], synapse: LocalSynapse
) -> None:
    """At boot the homeserver may not answer yet: serve says so and stays (its sync keeps
    trying), instead of exiting for systemd to restart."""
    async with FaultProxy(synapse.base_url) as proxy:
        [info] = load_sessions(get_paths())
        save_session(get_paths(), replace(info, homeserver=proxy.url))
        await proxy.go_down()
        owner = await started_serve(serve)
        listed = await arun("exec", "accounts")
        assert listed.returncode == 0, listed.stderr
        assert profile.alice.user_id in listed.stdout
        await proxy.come_up()
        sent = await arun("exec", f"send --room {ROOM} 'once it is up'")
        assert sent.returncode == 0, sent.stderr
        status, _out, err = stop(owner)
    assert status == 0, err
    assert "cannot catch up yet" in err
    assert await profile.bodies() == ["once it is up"]


async def test_a_request_to_an_owner_killed_unseen_goes_to_the_next_owner(
    profile: Profile, serve: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner dies between two requests and its end of the socket is not seen closed yet
    (a busy machine): the write fails, so nothing was done, and the request goes to the next
    owner (here, this process) instead of failing."""
    owner = await started_serve(serve)
    session = OwnerSession(get_paths(), "shell")
    notices: list[str] = []
    session.on_notice = notices.append
    try:
        client = await session.open()
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        # As if the loop had not yet read the end of the connection.
        monkeypatch.setattr(client.reader, "at_eof", lambda: False)
        answer = await session.request(
            {"op": "exec", "line": f"send --room {ROOM} 'to the next owner'"}
        )
        assert "error" not in answer, answer
        assert notices and "now working through" in notices[0]
    finally:
        await session.close()
    assert await profile.bodies() == ["to the next owner"]

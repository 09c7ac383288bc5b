"""The owner's socket attacked by local clients of the same user (a buggy script, another
program), and the client's end checked against a socket that is not its user's.

The owner here is an :class:`OwnerServer` in this process with handlers of the test's own
(no accounts, no homeserver): what is under test is the server's handling of its clients.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest
from conftest import MakeUser
from helpers import eventually, wait_for
from owner_helpers import serving
from proxy import FaultProxy
from yarl import URL

from tuimatrix import __version__
from tuimatrix.cli import serve as serve_module
from tuimatrix.cli.app_owner import _take_over
from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.errors import UserError
from tuimatrix.core.profile_lock import ProfileInUse, lock_file
from tuimatrix.core.session import save_session
from tuimatrix.owner import requests, sends
from tuimatrix.owner import server as server_module
from tuimatrix.owner.attach import OwnerClient, owner_handlers
from tuimatrix.owner.server import MAX_CLIENTS, Connection, OwnerServer
from tuimatrix.owner.wire import PROTOCOL, REQUEST_LINE, encode, read_message
from tuimatrix.paths import get_paths

UNAVAILABLE: dict[str, object] = {"errcode": "M_UNKNOWN", "error": "Service unavailable (injected)"}


class Slow:
    """A request that takes ``t`` seconds and notes how it ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cleaned_up: list[str] = []

    async def __call__(self, request: dict[str, Any], conn: Connection) -> dict[str, Any]:
        self.started.set()
        try:
            await asyncio.sleep(float(request.get("t", 1)))
        except asyncio.CancelledError:
            # As run_command withdraws a cut request's messages: awaited work after the cut.
            await asyncio.shield(asyncio.sleep(0.2))
            self.cleaned_up.append(str(request.get("name")))
            raise
        return {"result": {"message": f"{request.get('name')} done"}}


@pytest.fixture
async def owner() -> AsyncIterator[tuple[OwnerServer, Slow]]:
    slow = Slow()
    server = OwnerServer(get_paths(), cast(Any, []), "serve", {"slow": slow})
    await server.start()
    server.ready.set()
    try:
        yield server, slow
    finally:
        await server.close(1.0)


async def connect(server: OwnerServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(server.path))


async def test_a_line_that_is_not_json_gets_one_error_and_a_hang_up_and_others_are_served(
    owner: tuple[OwnerServer, Slow],
) -> None:
    server, _slow = owner
    idle = await connect(server)  # connects and never speaks
    for garbage in (b"{nope\n", b"[1, 2]\n", b'{"timeout": NaN}\n', b"\xff\xfe\n"):
        reader, writer = await connect(server)
        writer.write(garbage)
        answer = await read_message(reader)
        assert answer is not None and answer["error"]["code"] == 2, (garbage, answer)
        assert await reader.read() == b""  # and the owner hung up
        writer.close()
    reader, writer = await connect(server)
    writer.write(encode({"op": "slow", "t": 0, "name": "fine"}))
    assert await read_message(reader) == {"result": {"message": "fine done"}}
    writer.close()
    idle[1].close()


async def test_a_request_sent_while_the_owner_closes_is_refused_not_cut_off(
    owner: tuple[OwnerServer, Slow],
) -> None:
    """A handover in progress: the request under way finishes; one that comes on an open
    connection meanwhile is refused at once with a line saying nothing was done (it used to
    start, and be cut off unanswered when the owner closed)."""
    server, slow = owner
    first_reader, first = await connect(server)
    second_reader, second = await connect(server)
    first.write(encode({"op": "slow", "t": 0.5, "name": "first"}))
    await slow.started.wait()
    closing = asyncio.create_task(server.close(10))
    await asyncio.sleep(0)  # the close has begun
    second.write(encode({"op": "slow", "t": 5, "name": "second"}))
    refused = await asyncio.wait_for(read_message(second_reader), 5)
    assert refused is not None and refused["error"]["code"] == 1, refused
    assert "nothing was done" in refused["error"]["message"]
    assert await read_message(first_reader) == {"result": {"message": "first done"}}
    await closing
    assert slow.cleaned_up == []
    first.close()
    second.close()


async def test_close_returns_after_the_requests_it_cut_off_have_cleaned_up(
    owner: tuple[OwnerServer, Slow],
) -> None:
    """The accounts close right after the server: a cut request's clean-up (its messages
    withdrawn) must be over by then, not run against closed stores."""
    server, slow = owner
    _reader, writer = await connect(server)
    writer.write(encode({"op": "slow", "t": 30, "name": "long"}))
    await slow.started.wait()
    await server.close(0.1)
    assert slow.cleaned_up == ["long"]
    writer.close()


# A stand-in owner run by another uid, listening where the profile's owner listens.
IMPOSTOR = """
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
os.setgid(65534); os.setuid(65534)
s.listen()
print("ready", flush=True)
conn, _ = s.accept()
conn.makefile().readline()
conn.sendall(b'{"hello": {"pid": 1, "kind": "serve", "yields": false, "accounts": []}}\\n')
conn.makefile().readline()
"""


async def test_the_client_refuses_an_owner_that_runs_as_another_user() -> None:
    """A socket in the profile's place that another user made (a pre-created directory under
    /tmp, say) must not receive a command line, a message or a piped secret."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a process as another user")
    paths = get_paths()
    directory = paths.owner_socket.parent
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    chain = [p for p in directory.parents if p != p.parent]
    modes = [(p, p.stat().st_mode & 0o777) for p in chain]
    for path, mode in modes:
        path.chmod(mode | 0o005)
    impostor = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IMPOSTOR, str(paths.owner_socket), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert impostor.stdout is not None
        assert (await impostor.stdout.readline()).strip() == b"ready"
        with pytest.raises(UserError, match="another user"):
            client = await OwnerClient.connect(paths)
            await client.close()
    finally:
        impostor.kill()
        await impostor.wait()
        for path, mode in modes:
            path.chmod(mode)


# -- exactly once: a client that goes away while its request's messages are being settled --


@dataclass
class Sending:
    """An account sending through ``proxy``, served by an owner in this process."""

    account: Account
    room_id: str
    proxy: FaultProxy
    server: OwnerServer

    async def request(self, text: str, timeout: float) -> asyncio.StreamReader:
        """A raw client's ``exec send`` (the reader of its answers)."""
        reader, writer = await asyncio.open_unix_connection(str(self.server.path))
        line = f"send --room {self.room_id} '{text}'"
        writer.write(encode({"op": "exec", "line": line, "timeout": timeout}))
        self.writers.append(writer)
        return reader

    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@pytest.fixture
async def sending(make_user: MakeUser, synapse: LocalSynapse) -> AsyncIterator[Sending]:
    user = make_user("settled")
    async with FaultProxy(synapse.base_url) as proxy:
        result = await auth.login(get_paths(), user.user_id, user.password)
        account = result.account
        try:
            room_id = await account.create_room("Settled", encrypted=False)
            await account.sync_once()
            account.client.api.base_url = URL(proxy.url)
            account.send_queue.start()
            accounts = Accounts(get_paths())
            accounts.add(account)
            async with serving(accounts) as server:
                found = Sending(account, room_id, proxy, server)
                yield found
                for writer in found.writers:
                    writer.close()
        finally:
            await account.close()


async def test_a_client_gone_while_its_messages_are_settled_leaves_none_to_be_sent_later(
    sending: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's wait ended (the server answered 503 until the deadline) and the owner
    is deciding the message's fate when the client is killed: the message must be withdrawn
    (or sent), never left queued for the owner to send after the client was told nothing."""
    settling = asyncio.Event()
    real_settle = sends.settle_sends

    async def slow_settle(*args: Any, **kwargs: Any) -> Any:
        settling.set()
        await asyncio.sleep(0.5)  # the client goes away meanwhile
        return await real_settle(*args, **kwargs)

    monkeypatch.setattr(requests, "settle_sends", slow_settle)
    sending.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    await sending.request("told nothing", 0.5)
    await asyncio.wait_for(settling.wait(), 30)
    sending.writers[0].close()  # as a SIGKILL of the client closes it
    await wait_for(lambda: not sending.server.busy())
    assert await sending.account.send_queue.pending() == []


async def test_an_owner_that_closes_mid_request_tells_the_client_what_became_of_it(
    sending: Sending,
) -> None:
    """A handover (or serve stopped) cuts off a long request after its grace: its message is
    withdrawn, and the client is told so (exit status 1), not left to guess (3)."""
    sending.proxy.inject_error("/send/", 503, UNAVAILABLE, count=1000)
    reader = await sending.request("cut off", 600)
    await wait_for(lambda: sending.server.busy())

    async def queued() -> bool:  # and being retried
        return bool(await sending.account.send_queue.pending())

    await eventually(queued)
    await sending.server.close(0.5)
    answer = await asyncio.wait_for(read_message(reader), 10)
    assert answer is not None and answer["error"]["code"] == 1, answer
    assert "not sent" in answer["error"]["message"]
    assert await sending.account.send_queue.pending() == []


# -- handover: two apps that start together beside serve ---------------------------------


class FakeOwner:
    """An owner of the profile as another process would be: the lock on a descriptor of its
    own (so this process's profile_lock sees the profile held) and a server of ``kind``."""

    def __init__(self, kind: str, on_yield: Any = None, handlers: Any = None) -> None:
        self.kind = kind
        self.on_yield = on_yield
        self.handlers = handlers or {}
        self.fd: int | None = None
        self.server: OwnerServer | None = None

    async def start(self) -> None:
        paths = get_paths()
        paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fd = os.open(lock_file(paths), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.server = OwnerServer(
            paths, cast(Any, []), self.kind, self.handlers, on_yield=self.on_yield
        )
        await self.server.start()
        self.server.ready.set()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close(1.0)
            self.server = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


async def test_an_app_that_loses_the_handover_to_another_app_refuses_at_once() -> None:
    """Two apps asked serve for the profile; the other one got it: this one says that an app
    has the profile (it used to wait a minute and blame serve for not handing over)."""
    app = FakeOwner("app")
    handing: list[asyncio.Task[None]] = []

    async def hand_over() -> None:
        await serve.stop()
        await app.start()  # the other app was quicker

    serve = FakeOwner(
        "serve", on_yield=lambda pid: handing.append(asyncio.create_task(hand_over()))
    )
    await serve.start()
    try:
        async with asyncio.timeout(20):
            with pytest.raises(ProfileInUse, match="already open"):
                await _take_over(get_paths())
    finally:
        await asyncio.gather(*handing)
        await serve.stop()
        await app.stop()


async def test_a_huge_command_line_is_refused_without_stalling_the_owner() -> None:
    """A 1 MB line (a script's `$(cat big.log)`) used to be parsed in the owner's loop, and
    an 8 MB one for seconds: the app's interface froze. It is a usage error before any
    parsing now."""
    accounts = Accounts(get_paths())
    server = OwnerServer(get_paths(), accounts, "app", owner_handlers(accounts))
    await server.start()
    server.ready.set()
    lags: list[float] = []
    loop = asyncio.get_running_loop()

    async def tick() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before)

    ticker = asyncio.create_task(tick())
    try:
        reader, writer = await connect(server)
        line = "send --room R " + "word " * (1000 * 1024 // 5)
        writer.write(encode({"op": "exec", "line": line}))
        answer = await asyncio.wait_for(read_message(reader), 30)
        assert answer is not None and answer["error"]["code"] == 2, answer
        assert "too long" in answer["error"]["message"]
        assert max(lags, default=0.0) < 0.5, lags
        writer.close()
    finally:
        ticker.cancel()
        await server.close(1.0)


async def test_connections_past_the_limit_are_turned_away_and_the_owner_goes_on(
    owner: tuple[OwnerServer, Slow],
) -> None:
    """A script that leaks connections would take the owner's file descriptors (its stores,
    its homeserver connections) and memory: past MAX_CLIENTS, a connection gets one line and
    is closed; once some go, the owner takes new ones again."""
    server, _slow = owner
    held = [await connect(server) for _ in range(MAX_CLIENTS)]
    for reader, writer in held[:3]:  # every one counted is really served
        writer.write(encode({"op": "slow", "t": 0, "name": "held"}))
        assert await read_message(reader) == {"result": {"message": "held done"}}
    reader, writer = await connect(server)
    turned_away = await asyncio.wait_for(read_message(reader), 5)
    assert turned_away is not None and "too many clients" in turned_away["error"]["message"]
    assert await reader.read() == b""
    writer.close()
    for _reader, held_writer in held:
        held_writer.close()
    await wait_for(lambda: server.clients() == 0)
    reader, writer = await connect(server)
    writer.write(encode({"op": "slow", "t": 0, "name": "later"}))
    assert await read_message(reader) == {"result": {"message": "later done"}}
    writer.close()


async def test_a_request_line_over_the_owners_limit_is_refused_unbuffered(
    owner: tuple[OwnerServer, Slow],
) -> None:
    """A request is small (a command line of at most 256 KiB, a body of 64 KiB): the owner
    buffers at most REQUEST_LINE of a line, not the 8 MiB a listing's answer may take."""
    server, _slow = owner
    reader, writer = await connect(server)
    writer.write(b"x" * (REQUEST_LINE + 1024))
    answer = await asyncio.wait_for(read_message(reader), 5)
    assert answer is not None and answer["error"]["code"] == 2
    assert f"longer than {REQUEST_LINE} bytes" in answer["error"]["message"]
    writer.close()


async def test_a_client_that_never_reads_its_answer_is_hung_up_on(
    owner: tuple[OwnerServer, Slow], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large answer (a listing) to a client that reads nothing would stay in the owner's
    buffers for as long as the client lives: past ANSWER_TIMEOUT the owner hangs up."""
    server, _slow = owner
    monkeypatch.setattr(server_module, "ANSWER_TIMEOUT", 0.5)
    big = {"result": {"message": "x" * (4 * 1024 * 1024)}}

    async def listing(request: dict[str, Any], conn: Connection) -> dict[str, Any]:
        return big

    server.handlers["listing"] = listing
    _reader, writer = await connect(server)
    writer.write(encode({"op": "listing"}))
    await wait_for(lambda: server.clients() == 1)
    await wait_for(lambda: server.clients() == 0, timeout=10)
    writer.close()


# Asks the owner to hand over, says the answer, then lives on (until its stdin closes).
ASKER = """
import asyncio, sys
from tuimatrix.owner.attach import OwnerClient
from tuimatrix.paths import get_paths
async def ask():
    client = await OwnerClient.connect(get_paths())
    print(await client.request({"op": "yield"}), flush=True)
    await client.close()
asyncio.run(ask())
sys.stdin.read()
"""


async def test_serve_asked_to_yield_by_a_process_that_never_takes_the_profile_owns_it_again(
    make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any client of the user may ask serve to hand over (a buggy script, an app that then
    fails): serve used to stand by for as long as the asking process lived, leaving the
    profile unowned. It waits for the asker to take the profile, for a while, then owns it
    again."""
    user = make_user("standby")
    await (await auth.login(get_paths(), user.user_id, user.password)).account.close()
    monkeypatch.setattr(serve_module, "HANDOVER_WAIT", 1.0)
    serving_task = asyncio.create_task(serve_module.serve(get_paths()))
    try:
        await eventually(lambda: _owner_kind_is("serve"), 60)
        asker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ASKER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert asker.stdout is not None and asker.stdin is not None
        assert (await asker.stdout.readline()).strip() == b"{'ok': True}"
        await eventually(lambda: _owner_kind_is(None), 60)  # it handed over
        await eventually(lambda: _owner_kind_is("serve"), 30)  # and took the profile back
        asker.stdin.close()  # the asker lived all along
        await asker.wait()
    finally:
        serving_task.cancel()
        await asyncio.gather(serving_task, return_exceptions=True)


async def _owner_kind_is(kind: str | None) -> bool:
    try:
        client = await OwnerClient.connect(get_paths())
    except OSError:
        return kind is None
    await client.close()
    return client.kind == kind


@pytest.mark.parametrize(
    "request_",
    [
        {"op": 5},
        {"op": "nope"},
        {"op": "exec", "line": 5},
        {"op": "exec", "line": "accounts", "timeout": 1e308, "account": ["x"]},
        {"op": "exec", "line": "accounts", "timeout": "soon"},
        {"op": "exec", "line": "accounts", "timeout": True},
        {"op": "exec", "line": "accounts", "timeout": -1, "room": "!r:x"},
        {"op": "exec", "line": "accounts", "room": ["@a:x", 5]},
        {"op": "exec", "line": "accounts", "txn_key": "bad key/\\n"},
        {"op": "listen", "rooms": "!r:x"},
        {"op": "resolve_room", "text": {"a": 1}},
    ],
)
async def test_a_malformed_request_is_a_usage_error_and_the_connection_goes_on(
    request_: dict[str, Any],
) -> None:
    accounts = Accounts(get_paths())
    server = OwnerServer(get_paths(), accounts, "serve", owner_handlers(accounts))
    await server.start()
    server.ready.set()
    try:
        reader, writer = await connect(server)
        writer.write(encode(request_))
        answer = await asyncio.wait_for(read_message(reader), 10)
        assert answer is not None and answer["error"]["code"] == 2, answer
        assert "\n" not in answer["error"]["message"]
        writer.write(encode({"op": "hello", "protocol": PROTOCOL, "version": __version__}))
        hello = await asyncio.wait_for(read_message(reader), 10)
        assert hello is not None and hello["hello"]["kind"] == "serve"
        writer.close()
    finally:
        await server.close(1.0)


async def test_the_same_txn_id_from_two_clients_at_once_is_sent_once_and_both_succeed(
    sending: Sending,
) -> None:
    """Two scripts retried with one key at the same moment (a cron overlap)."""
    sending.proxy.inject_error("/send/", 503, UNAVAILABLE, count=2)  # both queued together
    readers = []
    for _ in range(2):
        reader, writer = await asyncio.open_unix_connection(str(sending.server.path))
        line = f"send --room {sending.room_id} 'keyed'"
        writer.write(encode({"op": "exec", "line": line, "timeout": 30, "txn_key": "cron-7"}))
        sending.writers.append(writer)
        readers.append(reader)
    answers = await asyncio.gather(*(read_message(r) for r in readers))
    for answer in answers:
        assert answer is not None and "result" in answer, answers
    event_ids = {answer["result"]["data"]["event_id"] for answer in answers if answer}
    assert len(event_ids) == 1, answers
    assert await sending.account.send_queue.pending() == []


async def test_an_exec_that_hosts_and_hands_over_mid_request_still_reports_its_result(
    make_user: MakeUser, synapse: LocalSynapse
) -> None:
    """An exec hosts the owner (nobody else did) and an app asks for the profile while its
    send is being retried: the send finishes, the profile is handed over, and the exec says
    what it did (it used to look at the queues of accounts the handover had closed)."""
    from tuimatrix.cli.exec import exec_line

    user = make_user("hosting")
    async with FaultProxy(synapse.base_url) as proxy:
        result = await auth.login(get_paths(), user.user_id, user.password)
        try:
            room_id = await result.account.create_room("Hosting", encrypted=False)
        finally:
            await result.account.close()
        save_session(get_paths(), replace(result.account.session, homeserver=proxy.url))
        proxy.inject_error("/send/", 503, UNAVAILABLE, count=3)
        running = asyncio.create_task(exec_line(f"send --room {room_id} 'handed over'"))
        await eventually(lambda: _owner_kind_is("exec"), 60)
        await wait_for(lambda: any("/send/" in path for _, _, path in proxy.requests), 30)
        asker = await OwnerClient.connect(get_paths())
        assert await asker.request({"op": "yield"}) == {"ok": True}
        await asker.close()
        answer = await asyncio.wait_for(running, 60)
    assert "result" in answer, answer
    assert answer["result"]["message"].startswith("message sent"), answer


async def test_an_exec_that_meets_a_closing_owner_runs_in_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """serve begins to hand the profile over just after an exec connected (a request of
    another client keeps it closing a while): the exec's request is refused as 'closing',
    and exec sends it again to the app that takes over (it used to be cut off unanswered,
    exit status 3, with nothing done)."""
    from tuimatrix.cli.exec import exec_line

    slow = Slow()

    async def run_in_app(request: dict[str, Any], conn: Connection) -> dict[str, Any]:
        return {"result": {"message": f"{request['line']} done by the app"}}

    serve = FakeOwner("serve", handlers={"slow": slow, "exec": slow})
    app = FakeOwner("app", handlers={"exec": run_in_app})
    await serve.start()
    assert serve.server is not None
    _reader, writer = await connect(serve.server)
    writer.write(encode({"op": "slow", "t": 1, "name": "under way"}))
    await slow.started.wait()

    async def hand_over() -> None:
        await serve.stop()
        await app.start()

    handing: list[asyncio.Task[None]] = []
    real_connect = OwnerClient.connect

    async def connect_then_hand_over(paths: Any) -> OwnerClient:
        client = await real_connect(paths)
        if not handing:
            handing.append(asyncio.create_task(hand_over()))
            await asyncio.sleep(0)  # serve's close has begun
        return client

    monkeypatch.setattr(OwnerClient, "connect", staticmethod(connect_then_hand_over))
    try:
        answer = await asyncio.wait_for(exec_line("accounts"), 30)
        assert answer == {"result": {"message": "accounts done by the app"}}
    finally:
        await asyncio.gather(*handing)
        writer.close()
        await serve.stop()
        await app.stop()

"""The owner's end of the socket: accepts the profile's other processes and runs their requests.

The socket is made with mode 0600 in a 0700 directory, and each connection's peer must run
as the same user (``SO_PEERCRED``), so that nobody else on the machine can drive the session.
One request at a time per connection; many connections at once. A client that goes away in
the middle of a request cancels it (its messages are withdrawn, never sent later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuimatrix import __version__
from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.owner.wire import (
    MAX_LINE,
    PROTOCOL,
    REQUEST_LINE,
    WireError,
    read_message,
    send_message,
)

if TYPE_CHECKING:
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.paths import Paths

log = logging.getLogger(__name__)

#: How long the final answer may wait for a client to read (seconds).
ANSWER_TIMEOUT = 10.0

#: The most clients served at once: a script that leaks connections must not take all of the
#: owner's file descriptors (its stores, its homeserver connections) or its memory (each
#: client may have a REQUEST_LINE buffered).
MAX_CLIENTS = 128

#: The answer to a request that comes while the owner closes (it hands over, or stops): the
#: client may send it again to the next owner (see wire.is_closing).
CLOSING = {
    "code": 1,
    "message": "the owner is closing (handing the profile over, or stopping): nothing was "
    "done; try again",
    "closing": True,
}

#: The kinds of owner: the app, ``serve``, and the command-line front ends that host one
#: while they live. Every kind but the app hands the profile over to an app that starts.
KINDS = ("app", "serve", "exec", "shell", "listen")


def prepare_socket_dir(paths: Paths) -> None:
    """Make the socket's directory (0700), refusing one that another user could reach.

    The state directory is the profile's own. The fallback under /tmp (a state directory
    whose path is too long for a socket) is shared by everyone: each directory made there
    must be ours, a real directory (not a symlink) and private.
    """
    from tuimatrix.core.files import ensure_private_dir

    directory = paths.owner_socket.parent
    if directory == paths.state_dir:
        ensure_private_dir(directory)
        return
    ours = (
        [directory.parent, directory]
        if directory.parent.name.startswith("tuimatrix-")
        else [directory]
    )
    for path in ours:
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            info = path.lstat()
        except OSError as e:
            raise UserError(f"cannot make the socket directory {path}: {e.strerror}") from e
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise UserError(f"{path} is not a directory of this user: refusing to use it")
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)


def _peer_credentials(writer: asyncio.StreamWriter) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end, as the kernel knows it."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, _gid = struct.unpack("3i", creds)
    return int(pid), int(uid)


def peer_uid(writer: asyncio.StreamWriter) -> int | None:
    creds = _peer_credentials(writer)
    return creds[1] if creds is not None else None


def peer_pid(writer: asyncio.StreamWriter) -> int | None:
    creds = _peer_credentials(writer)
    return creds[0] if creds is not None else None


#: A request handler: (the request, the connection it came on) → its final answer.
Handler = Callable[[dict[str, Any], "Connection"], Awaitable[dict[str, Any]]]


class Connection:
    """One client: its stream, the question it is being asked, the request it runs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._answer: asyncio.Future[str | None] | None = None
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await send_message(self.writer, message)

    async def ask(self, question: dict[str, Any]) -> str | None:
        """Ask the client (a shell) and wait for what its user typed (None: cancelled)."""
        self._answer = asyncio.get_running_loop().create_future()
        try:
            await self.send({"ask": question})
            return await self._answer
        finally:
            self._answer = None

    def answered(self, value: Any, refused: Any = None) -> None:
        if self._answer is None or self._answer.done():
            return
        if refused is not None:  # the client could not answer: its reason is a usage error
            self._answer.set_exception(UsageError(str(refused)))
        else:
            self._answer.set_result(value if isinstance(value, str) else None)


class OwnerServer:
    """Listens on the profile's socket for as long as this process owns the profile."""

    def __init__(
        self,
        paths: Paths,
        accounts: Accounts,
        kind: str,
        handlers: dict[str, Handler],
        *,
        on_yield: Callable[[int | None], None] | None = None,
    ) -> None:
        self.paths = paths
        self.accounts = accounts
        self.kind = kind
        self.handlers = handlers
        #: called when an app asks this owner to hand the profile over (None: it refuses)
        self.on_yield = on_yield
        #: set once the accounts are open and caught up: requests wait for it
        self.ready = asyncio.Event()
        #: why the accounts could not be made ready (requests get it as their error)
        self.failure: str | None = None
        self._server: asyncio.Server | None = None
        self._requests: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.StreamWriter] = set()
        self._local: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def path(self) -> Path:
        return self.paths.owner_socket

    async def start(self) -> None:
        """Listen. The caller owns the profile's lock, so a socket file left by an owner that
        died is stale and can go."""
        try:
            prepare_socket_dir(self.paths)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            # No umask games (it is the whole process's, the app's threads included): until
            # the chmod, the 0700 directory already keeps everyone else out.
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=REQUEST_LINE
            )
            os.chmod(self.path, 0o600)
        except OSError as e:
            raise UserError(f"cannot listen on {self.path}: {e.strerror or e}") from e

    async def connect_here(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection from this very process (the front end that hosts the owner), over a
        socket pair: it works even where the socket file could not be made."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        server_side = await asyncio.open_unix_connection(sock=theirs, limit=REQUEST_LINE)
        task = asyncio.create_task(self._serve(*server_side), name="owner: this process")
        self._local.add(task)
        task.add_done_callback(self._local.discard)
        return await asyncio.open_unix_connection(sock=ours, limit=MAX_LINE)

    def busy(self) -> bool:
        return bool(self._requests)

    def clients(self) -> int:
        """How many clients are connected."""
        return len(self._connections)

    async def close(self, grace: float = 35.0) -> None:
        """Stop accepting, let the requests under way finish (at most ``grace`` seconds),
        then cut the rest and remove the socket."""
        # From here on a request is refused, not started: it would not be among those waited
        # for below, and would be cut off unanswered, or run on accounts already closed.
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._requests:
            _done, late = await asyncio.wait(set(self._requests), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
            # Only the socket this server made; the next owner would replace it anyway.
            with contextlib.suppress(OSError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if peer_uid(writer) != os.getuid():  # the 0600 socket's second lock: never another user
            writer.close()
            return
        if len(self._connections) >= MAX_CLIENTS:
            full = {"code": 1, "message": f"too many clients ({MAX_CLIENTS}): try again later"}
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(send_message(writer, {"error": full}), 1.0)
            writer.close()
            return
        self._connections.add(writer)
        conn = Connection(reader, writer)
        running: asyncio.Task[Any] | None = None
        try:
            while True:
                try:
                    message = await read_message(reader, REQUEST_LINE)
                except WireError as e:
                    await conn.send({"error": {"code": 2, "message": f"bad request: {e}"}})
                    return
                if message is None:
                    return  # the client left: its running request is cancelled below
                if "answer" in message or "refused" in message:
                    conn.answered(message.get("answer"), message.get("refused"))
                    continue
                if message.get("op") == "hello":  # answered at once: a client may pipeline
                    await conn.send(self._hello(message))
                    continue
                if running is not None and not running.done():
                    await conn.send({"error": {"code": 2, "message": "one request at a time"}})
                    continue
                if self._closing:
                    await conn.send({"error": CLOSING})
                    continue
                running = asyncio.create_task(self._request(message, conn))
                self._requests.add(running)
                running.add_done_callback(self._requests.discard)
        except (ConnectionError, OSError):
            pass
        finally:
            if running is not None and not running.done():
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            self._connections.discard(writer)
            writer.close()

    async def _request(self, message: dict[str, Any], conn: Connection) -> None:
        op = message.get("op")
        try:
            if op == "yield":
                answer = self._yield(peer_pid(conn.writer))
            else:
                handler = self.handlers.get(op) if isinstance(op, str) else None
                if handler is None:
                    answer = {"error": {"code": 2, "message": f"unknown request {op!r}"}}
                else:
                    await self.ready.wait()
                    if self.failure is not None:
                        answer = {"error": {"code": 1, "message": self.failure}}
                    else:
                        answer = await handler(message, conn)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a handler's bug must not take the owner down
            log.exception("request %r failed", op)
            answer = {"error": {"code": 1, "message": describe_error(e)}}
        try:
            await asyncio.wait_for(conn.send(answer), ANSWER_TIMEOUT)
        except TimeoutError:
            # A client that reads nothing (a stuck listener) holds neither the request nor,
            # for as long as it lives, the answer in the owner's buffers: hung up on.
            conn.writer.transport.abort()
        except (ConnectionError, OSError):
            pass

    def _hello(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("protocol") != PROTOCOL or message.get("version") != __version__:
            return {
                "error": {
                    "code": 1,
                    "message": f"the tuimatrix that owns this profile (pid {os.getpid()}) is "
                    f"version {__version__}, this one {message.get('version')}: restart it",
                }
            }
        return {
            "hello": {
                "pid": os.getpid(),
                "kind": self.kind,
                "yields": self.on_yield is not None,
                "accounts": [account.user_id for account in self.accounts],
            }
        }

    def _yield(self, pid: int | None) -> dict[str, Any]:
        """An app asks for the profile: this owner hands it over (see owner.attach.Host)."""
        if self.on_yield is None:
            return {"error": {"code": 1, "message": "this owner does not hand over"}}
        self.on_yield(pid)
        return {"ok": True}

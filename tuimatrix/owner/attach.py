"""The client's end: reach the profile's owner, or become it.

:func:`attach` is race-free because the profile lock decides: the process that takes it
hosts the owner (:class:`Host`: the accounts, syncing, and the socket); every other one
connects to the socket. The socket is bound before the accounts are caught up, so clients
connect at once and their requests wait for the owner to be ready. A lock held with no
socket answering is an owner that does not serve (``login``) or one starting or stopping:
waited for a while, then a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tuimatrix import __version__
from tuimatrix.core.errors import UsageError, UserError, describe_error
from tuimatrix.core.profile_lock import owner_pid, release_profile, try_own_profile
from tuimatrix.owner.server import OwnerServer, peer_uid
from tuimatrix.owner.wire import (
    MAX_LINE,
    PROTOCOL,
    WireError,
    error_of,
    is_closing,
    read_message,
    send_message,
)

if TYPE_CHECKING:
    from tuimatrix.core.accounts import Accounts
    from tuimatrix.core.hooks import HookRunner
    from tuimatrix.paths import Paths

log = logging.getLogger(__name__)

#: How long a client waits for an owner that holds the profile but does not answer (s).
ATTACH_WAIT = 15.0
#: How often it looks again meanwhile (s): a wait on state another process holds.
_POLL = 0.05


class OwnerGone(UserError):
    """The owner stopped (or was killed) before it answered."""


class NotDelivered(OwnerGone):
    """The owner was gone before the request could be sent: nothing was done, so the request
    may go to the next owner."""


class OwnerClient:
    """A connection to the profile's owner."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]
    ) -> None:
        self.reader = reader
        self.writer = writer
        #: what the owner said of itself: pid, kind, yields, accounts
        self.hello = hello

    @property
    def pid(self) -> int:
        return int(self.hello.get("pid") or 0)

    @property
    def kind(self) -> str:
        return str(self.hello.get("kind") or "")

    def describe(self) -> str:
        """The owner in a message: "the app (pid 123)"."""
        kinds = {"app": "the tuimatrix app", "serve": "tuimatrix serve"}
        name = kinds.get(self.kind, f"tuimatrix {self.kind}")
        return f"{name} (pid {self.pid})"

    @classmethod
    async def connect(cls, paths: Paths, server: OwnerServer | None = None) -> OwnerClient:
        """Connect (to ``server`` of this process, or over the profile's socket) and greet;
        OSError when nobody listens, UserError when the owner refuses."""
        if server is not None:
            reader, writer = await server.connect_here()
        else:
            reader, writer = await asyncio.open_unix_connection(
                str(paths.owner_socket), limit=MAX_LINE
            )
        if peer_uid(writer) != os.getuid():
            # A socket another user made in the profile's place (a directory pre-created under
            # /tmp) must not receive a command line, a message or a piped secret.
            writer.close()
            raise UserError(
                f"{paths.owner_socket} is served by another user: refusing to use it; "
                "remove it, or set TUIMATRIX_HOME to a shorter path"
            )
        try:
            await send_message(
                writer, {"op": "hello", "protocol": PROTOCOL, "version": __version__}
            )
            answer = await read_message(reader)
        except (OSError, WireError):
            writer.close()
            raise ConnectionResetError("the owner closed the connection") from None
        if answer is None:
            writer.close()
            raise ConnectionResetError("the owner closed the connection")
        if is_closing(answer):  # it hands over: the next owner answers in a moment
            writer.close()
            raise ConnectionResetError("the owner is closing")
        if "error" in answer:
            writer.close()
            raise UserError((error_of(answer) or (1, "refused"))[1])
        return cls(reader, writer, answer.get("hello") or {})

    async def request(
        self,
        message: dict[str, Any],
        on_ask: Callable[[dict[str, Any]], Awaitable[str | None]] | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its final answer (``result`` or ``error``), answering
        the owner's questions with ``on_ask`` meanwhile."""
        try:
            await send_message(self.writer, message)
        except (ConnectionError, BrokenPipeError) as e:
            # A killed owner's socket refuses the write: the request never reached it.
            raise NotDelivered(f"{self.describe()} stopped") from e
        try:
            while True:
                answer = await read_message(self.reader)
                if answer is None:
                    raise OwnerGone(f"{self.describe()} stopped before it answered")
                if "ask" in answer:
                    try:
                        reply = await on_ask(answer["ask"]) if on_ask is not None else None
                    except UsageError as e:
                        await send_message(self.writer, {"refused": str(e)})
                    else:
                        await send_message(self.writer, {"answer": reply})
                    continue
                return answer
        except (ConnectionError, BrokenPipeError) as e:
            raise OwnerGone(f"{self.describe()} stopped before it answered") from e
        except WireError as e:
            raise OwnerGone(f"{self.describe()} sent something unreadable: {e}") from e

    async def stream(self, message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Send a request whose answers come one after another until its end or an error."""
        try:
            await send_message(self.writer, message)
            while True:
                answer = await read_message(self.reader)
                if answer is None:
                    raise OwnerGone(f"{self.describe()} stopped")
                yield answer
                if "error" in answer or "end" in answer:
                    return
        except (ConnectionError, BrokenPipeError) as e:
            raise OwnerGone(f"{self.describe()} stopped") from e
        except WireError as e:
            raise OwnerGone(f"{self.describe()} sent something unreadable: {e}") from e

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


#: The owners that run the config's hooks: those that live for a while (the app runs its own).
HOOKED = ("serve", "shell", "listen")


def report_hook(line: str) -> None:
    """A hook's failure, where a headless owner reports: its log (serve: standard error)."""
    log.warning("hook: %s", line)


class Host:
    """This process owns the profile: it opens every saved account, keeps them syncing and
    serves the other processes, until it closes or hands the profile over to the app."""

    def __init__(self, paths: Paths, kind: str) -> None:
        from tuimatrix.core.accounts import Accounts

        self.paths = paths
        self.kind = kind
        self.accounts = Accounts(paths)
        #: set when an app asked for the profile (the pid that asked, in ``yielded_to``)
        self.yield_requested = asyncio.Event()
        self.yielded_to: int | None = None
        #: one line per account that could not open or start (the front end says them)
        self.problems: list[str] = []
        self.server = OwnerServer(
            paths, self.accounts, kind, owner_handlers(self.accounts), on_yield=self._on_yield
        )
        self._closed = False
        self._watch: asyncio.Task[None] | None = None
        self._hooks: HookRunner | None = None
        self._closing: asyncio.Future[None] | None = None

    def _on_yield(self, pid: int | None) -> None:
        self.yielded_to = pid
        self.yield_requested.set()

    @property
    def closed(self) -> bool:
        return self._closed

    async def _hand_over_when_asked(self) -> None:
        await self.yield_requested.wait()
        log.info("handing the profile over to pid %s", self.yielded_to)
        await self.close()

    async def start(self) -> None:
        """Open the accounts, listen, then catch them up and start them (clients connect
        at once and their requests wait for readiness, not for the catch-up). The caller
        holds the profile lock. A profile that cannot even be opened fails before a socket
        is made (its error names the file, not the socket)."""
        from tuimatrix.config import load_config

        config = load_config(self.paths.config_file)
        self.problems += config.errors  # never fatal: the commands fall back to the defaults
        try:
            errors = await self.accounts.open_saved()
            if not len(self.accounts):
                raise UserError(
                    "; ".join(errors) or "no saved session: log in first with `tuimatrix login`"
                )
            self.problems += errors
            try:
                await self.server.start()
            except UserError as e:
                # This process can still do its own work; said only if that succeeds (on a
                # read-only profile the store's own error is the one that matters).
                unserved: str | None = f"other tuimatrix processes cannot reach this one: {e}"
            else:
                unserved = None
                self._watch = asyncio.create_task(self._hand_over_when_asked(), name="hand over")
            try:
                self.problems += await catch_up(self.accounts)
            except Exception as e:
                if self.kind != "serve":
                    raise
                # serve runs for days: a server down at boot is a line in its log, and the
                # sync loop below keeps trying (systemd need not restart it).
                self.problems.append(f"cannot catch up yet: {describe_error(e)}")
            self.problems += await self.accounts.start_all()
            if unserved is not None:
                self.problems.append(unserved)
            if self.kind in HOOKED and config.hooks.hooks:
                from tuimatrix.core.hooks import HookRunner

                self._hooks = HookRunner(self.accounts, config.hooks, report_hook)
                await self._hooks.start()
        except BaseException as e:
            self.server.failure = describe_error(e) if isinstance(e, Exception) else "stopped"
            self.server.ready.set()
            await self.close()
            raise
        self.server.ready.set()

    async def close(self, grace: float = 35.0) -> None:
        """Finish the requests under way (at most ``grace`` s), close the accounts, give the
        profile up. Every caller waits until that is done (a handover may have begun it)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(grace))
        await asyncio.shield(self._closing)

    async def _close(self, grace: float) -> None:
        self._closed = True
        try:
            await self.server.close(grace)
            if self._hooks is not None:
                await self._hooks.stop()
            await self.accounts.close_all()
        finally:
            release_profile(self.paths)
            if self._watch is not None and not self._watch.done():
                if self._watch is not asyncio.current_task():
                    self._watch.cancel()


async def catch_up(accounts: Accounts) -> list[str]:
    """One sync for every account, so that rooms and names are fresh; one line per account
    that could not (while another could: when none could, the first failure is raised)."""
    listed = list(accounts)
    results = await asyncio.gather(
        *(account.sync_once() for account in listed), return_exceptions=True
    )
    failures = [
        (account, result)
        for account, result in zip(listed, results, strict=True)
        if isinstance(result, BaseException)
    ]
    for _account, result in failures:
        if not isinstance(result, Exception):  # CancelledError, KeyboardInterrupt
            raise result
    if failures and len(failures) == len(listed):
        account, error = failures[0]
        if len(listed) == 1:
            raise error
        raise UserError(f"{account.user_id}: {describe_error(error)}") from error
    return [
        f"{account.user_id}: cannot catch up: {describe_error(error)}"
        for account, error in failures
    ]


def owner_handlers(accounts: Accounts) -> dict[str, Any]:
    """The requests an owner answers, over ``accounts``."""
    from tuimatrix.owner import requests
    from tuimatrix.owner.vocabulary import VocabularyCache

    words = VocabularyCache(accounts)
    return {
        "exec": lambda request, conn: requests.run_command(accounts, request, conn),
        "vocabulary": lambda request, conn: requests.vocabulary(words, request, conn),
        "resolve_room": lambda request, conn: requests.resolve(accounts, request, conn),
        "listen": lambda request, conn: requests.listen(accounts, request, conn),
    }


async def attach(
    paths: Paths,
    kind: str,
    *,
    wait: float = ATTACH_WAIT,
    before_hosting: Callable[[], None] | None = None,
) -> tuple[OwnerClient, Host | None]:
    """A connection to the profile's owner, hosting it here first if nobody owns the profile.

    Two processes that start together end with one owner: the lock decides.
    ``before_hosting`` runs before this process opens the accounts itself (a usage check
    that a running owner makes for its clients, so that they need not import it).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        if try_own_profile(paths):
            if before_hosting is not None:
                try:
                    before_hosting()
                except BaseException:
                    release_profile(paths)
                    raise
            host = Host(paths, kind)
            try:
                await host.start()
                return await OwnerClient.connect(paths, host.server), host
            except BaseException:
                await host.close()
                raise
        try:
            return await OwnerClient.connect(paths), None
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
            pass  # an owner starting, stopping, or one that does not serve (login)
        if loop.time() >= deadline:
            pid = owner_pid(paths)
            who = f"pid {pid}" if pid is not None else "another process"
            raise UserError(
                f"the profile in {paths.data_dir} is held by {who}, which does not answer on "
                f"{paths.owner_socket} (a login or logout under way?); try again when it is done"
            )
        await asyncio.sleep(_POLL)


class OwnerSession:
    """A front end's lasting link to the owner (the shell, ``listen``): when the owner goes
    away (it handed the profile over to the app, or it was killed), the next request attaches
    again, to whoever owns the profile then (this process, if nobody does)."""

    def __init__(self, paths: Paths, kind: str) -> None:
        self.paths = paths
        self.kind = kind
        self.client: OwnerClient | None = None
        self.host: Host | None = None
        #: called with a line when the session moved to another owner
        self.on_notice: Callable[[str], None] = lambda line: None

    async def open(self, *, lost: bool = False) -> OwnerClient:
        """The connection, attaching (again) if there is none or it was ``lost``."""
        if not lost and self.client is not None and not self.client.reader.at_eof():
            if self.host is None or not self.host.closed:
                return self.client
        moved = self.client is not None
        await self._drop()
        self.client, self.host = await attach(self.paths, self.kind)
        if moved:
            self.on_notice(f"now working through {self.client.describe()}")
        return self.client

    @property
    def problems(self) -> list[str]:
        return self.host.problems if self.host is not None else []

    async def request(
        self,
        message: dict[str, Any],
        on_ask: Callable[[dict[str, Any]], Awaitable[str | None]] | None = None,
    ) -> dict[str, Any]:
        client = await self.open()
        try:
            answer = await client.request(message, on_ask)
        except NotDelivered:
            # The owner died between two requests (its end of the socket not yet seen as
            # closed): nothing was done, so once more, through the next owner.
            return await (await self.open(lost=True)).request(message, on_ask)
        if is_closing(answer):  # nothing was done: once more, through the next owner
            await self._drop()
            answer = await (await self.open()).request(message, on_ask)
        return answer

    async def _drop(self) -> None:
        client, self.client = self.client, None
        host, self.host = self.host, None
        if client is not None:
            await client.close()
        if host is not None:
            await host.close()

    async def close(self) -> None:
        await self._drop()

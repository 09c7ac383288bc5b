"""One logged-in session: a mautrix Client, its store, its sync loop and its send queue.

Several accounts can be open at once in one process; each has its own store and tasks.
Changes reach the UI through listeners, which get ``SyncChanges``, ``LocalEcho`` and
``SyncStatus`` objects and must not block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuimatrix.core.errors import describe_error, is_connection_error, retry_after, soft_logout
from tuimatrix.core.event_feed import EventFeed
from tuimatrix.core.http_session import make_http_session
from tuimatrix.core.lazy import FilterID, Method, Path, SyncToken
from tuimatrix.core.notices import Notice, Notices
from tuimatrix.core.open_timelines import OpenTimelines
from tuimatrix.core.operations import Operations
from tuimatrix.core.rooms import RoomModels
from tuimatrix.core.sendqueue import LocalEcho, SendQueue
from tuimatrix.core.session import (
    STORE_FILE,
    SessionInfo,
    account_dir,
    remove_account_dir,
)
from tuimatrix.core.store import Store, dumps
from tuimatrix.core.sync import SYNC_FILTER, SyncChanges, apply_sync
from tuimatrix.core.sync_status import (
    CATCHING_UP,
    INITIAL_SYNC,
    LIVE,
    LOGGED_OUT,
    RECONNECTING,
    SOFT_LOGGED_OUT,
    STARTING,
    STOPPED,
    WAITING,
    SyncStatus,
)
from tuimatrix.paths import Paths

if TYPE_CHECKING:
    from collections.abc import Coroutine

    import aiohttp
    from mautrix.client import Client

    from tuimatrix.core.e2ee.crypto import Crypto

# The sync states (now in core/sync_status.py) and make_http_session (core/http_session.py)
# are still imported from here by the app, the screens and the tests.
__all__ = [
    "CATCHING_UP",
    "INITIAL_SYNC",
    "LIVE",
    "LOGGED_OUT",
    "RECONNECTING",
    "SOFT_LOGGED_OUT",
    "STARTING",
    "STOPPED",
    "WAITING",
    "Account",
    "Listener",
    "SyncStatus",
    "import_network",
    "make_http_session",
]

log = logging.getLogger(__name__)

#: The type of encrypted events (as core.crypto's ENCRYPTED, which this module must not import
#: at load time: the crypto stack is imported after the first frame, see import_network).
ENCRYPTED = "m.room.encrypted"
#: What syncing and sending need that the room list does not: about half a second of imports.
NETWORK_MODULES = ("aiohttp", "mautrix.client", "tuimatrix.core.http", "tuimatrix.core.e2ee.crypto")

#: After a verification between our devices, how long before asking for keys again (s): the
#: other device marks this one verified only when its own last step is done.
KEY_REREQUEST_DELAY = 2.0
#: Long-poll time of a live sync (ms); the HTTP read timeout (http_session.READ_TIMEOUT)
#: must exceed it.
SYNC_TIMEOUT_MS = 30_000
#: How long a live sync may run past its long-poll time before the status stops saying
#: "live" (seconds); the request's own deadline (core.http) ends it later.
SYNC_OVERDUE_AFTER = 15.0
#: Back-off between failed syncs (seconds).
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
#: Before believing a 401 M_UNKNOWN_TOKEN (a proxy or a hiccup can send one): the pauses
#: before each time ``/whoami`` is asked with the same token (seconds). Spread over a minute,
#: so that a short outage of something in between is not taken for a sign-out; even then,
#: the token is kept for the next start to ask again (core/signed_out.py).
TOKEN_CHECK_PAUSES: tuple[float, ...] = (3.0, 7.0, 20.0, 30.0)

Listener = Callable[["Account", object], None]


@dataclass
class _Network:
    """An account's HTTP session, mautrix client, crypto machine and sender."""

    http: aiohttp.ClientSession
    client: Client
    crypto: Crypto | None
    http_send: Callable[[str, str, str, dict[str, Any]], Any]


def import_network() -> None:
    """Import the network and crypto stack (blocking; the app runs it in a thread)."""
    import importlib

    for name in NETWORK_MODULES:
        importlib.import_module(name)


class Account(Operations):
    def __init__(self, session: SessionInfo, paths: Paths, *, crypto: bool = True) -> None:
        self.session = session
        self.paths = paths
        self.user_id = session.user_id
        self.directory = account_dir(paths, session.user_id)
        self.store = Store(self.directory / STORE_FILE)
        self.rooms = RoomModels(self.store, session.user_id)
        #: the events that notify the user (its push rules evaluated here): core/notices.py
        self.notices = Notices(self.store, session.user_id)
        # The network half (HTTP session, mautrix client, crypto) is built on first use: the
        # room list needs only the store, and the app's first frame must not wait for imports.
        self._with_crypto = crypto
        self._network: _Network | None = None
        self.send_queue = SendQueue(self.store, self._send_queued, self._on_echo)
        #: the windows of events the app's room and thread views have loaded
        self.timelines = OpenTimelines()
        #: what sync brings, as JSON for subscribers (listen, hooks): core/event_feed.py
        self.feed = EventFeed(self)
        self.status = SyncStatus(STARTING)
        self.typing: dict[str, list[str]] = {}
        #: the `since` token of every sync request made, for tests and diagnostics
        self.sync_log: list[str | None] = []
        self._listeners: list[Listener] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: the loop's timings, as attributes so that tests can shorten them
        self.sync_timeout_ms = SYNC_TIMEOUT_MS
        self.sync_overdue_after = SYNC_OVERDUE_AFTER
        self.token_check_pauses = TOKEN_CHECK_PAUSES
        #: background crypto work (asking for keys again): kept so it is not collected
        self._crypto_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, session: SessionInfo, paths: Paths, *, crypto: bool = True, defer_network: bool = False
    ) -> Account:
        """Open the account's store and models; no network needed.

        ``defer_network``: leave mautrix's tables and the network half to :meth:`start` (or to
        first use), so that nothing but the store is imported yet.
        """
        account = cls(session, paths, crypto=crypto)
        await account.store.open(mautrix=not defer_network)
        try:
            await account.rooms.load()
            if not defer_network:
                account._connect()
        except BaseException:
            # An open store left behind keeps its thread, and the process, alive.
            await account._close_network()
            await account.store.close()
            raise
        return account

    # -- the network half, built on first use -------------------------------------------------

    def _connect(self) -> _Network:
        if self._network is None:
            from mautrix.client import Client
            from mautrix.types import UserID

            from tuimatrix.core.e2ee.crypto import Crypto
            from tuimatrix.core.http import TuiHTTPAPI

            session = self.session
            http = make_http_session()
            try:
                api = TuiHTTPAPI(session.homeserver, session.access_token, client_session=http)
                client = Client(
                    mxid=UserID(session.user_id),
                    device_id=session.device_id,
                    api=api,
                    state_store=self.store.state_store,
                )
                crypto = (
                    Crypto(client, self.store, self.directory, self.members)
                    if self._with_crypto
                    else None
                )
            except BaseException:
                # (A broken pickle-key file.) The session never connected: detaching its
                # connector closes it, here where closing (a coroutine) cannot be awaited.
                http.detach()
                raise
            self._network = _Network(http, client, crypto, SendQueue.http_sender(api))
        return self._network

    @property
    def http(self) -> aiohttp.ClientSession:
        return self._connect().http

    @property
    def client(self) -> Client:
        return self._connect().client

    @client.setter
    def client(self, client: Client) -> None:
        self._connect().client = client

    @property
    def crypto(self) -> Crypto | None:
        return self._connect().crypto

    @crypto.setter
    def crypto(self, crypto: Crypto | None) -> None:
        self._connect().crypto = crypto

    @property
    def _http_send(self) -> Callable[[str, str, str, dict[str, Any]], Any]:
        return self._connect().http_send

    async def _close_network(self) -> None:
        network, self._network = self._network, None
        for task in list(self._crypto_tasks):
            task.cancel()
        if network is not None:
            if network.crypto is not None:
                await network.crypto.close()
            await network.http.close()

    async def start(self) -> None:
        """Load the device keys and start syncing and sending in the background."""
        await self.store.open_mautrix()
        if self.crypto is not None:
            try:
                if not self.crypto.loaded:
                    await self.crypto.load()
                # Keys that came in after their events, just before a crash or an exit.
                redecrypted = await self.crypto.retry()
            except Exception as e:
                if not is_connection_error(e):
                    raise
                # Offline: the sync loop loads the keys (and uploads them) once it connects.
                log.info("encryption keys not ready yet: %s", describe_error(e))
                redecrypted = set()
            if redecrypted:
                await self._emit_redecrypted(redecrypted)
            self._start_key_work()
        self.send_queue.start()
        if self._sync_task is None:
            self._sync_task = asyncio.create_task(self._sync_forever(), name=f"sync {self.user_id}")

    async def stop(self) -> None:
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.send_queue.stop()

    async def close(self) -> None:
        if self.status.state in (STOPPED, LOGGED_OUT):
            return
        self.feed.close()
        await self.stop()
        await self._close_network()
        await self.store.close()
        self._set_status(SyncStatus(STOPPED))

    # -- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, change: object) -> None:
        """Tell every listener about ``change``; what this account's helpers (key backup,
        verification) use to report their own changes too."""
        for listener in list(self._listeners):
            try:
                listener(self, change)
            except Exception:  # a broken listener must not stop the sync loop
                log.exception("listener failed")

    def _on_echo(self, echo: LocalEcho) -> None:
        self.emit(echo)

    def _set_status(self, status: SyncStatus) -> None:
        if status != self.status:
            self.status = status
            self.emit(status)

    # -- syncing -------------------------------------------------------------------------------

    async def _filter_id(self) -> str:
        fid = await self.store.get_value("filter_id")
        filter_json = dumps(SYNC_FILTER)
        if fid is None or await self.store.get_value("filter_json") != filter_json:
            resp = await self.client.api.request(
                Method.POST, Path.v3.user[self.user_id].filter, SYNC_FILTER
            )
            fid = str(resp["filter_id"])
            await self.store.set_value("filter_id", fid)
            await self.store.set_value("filter_json", filter_json)
        return fid

    async def sync_once(self, timeout_ms: int = 0) -> SyncChanges:
        """One /sync request, processed and committed with its token. Raises on failure."""
        since = await self.store.next_batch()
        filter_id = await self._filter_id()
        self.sync_log.append(since)
        if since is None:
            self._set_status(SyncStatus(INITIAL_SYNC, started=time.time()))
        resp = await self.client.sync(
            since=SyncToken(since) if since else None,
            timeout=timeout_ms if since else 0,
            filter_id=FilterID(filter_id),
        )
        if not isinstance(resp, dict) or not isinstance(resp.get("next_batch"), str):
            raise ValueError("the sync response has no next_batch")
        keys_may_have_come = False
        if self.crypto is not None:
            if not self.crypto.loaded:
                await self.crypto.load()
            # Room keys must be safe in the store before the token that brought them moves on;
            # the response's encrypted events are decrypted in place before they are written.
            keys_may_have_come = await self.crypto.process_sync(resp, initial=since is None)
        async with self.store.transaction() as conn:
            changes = await apply_sync(conn, resp, initial=since is None)
            # What notifies the user lands with the events, in the same transaction.
            await self.notices.record(conn, changes)
        if changes.echoes:
            self.send_queue.echoed(changes.echoes)
        if self.crypto is not None and self.crypto.sync_hook is not None:
            try:
                await self.crypto.sync_hook(resp)  # verification messages
            except Exception as e:  # committed: the sync goes on whatever a listener does
                log.warning("sync hook failed: %s", describe_error(e))
        if keys_may_have_come and self.crypto is not None:
            # Events stored while their key was missing: screens showing them reload.
            try:
                redecrypted = await self.crypto.retry()
            except Exception as e:  # the sync is committed; its changes must still show
                log.warning("could not decrypt stored events again: %s", describe_error(e))
                redecrypted = set()
            changes.rooms |= redecrypted
            changes.limited |= redecrypted
            changes.notices += await self.evaluate_late()
        await self.rooms.refresh(changes.rooms, account_data_changed=bool(changes.account_data))
        self.typing.update(changes.typing)
        self.emit(changes)
        return changes

    def sync_now(self) -> None:
        """Cut the current back-off short (e.g. the user asked to reconnect)."""
        self._wake.set()

    async def _sync_forever(self) -> None:
        backoff = BACKOFF_MIN
        caught_up = False
        gaps_checked = False
        if await self.store.next_batch() is not None:
            self._set_status(SyncStatus(CATCHING_UP))
        while True:
            timeout_ms = self.sync_timeout_ms if caught_up else 0
            overdue = asyncio.get_running_loop().call_later(
                timeout_ms / 1000 + self.sync_overdue_after, self._sync_overdue, time.time()
            )
            try:
                changes = await self.sync_once(timeout_ms)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if getattr(e, "errcode", None) == "M_UNKNOWN_TOKEN":
                    lost = e if soft_logout(e) else await self._confirm_lost_token(e)
                    if lost is not None:
                        await self._lost_token(soft=soft_logout(lost), reason=describe_error(lost))
                        return
                    log.warning("the server refused our token once, then accepted it again")
                wait = retry_after(e) or backoff
                backoff = min(backoff * 2, BACKOFF_MAX)
                self._set_status(
                    SyncStatus(RECONNECTING, describe_error(e), retry_at=time.time() + wait)
                )
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            finally:
                overdue.cancel()
            backoff = BACKOFF_MIN
            caught_up = True
            self._set_status(SyncStatus(LIVE))
            if changes.limited or not gaps_checked:
                gaps_checked = await self._fill_gaps_quietly()

    def _sync_overdue(self, started: float) -> None:
        if self.status.state == LIVE:
            self._set_status(SyncStatus(WAITING, "no answer yet", started=started))

    async def _confirm_lost_token(self, first: Exception) -> Exception | None:
        """Ask ``/whoami`` with the same token, after each of ``token_check_pauses``: the
        error that says the token is really gone (soft or not), or None if the token still
        works or the server cannot tell us now (the sync loop then goes on and will ask
        again)."""
        from mautrix.errors import MatrixRequestError

        last = first
        for pause in self.token_check_pauses:
            self._set_status(SyncStatus(RECONNECTING, "checking the session with the server"))
            await asyncio.sleep(pause)
            try:
                await self.client.whoami()
            except MatrixRequestError as e:
                if getattr(e, "errcode", None) != "M_UNKNOWN_TOKEN":
                    return None
                if soft_logout(e):
                    return e
                last = e
            except Exception as e:  # unreachable now: no verdict
                log.info("could not check the session: %s", describe_error(e))
                return None
            else:
                return None
        return last

    async def _fill_gaps_quietly(self) -> bool:
        """Fill recorded gaps; a failure leaves them recorded for the next try."""
        rooms = {room_id for room_id, _, _ in await self.store.gaps()}
        if not rooms:
            return True
        try:
            added = await self.fill_gaps(max_events=500)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.info("could not fill timeline gaps yet: %s", describe_error(e))
            return False
        if added:
            # Screens showing these rooms reload their timelines.
            self.emit(SyncChanges(rooms=rooms, limited=rooms))
        return True

    async def _lost_token(self, *, soft: bool, reason: str) -> None:
        """The server no longer accepts our token (runs inside the sync task, then it ends)."""
        from tuimatrix.core import signed_out

        await self.send_queue.stop()
        self._sync_task = None  # so that start() after a relogin syncs again
        if soft:
            # Same device, same store: a new password is all it takes (auth.relogin).
            self._set_status(SyncStatus(SOFT_LOGGED_OUT, reason))
            return
        # Logged out elsewhere or the device was deleted, as far as we can tell. Unsent
        # messages and the crypto store cannot be rebuilt, and the token may still work (a
        # proxy's 401s): all stay until the next start asks the server again, or the user
        # logs in again (which takes the messages over) or out (see core/signed_out.py).
        unsent = len(await self.send_queue.pending())
        await self._close_network()
        await self.store.close()
        detail = f"signed out by the server: {reason}"
        if unsent:
            detail += f"; {unsent} unsent message{'s' if unsent != 1 else ''} kept"
        signed_out.record(self.paths, self.user_id, reason)
        self._set_status(SyncStatus(LOGGED_OUT, detail))

    async def discard(self) -> None:
        """Delete everything stored for this account (after a hard logout)."""
        await self.close()
        remove_account_dir(self.paths, self.user_id)

    # -- encryption ----------------------------------------------------------------------------

    async def _send_queued(
        self, room_id: str, event_type: str, txn_id: str, content: dict[str, Any]
    ) -> str:
        """Send one queued event, encrypted if the room is (the queue keeps the plaintext)."""
        if self.crypto is not None and await self.is_encrypted(room_id):
            if not self.crypto.loaded:
                await self.crypto.load()
            content = await self.crypto.encrypt(room_id, event_type, content)
            event_type = ENCRYPTED
        return str(await self._http_send(room_id, event_type, txn_id, content))

    async def decrypt(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Decrypt fetched events (scrollback, gaps, single events) in place, if we can."""
        if self.crypto is not None and any(e.get("type") == ENCRYPTED for e in events):
            if not self.crypto.loaded:
                await self.crypto.load()
            await self.crypto.decrypt_events(room_id, events)

    def ask_again_for_keys(self, delay: float = KEY_REREQUEST_DELAY) -> None:
        """In the background: ask our other devices again for the keys we lack (after a
        verification between them and this one), then reload the rooms concerned."""

        async def run() -> None:
            if self.crypto is None:
                return
            try:
                rooms = await self.crypto.request_missing_keys(delay)
            except Exception as e:  # the placeholders stay; a later sync may bring keys
                log.info("could not ask for missing keys again: %s", describe_error(e))
                return
            if rooms:
                await self._emit_redecrypted(rooms)

        self._in_background(run(), f"ask for keys {self.user_id}")

    async def evaluate_late(self) -> list[Notice]:
        """The push rules evaluated on the stored events that the crypto decrypted late
        (their key came after them): the notices they give, their rooms' counts updated.
        Never raises: the events are decrypted and stored; their counts wait for later."""
        crypto = self.crypto
        if crypto is None or not crypto.late:
            return []
        events, crypto.late = crypto.late, []
        try:
            async with self.store.transaction() as conn:
                return await self.notices.reevaluate(conn, events)
        except Exception as e:
            log.warning("push rules not evaluated on decrypted events: %s", describe_error(e))
            return []

    async def _emit_redecrypted(self, rooms: set[str], *, reloaded: bool = False) -> None:
        """Stored events of ``rooms`` were decrypted: their notices and counts, then the
        screens showing them reload. ``reloaded``: they have (keys imported from a file or
        the backup: old history, whose counts move and which raises no notice)."""
        notices = await self.evaluate_late()
        await self.rooms.refresh(rooms)
        if reloaded:
            self.emit(SyncChanges(rooms=set(rooms)))
        else:
            self.emit(SyncChanges(rooms=set(rooms), limited=set(rooms), notices=notices))

    def room_keys_imported(self, rooms: set[str]) -> None:
        """Room keys came from outside a sync (a key file): the ``rooms`` whose events they
        decrypted reload, and the keys go to the key backup."""
        from tuimatrix.core.e2ee.key_backup import KeyBackup

        if rooms:
            self.emit(SyncChanges(rooms=set(rooms), limited=set(rooms)))
            # Old history: its counts are brought up to date, no notice is raised for it.
            self._in_background(
                self._emit_redecrypted(set(rooms), reloaded=True), f"keys imported {self.user_id}"
            )
        KeyBackup.of(self).wake()

    def _start_key_work(self) -> None:
        """In the background: load this device's cross-signing keys (if they still match the
        published ones), and upload new room keys to the key backup."""
        from tuimatrix.core.e2ee.key_backup import KeyBackup
        from tuimatrix.core.e2ee.recovery import load_cross_signing

        async def load() -> None:
            try:
                await load_cross_signing(self)
            except Exception as e:  # trust shows as unverified meanwhile; not fatal
                log.warning("cannot load the cross-signing keys: %s", e)

        self._in_background(load(), f"cross-signing keys {self.user_id}")
        KeyBackup.of(self).start()

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run crypto work as a task that is kept (not collected) and cancelled on close."""
        task = asyncio.create_task(work, name=name)
        self._crypto_tasks.add(task)
        task.add_done_callback(self._crypto_tasks.discard)

    # -- scrollback and gaps -------------------------------------------------------------------

    async def messages(self, room_id: str, token: str, limit: int) -> dict[str, Any]:
        """One page of events before ``token``, newest first (``GET /rooms/{id}/messages``,
        members lazily loaded): the raw response, for core/history.py to store."""
        resp = await self.client.api.request(
            Method.GET,
            Path.v3.rooms[room_id].messages,
            query_params={
                "from": token,
                "dir": "b",
                "limit": str(limit),
                "filter": dumps({"lazy_load_members": True}),
            },
        )
        return resp if isinstance(resp, dict) else {}

    async def load_older(self, room_id: str, limit: int = 50) -> list[dict[str, Any]] | None:
        """Fetch up to ``limit`` events older than the oldest stored; returns them oldest first.

        An empty list means the start of the room was reached; None that there is nothing to
        ask from yet (the room's first sync has not arrived).
        """
        from tuimatrix.core.history import store_older

        key = f"scrollback:{room_id}"
        token = await self.store.get_value(key)
        if token is None:
            return None
        if not token:
            return []
        resp = await self.messages(room_id, token, limit)
        return await store_older(self, room_id, resp, key)

    async def fill_gaps(self, room_id: str | None = None, max_events: int = 1000) -> int:
        """Fill the holes that limited syncs left; returns how many events were added."""
        from tuimatrix.core.history import fill_gap

        added = 0
        filled: set[str] = set()
        for gap_room, position, prev_batch in await self.store.gaps(room_id):
            added += await fill_gap(self, gap_room, position, prev_batch, max_events)
            filled.add(gap_room)
        if added:
            # The gap's events were evaluated (core/notices.py): the rooms' counts moved.
            await self.rooms.refresh(filled)
        return added

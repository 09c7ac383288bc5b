"""OlmMachine wiring: the device's keys, the crypto parts of each sync, encrypting, decrypting.

mautrix's OlmMachine expects a syncing mautrix Client to call it through event handlers. We own
the sync loop, so we call it ourselves and *await* it: room keys that arrive as to-device
messages are stored before the sync token that delivered them is committed, and the timeline
events of the response are decrypted before they are written (the store keeps the decrypted
event, marked with ``tm_e2ee``; see :func:`decrypted_view`).

An event whose key has not arrived stays ``m.room.encrypted`` in the store. Whenever keys
arrive (a sync with to-device messages, an import, a backup restore), :meth:`Crypto.retry`
decrypts the stored events whose session is now known and rewrites them; the timeline shows
a placeholder meanwhile, never a gap.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, cast

from mautrix.client import Client, SyncStream
from mautrix.crypto import OlmMachine
from mautrix.crypto.store.asyncpg import PgCryptoStore
from mautrix.errors import (
    DecryptionError,
    DuplicateMessageIndex,
    EncryptionError,
    GroupSessionWithheldError,
    SessionNotFound,
    VerificationError,
)
from mautrix.types import (
    DecryptedOlmEvent,
    DeviceID,
    DeviceIdentity,
    DeviceKeys,
    DeviceLists,
    DeviceOTKCount,
    EncryptedEvent,
    EventType,
    IdentityKey,
    RoomID,
    SessionID,
    ToDeviceEvent,
    TrustState,
    UserID,
)
from olm.account import OlmAccountError

from tuimatrix.core.e2ee.crypto_state import CryptoStateStore, FetchMembers
from tuimatrix.core.errors import UserError, is_connection_error
from tuimatrix.core.files import write_atomic
from tuimatrix.core.store import Store, dumps, loads

log = logging.getLogger(__name__)

PICKLE_KEY_FILE = "pickle-key"


def pickle_key(account_dir: Path) -> str:
    """The key that encrypts this device's olm pickles in the store (0600, made once)."""
    path = account_dir / PICKLE_KEY_FILE
    try:
        key = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(32)
        write_atomic(path, key + "\n", mode=0o600)
        return key
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is damaged (not UTF-8 text); {_RESTORE_KEY}") from e
    if not key:
        raise UserError(f"{path} is empty; {_RESTORE_KEY}")
    return key


#: what to do about a damaged pickle key (the olm account in the store is sealed with it)
_RESTORE_KEY = "restore it from a backup: this device's encryption keys cannot be read without it"


ENCRYPTED = "m.room.encrypted"
#: Membership changes after which the next message needs a new room key (mautrix's rule:
#: everything but these, which do not change who can read).
_HARMLESS_CHANGES = {("invite", "join"), ("ban", "leave"), ("leave", "ban")}
#: A to-device notice that a room key will not be sent (and its pre-spec name).
WITHHELD_TYPES = ("m.room_key.withheld", "org.matrix.room_key.withheld")
#: sync_state key prefix: the withheld code of a session whose key we lack.
WITHHELD = "withheld:"
#: What each withheld code means for the reader (spec "Reporting that decryption keys are
#: withheld").
WITHHELD_CODES = {
    "m.blacklisted": "it has blocked this device",
    "m.unverified": "it only sends keys to verified devices",
    "m.unauthorised": "this device is not allowed to read it",
    "m.unavailable": "it does not have the key any more",
    "m.no_olm": "it could not set up a secure channel to this device",
}
#: After a verification, how many of the newest undecryptable events get their keys asked for.
REREQUEST_LIMIT = 200
#: Messages older than this (s) do not get their missing keys asked for by themselves.
KEY_REQUEST_MAX_AGE = 7 * 86400
#: Key requests waiting for an answer at one time (each waits up to KEY_REQUEST_TIMEOUT).
KEY_REQUESTS_AT_ONCE = 8
#: How long one request for a missing key to our other devices waits for an answer (s).
KEY_REQUEST_TIMEOUT = 60.0


def decrypt_error(e: Exception) -> str:
    """Why an event could not be decrypted, in words (our text, not the network's)."""
    if isinstance(e, GroupSessionWithheldError):
        return f"the sender's device withheld the key ({e.withheld_code})"
    if isinstance(e, DuplicateMessageIndex):
        return "rejected: this message reuses a key index (possible replay)"
    if isinstance(e, VerificationError):
        return "rejected: the sender's device keys do not match the session"
    return "could not decrypt this message"


def rotating_change(prev: str | None, cur: str | None, *, invitees_have_key: bool = True) -> bool:
    """Whether a member going from ``prev`` to ``cur`` means the room key must change.

    An invitee who joins already has the key, unless invitees are not given it (history
    visible from joining only: see ``CryptoStateStore.members_for_keys``).
    """
    change = (prev or "leave", cur or "leave")
    if change == ("invite", "join"):
        return not invitees_have_key
    return prev != cur and change not in _HARMLESS_CHANGES


class TuiOlmMachine(OlmMachine):
    """mautrix's machine, keeping what we decided about a device when its keys are re-fetched.

    mautrix rebuilds every device as UNVERIFIED on each key query, so a device verified by
    SAS (or blocked) would lose that as soon as its owner's device list changes. The keys are
    checked as before (a changed signing key is still refused); an unchanged device keeps its
    trust.
    """

    @staticmethod
    async def _validate_device(
        user_id: UserID,
        device_id: DeviceID,
        device_keys: DeviceKeys,
        existing: DeviceIdentity | None = None,
    ) -> DeviceIdentity:
        device = await OlmMachine._validate_device(user_id, device_id, device_keys, existing)
        if existing is not None and existing.identity_key == device.identity_key:
            device.trust = existing.trust
        return device

    async def _receive_forwarded_room_key(self, evt: DecryptedOlmEvent) -> None:
        """Take a forwarded room key only if we asked for it, and only from one of our own
        devices that we trust (spec "Key requests"); mautrix takes any, from anyone, and
        whatever it takes would then be backed up and exported as ours."""
        session_id = getattr(evt.content, "session_id", None)
        if evt.sender != self.client.mxid or session_id not in self._key_request_waiters:
            log.warning("ignoring room key %s forwarded unasked by %s", session_id, evt.sender)
            return
        device = await self.crypto_store.find_device_by_key(evt.sender, evt.sender_key)
        if device is None or await self.resolve_trust(device) < TrustState.CROSS_SIGNED_TOFU:
            log.warning("ignoring room key %s from an unverified device of ours", session_id)
            return
        await super()._receive_forwarded_room_key(evt)


class Crypto:
    def __init__(
        self, client: Client, store: Store, account_dir: Path, fetch_members: FetchMembers
    ) -> None:
        self.store = store
        self.account_dir = account_dir
        self.crypto_store = PgCryptoStore(
            account_id=client.mxid, pickle_key=pickle_key(account_dir), db=store.crypto_db
        )
        self.state = CryptoStateStore(store, fetch_members)
        self.machine = TuiOlmMachine(client, self.crypto_store, self.state)
        self._share_locks: dict[str, asyncio.Lock] = {}
        #: sessions already asked of our other devices in this run
        self._requested: set[str] = set()
        #: (room id, event) of the stored events :meth:`retry` decrypted, until the account
        #: takes them (their push rules are evaluated then: ``Account.evaluate_late``)
        self.late: list[tuple[str, dict[str, Any]]] = []
        self._requesting = asyncio.Semaphore(KEY_REQUESTS_AT_ONCE)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: sees each response, decrypted, once it is committed (core/verification.py); called
        #: by Account.sync_once, so that a failed commit never hands the same messages twice
        self.sync_hook: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    @property
    def loaded(self) -> bool:
        """The olm account is loaded and its keys are on the server."""
        account = self.machine.account
        return account is not None and bool(account.shared)

    async def load(self) -> None:
        """Load (or create) this device's olm account and upload its keys if not yet done.

        Safe to call again after a failure (offline at start): what is done is not redone.
        """
        if self.machine.account is None:
            await self.crypto_store.open()
            device_id = self.machine.client.device_id
            stored = await self.crypto_store.get_device_id()
            if stored and stored != device_id:
                # The olm account of another (older) device of ours: never use it for this one.
                log.warning("discarding the crypto keys of old device %s", stored)
                await self.crypto_store.delete()
            await self.crypto_store.put_device_id(device_id)
            try:
                await self.machine.load()
            except OlmAccountError as e:
                # Another key than the one that sealed the olm account: never replace it.
                path = self.account_dir / PICKLE_KEY_FILE
                raise UserError(f"{path} does not unlock the store's keys; {_RESTORE_KEY}") from e
        assert self.machine.account is not None
        if not self.machine.account.shared:
            await self.machine.share_keys()

    async def process_sync(self, resp: dict[str, Any], *, initial: bool = False) -> bool:
        """Handle the crypto parts of a sync response, before it is committed.

        Returns whether to-device messages arrived (they may have brought room keys that
        decrypt stored events: call :meth:`retry` once the response is committed).
        """
        events = await self._process_to_device(resp)
        rooms = resp.get("rooms")
        joined = rooms.get("join") if isinstance(rooms, dict) else None
        for section in ("join", "leave"):
            by_room = rooms.get(section) if isinstance(rooms, dict) else None
            for room_id, room in (by_room or {}).items() if isinstance(by_room, dict) else ():
                timeline = room.get("timeline") if isinstance(room, dict) else None
                evts = timeline.get("events") if isinstance(timeline, dict) else None
                if isinstance(evts, list):
                    await self.decrypt_events(room_id, evts)
        if not initial and isinstance(joined, dict):
            await self._rotate_on_membership(joined)
        return bool(events)

    async def _process_to_device(self, resp: dict[str, Any]) -> list[Any]:
        machine = self.machine
        otk = resp.get("device_one_time_keys_count")
        if isinstance(otk, dict):
            await machine.handle_otk_count(
                DeviceOTKCount(
                    curve25519=otk.get("curve25519", 0),
                    signed_curve25519=otk.get("signed_curve25519", 0),
                )
            )
        lists = resp.get("device_lists")
        if isinstance(lists, dict) and lists.get("changed"):
            await machine.handle_device_lists(
                DeviceLists(changed=lists.get("changed", []), left=lists.get("left", []))
            )
        to_device = resp.get("to_device")
        events = to_device.get("events") if isinstance(to_device, dict) else None
        for raw in events if isinstance(events, list) else []:
            if isinstance(raw, dict) and raw.get("type") in WITHHELD_TYPES:
                # mautrix leaves these unhandled: the sender says we will not get a key.
                await self._note_withheld(raw)
                continue
            try:
                evt = ToDeviceEvent.deserialize(raw)
            except Exception as e:  # one malformed message must not stop the sync
                log.warning("ignoring malformed to-device event: %s", e)
                continue
            try:
                if evt.type == EventType.TO_DEVICE_ENCRYPTED:
                    # The machine hands what it decrypted (not room keys) to the client's
                    # handlers with the event's sync stream, which its syncer would have set.
                    setattr(evt, "source", SyncStream.TO_DEVICE)  # noqa: B010
                    await machine.handle_to_device_event(evt)
                elif evt.type == EventType.ROOM_KEY_REQUEST:
                    await machine.handle_room_key_request(evt)
            except Exception as e:
                if is_connection_error(e):
                    raise  # the sync is retried from the same token, with this message again
                # A message we cannot use (a broken olm session, a bad payload) must not stop
                # the sync for good: the server would send it again and again.
                log.warning("ignoring to-device %s from %s: %s", evt.type, evt.sender, e)
        return events if isinstance(events, list) else []

    # -- sending -------------------------------------------------------------------------------

    async def encrypt(
        self, room_id: str, event_type: str, content: dict[str, Any]
    ) -> dict[str, Any]:
        """The ``m.room.encrypted`` content for an event; shares a new room key if needed.

        A room key is shared when there is none yet, when it has been used for the room's
        rotation period (messages or time), or after a membership or device change removed it.
        """
        room = RoomID(room_id)
        lock = self._share_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            try:
                encrypted = await self.machine.encrypt_megolm_event(
                    room, EventType.find(event_type), content
                )
            except EncryptionError:
                members = await self.state.members_for_keys(room_id)
                await self._prefetch_keys(members)
                await self.machine.share_group_session(room, members)
                encrypted = await self.machine.encrypt_megolm_event(
                    room, EventType.find(event_type), content
                )
        return dict(encrypted.serialize())

    async def fetch_devices(
        self, users: Iterable[str]
    ) -> dict[UserID, dict[DeviceID, DeviceIdentity]]:
        """Query the device (and cross-signing) keys of ``users`` now, tracked or not, and
        store them; returns the devices of each. One query at a time (mautrix's lock)."""
        machine = self.machine
        async with machine._fetch_keys_lock:
            return dict(
                await machine._fetch_keys([UserID(u) for u in users], include_untracked=True)
            )

    async def _prefetch_keys(self, users: list[UserID]) -> None:
        """Ask for the device and cross-signing keys of all ``users`` in one request.

        Sharing a room key resolves the trust of every device, and mautrix fetches the
        cross-signing keys of each user it has none of one request at a time: with fifty
        members that is fifty round trips before the first message can go.
        """
        attempted = self.machine._cs_fetch_attempted
        missing = [u for u in users if u not in attempted]
        if missing:
            attempted.update(missing)
            await self.fetch_devices(missing)

    async def _rotate_on_membership(self, joined: dict[str, Any]) -> None:
        """Drop our room key where someone left, was removed, joined or was invited.

        Compared with the membership we had stored (the response is not written yet), or the
        event's ``prev_content``: a new key then reaches exactly the current members.
        """
        for room_id, room in joined.items():
            if not isinstance(room, dict):
                continue
            members = [
                e
                for key in ("state", "timeline")
                for e in _events(room.get(key))
                if e.get("type") == "m.room.member" and isinstance(e.get("state_key"), str)
            ]
            if not members or not await self.state.is_encrypted(RoomID(room_id)):
                continue
            invitees_have_key = not await self.state.joined_only(room_id)
            seen: dict[str, str | None] = {}
            for evt in members:
                user = evt["state_key"]
                if user not in seen:
                    seen[user] = await self._stored_membership(room_id, user)
                content = evt.get("content")
                cur = content.get("membership") if isinstance(content, dict) else None
                if rotating_change(
                    seen[user],
                    cur if isinstance(cur, str) else None,
                    invitees_have_key=invitees_have_key,
                ):
                    log.info("membership of %s changed in %s: new room key next", user, room_id)
                    await self.crypto_store.remove_outbound_group_session(RoomID(room_id))
                    break
                seen[user] = cur if isinstance(cur, str) else None

    async def _stored_membership(self, room_id: str, user_id: str) -> str | None:
        state = await self.store.state_event(room_id, "m.room.member", user_id)
        value = state[1].get("membership") if state else None
        return value if isinstance(value, str) else None

    # -- receiving -----------------------------------------------------------------------------

    async def decrypt_events(self, room_id: str, events: Iterable[Any]) -> int:
        """Decrypt the ``m.room.encrypted`` events among ``events`` in place; returns how many.

        One that cannot be decrypted yet keeps its type, with the reason in ``tm_e2ee``, and
        its key is asked of our other devices.
        """
        done = 0
        for evt in events:
            if isinstance(evt, dict) and evt.get("type") == ENCRYPTED:
                done += await self._decrypt_one(room_id, evt)
        return done

    async def _decrypt_one(self, room_id: str, evt: dict[str, Any]) -> bool:
        content = evt.get("content")
        if not isinstance(content, dict) or "ciphertext" not in content:
            return False  # redacted, or not megolm: shown as it is
        try:
            encrypted = EncryptedEvent.deserialize(cast(Any, {**evt, "room_id": room_id}))
            decrypted = await self.machine.decrypt_megolm_event(encrypted)
        except SessionNotFound:
            withheld, by_own_device = await self._withheld(content.get("session_id"))
            evt["tm_e2ee"] = {"error": withheld} if withheld else {"missing_key": True}
            if not withheld or by_own_device:
                # Our other devices may answer later (once they trust this one).
                self._request_key(room_id, content, evt.get("origin_server_ts"))
            return False
        except Exception as e:
            if is_connection_error(e):
                raise  # the sync is retried from the same token, with this event again
            # Besides olm's verdicts, mautrix raises on a payload it cannot read (a
            # SerializerError for a string `m.relates_to`): any member can send one, and it
            # must not fail the sync for ever. Its text quotes the message: only its type.
            why = e if isinstance(e, DecryptionError) else type(e).__name__
            log.info("could not decrypt %s: %s", evt.get("event_id"), why)
            # With the key we hold this will not change (too late an index, a replay, a
            # mismatch): retry() passes it by until new keys are imported.
            evt["tm_e2ee"] = {"error": decrypt_error(e), "final": True}
            return False
        meta = decrypted.get("mautrix") if hasattr(decrypted, "get") else None
        trust = meta.get("trust_state") if isinstance(meta, dict) else None
        if isinstance(meta, dict) and meta.get("forwarded_keys"):
            # A key passed on by another device (even one of ours) says nothing certain
            # about who encrypted the message: never more than "forwarded".
            trust = min(trust, TrustState.FORWARDED) if trust is not None else TrustState.FORWARDED
        evt["type"] = str(decrypted.type)
        evt["content"] = decrypted.content.serialize()
        evt["tm_e2ee"] = {
            "trust": str(trust) if trust is not None else "unknown",
            "session_id": content.get("session_id"),
            "sender_key": content.get("sender_key"),
            "device_id": content.get("device_id"),
        }
        return True

    def _request_key(self, room_id: str, content: dict[str, Any], ts: Any = None) -> None:
        """Ask our other devices for a missing room key, once per session in this run.

        Not for old messages: a new device meeting years of history would otherwise send
        thousands of requests (request_missing_keys asks for the newest after a verification).
        """
        session_id = content.get("session_id")
        sender_key = content.get("sender_key")
        if not isinstance(session_id, str) or not isinstance(sender_key, str):
            return
        if session_id in self._requested:
            return
        if isinstance(ts, int) and ts < (time.time() - KEY_REQUEST_MAX_AGE) * 1000:
            return
        self._requested.add(session_id)
        task = asyncio.create_task(
            self._ask_own_devices(room_id, sender_key, session_id), name="room key request"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask_own_devices(self, room_id: str, sender_key: str, session_id: str) -> None:
        """Ask every other device of ours (an unverified one answers that it will not share:
        the placeholder then says to verify); only a trusted one's answer is taken."""
        own = self.machine.client.mxid
        async with self._requesting:  # a new device meets many unknown keys at once
            await self._ask(own, room_id, sender_key, session_id)

    async def _ask(self, own: UserID, room_id: str, sender_key: str, session_id: str) -> None:
        try:
            devices = await self.crypto_store.get_devices(own)
            if devices is None:  # a new device: our own list is not tracked yet
                devices = (await self.fetch_devices([own])).get(own) or {}
            others = [d for d in devices if d != self.machine.client.device_id]
            if not others:
                return
            await self.machine.request_room_key(
                RoomID(room_id),
                IdentityKey(sender_key),
                SessionID(session_id),
                {own: [DeviceID(d) for d in others]},
                timeout=KEY_REQUEST_TIMEOUT,
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # no answer is normal: the placeholder stays
            log.info("room key request for %s failed: %s", session_id, e)

    async def _withheld(self, session_id: Any) -> tuple[str | None, bool]:
        """Why this session's key was withheld from us, if we were told; and whether it was
        by one of our own devices (which may share it once it trusts this one)."""
        if not isinstance(session_id, str):
            return None, False
        value = await self.store.get_value(WITHHELD + session_id)
        if value is None:
            return None, False
        try:
            notice = loads(value)
        except ValueError:
            notice = None
        if not isinstance(notice, dict):  # as first written: the bare code
            notice = {"code": value, "own": False}
        code, own = str(notice.get("code")), bool(notice.get("own"))
        if own and code == "m.unverified":
            return "your other devices share keys only with verified devices: verify this one", True
        words = WITHHELD_CODES.get(code, "the key was withheld")
        whose = "your other device" if own else "the sender's device"
        return f"{whose} withheld the key: {words}", own

    async def _note_withheld(self, raw: dict[str, Any]) -> bool:
        """Remember an ``m.room_key.withheld`` notice (for a key we lack); True if new."""
        content = raw.get("content")
        if not isinstance(content, dict):
            return False
        session_id, room_id, code = (content.get(k) for k in ("session_id", "room_id", "code"))
        if not (isinstance(session_id, str) and isinstance(room_id, str) and isinstance(code, str)):
            return False
        if await self.crypto_store.has_group_session(RoomID(room_id), SessionID(session_id)):
            return False  # we have the key anyway
        own = raw.get("sender") == self.machine.client.mxid
        await self.store.set_value(WITHHELD + session_id, dumps({"code": code, "own": own}))
        return True

    async def request_missing_keys(self, delay: float = 0.0) -> set[str]:
        """Ask our other devices again for the keys we lack (one of them has just come to
        trust this device, or this one it): the newest undecryptable events, one request per
        session. Their placeholders say "waiting" again. Returns their rooms.
        """
        if delay:
            # The other side marks this device verified when its own last step is done.
            await asyncio.sleep(delay)
        self._requested.clear()
        await self.store.db.execute(
            "DELETE FROM sync_state WHERE key LIKE $1 "
            "AND json_valid(value) AND json_extract(value, '$.own')",
            WITHHELD + "%",
        )
        rows = await self.store.db.fetch(
            "SELECT event_id, room_id, json FROM events WHERE type = $1 "
            "ORDER BY origin_server_ts DESC LIMIT $2",
            ENCRYPTED,
            REREQUEST_LIMIT,
        )
        updates: list[tuple[str, str, str]] = []
        for row in rows:
            evt = loads(row["json"])
            content = evt.get("content")
            if not await self._decrypt_one(row["room_id"], evt) and isinstance(content, dict):
                self._request_key(row["room_id"], content)  # asked now, however old
            updates.append((evt["type"], dumps(evt), row["event_id"]))
        if updates:
            await self.store.db.executemany(
                "UPDATE events SET type=$1, json=$2 WHERE event_id=$3", updates
            )
        return {row["room_id"] for row in rows}

    async def retry(self, *, imported: bool = False) -> set[str]:
        """Bring stored undecrypted events up to date with what we know of their keys:
        decrypt those whose key has arrived since, and say so of those whose key the sender
        withheld. Returns their rooms.

        Events that failed with the key we hold are passed by, unless keys were just
        ``imported`` (a file, the backup), which may hold a better copy.
        """
        rooms = await self._mark_withheld()
        rows = await self.store.db.fetch(
            "SELECT e.event_id, e.room_id, e.json FROM events e "
            "JOIN crypto_megolm_inbound_session s "
            "ON s.session_id = json_extract(e.json, '$.content.session_id') "
            "AND s.room_id = e.room_id AND s.account_id = $1 AND s.withheld_code IS NULL "
            "WHERE e.type = $2 AND ($3 OR json_extract(e.json, '$.tm_e2ee.final') IS NULL)",
            self.crypto_store.account_id,
            ENCRYPTED,
            imported,
        )
        updates: list[tuple[str, str, str]] = []
        for row in rows:
            evt = loads(row["json"])
            if await self._decrypt_one(row["room_id"], evt):
                rooms.add(row["room_id"])
                self.late.append((row["room_id"], evt))
            updates.append((evt["type"], dumps(evt), row["event_id"]))  # or why it failed
        if updates:
            await self.store.db.executemany(
                "UPDATE events SET type=$1, json=$2 WHERE event_id=$3", updates
            )
        return rooms

    async def _mark_withheld(self) -> set[str]:
        """Give the placeholders of withheld keys their reason (instead of "waiting")."""
        rows = await self.store.db.fetch(
            "SELECT e.event_id, e.room_id, e.json FROM events e "
            "JOIN sync_state w ON w.key = $1 || json_extract(e.json, '$.content.session_id') "
            "WHERE e.type = $2 AND json_extract(e.json, '$.tm_e2ee.error') IS NULL",
            WITHHELD,
            ENCRYPTED,
        )
        updates: list[tuple[str, str]] = []
        for row in rows:
            evt = loads(row["json"])
            evt["tm_e2ee"] = {"error": (await self._withheld(evt["content"]["session_id"]))[0]}
            updates.append((dumps(evt), row["event_id"]))
        if updates:
            await self.store.db.executemany("UPDATE events SET json=$1 WHERE event_id=$2", updates)
        return {row["room_id"] for row in rows}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()


def _events(container: Any) -> list[dict[str, Any]]:
    events = container.get("events") if isinstance(container, dict) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []

"""Interactive device verification: the spec's "Key verification framework" with SAS (m.sas.v1).

One :class:`VerificationManager` per account keeps the verifications in progress, keyed by
their transaction id (to-device) or the request's event id (in a room). It answers the other
side as messages arrive and tells the UI through the account's listeners
(:class:`VerificationChanged`); the user's part is :meth:`accept`, :meth:`confirm`,
:meth:`mismatch` and :meth:`cancel`.

Messages reach it through ``Crypto.sync_hook`` once a sync response is committed: the
response's plaintext to-device events and its timeline events, which are already decrypted
then. Encrypted to-device ones come from the OlmMachine, which dispatches what it decrypted
through the mautrix client's event handlers, each in a task of its own: one lock takes every
message in the order it came, so a MAC cannot overtake the key it follows.

Supported: key agreement ``curve25519-hkdf-sha256``, hash ``sha256``, MAC
``hkdf-hmac-sha256.v2`` (and the old ``hkdf-hmac-sha256``), SAS ``emoji`` and ``decimal``.
The requester starts the SAS once the other side is ready; a start from the other side is
accepted too, and if both start at once the spec's tie-break applies.

This module imports olm and mautrix inside its functions: the command registry imports it, and
the app's first frame must not wait for the crypto stack (see ``core/lazy.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from tuimatrix.core.e2ee.sas import (
    ACCEPT,
    CANCEL,
    DONE,
    HASH,
    KEY,
    KEY_AGREEMENT,
    MAC,
    MAC_METHODS,
    MAC_V2,
    METHOD_SAS,
    PREFIX,
    READY,
    REQUEST,
    SAS_METHODS,
    START,
    calculate_mac,
    commitment,
    key_ids,
    mac_info,
    sas_info,
)
from tuimatrix.core.e2ee.sas_emoji import sas_decimals, sas_emoji
from tuimatrix.core.e2ee.verification_trust import trust_verified
from tuimatrix.core.errors import UserError

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.core.e2ee.crypto import Crypto

log = logging.getLogger(__name__)
#: How many verifications (finished ones, mostly) are remembered before the oldest go.
KEEP_FINISHED = 64

#: A verification not done within this time is cancelled (spec: 10 minutes).
TIMEOUT = 600.0

# The states a verification goes through, as the UI shows them.
S_REQUESTED = "requested"  # request sent or received, not answered yet
S_READY = "ready"  # request accepted; the SAS has not started
S_STARTED = "started"  # SAS started: keys being exchanged
S_SAS = "sas"  # the SAS is shown: waiting for the user to compare
S_CONFIRMED = "confirmed"  # the user said they match; waiting for the other side's MAC
S_DONE = "done"
S_CANCELLED = "cancelled"
FINISHED = (S_DONE, S_CANCELLED)


# -- one verification --------------------------------------------------------------------------


@dataclass(eq=False)
class Verification:
    transaction_id: str
    other_user: str
    #: the other side asked (we answer the request)
    incoming: bool
    #: in-room verification: the room (the transaction id is the request's event id)
    room_id: str | None = None
    #: the other side's device, once known (a request to a user goes to all their devices)
    other_device: str | None = None
    #: the devices a to-device request went to (the others are told when one answers)
    request_devices: list[str] = field(default_factory=list)
    state: str = S_REQUESTED
    created: float = field(default_factory=time.monotonic)
    #: we sent the start in use (we are the SAS "starter")
    we_started: bool = False
    start_content: dict[str, Any] | None = None
    commitment: str | None = None
    mac_method: str = MAC_V2
    sas_methods: tuple[str, ...] = ()
    sas: Any = None  # olm.Sas, from start/accept on
    key_sent: bool = False
    their_key: str | None = None
    #: the seven (emoji, name) pairs and the three numbers to compare
    emoji: list[tuple[str, str]] = field(default_factory=list)
    decimals: tuple[int, int, int] | None = None
    their_mac: dict[str, Any] | None = None
    confirmed: bool = False
    #: key ids of the other side verified by their MAC
    verified_keys: list[str] = field(default_factory=list)
    cancel_code: str | None = None
    cancel_reason: str = ""
    cancelled_by_us: bool = False

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def to_device(self) -> bool:
        return self.room_id is None


@dataclass(frozen=True)
class VerificationChanged:
    """Emitted through the account's listeners whenever a verification changes state."""

    verification: Verification


class VerificationError(Exception):
    """The other side broke the protocol: cancel with ``code``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- the manager -------------------------------------------------------------------------------

_managers: weakref.WeakKeyDictionary[Account, VerificationManager] = weakref.WeakKeyDictionary()


def verifications(account: Account) -> VerificationManager:
    """The account's verification manager (made, and hooked into its sync, on first use)."""
    manager = _managers.get(account)
    if manager is None:
        manager = _managers[account] = VerificationManager(account)
    manager.attach()
    return manager


class VerificationManager:
    def __init__(self, account: Account) -> None:
        self.account = account
        self.verifications: dict[str, Verification] = {}
        self.timeout = TIMEOUT
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: messages are handled one at a time, in the order they came
        self._order = asyncio.Lock()
        self._attached_to: Crypto | None = None

    # -- wiring ---------------------------------------------------------------------------------

    @property
    def crypto(self) -> Crypto:
        crypto = self.account.crypto
        if crypto is None:
            raise UserError("encryption is off for this account: nothing to verify with")
        return crypto

    @property
    def own(self) -> tuple[str, str]:
        return self.account.user_id, str(self.account.session.device_id)

    def attach(self) -> None:
        """Receive this account's verification messages (again, if its crypto was rebuilt)."""
        crypto = self.account.crypto
        if crypto is None or crypto is self._attached_to:
            return
        from mautrix.types import EventType

        if self._attached_to is None:
            self.account.add_listener(self._on_account_change)
        crypto.sync_hook = self.handle_sync
        crypto.machine.client.add_event_handler(EventType.ALL, self._on_dispatched)
        self._attached_to = crypto

    def _on_account_change(self, account: Account, change: object) -> None:
        from tuimatrix.core.sync_status import LOGGED_OUT, STOPPED, SyncStatus

        if isinstance(change, SyncStatus) and change.state in (STOPPED, LOGGED_OUT):
            self.close()

    def close(self) -> None:
        """Stop the timeouts (the account is closed: nothing can be sent any more)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()

    def _emit(self, v: Verification) -> None:
        self.account.emit(VerificationChanged(v))

    # -- what the user does ---------------------------------------------------------------------

    def get(self, transaction_id: str) -> Verification:
        v = self.verifications.get(transaction_id)
        if v is None:
            raise UserError("no such verification")
        return v

    def active(self) -> list[Verification]:
        """Verifications in progress, newest first."""
        return sorted(
            (v for v in self.verifications.values() if not v.finished),
            key=lambda v: v.created,
            reverse=True,
        )

    def incoming_requests(self) -> list[Verification]:
        """Requests waiting for the user's answer, newest first."""
        return [v for v in self.active() if v.incoming and v.state == S_REQUESTED]

    async def request_device(self, user_id: str, device_id: str) -> Verification:
        """Ask one device (ours or someone else's) to verify, by to-device messages."""
        if (user_id, device_id) == self.own:
            raise UserError("this is the device you are using: verify another one")
        device = await self._device(user_id, device_id)
        if device is None:
            raise UserError(f"{user_id} has no device {device_id} with encryption keys")
        return await self._request_to_device(user_id, [device_id])

    async def request_user(self, user_id: str) -> Verification:
        """Verify a user: our own other devices by to-device messages, others in a DM."""
        if user_id == self.account.user_id:
            devices = await self._devices(user_id)
            others = [d for d in devices if d != self.own[1]]
            if not others:
                raise UserError("you have no other device with encryption keys to verify")
            return await self._request_to_device(user_id, others)
        room_id = await self.account.find_direct_room(user_id)
        if room_id is None:
            room_id = await self.account.create_room(
                invite=[user_id], is_direct=True, encrypted=True
            )
        return await self.request_in_room(room_id, user_id)

    async def request_in_room(self, room_id: str, user_id: str) -> Verification:
        """An in-room request (``m.key.verification.request`` message) to ``user_id``."""
        content = {
            "msgtype": REQUEST,
            "body": (
                f"{self.account.user_id} is asking to verify your keys, but your client does "
                "not support in-room verification; use another client to verify."
            ),
            "from_device": self.own[1],
            "methods": [METHOD_SAS],
            "to": user_id,
        }
        echo = await self.account.send_event(room_id, "m.room.message", content)
        sent = await self.account.send_queue.wait(echo.txn_id)
        if sent.state != "sent" or sent.event_id is None:
            raise UserError(f"could not send the verification request: {sent.error}")
        v = Verification(sent.event_id, user_id, incoming=False, room_id=room_id)
        self._add(v)
        return v

    async def accept(self, transaction_id: str) -> Verification:
        """Answer an incoming request: ready to verify by SAS."""
        v = self.get(transaction_id)
        if not (v.incoming and v.state == S_REQUESTED):
            raise UserError("this verification is not waiting for an answer")
        # Ready before the answer goes out: the other side's start may come back at once.
        self._set_state(v, S_READY)
        try:
            await self._send(v, READY, {"from_device": self.own[1], "methods": [METHOD_SAS]})
        except Exception:
            self._set_state(v, S_REQUESTED)  # still unanswered: the user may try again
            raise
        return v

    async def confirm(self, transaction_id: str) -> Verification:
        """The user says the emoji (or numbers) match: send our MACs."""
        v = self.get(transaction_id)
        if v.state != S_SAS:
            raise UserError("there is nothing to compare yet")
        await self._send_mac(v)
        v.confirmed = True
        self._set_state(v, S_CONFIRMED)
        if v.their_mac is not None:
            await self._guarded(v, self._check_mac(v))
        return v

    async def mismatch(self, transaction_id: str) -> Verification:
        """The user says they do not match: cancel; nothing is marked verified."""
        v = self.get(transaction_id)
        await self._cancel(v, "m.mismatched_sas", "the short authentication strings differ")
        return v

    async def cancel(self, transaction_id: str, reason: str = "cancelled by the user") -> None:
        await self._cancel(self.get(transaction_id), "m.user", reason)

    # -- requests we send -----------------------------------------------------------------------

    async def _request_to_device(self, user_id: str, devices: list[str]) -> Verification:
        import secrets

        txn = f"tmv{secrets.token_hex(12)}"
        v = Verification(txn, user_id, incoming=False, request_devices=list(devices))
        if len(devices) == 1:
            v.other_device = devices[0]
        content = {
            "from_device": self.own[1],
            "methods": [METHOD_SAS],
            "timestamp": int(time.time() * 1000),
        }
        self._add(v)
        try:
            await self._send(v, REQUEST, content, devices=devices)
        except Exception as e:
            self._finish(v, "m.user", f"the request could not be sent: {e}", by_us=True)
            raise
        return v

    def _asking(self, sender: str) -> bool:
        """Whether ``sender`` already has a request of theirs open here: one at a time, so
        that nobody can bury the screen under prompts."""
        busy = any(
            v.incoming and v.other_user == sender and not v.finished
            for v in self.verifications.values()
        )
        if busy:
            log.info("ignoring another verification request from %s", sender)
        return busy

    def _add(self, v: Verification) -> None:
        if len(self.verifications) >= KEEP_FINISHED:
            # Finished ones are kept a while to recognise their late messages; not forever.
            done = sorted(
                (x for x in self.verifications.values() if x.finished), key=lambda x: x.created
            )
            for old in done[: len(done) // 2]:
                del self.verifications[old.transaction_id]
        self.verifications[v.transaction_id] = v
        loop = asyncio.get_running_loop()
        self._timers[v.transaction_id] = loop.call_later(
            self.timeout, self._on_timeout, v.transaction_id
        )
        self._emit(v)

    def _on_timeout(self, transaction_id: str) -> None:
        task = asyncio.create_task(self._expire(transaction_id), name="verification timeout")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, transaction_id: str) -> None:
        self._timers.pop(transaction_id, None)
        v = self.verifications.get(transaction_id)
        if v is None or v.finished:
            return
        if v.incoming and v.state == S_REQUESTED:
            # An unanswered prompt just goes away (spec); the requester times out on its side.
            self._finish(v, "m.timeout", "the request timed out", by_us=True)
            return
        await self._cancel(v, "m.timeout", "the verification timed out")

    # -- transport ------------------------------------------------------------------------------

    async def _send(
        self,
        v: Verification,
        event_type: str,
        content: dict[str, Any],
        *,
        devices: list[str] | None = None,
    ) -> dict[str, Any]:
        """Send one verification message; returns the content as sent."""
        if v.room_id is not None:
            content = {
                **content,
                "m.relates_to": {"rel_type": "m.reference", "event_id": v.transaction_id},
            }
            echo = await self.account.send_event(v.room_id, event_type, content)
            sent = await self.account.send_queue.wait(echo.txn_id)
            if sent.state != "sent":
                raise UserError(f"could not send {event_type}: {sent.error}")
            return content
        from mautrix.types import DeviceID, EventType, UserID

        content = {**content, "transaction_id": v.transaction_id}
        targets = devices or ([v.other_device] if v.other_device else v.request_devices)
        await self.account.client.send_to_device(
            EventType.find(event_type, EventType.Class.TO_DEVICE),
            {UserID(v.other_user): {DeviceID(d): cast(Any, content) for d in targets}},
        )
        return content

    # -- what arrives ---------------------------------------------------------------------------

    async def handle_sync(self, resp: dict[str, Any]) -> None:
        """The sync response's verification messages (timeline events already decrypted)."""
        to_device = resp.get("to_device")
        events = to_device.get("events") if isinstance(to_device, dict) else None
        for evt in events if isinstance(events, list) else []:
            if isinstance(evt, dict) and str(evt.get("type", "")).startswith(PREFIX):
                await self.handle_to_device(evt)
        rooms = resp.get("rooms")
        joined = rooms.get("join") if isinstance(rooms, dict) else None
        for room_id, room in joined.items() if isinstance(joined, dict) else ():
            timeline = room.get("timeline") if isinstance(room, dict) else None
            evts = timeline.get("events") if isinstance(timeline, dict) else None
            for evt in evts if isinstance(evts, list) else []:
                if isinstance(evt, dict) and _is_room_verification(evt):
                    await self.handle_room_event(room_id, evt)

    async def _on_dispatched(self, evt: Any) -> None:
        """A to-device event the OlmMachine decrypted (verification messages sent encrypted)."""
        if not str(getattr(evt, "type", "")).startswith(PREFIX):
            return
        if getattr(evt, "sender_device", None) is None:  # not from the olm decryption
            return
        content = evt.content.serialize() if hasattr(evt.content, "serialize") else evt.content
        raw = {"type": str(evt.type), "sender": str(evt.sender), "content": content}
        await self.handle_to_device(raw)

    async def handle_to_device(self, evt: dict[str, Any]) -> None:
        """One to-device ``m.key.verification.*`` event (plaintext or decrypted)."""
        try:
            async with self._order:
                await self._to_device(evt)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad message must not stop the sync
            log.exception("could not handle a to-device verification message")

    async def handle_room_event(self, room_id: str, evt: dict[str, Any]) -> None:
        """One timeline event of a room: a verification request or a related message."""
        try:
            async with self._order:
                await self._room_event(room_id, evt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not handle an in-room verification message")

    async def _to_device(self, evt: dict[str, Any]) -> None:
        event_type, sender, content = evt.get("type"), evt.get("sender"), evt.get("content")
        if not isinstance(sender, str) or not isinstance(content, dict):
            return
        txn = content.get("transaction_id")
        if not isinstance(txn, str) or not txn:
            return
        from_device = content.get("from_device")
        v = self.verifications.get(txn)
        if event_type == REQUEST:
            if v is not None or not isinstance(from_device, str):
                return
            if not self._fresh(content.get("timestamp")):
                return
            if (sender, from_device) == self.own or self._asking(sender):
                return
            self._add(
                Verification(
                    txn,
                    sender,
                    incoming=True,
                    other_device=from_device,
                    request_devices=[from_device],
                )
            )
            return
        if v is None:
            if event_type == START and isinstance(from_device, str):
                # A start without a request (deprecated, but other clients may still do it).
                v = Verification(txn, sender, incoming=True, other_device=from_device)
                v.state = S_READY
                self._add(v)
            else:
                return
        if sender != v.other_user or not v.to_device:
            return
        if isinstance(from_device, str) and v.other_device and from_device != v.other_device:
            return  # another of their devices answered too late: the first one won
        await self._dispatch(v, str(event_type), content)

    async def _room_event(self, room_id: str, evt: dict[str, Any]) -> None:
        event_type, sender, content = evt.get("type"), evt.get("sender"), evt.get("content")
        if not isinstance(sender, str) or not isinstance(content, dict):
            return
        me, my_device = self.own
        if event_type == "m.room.message":
            event_id = evt.get("event_id")
            from_device = content.get("from_device")
            if (
                sender == me
                or content.get("to") != me
                or not isinstance(event_id, str)
                or not isinstance(from_device, str)
                or event_id in self.verifications
                or not self._fresh(evt.get("origin_server_ts"))
                or self._asking(sender)
            ):
                return
            self._add(
                Verification(
                    event_id, sender, incoming=True, room_id=room_id, other_device=from_device
                )
            )
            return
        relates = content.get("m.relates_to")
        if not isinstance(relates, dict) or relates.get("rel_type") != "m.reference":
            return
        v = self.verifications.get(str(relates.get("event_id")))
        if v is None or v.room_id != room_id:
            return
        if sender == me:
            # Our own messages come back; a ready from another of our devices means that one
            # took the request (spec: the other devices then drop it).
            if (
                event_type == READY
                and content.get("from_device") != my_device
                and v.incoming
                and v.state == S_REQUESTED
            ):
                self._finish(v, "m.accepted", "accepted on another of your devices", by_us=True)
            return
        if sender != v.other_user:
            return
        await self._dispatch(v, str(event_type), content)

    def _fresh(self, ts: Any) -> bool:
        """Whether a request's timestamp (ms) is recent enough to prompt for (spec: 10 min)."""
        if not isinstance(ts, int | float):
            return False
        age = time.time() - ts / 1000
        return -300 < age < self.timeout

    async def _dispatch(self, v: Verification, event_type: str, content: dict[str, Any]) -> None:
        if event_type == CANCEL:
            code, reason = content.get("code"), content.get("reason")
            self._finish(
                v,
                code if isinstance(code, str) else "m.unknown",
                reason if isinstance(reason, str) else "",
                by_us=False,
            )
            return
        if v.finished or event_type == REQUEST:
            return
        handlers = {
            READY: self._on_ready,
            START: self._on_start,
            ACCEPT: self._on_accept,
            KEY: self._on_key,
            MAC: self._on_mac,
            DONE: self._on_done,
        }
        handler = handlers.get(event_type)
        if handler is not None:
            await self._guarded(v, handler(v, content))

    async def _guarded(self, v: Verification, step: Any) -> None:
        """Run one protocol step; a protocol error cancels the verification with its code."""
        try:
            await step
        except VerificationError as e:
            await self._cancel(v, e.code, e.reason)

    # -- the protocol steps ---------------------------------------------------------------------

    async def _on_ready(self, v: Verification, content: dict[str, Any]) -> None:
        if v.incoming or v.state != S_REQUESTED:
            raise VerificationError("m.unexpected_message", "unexpected ready")
        from_device = content.get("from_device")
        methods = content.get("methods")
        if not isinstance(from_device, str) or not isinstance(methods, list):
            raise VerificationError("m.invalid_message", "malformed ready")
        if v.to_device:
            others = [d for d in v.request_devices if d != from_device]
            v.other_device = from_device
            if others:
                await self._send(
                    v,
                    CANCEL,
                    {"code": "m.accepted", "reason": "accepted on another device"},
                    devices=others,
                )
        v.other_device = from_device
        if METHOD_SAS not in methods:
            raise VerificationError("m.unknown_method", "the other device does not offer SAS")
        self._set_state(v, S_READY)
        await self._start(v)

    async def _start(self, v: Verification) -> None:
        from olm.sas import Sas

        content = {
            "from_device": self.own[1],
            "method": METHOD_SAS,
            "key_agreement_protocols": [KEY_AGREEMENT],
            "hashes": [HASH],
            "message_authentication_codes": list(MAC_METHODS),
            "short_authentication_string": list(SAS_METHODS),
        }
        v.we_started = True
        v.sas = Sas()
        v.start_content = await self._send(v, START, content)
        self._set_state(v, S_STARTED)

    async def _on_start(self, v: Verification, content: dict[str, Any]) -> None:
        from olm.sas import Sas

        if v.state == S_STARTED and v.we_started and v.commitment is None:
            # Both sides started: the start of the smaller user id (then device id) stands.
            if content.get("method") != METHOD_SAS:
                raise VerificationError("m.unexpected_message", "both sides started differently")
            if self.own < (v.other_user, v.other_device or ""):
                return
            v.we_started = False
        elif v.state != S_READY:
            raise VerificationError("m.unexpected_message", "unexpected start")
        if content.get("method") != METHOD_SAS:
            raise VerificationError("m.unknown_method", "only SAS verification is supported")
        if KEY_AGREEMENT not in _strings(content.get("key_agreement_protocols")):
            raise VerificationError("m.unknown_method", "no common key agreement protocol")
        if HASH not in _strings(content.get("hashes")):
            raise VerificationError("m.unknown_method", "no common hash")
        macs = _strings(content.get("message_authentication_codes"))
        mac_method = next((m for m in MAC_METHODS if m in macs), None)
        sas_methods = tuple(
            m for m in SAS_METHODS if m in _strings(content.get("short_authentication_string"))
        )
        if mac_method is None or not sas_methods:
            raise VerificationError("m.unknown_method", "no common MAC or SAS method")
        from_device = content.get("from_device")
        if isinstance(from_device, str) and v.other_device is None:
            v.other_device = from_device
        v.start_content = content
        v.mac_method, v.sas_methods = mac_method, sas_methods
        v.sas = Sas()
        v.commitment = commitment(v.sas.pubkey, content)
        await self._send(
            v,
            ACCEPT,
            {
                "key_agreement_protocol": KEY_AGREEMENT,
                "hash": HASH,
                "message_authentication_code": mac_method,
                "short_authentication_string": list(sas_methods),
                "commitment": v.commitment,
            },
        )
        self._set_state(v, S_STARTED)

    async def _on_accept(self, v: Verification, content: dict[str, Any]) -> None:
        if not (v.we_started and v.state == S_STARTED and v.commitment is None):
            raise VerificationError("m.unexpected_message", "unexpected accept")
        mac_method = content.get("message_authentication_code")
        sas_methods = tuple(_strings(content.get("short_authentication_string")))
        value = content.get("commitment")
        if (
            content.get("key_agreement_protocol") != KEY_AGREEMENT
            or content.get("hash") != HASH
            or mac_method not in MAC_METHODS
            or not sas_methods
            or not set(sas_methods) <= set(SAS_METHODS)
        ):
            raise VerificationError("m.unknown_method", "the accept chose what we did not offer")
        if not isinstance(value, str) or not value:
            raise VerificationError("m.invalid_message", "the accept has no commitment")
        v.commitment, v.mac_method, v.sas_methods = value, str(mac_method), sas_methods
        await self._send(v, KEY, {"key": v.sas.pubkey})
        v.key_sent = True

    async def _on_key(self, v: Verification, content: dict[str, Any]) -> None:
        key = content.get("key")
        if not isinstance(key, str) or not key:
            raise VerificationError("m.invalid_message", "the key message has no key")
        if v.state != S_STARTED or v.sas is None or v.their_key is not None:
            raise VerificationError("m.unexpected_message", "unexpected key")
        if v.we_started:
            if not v.key_sent or v.start_content is None:
                raise VerificationError("m.unexpected_message", "key before accept")
            if commitment(key, v.start_content) != v.commitment:
                raise VerificationError(
                    "m.mismatched_commitment", "the key does not match the commitment"
                )
            v.sas.set_their_pubkey(key)
        else:
            v.sas.set_their_pubkey(key)
            await self._send(v, KEY, {"key": v.sas.pubkey})
            v.key_sent = True
        v.their_key = key
        me = (*self.own, str(v.sas.pubkey))
        them = (v.other_user, v.other_device or "", key)
        info = (
            sas_info(me, them, v.transaction_id)
            if v.we_started
            else sas_info(them, me, v.transaction_id)
        )
        sas_bytes = bytes(v.sas.generate_bytes(info, 6))
        v.emoji = sas_emoji(sas_bytes) if "emoji" in v.sas_methods else []
        v.decimals = sas_decimals(sas_bytes[:5])
        self._set_state(v, S_SAS)

    async def _send_mac(self, v: Verification) -> None:
        crypto = self.crypto
        machine = crypto.machine
        me = self.own
        if machine.account is None:
            raise VerificationError("m.user", "this device's keys are not loaded")
        keys = {f"ed25519:{me[1]}": str(machine.account.signing_key)}
        try:
            own_keys = await machine.get_own_cross_signing_public_keys()
        except Exception as e:  # no cross-signing: the device key alone is verified
            log.info("no cross-signing keys to include in the MAC: %s", e)
            own_keys = None
        if own_keys is not None:
            keys[f"ed25519:{own_keys.master_key}"] = str(own_keys.master_key)
        other = (v.other_user, v.other_device or "")
        mac = {
            key_id: calculate_mac(
                v.sas, v.mac_method, value, mac_info(me, other, v.transaction_id, key_id)
            )
            for key_id, value in keys.items()
        }
        keys_mac = calculate_mac(
            v.sas, v.mac_method, key_ids(mac), mac_info(me, other, v.transaction_id, "KEY_IDS")
        )
        await self._send(v, MAC, {"mac": mac, "keys": keys_mac})

    async def _on_mac(self, v: Verification, content: dict[str, Any]) -> None:
        if v.state not in (S_SAS, S_CONFIRMED) or v.their_mac is not None:
            raise VerificationError("m.unexpected_message", "unexpected MAC")
        v.their_mac = content
        if v.confirmed:
            await self._check_mac(v)

    async def _check_mac(self, v: Verification) -> None:
        """Check the other side's MACs; on success mark their keys verified and say done."""
        from mautrix.types import CrossSigningUsage, UserID

        content = v.their_mac or {}
        mac = content.get("mac")
        if not isinstance(mac, dict) or not isinstance(content.get("keys"), str):
            raise VerificationError("m.invalid_message", "malformed MAC message")
        them = (v.other_user, v.other_device or "")
        txn = v.transaction_id
        expected_ids = calculate_mac(
            v.sas, v.mac_method, key_ids(mac), mac_info(them, self.own, txn, "KEY_IDS")
        )
        if expected_ids != content["keys"]:
            raise VerificationError("m.key_mismatch", "the list of keys does not match its MAC")
        device = await self._device(v.other_user, them[1])
        if device is None:
            raise VerificationError("m.key_mismatch", "the other device's keys are unknown")
        store = self.crypto.crypto_store
        master = (await store.get_cross_signing_keys(UserID(v.other_user))).get(
            CrossSigningUsage.MASTER
        )
        if master is None or f"ed25519:{master.key}" not in mac:
            # They MAC'd a key we have not seen (a master key made since we fetched theirs).
            await self.crypto.fetch_devices([v.other_user])
            master = (await store.get_cross_signing_keys(UserID(v.other_user))).get(
                CrossSigningUsage.MASTER
            )
        known = {f"ed25519:{them[1]}": str(device.signing_key)}
        if master is not None:
            known[f"ed25519:{master.key}"] = str(master.key)
        verified = []
        for key_id, value in mac.items():
            if key_id not in known:
                continue  # a key we do not know of: not verified, not an error
            mine = calculate_mac(
                v.sas, v.mac_method, known[key_id], mac_info(them, self.own, txn, key_id)
            )
            if mine != value:
                raise VerificationError("m.key_mismatch", f"the MAC of {key_id} does not match")
            verified.append(key_id)
        if f"ed25519:{them[1]}" not in verified:
            raise VerificationError("m.key_mismatch", "the device key was not verified")
        v.verified_keys = verified
        master_key = str(master.key) if master is not None else None
        if f"ed25519:{master_key}" not in verified:
            master_key = None
        await trust_verified(self.account, self.crypto, device, master_key)
        await self._send(v, DONE, {})
        self._set_state(v, S_DONE)

    async def _on_done(self, v: Verification, content: dict[str, Any]) -> None:
        # Their done may come before or after ours; ours (after their MAC checked) decides.
        return

    # -- helpers --------------------------------------------------------------------------------

    async def _devices(self, user_id: str) -> dict[str, Any]:
        from mautrix.types import UserID

        store = self.crypto.crypto_store
        devices = await store.get_devices(UserID(user_id))
        if not devices:
            devices = (await self.crypto.fetch_devices([user_id])).get(UserID(user_id), {})
        return {str(d): dev for d, dev in (devices or {}).items()}

    async def _device(self, user_id: str, device_id: str) -> Any:
        from mautrix.types import DeviceID, UserID

        return await self.crypto.machine.get_or_fetch_device(UserID(user_id), DeviceID(device_id))

    def _set_state(self, v: Verification, state: str) -> None:
        v.state = state
        if v.finished:
            timer = self._timers.pop(v.transaction_id, None)
            if timer is not None:
                timer.cancel()
        self._emit(v)

    def _finish(self, v: Verification, code: str, reason: str, *, by_us: bool) -> None:
        if v.finished:
            return
        v.cancel_code, v.cancel_reason, v.cancelled_by_us = code, reason, by_us
        self._set_state(v, S_CANCELLED)

    async def _cancel(self, v: Verification, code: str, reason: str) -> None:
        """Cancel on our side and tell the other side (its devices, for a to-device request)."""
        if v.finished:
            return
        self._finish(v, code, reason, by_us=True)
        try:
            await self._send(v, CANCEL, {"code": code, "reason": reason})
        except Exception as e:  # cancelled here in any case; the other side times out
            log.info("could not send the cancellation: %s", e)


def _strings(value: Any) -> list[str]:
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


def _is_room_verification(evt: dict[str, Any]) -> bool:
    event_type = evt.get("type")
    if event_type == "m.room.message":
        content = evt.get("content")
        return isinstance(content, dict) and content.get("msgtype") == REQUEST
    return isinstance(event_type, str) and event_type.startswith(PREFIX)

"""OlmMachine wiring: the device's keys, and the crypto parts of each sync response.

mautrix's OlmMachine expects a syncing mautrix Client to call it through event handlers. We own
the sync loop, so we call it ourselves and *await* it: room keys that arrive as to-device
messages are stored before the sync token that delivered them is committed.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from mautrix.client import Client
from mautrix.crypto import OlmMachine
from mautrix.crypto.store.asyncpg import PgCryptoStore
from mautrix.types import (
    DeviceLists,
    DeviceOTKCount,
    EventType,
    ToDeviceEvent,
)

from tuimatrix.core.files import write_atomic
from tuimatrix.core.store import Store

log = logging.getLogger(__name__)

PICKLE_KEY_FILE = "pickle-key"


def pickle_key(account_dir: Path) -> str:
    """The key that encrypts this device's olm pickles in the store (0600, made once)."""
    path = account_dir / PICKLE_KEY_FILE
    try:
        return path.read_text("utf-8").strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(32)
        write_atomic(path, key + "\n", mode=0o600)
        return key


class Crypto:
    def __init__(self, client: Client, store: Store, account_dir: Path) -> None:
        self.crypto_store = PgCryptoStore(
            account_id=client.mxid, pickle_key=pickle_key(account_dir), db=store.crypto_db
        )
        self.machine = OlmMachine(client, self.crypto_store, store.state_store)

    @property
    def loaded(self) -> bool:
        return self.machine.account is not None

    async def load(self) -> None:
        """Load (or create) this device's olm account and upload its keys if not yet done."""
        await self.crypto_store.open()
        device_id = self.machine.client.device_id
        stored = await self.crypto_store.get_device_id()
        if stored and stored != device_id:
            # The olm account of another (older) device of ours: never use it for this one.
            log.warning("discarding the crypto keys of old device %s", stored)
            await self.crypto_store.delete()
        await self.crypto_store.put_device_id(device_id)
        await self.machine.load()
        assert self.machine.account is not None
        if not self.machine.account.shared:
            await self.machine.share_keys()

    async def process_sync(self, resp: dict[str, Any]) -> None:
        """Handle the crypto parts of a sync response, before it is committed."""
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
            try:
                evt = ToDeviceEvent.deserialize(raw)
            except Exception as e:  # one malformed message must not stop the sync
                log.warning("ignoring malformed to-device event: %s", e)
                continue
            if evt.type == EventType.TO_DEVICE_ENCRYPTED:
                await machine.handle_to_device_event(evt)
            elif evt.type == EventType.ROOM_KEY_REQUEST:
                await machine.handle_room_key_request(evt)

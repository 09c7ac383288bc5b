"""This device's copies of its secrets (cross-signing keys, backup key), sealed in the store.

They must survive a restart, and the store is a file on disk: each secret is encrypted and
authenticated (secret storage's AES-CTR + HMAC-SHA256, the key derived from the account's
pickle key, which already protects the olm account) before it is written.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from mautrix.crypto.ssss.key import Key

    from tuimatrix.core.store import Store

CROSS_SIGNING = "cross_signing"
BACKUP = "megolm_backup"

_TABLE = """CREATE TABLE IF NOT EXISTS tm_local_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
)"""


class LocalSecrets:
    def __init__(self, store: Store, pickle_key: str) -> None:
        self.store = store
        self._key = _box(pickle_key)
        self._ready = False

    async def _table(self) -> None:
        if not self._ready:
            await self.store.db.execute(_TABLE)
            self._ready = True

    async def put(self, name: str, value: dict[str, str]) -> None:
        """Seal and store ``value`` (text fields) as ``name``."""
        await self._table()
        sealed = self._key.encrypt(_event_type(name), orjson.dumps(value)).serialize()
        await self.store.db.execute(
            "INSERT INTO tm_local_secrets (name, value) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET value=excluded.value",
            name,
            orjson.dumps(sealed).decode("utf-8"),
        )

    async def get(self, name: str) -> dict[str, str] | None:
        """The secret stored as ``name``; None if there is none or it cannot be unsealed."""
        from mautrix.crypto.ssss.types import EncryptedKeyData

        await self._table()
        raw = await self.store.db.fetchval("SELECT value FROM tm_local_secrets WHERE name=$1", name)
        if raw is None:
            return None
        try:
            data = EncryptedKeyData.deserialize(orjson.loads(raw))
            value = orjson.loads(self._key.decrypt(_event_type(name), data))
        except Exception:  # another pickle key (a restored store) or a damaged row
            return None
        return value if isinstance(value, dict) else None

    async def delete(self, name: str) -> None:
        await self._table()
        await self.store.db.execute("DELETE FROM tm_local_secrets WHERE name=$1", name)


def _event_type(name: str) -> str:
    # The HKDF "info": a secret sealed under one name cannot be passed off as another.
    return f"org.tuimatrix.local_secret.{name}"


def _box(pickle_key: str) -> Key:
    from mautrix.crypto.ssss.key import Key, KeyMetadata
    from mautrix.crypto.ssss.types import Algorithm

    raw = hashlib.sha256(b"tuimatrix local secrets\0" + pickle_key.encode("utf-8")).digest()
    return Key(id="local", key=raw, metadata=KeyMetadata(algorithm=Algorithm.AES_HMAC_SHA2))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))

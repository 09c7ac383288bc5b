"""Server-side key backup (spec "Server-side key backups", m.megolm_backup.v1.curve25519-aes-sha2).

Every megolm session this device receives is encrypted to the backup's curve25519 public key
(python-olm's ``PkEncryption``) and uploaded by a background task per account, woken after each
sync, so that the sync loop never waits for it. Which sessions are in which backup version is
kept in ``tm_key_backup``. A new device that has the backup's private key (from secret storage,
after ``verify-with-recovery-key``) restores the room keys with ``PkDecryption``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from olm.pk import (
    PkDecryption,
    PkDecryptionError,
    PkEncryption,
    PkMessage,
    PkSigning,
)

from tuimatrix.core.e2ee.key_export import import_session, need_crypto, session_data
from tuimatrix.core.e2ee.local_secrets import BACKUP, LocalSecrets, b64, unb64
from tuimatrix.core.errors import UserError, describe_error
from tuimatrix.core.lazy import Method, Path

if TYPE_CHECKING:
    from tuimatrix.core.account_like import AccountLike

log = logging.getLogger(__name__)

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
#: The secret-storage name of the backup's private key.
SECRET_NAME = "m.megolm_backup.v1"
#: Sessions per upload request.
BATCH = 100
RETRY_MIN = 2.0
RETRY_MAX = 300.0

_TABLE = """CREATE TABLE IF NOT EXISTS tm_key_backup (
    session_id TEXT PRIMARY KEY,
    version    TEXT NOT NULL
)"""


def pk_decryption(private_key: bytes) -> PkDecryption:
    """A ``PkDecryption`` for a known private key (python-olm only makes random ones)."""
    from _libolm import ffi, lib

    if len(private_key) != lib.olm_pk_private_key_length():
        raise ValueError("a backup private key has 32 bytes")
    obj = PkDecryption.__new__(PkDecryption)
    key_length = lib.olm_pk_key_length()
    key_buffer = ffi.new("char[]", key_length)
    ret = lib.olm_pk_key_from_private(
        obj._pk_decryption, key_buffer, key_length, ffi.new("char[]", private_key), 32
    )
    obj._check_error(ret)
    obj.public_key = ffi.unpack(key_buffer, key_length).decode()
    return obj


def encrypt_session(public_key: str, data: dict[str, Any]) -> dict[str, str]:
    """A session's backup ``session_data``."""
    message = PkEncryption(public_key).encrypt(orjson.dumps(data).decode("utf-8"))
    return {
        "ephemeral": message.ephemeral_key,
        "mac": message.mac,
        "ciphertext": message.ciphertext,
    }


def decrypt_session(pk: PkDecryption, session_data: dict[str, Any]) -> dict[str, Any]:
    """The exported session inside a backup's ``session_data``; ValueError if it is not."""
    try:
        message = PkMessage(
            session_data["ephemeral"], session_data["mac"], session_data["ciphertext"]
        )
        value = orjson.loads(pk.decrypt(message, unicode_errors="strict"))
    except (KeyError, TypeError, PkDecryptionError, orjson.JSONDecodeError) as e:
        raise ValueError(f"cannot decrypt a backed-up session: {e}") from e
    if not isinstance(value, dict):
        raise ValueError("a backed-up session is not an object")
    return value


@dataclass(frozen=True)
class BackupStatus:
    #: the version this device uploads to, if it has the key for it
    version: str | None
    #: the newest backup version on the server, and its key count
    server_version: str | None
    server_count: int | None
    #: whether the server's newest backup is the one we hold the key of
    matches: bool
    pending: int
    last_error: str | None


class KeyBackup:
    """The key backup of one account: its key (if this device has it) and the uploader."""

    _of: weakref.WeakKeyDictionary[AccountLike, KeyBackup] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, account: AccountLike) -> KeyBackup:
        backup = cls._of.get(account)
        if backup is None:
            backup = cls._of[account] = cls(account)
        return backup

    def __init__(self, account: AccountLike) -> None:
        self.account = account
        self.version: str | None = None
        self._private_key: bytes | None = None
        self._public_key: str | None = None
        self._loaded = False
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._table_ready = False
        # One upload at a time (the background task, and setup or restore in a command).
        self._upload_lock = asyncio.Lock()
        account.add_listener(self._on_change)

    # -- the background task -------------------------------------------------------------------

    def start(self) -> None:
        """Start uploading in the background (from :meth:`Account.start`)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"key backup {self.account.user_id}")
        self._wake.set()

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    def wake(self) -> None:
        self._wake.set()

    def _on_change(self, account: AccountLike, change: object) -> None:
        from tuimatrix.core.sync import SyncChanges
        from tuimatrix.core.sync_status import LOGGED_OUT, STOPPED, SyncStatus

        if isinstance(change, SyncChanges):
            self._wake.set()  # room keys may have come with it
        elif isinstance(change, SyncStatus) and change.state in (STOPPED, LOGGED_OUT):
            self.stop()

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.upload_pending()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.last_error = describe_error(e)
                log.info("key backup upload failed: %s", self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self._wake.set()
                continue
            delay = RETRY_MIN

    # -- the key -------------------------------------------------------------------------------

    def _secrets(self) -> LocalSecrets:
        crypto = need_crypto(self.account)
        return LocalSecrets(self.account.store, crypto.crypto_store.pickle_key)

    async def load(self) -> None:
        """Read this device's backup key from the store (once)."""
        if self._loaded:
            return
        saved = await self._secrets().get(BACKUP)
        if saved and saved.get("version") and saved.get("private_key"):
            self._set_key(saved["version"], unb64(saved["private_key"]))
        self._loaded = True

    def _set_key(self, version: str, private_key: bytes) -> None:
        self.version = version
        self._private_key = private_key
        self._public_key = pk_decryption(private_key).public_key

    async def enable(self, version: str, private_key: bytes) -> None:
        """Use backup ``version`` with ``private_key`` from now on (kept sealed in the store)."""
        await self._secrets().put(BACKUP, {"version": version, "private_key": b64(private_key)})
        self._set_key(version, private_key)
        self._loaded = True
        self.last_error = None
        self._wake.set()

    async def server_version(self) -> dict[str, Any] | None:
        """The server's newest backup (``version``, ``auth_data``, ``count``…), or None."""
        from mautrix.errors import MNotFound

        try:
            resp = await self.account.client.api.request(Method.GET, Path.v3.room_keys.version)
        except MNotFound:
            return None
        return resp if isinstance(resp, dict) else None

    async def create(self, master_key: PkSigning | None) -> tuple[str, bytes]:
        """A new backup version on the server, signed by this device (and the master key)."""
        from mautrix.crypto.signature import sign_olm

        crypto = need_crypto(self.account)
        account = crypto.machine.account
        if account is None:
            raise UserError("the device keys are not loaded yet")
        private_key = secrets.token_bytes(32)
        auth_data: dict[str, Any] = {"public_key": pk_decryption(private_key).public_key}
        signatures = {
            f"ed25519:{self.account.client.device_id}": str(sign_olm(dict(auth_data), account))
        }
        if master_key is not None:
            signatures[f"ed25519:{master_key.public_key}"] = str(
                sign_olm(dict(auth_data), master_key)
            )
        auth_data["signatures"] = {self.account.user_id: signatures}
        resp = await self.account.client.api.request(
            Method.POST,
            Path.v3.room_keys.version,
            {"algorithm": ALGORITHM, "auth_data": auth_data},
        )
        version = str(resp["version"])
        await self.enable(version, private_key)
        return version, private_key

    async def use_key(self, private_key: bytes) -> str:
        """Use the server's newest backup if ``private_key`` is its key; returns its version."""
        info = await self.server_version()
        if info is None:
            raise UserError("there is no key backup on the server")
        if info.get("algorithm") != ALGORITHM:
            raise UserError(f"unsupported key backup algorithm {info.get('algorithm')!r}")
        auth = info.get("auth_data")
        public = auth.get("public_key") if isinstance(auth, dict) else None
        if public != pk_decryption(private_key).public_key:
            raise UserError("the backup key from secret storage does not match the server's backup")
        version = str(info["version"])
        await self.enable(version, private_key)
        return version

    # -- upload --------------------------------------------------------------------------------

    async def _table(self) -> None:
        if not self._table_ready:
            await self.account.store.db.execute(_TABLE)
            self._table_ready = True

    async def _pending_rows(self, version: str, limit: int) -> list[Any]:
        await self._table()
        crypto = need_crypto(self.account)
        return list(
            await self.account.store.db.fetch(
                "SELECT s.session_id, s.room_id, s.sender_key, s.signing_key, s.session, "
                "s.forwarding_chains FROM crypto_megolm_inbound_session s "
                "LEFT JOIN tm_key_backup b ON b.session_id = s.session_id AND b.version = $2 "
                "WHERE s.account_id = $1 AND s.session IS NOT NULL AND s.withheld_code IS NULL "
                "AND b.session_id IS NULL LIMIT $3",
                crypto.crypto_store.account_id,
                version,
                limit,
            )
        )

    async def pending(self) -> int:
        """How many sessions are not in the backup yet."""
        if self.version is None:
            return 0
        await self._table()
        crypto = need_crypto(self.account)
        value = await self.account.store.db.fetchval(
            "SELECT count(*) FROM crypto_megolm_inbound_session s "
            "LEFT JOIN tm_key_backup b ON b.session_id = s.session_id AND b.version = $2 "
            "WHERE s.account_id = $1 AND s.session IS NOT NULL AND s.withheld_code IS NULL "
            "AND b.session_id IS NULL",
            crypto.crypto_store.account_id,
            self.version,
        )
        return int(value or 0)

    async def _mark(self, session_ids: list[str], version: str) -> None:
        await self._table()
        await self.account.store.db.executemany(
            "INSERT INTO tm_key_backup (session_id, version) VALUES ($1, $2) "
            "ON CONFLICT (session_id) DO UPDATE SET version=excluded.version",
            [(sid.strip(), version) for sid in session_ids],
        )

    async def upload_pending(self) -> int:
        """Upload the sessions not yet in our backup version; returns how many."""
        async with self._upload_lock:
            return await self._upload_pending()

    async def _upload_pending(self) -> int:
        await self.load()
        version, public_key = self.version, self._public_key
        if version is None or public_key is None:
            return 0
        crypto = need_crypto(self.account)
        own_key = crypto.machine.account.identity_key if crypto.machine.account else None
        uploaded = 0
        while True:
            rows = await self._pending_rows(version, BATCH)
            if not rows:
                break
            rooms: dict[str, dict[str, Any]] = {}
            # Exporting and encrypting sessions is CPU work: one thread per batch.
            entries = await asyncio.to_thread(_backup_entries, crypto, rows, public_key, own_key)
            for row, entry in zip(rows, entries, strict=True):
                if entry is not None:
                    sessions = rooms.setdefault(row["room_id"], {"sessions": {}})["sessions"]
                    sessions[row["session_id"].strip()] = entry
            if rooms:
                await self._put_keys(version, rooms)
            # Unreadable sessions are marked too, so that they are not tried forever.
            await self._mark([row["session_id"] for row in rows], version)
            uploaded += sum(len(r["sessions"]) for r in rooms.values())
        if uploaded:
            log.info("backed up %d room keys to version %s", uploaded, version)
        self.last_error = None
        return uploaded

    async def _put_keys(self, version: str, rooms: dict[str, Any]) -> None:
        from mautrix.errors import MatrixRequestError

        try:
            await self.account.client.api.request(
                Method.PUT,
                Path.v3.room_keys["keys"],
                {"rooms": rooms},
                query_params={"version": version},
            )
        except MatrixRequestError as e:
            if getattr(e, "errcode", None) in ("M_WRONG_ROOM_KEYS_VERSION", "M_NOT_FOUND"):
                # Someone replaced or deleted the backup: stop encrypting to a key that is gone.
                self.version = None
                raise UserError(
                    "the key backup on the server changed: run verify-with-recovery-key "
                    "(or setup-recovery) to use the new one"
                ) from e
            raise

    # -- restore -------------------------------------------------------------------------------

    async def restore(self) -> tuple[int, int, set[str]]:
        """Import every room key of our backup version: (imported, total, rooms decrypted)."""
        await self.load()
        version, private_key = self.version, self._private_key
        if version is None or private_key is None:
            raise UserError(
                "this device does not have the backup key: run verify-with-recovery-key first"
            )
        crypto = need_crypto(self.account)
        resp = await self.account.client.api.request(
            Method.GET, Path.v3.room_keys["keys"], query_params={"version": version}
        )
        pk = pk_decryption(private_key)
        rooms = resp.get("rooms") if isinstance(resp, dict) else None
        imported = total = 0
        restored: list[str] = []
        for room_id, room in (rooms or {}).items() if isinstance(rooms, dict) else ():
            sessions = room.get("sessions") if isinstance(room, dict) else None
            for session_id, entry in (sessions or {}).items() if isinstance(sessions, dict) else ():
                total += 1
                try:
                    data = decrypt_session(pk, entry.get("session_data") or {})
                except (ValueError, AttributeError) as e:
                    log.info("skipping backed-up session %s: %s", session_id, e)
                    continue
                data.setdefault("session_id", session_id)
                # Anyone can encrypt to the backup's public key: a restored session proves
                # nothing about its sender. Ending its chain with the backup key (no device's)
                # makes its messages show as forwarded, not as verified.
                chain = data.get("forwarding_curve25519_key_chain")
                data["forwarding_curve25519_key_chain"] = [
                    *(chain if isinstance(chain, list) else []),
                    pk.public_key,
                ]
                if await import_session(crypto, data, room_id):
                    imported += 1
                restored.append(session_id)
                if total % 50 == 0:
                    await asyncio.sleep(0)
        # What came from the backup is in it already.
        await self._mark(restored, version)
        decrypted: set[str] = set()
        if imported:
            decrypted = await crypto.retry(imported=True)
            if decrypted:
                self.account.room_keys_imported(set(decrypted))
        return imported, total, decrypted

    async def status(self) -> BackupStatus:
        await self.load()
        info = await self.server_version()
        auth = info.get("auth_data") if info else None
        public = auth.get("public_key") if isinstance(auth, dict) else None
        count = info.get("count") if info else None
        return BackupStatus(
            version=self.version,
            server_version=str(info["version"]) if info else None,
            server_count=count if isinstance(count, int) else None,
            matches=bool(
                info and self.version == str(info["version"]) and public == self._public_key
            ),
            pending=await self.pending(),
            last_error=self.last_error,
        )


def _backup_entries(
    crypto: Any, rows: list[Any], public_key: str, own_key: str | None
) -> list[dict[str, Any] | None]:
    return [_backup_entry(crypto, row, public_key, own_key) for row in rows]


def _backup_entry(
    crypto: Any, row: Any, public_key: str, own_key: str | None
) -> dict[str, Any] | None:
    """One session's ``KeyBackupData`` (CPU work: runs in a thread)."""
    exported = session_data(crypto, row)
    if exported is None:
        return None
    data, index = exported
    chain = data["forwarding_curve25519_key_chain"]
    return {
        "first_message_index": index,
        "forwarded_count": len(chain),
        # Only our own sessions, received first-hand (no chain at all, not even "from a key
        # file"), are known to come from a verified device without more work.
        "is_verified": (
            own_key is not None and row["sender_key"] == own_key and not row["forwarding_chains"]
        ),
        "session_data": encrypt_session(public_key, data),
    }

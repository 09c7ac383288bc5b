"""Room keys to and from the passphrase-protected file that Element reads and writes.

Spec "Key export format": the JSON list of exported megolm sessions, encrypted with
AES-256-CTR under a key stretched from the passphrase by PBKDF2-HMAC-SHA512, authenticated by
HMAC-SHA256, base64 between ``-----BEGIN/END MEGOLM SESSION DATA-----`` lines.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tuimatrix.core.errors import UserError

if TYPE_CHECKING:
    from tuimatrix.core.account_like import AccountLike
    from tuimatrix.core.e2ee.crypto import Crypto

log = logging.getLogger(__name__)

HEADER = "-----BEGIN MEGOLM SESSION DATA-----"
FOOTER = "-----END MEGOLM SESSION DATA-----"
MEGOLM = "m.megolm.v1.aes-sha2"
#: The last link of an imported session's forwarding chain: "from a key file".
IMPORTED = "tuimatrix:key-file"
#: What Element uses; the spec asks for at least 100,000.
ROUNDS = 500_000
_VERSION = 1
_LINE = 96


class KeyFileError(UserError):
    """The file is not a key export, is damaged, or the passphrase is wrong."""


# -- the file format ---------------------------------------------------------------------------


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    from Crypto.Cipher import AES
    from Crypto.Util import Counter

    # The whole 16-byte IV is the initial counter block (the spec's "AES-CTR with a 128-bit
    # counter"), as Element does.
    counter = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
    return bytes(AES.new(key, AES.MODE_CTR, counter=counter).encrypt(data))


def _stretch(passphrase: str, salt: bytes, rounds: int) -> tuple[bytes, bytes]:
    key = hashlib.pbkdf2_hmac("sha512", passphrase.encode("utf-8"), salt, rounds, 64)
    return key[:32], key[32:]


def encrypt_key_file(plaintext: bytes, passphrase: str, rounds: int = ROUNDS) -> str:
    """The armoured export file for ``plaintext`` (slow: run it in a thread)."""
    salt = secrets.token_bytes(16)
    iv = bytearray(secrets.token_bytes(16))
    iv[8] &= 0x7F  # Element's choice: the counter cannot wrap within a file
    aes_key, hmac_key = _stretch(passphrase, salt, rounds)
    body = (
        bytes([_VERSION])
        + salt
        + bytes(iv)
        + struct.pack(">I", rounds)
        + _aes_ctr(aes_key, bytes(iv), plaintext)
    )
    body += hmac.digest(hmac_key, body, hashlib.sha256)
    encoded = base64.b64encode(body).decode("ascii")
    lines = [encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE)]
    return "\n".join([HEADER, *lines, FOOTER]) + "\n"


def decrypt_key_file(text: str, passphrase: str) -> bytes:
    """The plaintext of an export file; :class:`KeyFileError` says what is wrong (slow)."""
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = lines.index(HEADER)
        end = lines.index(FOOTER, start)
    except ValueError:
        raise KeyFileError("not a key export file (no MEGOLM SESSION DATA block)") from None
    try:
        body = base64.b64decode("".join(lines[start + 1 : end]), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("the key file is damaged (invalid base64)") from None
    if len(body) < 1 + 16 + 16 + 4 + 32:
        raise KeyFileError("the key file is damaged (too short)")
    if body[0] != _VERSION:
        raise KeyFileError(f"unsupported key file version {body[0]}")
    salt, iv = body[1:17], body[17:33]
    (rounds,) = struct.unpack(">I", body[33:37])
    if rounds < 1 or rounds > 10_000_000:
        raise KeyFileError("the key file is damaged (bad round count)")
    aes_key, hmac_key = _stretch(passphrase, salt, rounds)
    expected = hmac.digest(hmac_key, body[:-32], hashlib.sha256)
    if not hmac.compare_digest(expected, body[-32:]):
        raise KeyFileError("wrong passphrase (or the key file was altered)")
    return _aes_ctr(aes_key, iv, body[37:-32])


# -- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    total: int
    #: the rooms whose stored events could be decrypted now
    rooms: frozenset[str] = frozenset()


def session_data(crypto: Crypto, row: Any) -> tuple[dict[str, Any], int] | None:
    """A stored megolm session (a crypto_megolm_inbound_session row) in the shape the export
    file and the key backup share, with the first message index it can decrypt; None if it
    cannot be read (logged). CPU work: olm unpickles and exports."""
    from mautrix.crypto.sessions import InboundGroupSession

    try:
        session = InboundGroupSession.from_pickle(
            row["session"],
            passphrase=crypto.crypto_store.pickle_key,
            signing_key=row["signing_key"],
            sender_key=row["sender_key"],
            room_id=row["room_id"],
        )
        index = session.first_known_index
        session_key = session.export_session(index)
    except Exception as e:  # one unreadable session must not stop the others
        log.warning("cannot export session %s: %s", row["session_id"], e)
        return None
    chain = row["forwarding_chains"]
    data = {
        "algorithm": MEGOLM,
        "sender_key": row["sender_key"],
        "sender_claimed_keys": {"ed25519": row["signing_key"]},
        # Our "from a key file" marker is no device's key: it stays here.
        "forwarding_curve25519_key_chain": [
            k for k in (chain.split(",") if chain else []) if k != IMPORTED
        ],
        "session_key": session_key,
    }
    return data, index


async def export_sessions(crypto: Crypto) -> list[dict[str, Any]]:
    """Every megolm session this device holds, in the export format (oldest index known)."""
    rows = await crypto.store.db.fetch(
        "SELECT session_id, room_id, sender_key, signing_key, session, forwarding_chains "
        "FROM crypto_megolm_inbound_session "
        "WHERE account_id=$1 AND session IS NOT NULL AND withheld_code IS NULL",
        crypto.crypto_store.account_id,
    )
    sessions: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        exported = session_data(crypto, row)
        if exported is not None:
            data, _ = exported
            data.update(room_id=row["room_id"], session_id=row["session_id"].strip())
            sessions.append(data)
        if i % 50 == 49:
            await asyncio.sleep(0)  # olm work is CPU: let the UI breathe
    return sessions


async def import_session(crypto: Crypto, data: dict[str, Any], room_id: str | None = None) -> bool:
    """Store one exported (or backed-up) session; False if invalid or not better than ours.

    A session we already hold from an earlier message index is kept: it decrypts more.
    """
    from mautrix.crypto.sessions import InboundGroupSession
    from mautrix.types import IdentityKey, RoomID, SessionID, SigningKey

    room_id = room_id or data.get("room_id")
    session_key = data.get("session_key")
    sender_key = data.get("sender_key")
    claimed = data.get("sender_claimed_keys")
    signing_key = claimed.get("ed25519") if isinstance(claimed, dict) else None
    chain = data.get("forwarding_curve25519_key_chain")
    if data.get("algorithm", MEGOLM) != MEGOLM or not all(
        isinstance(v, str) for v in (room_id, session_key, sender_key, signing_key)
    ):
        return False
    assert isinstance(room_id, str) and isinstance(session_key, str)
    links = [str(k) for k in chain] if isinstance(chain, list) else []
    try:
        session = InboundGroupSession.import_session(
            session_key,
            SigningKey(str(signing_key)),
            IdentityKey(str(sender_key)),
            RoomID(room_id),
            # The file vouches for nothing: whatever its chain says, the key reached us
            # second-hand, so messages it decrypts must never show as verified (the marker
            # is no device's key, so mautrix resolves the trust as "forwarded").
            forwarding_chain=[*links, IMPORTED],
        )
    except Exception as e:
        log.info("invalid session in import: %s", e)
        return False
    claimed_id = data.get("session_id")
    if isinstance(claimed_id, str) and claimed_id != session.id:
        return False  # the key does not belong to the session it claims to be
    store = crypto.crypto_store
    try:
        existing = await store.get_group_session(RoomID(room_id), SessionID(session.id))
    except Exception:  # withheld before: the imported key replaces the refusal
        existing = None
    if existing is not None and existing.first_known_index <= session.first_known_index:
        return False
    await store.put_group_session(
        RoomID(room_id), IdentityKey(str(sender_key)), SessionID(session.id), session
    )
    return True


async def import_sessions(account: AccountLike, sessions: list[Any]) -> ImportResult:
    """Import sessions, then decrypt what they unlock and tell the screens to reload."""
    crypto = need_crypto(account)
    imported = 0
    for i, data in enumerate(sessions):
        if isinstance(data, dict) and await import_session(crypto, data):
            imported += 1
        if i % 50 == 49:
            await asyncio.sleep(0)
    rooms: set[str] = set()
    if imported:
        rooms = await crypto.retry(imported=True)
        account.room_keys_imported(set(rooms))  # screens reload; the keys go to the backup
    return ImportResult(imported, len(sessions), frozenset(rooms))


def need_crypto(account: AccountLike) -> Crypto:
    crypto = account.crypto
    if crypto is None:
        raise UserError("encryption is off for this account")
    return crypto


async def _loaded(account: AccountLike) -> Crypto:
    crypto = need_crypto(account)
    if not crypto.loaded:
        await account.store.open_mautrix()
        await crypto.load()
    return crypto


# -- files -------------------------------------------------------------------------------------


async def export_keys(
    account: AccountLike, path: Path, passphrase: str, rounds: int = ROUNDS
) -> int:
    """Write every room key of ``account`` to ``path`` (0600, atomic); returns how many."""
    from functools import partial

    from tuimatrix.core.files import write_atomic

    if not passphrase:
        raise UserError("the passphrase is empty")
    crypto = await _loaded(account)
    sessions = await export_sessions(crypto)
    plaintext = orjson.dumps(sessions)
    text = await asyncio.to_thread(encrypt_key_file, plaintext, passphrase, rounds)
    # The user's directory keeps its permissions; the file itself is 0600 from the start.
    await asyncio.to_thread(partial(write_atomic, path, text, 0o600, private_dir=False))
    return len(sessions)


async def import_keys(account: AccountLike, path: Path, passphrase: str) -> ImportResult:
    """Import the room keys of an export file (ours or Element's)."""
    try:
        text = await asyncio.to_thread(path.read_text, "utf-8")
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise KeyFileError("not a key export file (not text)") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    plaintext = await asyncio.to_thread(decrypt_key_file, text, passphrase)
    try:
        sessions = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        raise KeyFileError("the key file is damaged (not JSON inside)") from None
    if not isinstance(sessions, list):
        raise KeyFileError("the key file is damaged (not a list of keys)")
    await _loaded(account)
    return await import_sessions(account, sessions)

"""Cross-signing and the recovery key: ``setup-recovery`` and ``verify-with-recovery-key``.

Setting up creates the three cross-signing keys, a secret-storage key (whose base58 form is
the recovery key, shown once), stores the cross-signing seeds and a new key backup's private
key in secret storage (account data encrypted with that key), and signs this device.
A new device given the recovery key reads them back, signs itself and restores the backup.

mautrix keeps the cross-signing private keys only in memory; ours are also kept sealed in the
store (:mod:`tuimatrix.core.e2ee.local_secrets`), so this device can still sign after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuimatrix.core.e2ee.key_export import need_crypto
from tuimatrix.core.e2ee.local_secrets import CROSS_SIGNING, LocalSecrets, b64, unb64
from tuimatrix.core.e2ee.uia import password_auth, uia_session
from tuimatrix.core.errors import UserError

if TYPE_CHECKING:
    from mautrix.crypto import OlmMachine
    from mautrix.crypto.cross_signing_key import CrossSigningPrivateKeys, CrossSigningSeeds
    from mautrix.crypto.ssss.key import Key

    from tuimatrix.core.account_like import AccountLike
    from tuimatrix.core.e2ee.key_backup import KeyBackup

log = logging.getLogger(__name__)

#: Asks for the account password when the server wants user-interactive auth; None = cancel.
AskPassword = Callable[[], Awaitable[str | None]]


class RecoveryCancelled(UserError):
    pass


@dataclass(frozen=True)
class SetupResult:
    recovery_key: str
    backup_version: str


@dataclass(frozen=True)
class RecoveryResult:
    backup_version: str | None
    restored: int
    total: int
    #: why the backup was not restored, if it was not
    backup_problem: str | None = None


def _secrets(account: AccountLike) -> LocalSecrets:
    return LocalSecrets(account.store, need_crypto(account).crypto_store.pickle_key)


async def _ready_machine(account: AccountLike) -> OlmMachine:
    crypto = need_crypto(account)
    if not crypto.loaded:
        await account.store.open_mautrix()
        await crypto.load()
    machine = crypto.machine
    if machine.account is None or not machine.account.shared:
        raise UserError("this device's keys are not on the server yet: sync first")
    return machine


async def save_cross_signing(account: AccountLike, seeds: CrossSigningSeeds) -> None:
    await _secrets(account).put(
        CROSS_SIGNING,
        {
            "master": b64(seeds.master_key),
            "self_signing": b64(seeds.self_signing_key),
            "user_signing": b64(seeds.user_signing_key),
        },
    )


async def load_cross_signing(account: AccountLike) -> bool:
    """Give the machine this device's cross-signing private keys, if it has them."""

    crypto = need_crypto(account)
    if crypto.machine._cross_signing_private_keys is not None:
        return True
    seeds = await _saved_seeds(account)
    if seeds is None:
        return False
    if not await matches_published(account, seeds):
        # Replaced from another device since: signing with these would vouch with keys
        # nobody trusts any more. verify-with-recovery-key brings the current ones.
        log.warning("the cross-signing keys of this device are no longer the published ones")
        return False
    crypto.machine._import_cross_signing_keys(seeds)
    return True


async def _saved_seeds(account: AccountLike) -> CrossSigningSeeds | None:
    """This device's copy of the cross-signing private keys, if it has one."""
    from mautrix.crypto.cross_signing_key import CrossSigningSeeds

    saved = await _secrets(account).get(CROSS_SIGNING)
    if not saved:
        return None
    return CrossSigningSeeds(
        master_key=unb64(saved["master"]),
        self_signing_key=unb64(saved["self_signing"]),
        user_signing_key=unb64(saved["user_signing"]),
    )


async def can_resume(account: AccountLike) -> bool:
    """Whether an earlier setup-recovery on this device published the cross-signing keys and
    then stopped (the network, a crash): it can go on with them, nobody's trust is reset."""
    from mautrix.errors import MNotFound

    seeds = await _saved_seeds(account)
    if seeds is None or not await matches_published(account, seeds):
        return False
    try:
        await need_crypto(account).machine.ssss.get_default_key_data()
    except (ValueError, MNotFound):
        return True  # published, but secret storage never made: it stopped halfway
    return False  # set up: doing it again would replace the recovery key (--replace)


async def matches_published(account: AccountLike, seeds: CrossSigningSeeds) -> bool:
    """Whether all three cross-signing keys are the ones the server publishes for us."""
    public = seeds.to_keys().public_keys
    resp = await account.client.query_keys([account.client.mxid])
    mxid = account.client.mxid

    def first(keys_by_user: Any) -> str | None:
        keys = (keys_by_user or {}).get(mxid)
        values = list(keys.keys.values()) if keys is not None else []
        return str(values[0]) if values else None

    return (
        first(resp.master_keys) == public.master_key
        and first(resp.self_signing_keys) == public.self_signing_key
        and first(resp.user_signing_keys) == public.user_signing_key
    )


async def published_master_key(account: AccountLike) -> str | None:
    """Our master cross-signing public key as the server has it (None: not set up)."""
    resp = await account.client.query_keys([account.client.mxid])
    master = resp.master_keys.get(account.client.mxid) if resp.master_keys else None
    if master is None:
        return None
    keys = list(master.keys.values())
    return str(keys[0]) if keys else None


async def _publish(
    account: AccountLike, machine: OlmMachine, keys: CrossSigningPrivateKeys, ask: AskPassword
) -> None:
    """Upload the cross-signing public keys, with password auth if the server wants it."""
    from mautrix.errors import MatrixRequestError

    try:
        await machine._publish_cross_signing_keys(keys)
        return
    except MatrixRequestError as e:
        session = uia_session(e)
        if session is None:
            raise
    password = await ask()
    if not password:
        raise RecoveryCancelled("cancelled: nothing was changed")
    try:
        await machine._publish_cross_signing_keys(
            keys, password_auth(account.user_id, password, session)
        )
    except MatrixRequestError as e:
        if getattr(e, "http_status", None) == 401:
            raise UserError("wrong password: nothing was changed") from e
        raise


async def setup_recovery(
    account: AccountLike, ask_password: AskPassword, *, replace: bool = False
) -> SetupResult:
    """New cross-signing keys, secret storage, recovery key and key backup for ``account``.

    The cross-signing keys are published first: if the server refuses (or the user cancels
    the password prompt), nothing else has changed. If an earlier run published them and then
    stopped, this one goes on with them (``can_resume``) unless ``replace``.
    """
    from mautrix.crypto.cross_signing_key import CrossSigningSeeds
    from mautrix.types import EventType

    from tuimatrix.core.e2ee.key_backup import KeyBackup

    machine = await _ready_machine(account)
    saved = None if replace or not await can_resume(account) else await _saved_seeds(account)
    if saved is not None:
        seeds = saved
        keys = seeds.to_keys()
        machine._import_cross_signing_keys(seeds)
    else:
        seeds = CrossSigningSeeds.generate()
        keys = seeds.to_keys()
        await _publish(account, machine, keys, ask_password)
        await save_cross_signing(account, seeds)
    ssss_key: Key = await machine.ssss.generate_and_upload_key()
    await machine._upload_cross_signing_keys_to_ssss(ssss_key, seeds)
    await machine.ssss.set_default_key_id(ssss_key.id)
    await machine.sign_own_device(machine.own_identity)
    backup = KeyBackup.of(account)
    version, private_key = await backup.create(keys.master_key)
    await machine.ssss.set_encrypted_account_data(EventType.MEGOLM_BACKUP_V1, private_key, ssss_key)
    await _upload_quietly(backup)
    return SetupResult(ssss_key.recovery_key, version)


async def _upload_quietly(backup: KeyBackup) -> None:
    """Back up the keys held so far now (``exec`` has no background uploader)."""
    try:
        await backup.upload_pending()
    except Exception as e:  # the background task (in the app) tries again
        log.info("first key backup upload failed: %s", e)


def _open_secret_storage(recovery_key: str, key_id: str, metadata: Any) -> Key:
    try:
        return metadata.verify_recovery_key(key_id, recovery_key)  # type: ignore[no-any-return]
    except (ValueError, AttributeError) as e:  # AttributeError: key metadata without a MAC
        if "MAC" in str(e):
            raise UserError("wrong recovery key (it does not open your secret storage)") from e
        raise UserError("that is not a recovery key (check for typos)") from e


async def verify_with_recovery_key(account: AccountLike, recovery_key: str) -> RecoveryResult:
    """Import the cross-signing keys from secret storage, sign this device, restore the backup."""
    from mautrix.errors import MNotFound
    from mautrix.types import EventType

    from tuimatrix.core.e2ee.key_backup import KeyBackup

    machine = await _ready_machine(account)
    try:
        key_id, metadata = await machine.ssss.get_default_key_data()
    except (ValueError, MNotFound):
        raise UserError("this account has no secret storage: run setup-recovery first") from None
    ssss_key = _open_secret_storage(recovery_key.strip(), key_id, metadata)
    try:
        seeds = await machine._fetch_cross_signing_keys_from_ssss(ssss_key)
    except MNotFound:
        raise UserError("the cross-signing keys are missing from secret storage") from None
    except ValueError as e:
        raise UserError(f"cannot read the cross-signing keys: {e}") from None
    # Secret storage can hold older keys than the published ones (a client replaced them
    # without updating it): only keys matching the published ones may sign anything.
    if not await matches_published(account, seeds):
        raise UserError("the keys in secret storage do not match your published cross-signing keys")
    machine._import_cross_signing_keys(seeds)
    await machine.sign_own_device(machine.own_identity)
    await save_cross_signing(account, seeds)

    backup = KeyBackup.of(account)
    try:
        private_key = await machine.ssss.get_decrypted_account_data(
            EventType.MEGOLM_BACKUP_V1, ssss_key
        )
        version = await backup.use_key(private_key)
    except MNotFound:
        return RecoveryResult(None, 0, 0, "there is no key backup in secret storage")
    except (UserError, ValueError) as e:
        return RecoveryResult(None, 0, 0, str(e))
    imported, total, _ = await backup.restore()
    await _upload_quietly(backup)  # what this device had that the backup lacked
    return RecoveryResult(version, imported, total)

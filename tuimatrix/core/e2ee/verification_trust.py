"""What a successful verification leaves behind: the device marked verified in the crypto
store and, when this device holds the cross-signing private keys, the signatures on the server
(own device: with the self-signing key; another user's master key: with the user-signing key).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mautrix.types import DeviceIdentity

    from tuimatrix.core.account import Account
    from tuimatrix.core.e2ee.crypto import Crypto

log = logging.getLogger(__name__)


async def trust_verified(
    account: Account, crypto: Crypto, device: DeviceIdentity, master_key: str | None
) -> None:
    """Mark ``device`` verified; cross-sign it (or ``master_key``, verified with it) if we can."""
    from mautrix.types import TrustState

    store = crypto.crypto_store
    devices = dict(await store.get_devices(device.user_id) or {})
    stored = devices.get(device.device_id, device)
    stored.trust = TrustState.VERIFIED
    devices[device.device_id] = stored
    # put_devices replaces the user's whole device list: give all of them back.
    await store.put_devices(device.user_id, devices)
    if device.user_id == account.user_id:
        # Our two devices trust each other now: each can get the keys the other has.
        account.ask_again_for_keys()
    machine = crypto.machine
    private = machine._cross_signing_private_keys
    if private is None:
        return
    try:
        if device.user_id == account.user_id:
            await machine.sign_own_device(stored)
        elif master_key is not None:
            await sign_master_key(
                account, crypto, device.user_id, master_key, private.user_signing_key
            )
    except Exception as e:  # the local verification stands; signing can be redone
        log.warning("could not cross-sign after verifying %s: %s", device.user_id, e)


async def sign_master_key(
    account: Account, crypto: Crypto, user_id: str, master_key: str, usk: Any
) -> None:
    """Sign another user's master key with our user-signing key and upload the signature."""
    from mautrix.api import Method, Path
    from mautrix.crypto.signature import sign_olm
    from mautrix.types import CrossSigner, SigningKey, UserID

    resp = await account.client.query_keys([UserID(user_id)])
    keys = resp.master_keys.get(UserID(user_id))
    if keys is None or str(keys.first_ed25519_key) != master_key:
        raise ValueError("the server's master key is not the one verified")
    # The server checks the signature over its own copy of the key: sign exactly that.
    body = keys.serialize()
    body.pop("signatures", None)
    body.pop("unsigned", None)
    signature = sign_olm(dict(body), usk)
    body["signatures"] = {account.user_id: {f"ed25519:{usk.public_key}": signature}}
    answer = await account.client.api.request(
        Method.POST, Path.v3.keys.signatures.upload, {user_id: {master_key: body}}
    )
    failures = answer.get("failures") if isinstance(answer, dict) else None
    if failures:
        raise ValueError(f"the server refused the signature: {failures}")
    await crypto.crypto_store.put_signature(
        CrossSigner(UserID(user_id), SigningKey(master_key)),
        CrossSigner(UserID(account.user_id), usk.public_key),
        signature,
    )

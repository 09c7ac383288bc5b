"""The account's devices: list them with their trust, rename them, delete them.

Deleting a device needs user-interactive auth (``core/uia.py``): the password is asked for
only when the server wants it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mautrix.api import Method, Path
from mautrix.errors import MatrixRequestError
from mautrix.types import DeviceID, UserID

from tuimatrix.core.e2ee.uia import password_auth, uia_session
from tuimatrix.core.errors import UserError

if TYPE_CHECKING:
    from tuimatrix.core.account import Account


@dataclass(frozen=True)
class Device:
    device_id: str
    display_name: str
    last_seen_ts: int | None
    last_seen_ip: str | None
    #: "verified", "cross-signed", "unverified", … (mautrix TrustState names); "" if unknown
    trust: str
    current: bool


async def list_devices(account: Account) -> list[Device]:
    """Our devices as the server lists them, with the trust our crypto store gives each."""
    resp = await account.client.api.request(Method.GET, Path.v3.devices)
    raw = resp.get("devices") if isinstance(resp, dict) else None
    trust: dict[str, str] = {}
    if account.crypto is not None:
        if not account.crypto.loaded:
            await account.crypto.load()
        machine = account.crypto.machine
        # Fetch afresh: a device added elsewhere since the last sync is listed too.
        own = await account.crypto.fetch_devices([account.user_id])
        for device_id, identity in (own.get(UserID(account.user_id)) or {}).items():
            trust[str(device_id)] = str(await machine.resolve_trust(identity))
    devices = []
    for d in raw if isinstance(raw, list) else []:
        if not isinstance(d, dict) or not isinstance(d.get("device_id"), str):
            continue
        device_id = d["device_id"]
        current = device_id == account.session.device_id
        devices.append(
            Device(
                device_id=device_id,
                display_name=str(d.get("display_name") or ""),
                last_seen_ts=d["last_seen_ts"] if isinstance(d.get("last_seen_ts"), int) else None,
                last_seen_ip=d["last_seen_ip"] if isinstance(d.get("last_seen_ip"), str) else None,
                trust="verified" if current else trust.get(device_id, ""),
                current=current,
            )
        )
    devices.sort(key=lambda d: (not d.current, -(d.last_seen_ts or 0)))
    return devices


async def rename_device(account: Account, device_id: str, name: str) -> None:
    await account.client.api.request(
        Method.PUT, Path.v3.devices[DeviceID(device_id)], {"display_name": name}
    )


async def delete_devices(
    account: Account, device_ids: list[str], password: Callable[[], Awaitable[str | None]]
) -> bool:
    """Delete (log out) other devices of ours; ``password()`` is asked only if the server
    wants it. False if the user gave no password (nothing deleted)."""
    if account.session.device_id in device_ids:
        raise UserError("that is this device: log it out with the logout command instead")
    body: dict[str, Any] = {"devices": device_ids}
    try:
        await account.client.api.request(Method.POST, Path.v3.delete_devices, body)
        return True  # the server asked for no authentication
    except MatrixRequestError as e:
        session = uia_session(e)
        if session is None:
            raise
    secret = await password()
    if not secret:
        return False
    body["auth"] = password_auth(account.user_id, secret, session)
    try:
        await account.client.api.request(Method.POST, Path.v3.delete_devices, body)
    except MatrixRequestError as e:
        if e.http_status == 401 or e.errcode == "M_FORBIDDEN":
            raise UserError("wrong password: no device was deleted") from None
        raise
    return True


#: Trust levels that count as verified: by us directly, or cross-signed by a user we verified.
VERIFIED_TRUST = ("verified", "cross-signed-trusted")
#: Above this many members, listing them does not also fetch everyone's device keys.
TRUST_LOOKUP_LIMIT = 500


async def users_trust(account: Account, user_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(verified devices, devices) of each user, for showing trust in a member list.

    Fetches the keys of users whose devices we do not track yet, in one request.
    """
    crypto = account.crypto
    if crypto is None or not user_ids or len(user_ids) > TRUST_LOOKUP_LIMIT:
        return {}
    if not crypto.loaded:
        await crypto.load()
    machine, store = crypto.machine, crypto.crypto_store
    untracked = [u for u in user_ids if await store.get_devices(UserID(u)) is None]
    if untracked:
        await crypto.fetch_devices(untracked)
    result: dict[str, tuple[int, int]] = {}
    for user_id in user_ids:
        devices = await store.get_devices(UserID(user_id)) or {}
        verified = 0
        for device_id, device in devices.items():
            if user_id == account.user_id and device_id == account.session.device_id:
                verified += 1  # this device: we trust ourselves
                continue
            trust = str(await machine.resolve_trust(device, allow_fetch=False))
            verified += trust in VERIFIED_TRUST
        result[user_id] = (verified, len(devices))
    return result

"""verification: verify devices and users interactively (SAS: emoji or numbers). App only.

Starting a verification, or an incoming request, opens the verification modal (the app does
that on the account's ``VerificationChanged``): the comparison itself is done there.
"""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_account
from tuimatrix.core.e2ee.verification import Verification, verifications
from tuimatrix.core.sanitize import clean_line


def _started(v: Verification) -> Result:
    where = "in the DM" if v.room_id else "to the device"
    return Result(
        f"verification request sent {where}; compare the emoji when "
        f"{clean_line(v.other_user)} accepts",
        {"transaction_id": v.transaction_id, "room_id": v.room_id},
    )


@command(
    "verify-device",
    "verification: Verify device",
    "Verify a device by comparing emoji: one of yours (DEVICE), or another user's (USER DEVICE)",
    Param("user_or_device", "text", "the device id of one of yours, or the user of the device"),
    Param("device", "text", "the device id (when the user is given)", required=False),
    ui_only=True,
)
async def verify_device(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    first, device = str(inv.args["user_or_device"]).strip(), inv.args.get("device")
    user_id, device_id = (first, str(device).strip()) if device else (account.user_id, first)
    if not user_id.startswith("@") or ":" not in user_id:
        raise UsageError(f"verify-device: not a user id: {user_id!r} (usage: [USER] DEVICE)")
    if not device_id:
        raise UsageError("verify-device: the device id is empty")
    return _started(await verifications(account).request_device(user_id, device_id))


@command(
    "verify-user",
    "verification: Verify user",
    "Verify a user by comparing emoji in your DM (yourself: your other devices)",
    Param("user", "user", "the user to verify"),
    ui_only=True,
)
async def verify_user(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = str(inv.args["user"]).strip()
    if not user_id.startswith("@") or ":" not in user_id:
        raise UsageError(f"verify-user: not a user id: {user_id!r}")
    return _started(await verifications(account).request_user(user_id))


@command(
    "accept-verification",
    "verification: Accept request",
    "Accept the newest incoming verification request (then compare the emoji)",
    ui_only=True,
)
async def accept_verification(ctx: Context, inv: Invocation) -> Result:
    manager = verifications(need_account(inv))
    pending = manager.incoming_requests()
    if not pending:
        return Result("no verification request is waiting")
    v = await manager.accept(pending[0].transaction_id)
    return Result(f"accepted the verification request of {clean_line(v.other_user)}")


@command(
    "cancel-verification",
    "verification: Cancel",
    "Cancel the newest verification in progress (or decline a request)",
    ui_only=True,
)
async def cancel_verification(ctx: Context, inv: Invocation) -> Result:
    manager = verifications(need_account(inv))
    active = manager.active()
    if not active:
        return Result("no verification is in progress")
    await manager.cancel(active[0].transaction_id)
    return Result(f"cancelled the verification with {clean_line(active[0].other_user)}")

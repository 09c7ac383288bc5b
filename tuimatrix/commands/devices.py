"""devices: your sessions on other machines — list, rename, delete (log out remotely)."""

from __future__ import annotations

import time
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_account
from tuimatrix.core.e2ee.devices import delete_devices, list_devices, rename_device
from tuimatrix.core.sanitize import clean_line

#: how each trust level reads in the list (mautrix TrustState names → words)
TRUST_WORDS = {
    "verified": "verified",
    "cross-signed-trusted": "verified (cross-signed)",
    "cross-signed-tofu": "cross-signed",
    "cross-signed-untrusted": "cross-signed, identity not verified",
    "unverified": "not verified",
    "unknown-device": "unknown",
    "blacklisted": "blocked",
    "": "no encryption keys",
}


#: what a table of devices shows
DEVICE_COLUMNS = ("device_id", "display_name", "trust", "current", "last_seen_ts")


def _ago(ts_ms: int | None) -> str:
    if not ts_ms:
        return "never seen"
    days = (time.time() - ts_ms / 1000) / 86400
    if days < 1:
        return "active today"
    return f"last seen {int(days)} day{'s' if int(days) != 1 else ''} ago"


@command("devices", "devices: List devices", "Your devices (sessions), with their trust")
async def devices(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    found = await list_devices(account)
    lines = []
    for d in found:
        here = " (this device)" if d.current else ""
        name = clean_line(d.display_name) or "(no name)"
        trust = TRUST_WORDS.get(d.trust, clean_line(d.trust))
        lines.append(f"{clean_line(d.device_id)}{here}  {name}  · {trust} · {_ago(d.last_seen_ts)}")
    rows: list[dict[str, Any]] = [
        {
            "device_id": d.device_id,
            "display_name": d.display_name,
            "trust": d.trust,
            "last_seen_ts": d.last_seen_ts,
            "last_seen_ip": d.last_seen_ip,
            "current": d.current,
        }
        for d in found
    ]
    return Result("\n".join(lines) or "no devices", rows, rows=rows, columns=DEVICE_COLUMNS)


@command(
    "rename-device",
    "devices: Rename device",
    "Give one of your devices a new name (others in your rooms can see it)",
    Param("device", "text", "the device id"),
    Param("name", "text", "the new name", rest=True),
)
async def rename(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    device_id, name = str(inv.args["device"]).strip(), str(inv.args["name"]).strip()
    if not name:
        raise UsageError("rename-device: the name is empty")
    await rename_device(account, device_id, name)
    return Result(
        f"renamed {clean_line(device_id)} to {clean_line(name)}",
        {"device_id": device_id, "display_name": name},
    )


@command(
    "delete-device",
    "devices: Delete device",
    "Log one of your other devices out (needs your password; its keys are gone)",
    Param("device", "text", "the device id"),
    destructive=True,
)
async def delete(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    device_id = str(inv.args["device"]).strip()

    async def password() -> str | None:
        answer = await ctx.ask(
            Param("password", "secret", "your password"), f"Password of {account.user_id}"
        )
        return str(answer) if answer else None

    if not await delete_devices(account, [device_id], password):
        return Result("cancelled: no device was deleted", {"deleted": []})
    return Result(f"deleted device {clean_line(device_id)}", {"deleted": [device_id]})

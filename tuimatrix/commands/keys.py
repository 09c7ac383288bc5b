"""encryption keys: recovery key and cross-signing, key backup, key export and import.

The core modules are imported inside the commands: they pull in olm, which the first frame
of the app does not need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import Cancelled, need_account
from tuimatrix.core.errors import UserError
from tuimatrix.core.sanitize import clean_line

RECOVERY_WARNING = (
    "Write this recovery key down or keep it in a password manager, now: it is shown only "
    "once. It unlocks your encrypted messages on a new device; without it (and without "
    "another verified device) they are lost. Anyone who has it can read them."
)


async def _secret(ctx: Context, name: str, title: str) -> str:
    answer = await ctx.ask(Param(name, "secret", title), title)
    if not answer:
        raise Cancelled()
    return str(answer)


@command(
    "setup-recovery",
    "encryption: Set up recovery",
    "Create cross-signing keys, secret storage, a key backup and a recovery key (shown once)",
    Param(
        "replace",
        "flag",
        "replace existing cross-signing keys (others must verify you again)",
        required=False,
        option=True,
    ),
)
async def setup_recovery(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee import recovery

    account = need_account(inv)
    replace = bool(inv.args.get("replace"))
    resume = not replace and await recovery.can_resume(account)
    if not resume and await recovery.published_master_key(account) and not replace:
        question = (
            "You already have cross-signing keys. Replace them and your recovery key? "
            "Your other devices and your contacts will have to verify you again"
        )
        if not ctx.interactive:
            raise UsageError(f"setup-recovery: {question.split('.')[0].lower()}: add --replace")
        if not await ctx.confirm(question):
            raise Cancelled()

    async def password() -> str | None:
        return await _secret(
            ctx, "password", f"The server asks for the password of {account.user_id}"
        )

    # An earlier run from this device that stopped halfway goes on with the same keys.
    result = await recovery.setup_recovery(account, password, replace=replace or not resume)
    data = {"recovery_key": result.recovery_key, "backup_version": result.backup_version}
    if ctx.ui.screens:
        # The app shows the key in a modal that must be dismissed, never in the status line.
        await ctx.ui.show_secret_once("Your recovery key", RECOVERY_WARNING, result.recovery_key)
        return Result(
            f"recovery set up: this device is cross-signed, keys back up to version "
            f"{result.backup_version}",
            {"backup_version": result.backup_version},
        )
    return Result(
        f"{RECOVERY_WARNING}\n\nrecovery key: {result.recovery_key}\n"
        f"(key backup version {result.backup_version})",
        data,
    )


@command(
    "verify-with-recovery-key",
    "encryption: Verify this device with the recovery key",
    "Cross-sign this device with the keys in secret storage and restore the key backup",
)
async def verify_with_recovery_key(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee import recovery

    account = need_account(inv)
    key = await _secret(ctx, "recovery_key", "Your recovery key")
    result = await recovery.verify_with_recovery_key(account, key)
    data: dict[str, Any] = {
        "verified": True,
        "backup_version": result.backup_version,
        "restored": result.restored,
        "total": result.total,
    }
    if result.backup_version is None:
        data["backup_problem"] = result.backup_problem
        return Result(
            f"this device is verified; key backup not restored: {result.backup_problem}", data
        )
    return Result(
        f"this device is verified; restored {result.restored} of {result.total} room keys "
        f"from backup version {result.backup_version}",
        data,
    )


@command("backup-status", "encryption: Key backup status", "Whether room keys are backed up")
async def backup_status(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee.key_backup import KeyBackup
    from tuimatrix.core.e2ee.key_export import need_crypto

    account = need_account(inv)
    need_crypto(account)
    status = await KeyBackup.of(account).status()
    data = {
        "version": status.version,
        "server_version": status.server_version,
        "server_count": status.server_count,
        "active": status.matches,
        "pending": status.pending,
        "error": status.last_error,
    }
    if status.server_version is None:
        line = "no key backup on the server (setup-recovery makes one)"
    elif status.matches:
        line = (
            f"backing up to version {status.version}: {status.server_count} keys on the "
            f"server, {status.pending} waiting to upload"
        )
    elif status.version is None:
        line = (
            f"the server has backup version {status.server_version}, but this device does "
            "not have its key (verify-with-recovery-key)"
        )
    else:
        line = (
            f"this device has the key of version {status.version}, the server's is "
            f"{status.server_version}: not backing up (verify-with-recovery-key)"
        )
    if status.last_error:
        line += f"; last error: {clean_line(status.last_error)}"
    return Result(line, data)


@command(
    "restore-backup",
    "encryption: Restore keys from backup",
    "Download the room keys in the key backup, so that old messages decrypt",
)
async def restore_backup(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee.key_backup import KeyBackup

    account = need_account(inv)
    imported, total, rooms = await KeyBackup.of(account).restore()
    return Result(
        f"restored {imported} of {total} room keys; messages in {len(rooms)} rooms decrypted",
        {"imported": imported, "total": total, "rooms": sorted(rooms)},
    )


def _path(inv: Invocation) -> Path:
    text = str(inv.args["path"]).strip()
    if not text:
        raise UsageError(f"{inv.command.id}: the path is empty")
    return Path(text).expanduser()


@command(
    "export-keys",
    "encryption: Export room keys",
    "Write every room key to a passphrase-protected file (Element can import it)",
    Param("path", "path", "the file to write"),
    Param("overwrite", "flag", "replace the file if it exists", required=False, option=True),
)
async def export_keys(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee.key_export import export_keys as export

    account = need_account(inv)
    path = _path(inv)
    if path.is_dir():
        raise UsageError(f"export-keys: {clean_line(str(path))} is a directory")
    if path.exists() and not inv.args.get("overwrite"):
        if not ctx.interactive:
            raise UsageError(f"export-keys: {clean_line(str(path))} exists; add --overwrite")
        if not await ctx.confirm(f"{clean_line(str(path))} exists. Replace it?"):
            raise Cancelled()
    passphrase = await _secret(ctx, "passphrase", "A passphrase to protect the keys")
    if ctx.interactive:
        again = await _secret(ctx, "passphrase", "The same passphrase again")
        if again != passphrase:
            raise UserError("export-keys: the passphrases differ; nothing was written")
    try:
        count = await export(account, path, passphrase)
    except OSError as e:
        raise UserError(f"export-keys: cannot write {clean_line(str(path))}: {e.strerror}") from e
    return Result(
        f"exported {count} room keys to {clean_line(str(path))}",
        {"exported": count, "path": str(path)},
    )


@command(
    "import-keys",
    "encryption: Import room keys",
    "Read room keys from a passphrase-protected export file (tuimatrix's or Element's)",
    Param("path", "path", "the file to read"),
)
async def import_keys(ctx: Context, inv: Invocation) -> Result:
    from tuimatrix.core.e2ee.key_export import import_keys as do_import

    account = need_account(inv)
    path = _path(inv)
    if not path.is_file():
        raise UsageError(f"import-keys: no such file: {clean_line(str(path))}")
    passphrase = await _secret(ctx, "passphrase", "The file's passphrase")
    result = await do_import(account, path, passphrase)
    return Result(
        f"imported {result.imported} new of {result.total} room keys; "
        f"messages in {len(result.rooms)} rooms decrypted",
        {"imported": result.imported, "total": result.total, "rooms": sorted(result.rooms)},
    )

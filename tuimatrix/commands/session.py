"""session: syncing, your profile, logging in and out, quitting."""

from __future__ import annotations

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_account
from tuimatrix.core import auth
from tuimatrix.core.sanitize import clean_line


@command(
    "sync-now",
    "session: Sync now",
    "Fetch what is new from the server now (and cut a reconnection wait short)",
)
async def sync_now(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    if account.syncing:
        # The running loop does the work; waking it keeps one sync at a time.
        account.sync_now()
        return Result(f"syncing {clean_line(account.user_id)} now", {"rooms": None})
    changes = await account.sync_once()
    rooms = sorted(changes.rooms)
    return Result(
        f"synced {clean_line(account.user_id)}: {len(rooms)} rooms changed", {"rooms": rooms}
    )


@command(
    "set-display-name",
    "session: Set display name",
    "Change your display name (everywhere: the server updates every room)",
    Param("name", "text", "the new display name", rest=True),
)
async def set_display_name(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    name = str(inv.args["name"]).strip()
    if not name:
        raise UsageError("set-display-name: the name is empty")
    await account.set_display_name(name)
    return Result(f"you are now {clean_line(name)}", {"display_name": name})


@command(
    "logout",
    "session: Log out",
    "Log this account out (the server forgets the device) and delete its local data",
    destructive=True,
)
async def logout(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id, paths = account.user_id, account.paths
    # The store must be closed before its directory is removed.
    if ctx.accounts.get(user_id) is account:
        await ctx.accounts.remove(user_id)
    else:
        await account.close()
    await auth.logout(paths, user_id)
    return Result(f"logged out {clean_line(user_id)}", {"user_id": user_id})


@command("login", "session: Log in", "Log in to another account", ui_only=True)
async def login(ctx: Context, inv: Invocation) -> Result:
    raise UsageError("login: only in the app (from a shell: tuimatrix login)")


@command("quit", "session: Quit", "Leave tuimatrix", ui_only=True)
async def quit_app(ctx: Context, inv: Invocation) -> Result:
    raise UsageError("quit: only in the app")

"""Running a command: find its account and room, fill in what is missing, confirm, run."""

from __future__ import annotations

from typing import Any

from tuimatrix.commands import (
    Command,
    Context,
    Invocation,
    Param,
    Result,
    UsageError,
    convert,
    parse_line,
    stdin_param,
)
from tuimatrix.commands.front_end import FrontEnd, app_only
from tuimatrix.config import Config, load_config
from tuimatrix.core.account import Account
from tuimatrix.core.accounts import Accounts
from tuimatrix.core.room_names import resolve_room
from tuimatrix.paths import get_paths


def find_account(accounts: Accounts, user_id: str) -> Account:
    account = accounts.get(user_id)
    if account is None:
        known = ", ".join(a.user_id for a in accounts) or "none"
        raise UsageError(f"no saved session for {user_id} (accounts: {known})")
    return account


async def _fill(ctx: Context, inv: Invocation, param: Param) -> None:
    if param.name in inv.args or not param.required or param.option:
        return
    if param.kind == "flag":
        return
    if not ctx.interactive:
        raise UsageError(
            f"{inv.command.id}: {param.name.upper()} is missing (usage: {inv.command.usage()})"
        )
    prefill = inv.command.prefill
    initial = await prefill(ctx, inv, param) if prefill else None
    value = await ctx.ask(param, f"{inv.command.title}: {param.help or param.name}", initial)
    if value is None or value == "":
        raise Cancelled()
    inv.args[param.name] = convert(param, value) if isinstance(value, str) else value


class Cancelled(Exception):
    """The user cancelled a prompt: not an error, nothing happened."""


async def prepare(ctx: Context, cmd: Command, args: dict[str, Any], prefix: int = 0) -> Invocation:
    """Resolve account, room and missing arguments; raises UsageError or Cancelled."""
    inv = Invocation(cmd, dict(args), prefix=prefix)
    current_account, current_room = ctx.current()
    if "account" in inv.args:
        inv.account = find_account(ctx.accounts, inv.args.pop("account"))
    if cmd.room:
        room_text = inv.args.pop("room", None)
        if room_text:
            inv.account, inv.room_id = await resolve_room(ctx.accounts, room_text, inv.account)
        elif prefix or current_room is None:
            if not ctx.interactive:
                raise UsageError(f"{cmd.id} acts on a room: give --room ROOM")
            account = inv.account
            if account is None and len(ctx.accounts) > 1 and prefix:
                account = await ctx.choose_account(f"{cmd.title}: which account?")
                if account is None:
                    raise Cancelled()
            chosen = await ctx.choose_room(f"{cmd.title}: which room?", account)
            if chosen is None:
                raise Cancelled()
            inv.account, inv.room_id = chosen
        else:
            inv.account = inv.account or current_account
            inv.room_id = current_room
    if cmd.every_account:
        # A listing of every account is narrowed only by a choice: --account, or exec's
        # --account (its context's account). The app's current account is just where the
        # cursor is, and the shell's the room in `use`: neither narrows it.
        if inv.account is None and not ctx.interactive:
            inv.account = current_account
    elif inv.account is None:
        inv.account = current_account
    if inv.account is None and not cmd.every_account:
        if len(ctx.accounts) == 1:
            inv.account = next(iter(ctx.accounts))
        elif ctx.interactive and len(ctx.accounts) > 1:
            inv.account = await ctx.choose_account(f"{cmd.title}: which account?")
            if inv.account is None:
                raise Cancelled()
        elif len(ctx.accounts) > 1:
            raise UsageError(f"{cmd.id}: several accounts are logged in; give --account")
    from_stdin = stdin_param(cmd, inv.args)
    if from_stdin is not None:  # never sent as the text "-"
        inv.args[from_stdin.name] = await ctx.read_stdin()
    for param in cmd.params:
        await _fill(ctx, inv, param)
    if cmd.destructive and not inv.args.pop("yes", False) and prefix < 2:
        if not ctx.interactive:
            raise UsageError(f"{cmd.id} asks for confirmation: add --yes")
        if not await ctx.confirm(f"{cmd.title}?"):
            raise Cancelled()
    return inv


async def run_line(ctx: Context, line: str, prefix: int = 0) -> Result:
    cmd, args = parse_line(line)
    return await run(ctx, cmd, args, prefix)


def refuse_app_only(ui: FrontEnd, cmd: Command) -> None:
    """An app-only command outside the app is a usage error, before anything is asked."""
    if cmd.ui_only and not ui.screens:
        raise app_only(cmd.id)


async def run(ctx: Context, cmd: Command, args: dict[str, Any], prefix: int = 0) -> Result:
    refuse_app_only(ctx.ui, cmd)
    inv = await prepare(ctx, cmd, args, prefix)
    return await cmd.body(ctx, inv)


def config_of(ctx: Context) -> Config:
    """The settings the front end runs with, else those of the config file."""
    config = ctx.ui.config()
    return config if config is not None else load_config(get_paths().config_file)


def need_account(inv: Invocation) -> Account:
    if inv.account is None:
        raise UsageError("no account is logged in (tuimatrix login)")
    return inv.account


def need_room(inv: Invocation) -> tuple[Account, str]:
    account = need_account(inv)
    if inv.room_id is None:
        raise UsageError(f"{inv.command.id} acts on a room: give --room ROOM")
    return account, inv.room_id

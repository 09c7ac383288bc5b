"""membership: joining, leaving, inviting, kicking, banning, ignoring (spec "Room membership")."""

from __future__ import annotations

import re

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_account, need_room
from tuimatrix.core.account import Account
from tuimatrix.core.errors import UserError
from tuimatrix.core.room_names import room_label
from tuimatrix.core.sanitize import clean_line

#: ``@localpart:server`` (the spec's grammar is looser for historical ids; so are we).
_USER_ID = re.compile(r"@[^:\s]+:[^\s]+")


def user_arg(inv: Invocation, name: str = "user") -> str:
    """The parameter ``name`` as a full user id, or a UsageError."""
    user_id = str(inv.args[name]).strip()
    if not _USER_ID.fullmatch(user_id):
        raise UsageError(
            f"{inv.command.id}: {clean_line(user_id)!r} is not a user id (expected @name:server)"
        )
    return user_id


USER = Param("user", "user", "the user id (@name:server)")
REASON = Param("reason", "text", "a reason, shown to the room", required=False, option=True)


@command(
    "join-room",
    "membership: Join room",
    "Join a room by its id (!…) or alias (#…)",
    Param("room_or_alias", "text", "the room id (!…) or alias (#…:server)"),
)
async def join_room(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    target = str(inv.args["room_or_alias"]).strip()
    if not (target.startswith("!") or (target.startswith("#") and ":" in target)):
        raise UsageError(
            f"join-room: give a room id (!…) or an alias (#name:server), not {clean_line(target)!r}"
        )
    room_id = await account.join(target)
    return Result(f"joined {clean_line(target)} ({clean_line(room_id)})", {"room_id": room_id})


@command(
    "leave-room",
    "membership: Leave room",
    "Leave the room (it stays in the list as left until forgotten)",
    REASON,
    room=True,
    destructive=True,
)
async def leave_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    label = room_label(account, room_id)
    await account.leave(room_id, inv.args.get("reason"))
    return Result(f"left {label}", {"room_id": room_id})


@command(
    "forget-room",
    "membership: Forget room",
    "Forget the room (leaving it first if still in it): it disappears from the room list",
    room=True,
    destructive=True,
)
async def forget_room(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    label = room_label(account, room_id)
    await account.forget(room_id)
    # Forgetting removed the room's row from the store; refreshing drops it from the model
    # now rather than at the next sync that mentions it.
    await account.rooms.refresh({room_id})
    return Result(f"forgot {label}", {"room_id": room_id})


@command("invite", "membership: Invite user", "Invite USER to the room", USER, room=True)
async def invite(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    user_id = user_arg(inv)
    await account.invite(room_id, user_id)
    return Result(f"invited {clean_line(user_id)} to {room_label(account, room_id)}")


@command(
    "kick",
    "membership: Kick user",
    "Remove USER from the room (they can join again)",
    USER,
    REASON,
    room=True,
    destructive=True,
)
async def kick(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    user_id = user_arg(inv)
    await account.kick(room_id, user_id, inv.args.get("reason"))
    return Result(f"kicked {clean_line(user_id)} from {room_label(account, room_id)}")


@command(
    "ban",
    "membership: Ban user",
    "Ban USER from the room (removes them and keeps them out)",
    USER,
    REASON,
    room=True,
    destructive=True,
)
async def ban(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    user_id = user_arg(inv)
    await account.ban(room_id, user_id, inv.args.get("reason"))
    return Result(f"banned {clean_line(user_id)} from {room_label(account, room_id)}")


@command("unban", "membership: Unban user", "Lift USER's ban from the room", USER, room=True)
async def unban(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    user_id = user_arg(inv)
    await account.unban(room_id, user_id)
    return Result(f"unbanned {clean_line(user_id)} in {room_label(account, room_id)}")


@command(
    "ignore-user",
    "membership: Ignore user",
    "Hide everything USER sends, in every room (m.ignored_user_list)",
    USER,
)
async def ignore_user(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = user_arg(inv)
    if user_id == account.user_id:
        raise UsageError("ignore-user: you cannot ignore yourself")
    await account.ignore_user(user_id)
    return Result(f"ignoring {clean_line(user_id)}", {"ignored": await account.ignored_users()})


@command(
    "unignore-user",
    "membership: Unignore user",
    "Show USER's messages again",
    USER,
)
async def unignore_user(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = user_arg(inv)
    await account.unignore_user(user_id)
    return Result(
        f"no longer ignoring {clean_line(user_id)}", {"ignored": await account.ignored_users()}
    )


def _invited(account: Account, room_id: str, command_id: str) -> None:
    """Refuse rooms we know we are not invited to (an unknown room: let the server decide)."""
    room = account.rooms.summaries.get(room_id)
    if room is not None and room.membership != "invite":
        raise UserError(
            f"{command_id}: no invitation to {room_label(account, room_id)} "
            f"(membership: {clean_line(room.membership)})"
        )


@command(
    "accept-invite",
    "membership: Accept invite",
    "Join the room you are invited to",
    room=True,
)
async def accept_invite(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    _invited(account, room_id, "accept-invite")
    label = room_label(account, room_id)
    await account.join(room_id)
    return Result(f"joined {label}", {"room_id": room_id})


@command(
    "reject-invite",
    "membership: Reject invite",
    "Decline the invitation to the room",
    room=True,
)
async def reject_invite(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    _invited(account, room_id, "reject-invite")
    label = room_label(account, room_id)
    await account.leave(room_id)
    return Result(f"rejected the invitation to {label}", {"room_id": room_id})

"""notifications: the account-wide push rules people edit — keywords, muted users, the defaults
for DMs, groups and encrypted rooms, mentions — written as Element writes them.

Per-room settings are ``set-notifications`` (``commands/rooms.py``). The listings read the
server's rules (``GET /pushrules/``), so a change shows at once, before sync brings it.
"""

from __future__ import annotations

from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.listing import count_of, listed_accounts
from tuimatrix.commands.membership import USER, user_arg
from tuimatrix.commands.runner import need_account
from tuimatrix.core.errors import UserError
from tuimatrix.core.notification_settings import (
    DEFAULT_LEVELS,
    DEFAULT_RULES,
    MENTION_LEVELS,
    MENTION_RULES,
    default_level,
    keywords,
    mention_level,
    muted_senders,
)
from tuimatrix.core.sanitize import clean_line

KEYWORD = Param("keyword", "text", "the word or phrase (no * ? [ ] / \\)")

#: What each setting of ``notification-defaults`` is about, for people.
_ABOUT = {
    "dm": "messages in one-to-one chats",
    "group": "messages in group chats",
    "encrypted-dm": "encrypted messages in one-to-one chats",
    "encrypted-group": "encrypted messages in group chats",
    "mention-me": "mentions of you (m.mentions, display name, user name)",
    "mention-room": "@room mentions",
}
_DEFAULTS_COLUMNS = ("setting", "level", "about", "account")
_KINDS = tuple(DEFAULT_RULES)


def _choice(inv: Invocation, name: str, choices: tuple[str, ...]) -> str:
    """A choice parameter, checked again: a value asked for in the UI skips the parser."""
    value = str(inv.args[name])
    if value not in choices:
        raise UsageError(f"{inv.command.id}: {name} is one of {', '.join(choices)}, not {value!r}")
    return value


@command(
    "keywords",
    "notifications: List keywords",
    "List the keywords that notify you (content push rules): keyword, alert, sound",
    every_account=True,
)
async def list_keywords(ctx: Context, inv: Invocation) -> Result:
    rows: list[dict[str, Any]] = []
    for account in listed_accounts(inv, ctx):
        for keyword in keywords(await account.push_ruleset()):
            rows.append(
                {
                    "keyword": clean_line(keyword.pattern),
                    "alert": keyword.alert,
                    "sound": clean_line(keyword.sound) if keyword.sound else None,
                    "account": account.user_id,
                    "rule_id": clean_line(keyword.rule_id),
                }
            )
    return Result(
        count_of(len(rows), "keyword"),
        rows=rows,
        columns=("keyword", "alert", "account"),
    )


@command(
    "add-keyword",
    "notifications: Add keyword",
    "Notify (highlighted, with a sound) for messages holding KEYWORD, in every room",
    KEYWORD,
)
async def add_keyword(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    keyword = await account.add_keyword(str(inv.args["keyword"]))
    return Result(f"keyword added: {clean_line(keyword)}", {"keyword": keyword})


@command(
    "remove-keyword",
    "notifications: Remove keyword",
    "Stop notifying for messages holding KEYWORD",
    KEYWORD,
)
async def remove_keyword(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    keyword = str(inv.args["keyword"]).strip()
    removed = await account.remove_keyword(keyword)
    if not removed:
        raise UsageError(f"remove-keyword: {clean_line(keyword)!r} is not a keyword")
    return Result(f"keyword removed: {clean_line(keyword)}", {"removed": removed})


@command(
    "mute-user",
    "notifications: Mute user",
    "Nothing USER sends notifies you, mentions of you included, in any room (ignore-user "
    "also hides it)",
    USER,
)
async def mute_user(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = user_arg(inv)
    await account.mute_sender(user_id)
    return Result(f"muted {clean_line(user_id)}", {"user_id": user_id, "muted": True})


@command(
    "unmute-user",
    "notifications: Unmute user",
    "Messages from USER notify you again, as any other's",
    USER,
)
async def unmute_user(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    user_id = user_arg(inv)
    if not await account.unmute_sender(user_id):
        raise UsageError(f"unmute-user: {clean_line(user_id)} is not muted")
    return Result(f"unmuted {clean_line(user_id)}", {"user_id": user_id, "muted": False})


@command(
    "muted-users",
    "notifications: List muted users",
    "List the users whose messages do not notify you (sender push rules)",
    every_account=True,
)
async def list_muted_users(ctx: Context, inv: Invocation) -> Result:
    rows = [
        {"user_id": clean_line(user_id), "account": account.user_id}
        for account in listed_accounts(inv, ctx)
        for user_id in muted_senders(await account.push_ruleset())
    ]
    return Result(
        count_of(len(rows), "muted user"),
        rows=rows,
        columns=("user_id", "account"),
    )


@command(
    "notification-defaults",
    "notifications: List defaults",
    "List what notifies you by default: DMs, groups, encrypted ones (all, noisy, mentions, "
    "off) and mentions of you and of @room (on, off)",
    every_account=True,
)
async def notification_defaults(ctx: Context, inv: Invocation) -> Result:
    rows: list[dict[str, Any]] = []
    for account in listed_accounts(inv, ctx):
        ruleset = await account.push_ruleset()
        levels = {kind: default_level(ruleset, kind) for kind in DEFAULT_RULES}
        levels |= {f"mention-{who}": mention_level(ruleset, who) for who in MENTION_RULES}
        rows += [
            {"setting": s, "level": level, "about": _ABOUT[s], "account": account.user_id}
            for s, level in levels.items()
            if level is not None  # a rule this server does not have
        ]
    return Result(count_of(len(rows), "setting"), rows=rows, columns=_DEFAULTS_COLUMNS)


@command(
    "set-notification-default",
    "notifications: Set default",
    "Notify for every message (all), with a sound (noisy), for mentions and keywords only "
    "(mentions, off) in DMs, groups or encrypted ones, unless a room says otherwise",
    Param("kind", "choice", "dm, group, encrypted-dm or encrypted-group", choices=_KINDS),
    Param("level", "choice", "all, noisy, mentions or off", choices=DEFAULT_LEVELS),
)
async def set_notification_default(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    kind = _choice(inv, "kind", _KINDS)
    level = _choice(inv, "level", DEFAULT_LEVELS)
    await account.set_default_notifications(kind, level)
    return Result(f"notifications for {_ABOUT[kind]}: {level}", {"kind": kind, "level": level})


@command(
    "set-mention-alerts",
    "notifications: Set mention alerts",
    "Whether mentions of you (me) or of @room (room) notify you, highlighted",
    Param("who", "choice", "me or room", choices=tuple(MENTION_RULES)),
    Param("level", "choice", "on or off", choices=MENTION_LEVELS),
)
async def set_mention_alerts(ctx: Context, inv: Invocation) -> Result:
    account = need_account(inv)
    who = _choice(inv, "who", tuple(MENTION_RULES))
    level = _choice(inv, "level", MENTION_LEVELS)
    rules = await account.set_mention_notifications(who, level)
    if not rules:
        raise UserError(f"set-mention-alerts: this server has no mention rules for {who}")
    about = _ABOUT[f"mention-{who}"]
    return Result(f"{about}: {level}", {"who": who, "level": level, "rules": rules})

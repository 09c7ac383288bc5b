"""The notification settings commands (``commands/notifications.py``) against the real Synapse.

Each command runs through the registry; the check reads the rule back from the server
(``GET /pushrules/…``) as Element would write it, and the server's own counts
(``unread_notifications`` of the other user's messages) show that it acts as meant.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import MakeUser
from helpers import eventually, palette_search, until
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_app import SIZE
from test_cli_exec import log_in, texec
from test_commands import ScriptContext
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.app import TuimatrixApp
from tuimatrix.cli.shell import shell
from tuimatrix.commands import REGISTRY, UsageError, load_commands
from tuimatrix.commands.runner import run_line
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.notification_settings import (
    MAX_KEYWORD,
    check_keyword,
    default_level,
    keywords,
    mention_level,
    muted_senders,
)
from tuimatrix.core.push_rules import notification_modes
from tuimatrix.core.session import load_sessions
from tuimatrix.paths import get_paths
from tuimatrix.screens.prompts import TextPromptScreen

#: Element's keyword actions (``mentionActions`` in its ``reconcileNotificationSettings.ts``).
ELEMENT_KEYWORD = [
    "notify",
    {"set_tweak": "sound", "value": "default"},
    {"set_tweak": "highlight"},
]


async def people(make_user: MakeUser, login: Login, *names: str) -> list[Account]:  # noqa: F811
    """A logged-in account for each name."""
    return [await login(make_user(name)) for name in names]


async def room_with(owner: Account, *others: Account) -> str:
    """An unencrypted room of ``owner`` that ``others`` joined (the server counts its messages)."""
    room_id = await owner.create_room("Counted", invite=[o.user_id for o in others])
    for other in others:
        await other.join(room_id)
    return room_id


async def say(account: Account, room_id: str, body: str, mentions: list[str] | None = None) -> None:
    """Send a message and wait until the server has it."""
    echo = await account.send_text(room_id, body, mentions=mentions)
    await account.send_queue.wait(echo.txn_id)


async def counts_reach(account: Account, room_id: str, notifications: int, highlights: int) -> None:
    """Sync until the server's counts for the room are these (they only grow in these tests)."""
    seen: list[tuple[int, int]] = []

    async def reached() -> bool:
        await account.sync_once()
        room = account.rooms.summaries.get(room_id)
        seen.append((room.notification_count, room.highlight_count) if room else (-1, -1))
        return seen[-1] == (notifications, highlights)

    try:
        await eventually(reached)
    except TimeoutError:
        raise AssertionError(f"counts {seen[-1:]}, not {(notifications, highlights)}") from None


def rows(result: Any) -> list[dict[str, Any]]:
    assert result.rows is not None
    return list(result.rows)


# -- pure: what a keyword may be, and Element's reading of a ruleset ---------------------------


def test_a_keyword_is_trimmed_and_what_a_rule_cannot_hold_is_refused() -> None:
    assert check_keyword("  release day ") == "release day"
    refused = {
        "": "empty",
        "   ": "empty",
        "x" * (MAX_KEYWORD + 1): f"longer than {MAX_KEYWORD}",
        "ba*na": "'*'",
        "ban?": "'?'",
        "[ab]c": "'['",
        "a/b": "'/'",
        "a\\b": "'\\\\'",
        "new\nline": "'\\n'",
        "esc\x1b[31m": "'\\x1b'",
        ".m.rule.x": "cannot start with '.'",
    }
    for text, said in refused.items():
        with pytest.raises(UsageError, match="keyword") as caught:
            check_keyword(text)
        assert said in str(caught.value), (text, str(caught.value))
    assert check_keyword("x" * MAX_KEYWORD) == "x" * MAX_KEYWORD


def test_settings_are_read_as_element_reads_them() -> None:
    sound = {"set_tweak": "sound", "value": "default"}

    def is_sender(user_id: str) -> dict[str, Any]:
        return {"kind": "event_property_is", "key": "sender", "value": user_id}

    def matches_sender(user_id: str) -> dict[str, Any]:
        return {"kind": "event_match", "key": "sender", "pattern": user_id}

    no_highlight = {"set_tweak": "highlight", "value": False}
    ruleset = {
        "global": {
            "content": [
                {"rule_id": ".m.rule.contains_user_name", "pattern": "me", "actions": []},
                {"rule_id": "cake", "pattern": "cake", "actions": ELEMENT_KEYWORD},
                {"rule_id": "quiet", "pattern": "quiet", "actions": ["notify"], "enabled": True},
                {"rule_id": "gone", "pattern": "gone", "actions": ["notify"], "enabled": False},
                {"rule_id": "odd", "actions": ["notify"]},  # no pattern: not a keyword
            ],
            "sender": [
                {"rule_id": "@bot:x", "actions": [], "enabled": True},
                {"rule_id": "@muted:x", "actions": []},  # also muted by an override
                {"rule_id": "@old:x", "actions": ["dont_notify"], "enabled": True},
                {"rule_id": "@off:x", "actions": [], "enabled": False},
                {"rule_id": "@loud:x", "actions": ["notify"], "enabled": True},
            ],
            "override": [
                {"rule_id": "@muted:x", "conditions": [is_sender("@muted:x")], "actions": []},
                {"rule_id": "@glob:x", "conditions": [matches_sender("@glob:x")], "actions": []},
                {"rule_id": "@other:x", "conditions": [is_sender("@else:x")], "actions": []},
                {"rule_id": ".m.rule.is_user_mention", "actions": []},
                {
                    "rule_id": ".m.rule.contains_display_name",
                    "actions": ["notify"],
                    "enabled": False,
                },
                {"rule_id": ".m.rule.roomnotif", "actions": ["notify"], "enabled": True},
            ],
            "underride": [
                {"rule_id": ".m.rule.room_one_to_one", "actions": ["notify", sound]},
                {"rule_id": ".m.rule.message", "actions": ["notify", no_highlight]},
                {"rule_id": ".m.rule.encrypted_room_one_to_one", "actions": ["dont_notify"]},
                {"rule_id": ".m.rule.encrypted", "actions": ["notify"], "enabled": False},
            ],
        }
    }
    assert [(k.pattern, k.alert) for k in keywords(ruleset)] == [
        ("cake", "highlight"),
        ("quiet", "notify"),
        ("gone", "off"),
    ]
    assert muted_senders(ruleset) == ["@muted:x", "@glob:x", "@bot:x", "@old:x"]
    assert notification_modes(ruleset) == {}  # a muted user is not a muted room
    assert default_level(ruleset, "dm") == "noisy"
    assert default_level(ruleset, "group") == "all"
    assert default_level(ruleset, "encrypted-dm") == "mentions"
    assert default_level(ruleset, "encrypted-group") == "off"
    assert mention_level(ruleset, "me") == "off"  # the one that notifies is disabled
    assert mention_level(ruleset, "room") == "on"
    assert default_level({"global": {}}, "dm") is None
    assert mention_level("not a ruleset", "me") is None


def test_the_commands_are_registered_for_every_front_end() -> None:
    load_commands()
    ids = {
        "keywords", "add-keyword", "remove-keyword", "mute-user", "unmute-user", "muted-users",
        "notification-defaults", "set-notification-default", "set-mention-alerts",
    }  # fmt: skip
    assert {c.id for c in REGISTRY.values() if c.title.startswith("notifications: ")} == ids
    assert not any(REGISTRY[c].ui_only or REGISTRY[c].room for c in ids)
    listings = {c for c in ids if REGISTRY[c].every_account}
    assert listings == {"keywords", "muted-users", "notification-defaults"}


# -- against Synapse ---------------------------------------------------------------------------


async def test_keywords_are_content_rules_that_the_server_highlights(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a, b = await people(make_user, login, "alice", "bob")
    room_id = await room_with(a, b)
    ctx = ScriptContext(a)

    result = await run_line(ctx, "add-keyword ' banana '")
    assert result.data == {"keyword": "banana"}
    rule = await a.push_rule("content", "banana")
    assert rule is not None
    assert (rule["pattern"], rule["actions"], rule["enabled"]) == ("banana", ELEMENT_KEYWORD, True)
    assert [
        (r["keyword"], r["alert"], r["account"]) for r in rows(await run_line(ctx, "keywords"))
    ] == [("banana", "highlight", a.user_id)]
    with pytest.raises(UsageError, match=r"'\*'"):
        await run_line(ctx, "add-keyword 'ba*na'")

    await say(b, room_id, "no fruit here")
    await say(b, room_id, "who wants Banana bread?")
    await counts_reach(a, room_id, notifications=2, highlights=1)

    # Removing it goes by the pattern as the server matches it (any case).
    assert (await run_line(ctx, "remove-keyword BANANA")).data == {"removed": ["banana"]}
    assert await a.push_rule("content", "banana") is None
    assert rows(await run_line(ctx, "keywords")) == []
    with pytest.raises(UsageError, match="not a keyword"):
        await run_line(ctx, "remove-keyword banana")
    await say(b, room_id, "banana again")
    await counts_reach(a, room_id, notifications=3, highlights=1)


async def test_a_muted_users_messages_do_not_count(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a, b, c = await people(make_user, login, "alice", "bob", "carol")
    room_id = await room_with(a, b, c)
    ctx = ScriptContext(a)

    await run_line(ctx, f"mute-user {b.user_id}")
    rule = await a.push_rule("override", b.user_id)
    assert rule is not None and (rule["actions"], rule["enabled"]) == ([], True)
    assert rule["conditions"] == [
        {"kind": "event_property_is", "key": "sender", "value": b.user_id}
    ]
    listed = rows(await run_line(ctx, "muted-users"))
    assert listed == [{"user_id": b.user_id, "account": a.user_id}]

    await say(b, room_id, "muted chatter")
    await say(b, room_id, "alice, look", mentions=[a.user_id])  # a mute silences mentions too
    await say(c, room_id, "carol counts")
    await counts_reach(a, room_id, notifications=1, highlights=0)

    await run_line(ctx, f"unmute-user {b.user_id}")
    assert await a.push_rule("sender", b.user_id) is None
    with pytest.raises(UsageError, match="not muted"):
        await run_line(ctx, f"unmute-user {b.user_id}")
    with pytest.raises(UsageError, match="not a user id"):
        await run_line(ctx, "mute-user bob")
    await say(b, room_id, "heard again", mentions=[a.user_id])
    await counts_reach(a, room_id, notifications=2, highlights=1)


async def test_a_dm_default_of_mentions_stops_dm_messages_counting(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    a, b = await people(make_user, login, "alice", "bob")
    dm = await room_with(a, b)  # two members: the one-to-one rules apply
    ctx = ScriptContext(a)

    def levels(result: Any) -> dict[str, str]:
        return {r["setting"]: r["level"] for r in rows(result)}

    # The server's defaults, read as Element reads them.
    assert levels(await run_line(ctx, "notification-defaults")) == {
        "dm": "noisy",
        "group": "all",
        "encrypted-dm": "noisy",
        "encrypted-group": "all",
        "mention-me": "on",
        "mention-room": "on",
    }

    await run_line(ctx, "set-notification-default dm mentions")
    rule = await a.push_rule("underride", ".m.rule.room_one_to_one")
    assert rule is not None and rule["actions"] == [] and rule["enabled"] is True
    await say(b, dm, "just chatting")
    await say(b, dm, "alice?", mentions=[a.user_id])
    await counts_reach(a, dm, notifications=1, highlights=1)

    # off disables the rule; any other level enables it again.
    await run_line(ctx, "set-notification-default dm off")
    rule = await a.push_rule("underride", ".m.rule.room_one_to_one")
    assert rule is not None and rule["enabled"] is False
    assert levels(await run_line(ctx, "notification-defaults"))["dm"] == "off"
    await run_line(ctx, "set-notification-default dm all")
    rule = await a.push_rule("underride", ".m.rule.room_one_to_one")
    assert rule is not None and (rule["actions"], rule["enabled"]) == (["notify"], True)
    await say(b, dm, "counted again")
    await counts_reach(a, dm, notifications=2, highlights=1)

    await run_line(ctx, "set-notification-default encrypted-group noisy")
    rule = await a.push_rule("underride", ".m.rule.encrypted")
    assert rule is not None
    assert rule["actions"] == ["notify", {"set_tweak": "sound", "value": "default"}]
    with pytest.raises(UsageError, match="one of"):
        await run_line(ctx, "set-notification-default spaces all")


async def test_mention_alerts_switch_the_mention_rules(make_user: MakeUser, login: Login) -> None:  # noqa: F811
    a, b, c = await people(make_user, login, "alice", "bob", "carol")
    room_id = await room_with(a, b, c)
    ctx = ScriptContext(a)

    result = await run_line(ctx, "set-mention-alerts me off")
    assert ".m.rule.is_user_mention" in result.data["rules"]
    for rule_id in result.data["rules"]:
        rule = await a.push_rule("override", rule_id) or await a.push_rule("content", rule_id)
        assert rule is not None and rule["actions"] == [] and rule["enabled"] is True, rule_id
    await say(b, room_id, "alice, unheard", mentions=[a.user_id])
    await run_line(ctx, "set-mention-alerts me on")
    rule = await a.push_rule("override", ".m.rule.is_user_mention")
    assert rule is not None and rule["actions"] == ELEMENT_KEYWORD
    await say(b, room_id, "alice, heard", mentions=[a.user_id])
    # Only the second counts: the first matched the silenced mention rule, and the first
    # matching rule decides (as in Element, "off" silences mentions, not only the highlight).
    await counts_reach(a, room_id, notifications=1, highlights=1)

    await run_line(ctx, "set-mention-alerts room off")
    rule = await a.push_rule("override", ".m.rule.is_room_mention")
    assert rule is not None and rule["actions"] == []
    levels = {r["setting"]: r["level"] for r in rows(await run_line(ctx, "notification-defaults"))}
    assert (levels["mention-me"], levels["mention-room"]) == ("on", "off")
    await run_line(ctx, "set-mention-alerts room on")
    rule = await a.push_rule("override", ".m.rule.is_room_mention")
    assert rule is not None and rule["actions"] == ["notify", {"set_tweak": "highlight"}]


async def test_exec_lists_keywords_as_json_lines(make_user: MakeUser) -> None:
    user = make_user("kw")
    await log_in(user)

    added = await texec("add-keyword", "deploy")
    assert added.returncode == 0, added.stderr
    listed = await texec("--json", "keywords")
    assert listed.returncode == 0, listed.stderr
    [row] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert (row["keyword"], row["alert"], row["account"]) == ("deploy", "highlight", user.user_id)
    refused = await texec("add-keyword", "de*ploy")
    assert refused.returncode == 2 and "'*'" in refused.stderr and "Traceback" not in refused.stderr


async def test_the_shell_asks_for_what_is_missing(
    make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    user = make_user("sh")
    await log_in(user)
    lines = [
        "set-notification-default",  # the kind and the level are asked for
        "group",
        "mentions",
        "add-keyword",
        "release day",
        "add-keyword a[b]",
        "keywords",
        "exit",
    ]
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("".join(line + "\r" for line in lines))
        assert await shell() == 0
    out = capsys.readouterr().out.splitlines()
    assert "notifications for messages in group chats: mentions" in out
    assert "keyword added: release day" in out
    assert any(line.startswith("error: keyword: cannot hold '[' ']'") for line in out), out
    assert any(line.split()[:3] == ["release", "day", "highlight"] for line in out), out
    [info] = load_sessions(get_paths())
    account = await Account.open(info, get_paths(), crypto=False)
    try:
        rule = await account.push_rule("underride", ".m.rule.message")
    finally:
        await account.close()
    assert rule is not None and rule["actions"] == []


async def test_the_palette_asks_for_the_keyword(make_user: MakeUser) -> None:
    user = make_user("pal")
    await log_in(user)
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        await until(pilot, lambda: account.status.state == LIVE)
        await palette_search(pilot, "add keyword")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.press(*"garden party", "enter")

        async def added() -> bool:
            return [k.pattern for k in keywords(await account.push_ruleset())] == ["garden party"]

        await eventually(added)

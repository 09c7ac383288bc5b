"""Which notices alert, how, and what the alert says: storms, rate limits, privacy, focus,
hostile text, and the exact sequence each kind of terminal gets (pure: no server, no app)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tuimatrix.core.alert_policy import (
    CHANNELS,
    MAX_BODY,
    STORM_ALERTS,
    STORM_WINDOW,
    AlertPolicy,
    AlertSettings,
    Decision,
    Viewing,
)
from tuimatrix.core.notices import Notice
from tuimatrix.ui import terminal_alerts
from tuimatrix.ui.terminal_alerts import notification, terminal_kind, through_tmux

ME = "@me:example.org"
ROOMS = {"!a:x": "Team", "!b:x": "Family", "!c:x": "Ops", "!d:x": "Books"}
#: The user looks at another room, in a focused terminal.
ELSEWHERE = Viewing(focused=True, user_id=ME, room_id="!elsewhere:x")
#: What a hostile message holds to break out of an escape sequence or forge one.
HOSTILE = (
    "hi\x1b]0;pwned\x07\x1b[2J\x9b31m\x9d8;;http://evil\x9c\x07\x1b\\\x90q\x9c"
    ";4;1;100\u202eevil\x00\x7f\x85\x1b"
)
#: ESC, BEL, every other C0 control, DEL and C1: none may come from a message.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def notice(
    body: str = "hello",
    room_id: str = "!a:x",
    *,
    sender: str = "@alice:example.org",
    highlight: bool = False,
    sound: str | None = "default",
    encrypted: bool = False,
    n: int = 0,
    content: dict[str, Any] | None = None,
) -> Notice:
    event_id = f"$e{n}{room_id}"
    event = {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": 1000 + n,
        "content": content if content is not None else {"msgtype": "m.text", "body": body},
    }
    return Notice(room_id, event_id, sender, 1000 + n, highlight, sound, encrypted, event)


def decide(
    policy: AlertPolicy,
    notices: list[Notice],
    viewing: Viewing = ELSEWHERE,
    *,
    catching_up: bool = False,
    now: float = 100.0,
) -> Decision:
    return policy.decide(
        ME,
        notices,
        viewing,
        catching_up=catching_up,
        now=now,
        room_name=lambda room_id: ROOMS.get(room_id, ""),
    )


def test_a_mention_alerts_with_the_room_as_title_and_sender_and_text_as_body() -> None:
    (alert,) = decide(AlertPolicy(), [notice("are you there?", highlight=True)]).alerts
    assert (alert.title, alert.body) == ("Team", "@alice:example.org: are you there?")
    assert alert.channels == frozenset(CHANNELS) and alert.highlight


def test_highlights_and_other_messages_use_their_own_channels() -> None:
    settings = AlertSettings(highlight=frozenset({"desktop", "bell"}), other=frozenset())
    policy = AlertPolicy(settings)
    decision = decide(policy, [notice(highlight=True), notice(room_id="!b:x", n=1)])
    assert [a.channels for a in decision.alerts] == [frozenset({"desktop", "bell"}), frozenset()]
    # A channel switched off is off for both kinds.
    settings.off = frozenset({"bell"})
    (alert,) = decide(AlertPolicy(settings), [notice(highlight=True)]).alerts
    assert alert.channels == {"desktop"}


def test_the_bell_rings_only_where_the_push_rule_asks_for_a_sound() -> None:
    policy = AlertPolicy(AlertSettings(other=frozenset({"bell", "title"})))
    quiet, loud = notice(sound=None), notice(room_id="!b:x", n=1)
    assert [a.channels for a in decide(policy, [quiet, loud]).alerts] == [
        {"title"},
        {"bell", "title"},
    ]
    # A summary rings if any of its notices asked for a sound.
    storm = [notice(room_id=r, n=i, sound=None) for i, r in enumerate(ROOMS)]
    assert "bell" not in decide(policy, storm, catching_up=True).alerts[0].channels
    storm[0] = notice(sound="default")
    assert "bell" in decide(policy, storm, catching_up=True).alerts[0].channels


def test_the_status_line_hears_of_every_alert() -> None:
    decision = decide(AlertPolicy(AlertSettings(other=frozenset())), [notice("lunch?")])
    assert decision.status == "Team: @alice:example.org: lunch?"


def test_no_alert_for_the_room_on_screen_in_a_focused_terminal() -> None:
    looking = Viewing(focused=True, user_id=ME, room_id="!a:x")
    assert decide(AlertPolicy(), [notice(highlight=True)], looking) == Decision()
    # The same room in a terminal without focus: the user is not looking.
    away = Viewing(focused=False, user_id=ME, room_id="!a:x")
    assert len(decide(AlertPolicy(), [notice(highlight=True)], away).alerts) == 1
    # The same room id, but another account's screen on show.
    other = Viewing(focused=True, user_id="@other:example.org", room_id="!a:x")
    assert len(decide(AlertPolicy(), [notice(highlight=True)], other).alerts) == 1


def test_no_alert_for_the_users_own_events_nor_when_alerts_are_off() -> None:
    assert decide(AlertPolicy(), [notice(sender=ME)]) == Decision()
    assert decide(AlertPolicy(AlertSettings(enabled=False)), [notice()]) == Decision()


def test_a_catch_up_makes_one_summary() -> None:
    notices = [notice(room_id=r, n=i, highlight=i == 0) for i, r in enumerate(ROOMS)]
    notices += [notice(n=10 + i) for i in range(8)]
    decision = decide(AlertPolicy(), notices, catching_up=True)
    (summary,) = decision.alerts
    assert summary.room_id is None and summary.count == 12
    assert summary.body == "12 new messages in 4 rooms (1 mention)"
    assert summary.highlight and summary.channels == frozenset(CHANNELS)
    assert decision.status == f"{ME}: 12 new messages in 4 rooms (1 mention)"


def test_a_storm_in_one_live_sync_makes_one_summary() -> None:
    policy = AlertPolicy(AlertSettings(summary_after=3))
    three = decide(policy, [notice(room_id=r, n=i) for i, r in enumerate(ROOMS)])
    assert [a.body for a in three.alerts] == ["4 new messages in 4 rooms"]
    assert not three.alerts[0].highlight
    # At the limit, each alerts on its own.
    assert len(decide(policy, [notice(room_id=r) for r in list(ROOMS)[:3]]).alerts) == 3


def test_one_notice_in_a_catch_up_alerts_as_itself() -> None:
    (alert,) = decide(AlertPolicy(), [notice("hi")], catching_up=True).alerts
    assert alert.room_id == "!a:x" and alert.body.endswith(": hi")


def test_a_room_alerts_at_most_once_per_rate_limit_and_the_rest_fold_into_the_status() -> None:
    policy = AlertPolicy(AlertSettings(rate_limit=30))
    assert len(decide(policy, [notice("one")], now=100).alerts) == 1
    later = decide(policy, [notice("two", n=1), notice("three", n=2)], now=110)
    assert later.alerts == () and later.folded == 2
    assert later.status == "2 more new messages in Team"
    # Another room is not held back; a highlight is not held back by a plain message.
    mixed = decide(policy, [notice(room_id="!b:x", n=3), notice(highlight=True, n=4)], now=111)
    assert [(a.room_id, a.highlight) for a in mixed.alerts] == [("!b:x", False), ("!a:x", True)]
    # Once the limit has passed, the room alerts again.
    assert len(decide(policy, [notice("four", n=5)], now=130).alerts) == 1


def test_encrypted_rooms_show_room_and_sender_but_not_the_text() -> None:
    secret = notice("the launch code is 1234", encrypted=True)
    (alert,) = decide(AlertPolicy(), [secret]).alerts
    assert alert.title == "Team" and "@alice:example.org" in alert.body
    assert "1234" not in alert.body and "1234" not in decide(AlertPolicy(), [secret]).status
    shown = AlertPolicy(AlertSettings(show_encrypted_text=True))
    assert decide(shown, [secret]).alerts[0].body.endswith("the launch code is 1234")


def test_a_preview_is_one_line_without_spoilers_and_capped() -> None:
    html = {
        "msgtype": "m.text",
        "body": "x",
        "format": "org.matrix.custom.html",
        "formatted_body": "first<br>second <span data-mx-spoiler>SECRET</span>",
    }
    (alert,) = decide(AlertPolicy(), [notice(content=html)]).alerts
    assert "\n" not in alert.body and "SECRET" not in alert.body and "first second" in alert.body
    (long,) = decide(AlertPolicy(), [notice("word " * 500)]).alerts
    assert len(long.body) == MAX_BODY and long.body.endswith("…")


def test_an_event_without_text_says_what_it_does_or_names_only_its_sender() -> None:
    invite = notice(content={"membership": "invite"})
    invite.event["type"] = "m.room.member"
    other = notice(room_id="!b:x", content={"url": "mxc://x/y"})
    other.event["type"] = "org.example.thing"
    bodies = [a.body for a in decide(AlertPolicy(), [invite, other]).alerts]
    assert bodies == ["@alice:example.org: invited you", "@alice:example.org"]


def test_the_first_sync_after_a_login_alerts_nothing() -> None:
    decision = AlertPolicy().decide(
        ME,
        [notice(highlight=True)],
        ELSEWHERE,
        catching_up=True,
        now=0,
        room_name=ROOMS.__getitem__,
        initial=True,
    )
    assert decision == Decision()


def test_a_room_without_a_name_is_titled_by_its_id() -> None:
    (alert,) = decide(AlertPolicy(), [notice(room_id="!nameless:x")]).alerts
    assert alert.title == "!nameless:x"


def test_hostile_strings_reach_no_alert_text_as_controls() -> None:
    policy = AlertPolicy(AlertSettings(show_encrypted_text=True))
    names = {"!a:x": HOSTILE}
    decision = policy.decide(
        ME,
        [notice(HOSTILE, sender="@" + HOSTILE, highlight=True)],
        Viewing(),
        catching_up=False,
        now=0,
        room_name=names.__getitem__,
    )
    (alert,) = decision.alerts
    for text in (alert.title, alert.body, decision.status):
        assert not CONTROL.search(text) and "\u202e" not in text


# -- the sequences ----------------------------------------------------------------------------


def test_osc9_sequence_is_exact() -> None:
    assert notification("osc9", "Team", "alice: hi", 1) == "\x1b]9;Team: alice: hi\x07"


def test_osc777_sequence_is_exact_and_fields_lose_their_separator() -> None:
    assert notification("osc777", "Team", "alice: a;b", 1) == "\x1b]777;notify;Team;alice: a,b\x07"


def test_osc99_sequence_is_exact_with_base64_payloads() -> None:
    title, body = base64.b64encode(b"Team").decode(), base64.b64encode(b"alice: hi").decode()
    assert notification("osc99", "Team", "alice: hi", 7) == (
        f"\x1b]99;i=7:d=0:e=1:p=title;{title}\x1b\\\x1b]99;i=7:d=1:e=1:p=body;{body}\x1b\\"
    )


def test_inside_tmux_a_sequence_is_wrapped_for_passthrough() -> None:
    sequence = notification("osc777", "T", "b", 1)
    assert through_tmux(sequence, {}) == sequence
    assert through_tmux(sequence, {"TMUX": "/tmp/tmux-0/default,1,0"}) == (
        "\x1bPtmux;\x1b\x1b]777;notify;T;b\x07\x1b\\"
    )


def test_title_mark_and_its_restoration() -> None:
    assert terminal_alerts.title_mark(3, first=True) == "\x1b[22;2t\x1b]2;(3) tuimatrix\x07"
    assert terminal_alerts.title_mark(4, first=False) == "\x1b]2;(4) tuimatrix\x07"
    assert terminal_alerts.title_restored() == "\x1b]2;tuimatrix\x07\x1b[23;2t"


def _payloads(kind: str, sequence: str) -> list[str]:
    """What a terminal reads as the notification's text in ``sequence``."""
    if kind == "osc99":
        parts = re.fullmatch(r"(\x1b\]99;[^;]*;([A-Za-z0-9+/=]*)\x1b\\)+", sequence)
        assert parts, sequence
        found = re.findall(r"\x1b\]99;[^;]*;([A-Za-z0-9+/=]*)\x1b\\", sequence)
        return [base64.b64decode(p).decode() for p in found]
    prefix = {"osc9": "\x1b]9;", "osc777": "\x1b]777;notify;"}[kind]
    assert sequence.startswith(prefix) and sequence.endswith("\x07"), sequence
    fields = sequence[len(prefix) : -1].split(";")
    assert len(fields) == (2 if kind == "osc777" else 1)  # title;body, or one text
    return fields


@pytest.mark.parametrize("kind", ["osc9", "osc777", "osc99"])
def test_a_hostile_message_cannot_end_split_or_forge_a_sequence(kind: str) -> None:
    sequence = notification(kind, HOSTILE, HOSTILE, 1)
    for payload in _payloads(kind, sequence):
        assert not CONTROL.search(payload) and "\u202e" not in payload
        assert ";" not in payload  # OSC 777's separator, OSC 9's sub-command one
    # The only controls are the sequences' own introducers and terminators.
    own = {"osc9": 2, "osc777": 2, "osc99": 4}[kind]
    assert len(CONTROL.findall(sequence)) == own


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"TERM": "xterm-kitty"}, "osc99"),
        ({"TERM": "tmux-256color", "KITTY_WINDOW_ID": "1"}, "osc99"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"TERM": "xterm-ghostty"}, "osc777"),
        ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
        ({"TERM": "tmux-256color", "LC_TERMINAL": "iTerm2"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm"}, "osc9"),
        ({"WT_SESSION": "x"}, "osc9"),
        ({"TERM": "xterm-256color"}, None),
        ({}, None),
    ],
)
def test_the_terminal_kind_comes_from_the_environment(
    env: dict[str, str], kind: str | None
) -> None:
    assert terminal_kind("auto", env) == kind


def test_the_config_can_force_or_silence_the_terminal_kind() -> None:
    assert terminal_kind("osc777", {"TERM": "xterm-kitty"}) == "osc777"
    assert terminal_kind("off", {"TERM": "xterm-kitty"}) is None


def test_a_storm_across_many_rooms_alerts_a_few_times_and_folds_the_rest() -> None:
    # One message a sync in each of many rooms: every room is within its own rate limit.
    policy = AlertPolicy(AlertSettings(rate_limit=30))
    decisions = [
        decide(policy, [notice(room_id=f"!r{n}:x", n=n)], now=100 + n)
        for n in range(3 * STORM_ALERTS)
    ]
    assert sum(len(d.alerts) for d in decisions) == STORM_ALERTS
    assert decisions[-1].folded == 1 and decisions[-1].status == "1 more new message in !r29:x"
    # A minute after the first of them, alerts go out again.
    assert len(decide(policy, [notice(room_id="!new:x")], now=100 + STORM_WINDOW).alerts) == 1

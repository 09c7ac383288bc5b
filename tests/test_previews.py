"""One-line previews of a message (the inbox's, an alert's) render only what they can show:
a hostile 64 KiB HTML body costs what a short one does, and still previews its start."""

from __future__ import annotations

from typing import Any

from helpers import costs_at_most

from tuimatrix.core import alert_policy, inbox


def html_message(html: str, body: str = "plain") -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": "@bob:x",
        "content": {
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        },
    }


HOSTILE = html_message("<b>x</b><i>y</i> " * 3_800)  # 64 KiB, a tag every few characters
SHORT = html_message("<b>x</b><i>y</i> " * 120)  # 2 KiB


def test_a_hostile_html_body_previews_at_the_cost_of_a_short_one() -> None:
    for preview in (inbox.preview, alert_policy.preview):
        shown = costs_at_most(4, lambda: preview(SHORT), lambda: preview(HOSTILE))  # noqa: B023
        assert shown.startswith("xy xy xy")


def test_a_long_reply_previews_its_own_text_and_a_cut_tag_never_shows() -> None:
    quoted = "<mx-reply><blockquote>" + "quoted " * 2_000 + "</blockquote></mx-reply>"
    reply = html_message(quoted + "the answer", body="> quoted\n\nthe answer")
    assert inbox.preview(reply) == "the answer"
    cut = html_message("<b>" + "a" * 2_040 + "</b><span data-mx-spoiler>secret</span>")
    assert "<" not in inbox.preview(cut) and "secret" not in alert_policy.preview(cut)
    lines = {**SHORT, "content": {"msgtype": "m.text", "body": "\n" * 60_000 + "last"}}
    assert inbox.preview(lines) == "last"

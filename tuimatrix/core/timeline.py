"""Events → timeline items: what a room screen shows, one item per visible event.

Items carry sanitised ``rich.text.Text`` only (built with spans, never markup). Relations are
folded in: an edit replaces its original's body (marked edited), a redaction blanks it;
reactions and edits themselves are not items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from tuimatrix.core.sanitize import clean_line, html_to_text, plain, strip_reply_fallback

#: the message formats: a sender header over each run ("elemental"), or IRC-style columns
FORMATS = ("elemental", "irc")

#: local echo states
SENDING = "sending"
FAILED = "failed"


@dataclass(slots=True)
class TimelineItem:
    """One line-group of the timeline: a message, or a one-line notice (membership, state).

    Slotted: a room scrolled back a long way holds thousands, and every object without a
    ``__dict__`` is one fewer for each full garbage collection to walk.
    """

    key: str  # the event id, or the transaction id while a local echo
    sender_id: str
    sender: str  # display name, sanitised, one line
    ts: int  # origin_server_ts, ms
    body: Text
    #: a message (with a sender header) or a notice (a quiet one-liner)
    is_notice: bool = False
    edited: bool = False
    redacted: bool = False
    #: "" once on the server; SENDING or FAILED for a local echo
    state: str = ""
    error: str = ""
    txn_id: str | None = None
    event_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _content(evt: Mapping[str, Any]) -> dict[str, Any]:
    content = evt.get("content")
    return content if isinstance(content, dict) else {}


def message_body(content: Mapping[str, Any]) -> Text:
    """A message's content as sanitised text: HTML when given, else the plain body."""
    body = content.get("body")
    body = body if isinstance(body, str) else ""
    relates = content.get("m.relates_to")
    is_reply = isinstance(relates, dict) and "m.in_reply_to" in relates
    if is_reply:
        body = strip_reply_fallback(body)
    formatted = content.get("formatted_body")
    if content.get("format") == "org.matrix.custom.html" and isinstance(formatted, str):
        text = html_to_text(formatted, body)
    else:
        text = plain(body)
    msgtype = content.get("msgtype")
    if msgtype == "m.emote":
        text = Text("* ", style="italic") + text
    elif msgtype in ("m.image", "m.file", "m.audio", "m.video"):
        text = Text(f"[{str(msgtype)[2:]}] ", style="dim") + text
    return text


def _membership_line(evt: Mapping[str, Any], names: Mapping[str, str]) -> str:
    content = _content(evt)
    state_key = evt.get("state_key")
    target = state_key if isinstance(state_key, str) else ""
    displayname = content.get("displayname")
    who = names.get(target) or (displayname if isinstance(displayname, str) else None) or target
    sender_id = str(evt.get("sender", ""))
    sender = names.get(sender_id, sender_id)
    membership = content.get("membership")
    prev = (
        evt.get("unsigned", {}).get("prev_content", {})
        if isinstance(evt.get("unsigned"), dict)
        else {}
    )
    prev = prev if isinstance(prev, dict) else {}
    if membership == "join" and prev.get("membership") == "join":
        old, new = prev.get("displayname"), content.get("displayname")
        if old != new:
            return f"{old or target} changed their name to {new or target}"
        return f"{who} changed their avatar"
    verbs = {
        "join": "joined",
        "invite": f"was invited by {sender}",
        "ban": f"was banned by {sender}",
        "knock": "asked to join",
    }
    if membership == "leave":
        if target != evt.get("sender"):
            return f"{who} was removed by {sender}"
        return f"{who} left"
    return f"{who} {verbs.get(str(membership), 'changed membership')}"


#: One-liners for state events: (template, the content field it shows). None hides the event.
_STATE_LINES: dict[str, tuple[str, str] | None] = {
    "m.room.name": ("{sender} named the room {value}", "name"),
    "m.room.topic": ("{sender} set the topic: {value}", "topic"),
    "m.room.avatar": ("{sender} changed the room avatar", ""),
    "m.room.create": ("{sender} created the room", ""),
    "m.room.encryption": ("{sender} turned on end-to-end encryption", ""),
    "m.room.power_levels": ("{sender} changed power levels", ""),
    "m.room.join_rules": ("{sender} set the join rule to {value}", "join_rule"),
    "m.room.history_visibility": (
        "{sender} set history visibility to {value}",
        "history_visibility",
    ),
    "m.room.canonical_alias": ("{sender} set the room address to {value}", "alias"),
    "m.space.child": None,
    "m.space.parent": None,
    "m.room.guest_access": None,
}


def _state_line(evt: Mapping[str, Any], sender: str) -> str | None:
    kind = str(evt.get("type", ""))
    if kind not in _STATE_LINES:
        return f"{sender} changed {kind}"
    line = _STATE_LINES[kind]
    if line is None:
        return None
    template, field_name = line
    # The template is ours; the value is only inserted (and the line is cleaned after).
    return template.format(sender=sender, value=str(_content(evt).get(field_name, "")))


def build_items(
    events: Iterable[Mapping[str, Any]], names: Mapping[str, str], own_user_id: str = ""
) -> list[TimelineItem]:
    """Timeline items for ``events`` (oldest first); ``names`` maps user ids to display names.

    Reactions are gathered under the messages they annotate (``extra["reactions"]``: key,
    count, whether one is ``own_user_id``'s), and a reply gets a one-line preview of the
    message it answers when that message is among ``events`` (``extra["reply"]``), else
    just its id (``extra["reply_to"]``) for the screen to look up.
    """
    events = list(events)
    edits: dict[str, Mapping[str, Any]] = {}
    redacted: set[str] = set()
    for evt in events:
        content = _content(evt)
        relates = content.get("m.relates_to")
        if (
            isinstance(relates, dict)
            and relates.get("rel_type") == "m.replace"
            and isinstance(relates.get("event_id"), str)
            and isinstance(content.get("m.new_content"), dict)
        ):
            original = relates["event_id"]
            # The newest edit wins (events are in timeline order).
            edits[original] = {**evt, "content": content["m.new_content"]}
        elif evt.get("type") == "m.room.redaction":
            target = evt.get("redacts") or content.get("redacts")
            if isinstance(target, str):
                redacted.add(target)
    items = []
    # Senders repeat: clean each display name once, not once per event.
    senders: dict[str, str] = {}
    for evt in events:
        item = event_item(evt, names, edits, redacted, senders)
        if item is not None:
            items.append(item)
    attach_relations(items, events, names, redacted, own_user_id)
    return items


def reply_target(evt: Mapping[str, Any]) -> str | None:
    relates = _content(evt).get("m.relates_to")
    reply = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    target = reply.get("event_id") if isinstance(reply, dict) else None
    return target if isinstance(target, str) else None


def reply_preview(original: Mapping[str, Any], names: Mapping[str, str]) -> Text:
    """One line quoting the message a reply answers: "Alice: the first line…"."""
    sender_id = str(original.get("sender", ""))
    text = Text(clean_line(names.get(sender_id, sender_id)) + ": ", style="bold")
    if "redacted_because" in (original.get("unsigned") or {}) or not _content(original):
        return text + Text("[deleted]", style="italic")
    body = message_body(_content(original))
    first = body.split("\n")[0] if "\n" in body.plain else body
    return text + first


def attach_relations(
    items: list[TimelineItem],
    events: list[Mapping[str, Any]],
    names: Mapping[str, str],
    redacted: set[str],
    own_user_id: str,
) -> None:
    """Reactions under their messages, and reply previews (see build_items)."""
    by_id = {str(e.get("event_id")): e for e in events}
    reactions: dict[str, dict[str, set[str]]] = {}
    for evt in events:
        if evt.get("type") != "m.reaction" or evt.get("event_id") in redacted:
            continue
        relates = _content(evt).get("m.relates_to")
        if not isinstance(relates, dict) or relates.get("rel_type") != "m.annotation":
            continue
        target, key = relates.get("event_id"), relates.get("key")
        if isinstance(target, str) and isinstance(key, str) and key:
            # Counted once per sender, as the spec asks clients to.
            reactions.setdefault(target, {}).setdefault(key, set()).add(str(evt.get("sender")))
    for item in items:
        if item.is_notice or item.redacted:
            continue
        if item.key in reactions:
            item.extra["reactions"] = [
                (clean_line(key), len(senders), own_user_id in senders)
                for key, senders in reactions[item.key].items()
            ]
        source = by_id.get(item.key)
        target = reply_target(source) if source is not None else None
        if target is None:
            continue
        original = by_id.get(target)
        if original is not None:
            item.extra["reply"] = reply_preview(original, names)
        else:
            item.extra["reply_to"] = target


def event_item(
    evt: Mapping[str, Any],
    names: Mapping[str, str],
    edits: Mapping[str, Mapping[str, Any]] | None = None,
    redacted: set[str] | None = None,
    senders: dict[str, str] | None = None,
) -> TimelineItem | None:
    """The item for one event, or None for events that are not shown on their own.

    ``senders`` caches cleaned display names across the events of one batch.
    """
    event_id = str(evt.get("event_id", ""))
    sender_id = str(evt.get("sender", ""))
    if senders is None:
        sender = clean_line(names.get(sender_id, sender_id))
    else:
        cached = senders.get(sender_id)
        if cached is None:
            cached = senders[sender_id] = clean_line(names.get(sender_id, sender_id))
        sender = cached
    ts = evt.get("origin_server_ts")
    kind = str(evt.get("type", ""))
    content = _content(evt)
    unsigned = evt.get("unsigned")
    unsigned = unsigned if isinstance(unsigned, dict) else {}

    def item(body: Text, *, notice: bool = False, **extra: Any) -> TimelineItem:
        return TimelineItem(
            key=event_id,
            sender_id=sender_id,
            sender=sender,
            ts=ts if isinstance(ts, int) else 0,
            body=body,
            is_notice=notice,
            event_type=kind,
            **extra,
        )

    if kind == "m.room.message":
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            return None  # folded into its original
        if (redacted and event_id in redacted) or (not content and "redacted_because" in unsigned):
            return item(Text("[deleted]", style="dim italic"), redacted=True)
        edit = edits.get(event_id) if edits else None
        return item(message_body(_content(edit) if edit else content), edited=edit is not None)
    if kind in ("m.reaction", "m.room.redaction"):
        return None
    if kind == "m.room.encrypted":
        return item(Text("[encrypted message]", style="dim italic"))
    if kind == "m.room.member":
        return item(plain(clean_line(_membership_line(evt, names)), "dim"), notice=True)
    if isinstance(evt.get("state_key"), str):
        line = _state_line(evt, sender)
        return None if line is None else item(plain(clean_line(line), "dim"), notice=True)
    return item(plain(clean_line(f"[{kind}]"), "dim"), notice=True)


def echo_item(echo: Any, sender_id: str, sender: str, now_ms: int) -> TimelineItem:
    """The item for a queued message of ours (a ``sendqueue.LocalEcho``), keyed by its txn id."""
    state = {"queued": SENDING, "failed": FAILED}.get(echo.state, "")
    return TimelineItem(
        key=echo.txn_id,
        sender_id=sender_id,
        sender=clean_line(sender),
        ts=now_ms,
        body=message_body(echo.content),
        state=state,
        error=clean_line(echo.error or ""),
        txn_id=echo.txn_id,
        event_type=echo.event_type,
    )


def transaction_id(evt: Mapping[str, Any]) -> str | None:
    unsigned = evt.get("unsigned")
    txn = unsigned.get("transaction_id") if isinstance(unsigned, dict) else None
    return txn if isinstance(txn, str) else None


def is_relation(evt: Mapping[str, Any]) -> bool:
    """Events that change other items (edits, redactions, reactions) rather than add one."""
    if evt.get("type") in ("m.room.redaction", "m.reaction"):
        return True
    relates = _content(evt).get("m.relates_to")
    return isinstance(relates, dict) and relates.get("rel_type") == "m.replace"

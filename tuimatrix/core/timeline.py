"""Events → timeline items: what a room screen shows, one item per visible event.

Items carry sanitised ``rich.text.Text`` only (built with spans, never markup). Relations are
folded in: an edit replaces its original's body (marked edited), a redaction blanks it;
reactions and edits themselves are not items. Consecutive membership events are one item.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from rich.text import Text

from tuimatrix.core.media import MEDIA_TYPES, Media, media_line, media_of
from tuimatrix.core.redaction import is_pruned, prune_event
from tuimatrix.core.relations import (
    EDIT,
    Edits,
    ThreadSummary,
    new_content,
    reactions,
    reply_target,
    shown_redactions,
    thread_root,
    thread_summaries,
)
from tuimatrix.core.sanitize import clean_line, html_to_text, plain, strip_reply_fallback

#: the message formats: a sender header over each run ("elemental"), or IRC-style columns
FORMATS = ("elemental", "irc")

#: local echo states
SENDING = "sending"
FAILED = "failed"


class Reaction(NamedTuple):
    """One reaction key under a message: ``👍 2``, standing out when one is the user's own."""

    key: str  # sanitised, one line
    total: int  # how many reacted with it, each sender counted once
    own: bool


@dataclass(frozen=True, slots=True)
class ReplyQuote:
    """The message a reply answers, quoted above it."""

    event_id: str
    #: "Alice: the first line…" (sanitised); None while that message is not at hand
    preview: Text | None = None


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """The summary under a thread's root: ``💬 3 replies · last: Alice: …`` (sanitised)."""

    count: int
    text: Text


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
    reply: ReplyQuote | None = None
    reactions: tuple[Reaction, ...] = ()
    thread: ThreadLine | None = None
    #: the file of a media message (for inline images and the media commands)
    media: Media | None = None
    #: why a decrypted message's sender cannot be trusted ("" when it can)
    e2ee_warning: str = ""
    spoiler_revealed: bool = False
    #: the membership events a notice stands for
    members: MembershipRun | None = None


def _content(evt: Mapping[str, Any]) -> dict[str, Any]:
    content = evt.get("content")
    return content if isinstance(content, dict) else {}


def message_body(content: Mapping[str, Any], *, reveal_spoilers: bool = False) -> Text:
    """A message's content as sanitised text: HTML when given, else the plain body.

    Spoilers are hidden unless ``reveal_spoilers``; media show as name and size.
    """
    body = content.get("body")
    body = body if isinstance(body, str) else ""
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and "m.in_reply_to" in relates:
        body = strip_reply_fallback(body)
    formatted = content.get("formatted_body")
    if content.get("format") == "org.matrix.custom.html" and isinstance(formatted, str):
        text = html_to_text(formatted, body, reveal_spoilers=reveal_spoilers)
    else:
        text = plain(body)
    msgtype = content.get("msgtype")
    if msgtype == "m.emote":
        text = Text("* ", style="italic") + text
    elif msgtype in MEDIA_TYPES:
        text = media_line(content, text)
    elif msgtype == "m.key.verification.request":
        # The body is a fallback for clients without verification (spec: hide it).
        text = Text("asked to verify keys (interactive verification)", style="dim italic")
    return text


#: What a one-line preview (an alert, the inbox) renders of a body and of an HTML body: a
#: hostile 64 KiB HTML body costs ~100 ms to render whole, on the UI's loop, per preview.
PREVIEW_BODY = 16_384
PREVIEW_HTML = 2_048
_REPLY_END = "</mx-reply>"


def preview_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """What a one-line preview shows of ``content``: an edit's new content, its body and HTML
    body cut to what one line can show (an HTML reply's quoted ``<mx-reply>`` goes first, as
    rendering drops it anyway)."""
    new = content.get("m.new_content")
    cut = dict(new if isinstance(new, dict) else content)
    body = cut.get("body")
    if isinstance(body, str) and len(body) > PREVIEW_BODY:
        cut["body"] = body.lstrip()[:PREVIEW_BODY]
    html = cut.get("formatted_body")
    if isinstance(html, str) and len(html) > PREVIEW_HTML:
        if html.startswith("<mx-reply>") and (end := html.find(_REPLY_END)) >= 0:
            html = html[end + len(_REPLY_END) :]
        html = html[:PREVIEW_HTML]
        if html.rfind("<") > html.rfind(">"):  # no half tag shown as text
            html = html[: html.rfind("<")]
        cut["formatted_body"] = html
    return cut


def _prev_content(evt: Mapping[str, Any]) -> dict[str, Any]:
    unsigned = evt.get("unsigned")
    prev = unsigned.get("prev_content") if isinstance(unsigned, dict) else None
    return prev if isinstance(prev, dict) else {}


def _member_name(evt: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The name of the user a membership event is about (not yet cleaned): the room's name
    for them, else the one the event (or, for a leave, the state before it) carries."""
    state_key = evt.get("state_key")
    target = state_key if isinstance(state_key, str) else ""
    known = names.get(target)
    if known and known != target:
        return known
    for content in (_content(evt), _prev_content(evt)):
        displayname = content.get("displayname")
        if isinstance(displayname, str) and displayname:
            return displayname
    return target


def _membership_line(evt: Mapping[str, Any], names: Mapping[str, str]) -> str:
    content = _content(evt)
    state_key = evt.get("state_key")
    target = state_key if isinstance(state_key, str) else ""
    who = _member_name(evt, names)
    sender_id = str(evt.get("sender", ""))
    sender = names.get(sender_id, sender_id)
    membership = content.get("membership")
    prev = _prev_content(evt)
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


#: What a membership event did, for coalesced runs: kind -> (one user's verb, many users' verb).
#: The order here is the order of the parts of a run's line.
_MEMBER_KINDS: dict[str, tuple[str, str]] = {
    "join": ("joined", "joined"),
    "leave": ("left", "left"),
    "decline": ("declined the invitation", "declined invitations"),
    "invite": ("was invited", "were invited"),
    "remove": ("was removed", "were removed"),
    "ban": ("was banned", "were banned"),
    "unban": ("was unbanned", "were unbanned"),
    "knock": ("asked to join", "asked to join"),
    "rename": ("changed their name", "changed their names"),
    "avatar": ("changed their avatar", "changed their avatars"),
    "other": ("changed membership", "changed membership"),
}
#: names listed for a part of a run's line ("5 joined (alice, bob, carol, +2)")
RUN_NAMES = 3


def member_change(evt: Mapping[str, Any]) -> str:
    """The kind of change a membership event made (a key of ``_MEMBER_KINDS``)."""
    membership = _content(evt).get("membership")
    prev = _prev_content(evt).get("membership")
    by_self = evt.get("state_key") == evt.get("sender")
    if membership == "join":
        if prev != "join":
            return "join"
        if _prev_content(evt).get("displayname") != _content(evt).get("displayname"):
            return "rename"
        return "avatar"
    if membership == "leave":
        if prev == "ban":
            return "unban"
        if by_self:
            return "decline" if prev == "invite" else "leave"
        return "remove"
    if membership in ("invite", "ban", "knock"):
        return str(membership)
    return "other"


@dataclass(slots=True)
class MembershipRun:
    """Consecutive membership events shown as one line ("3 joined; alice left").

    Each user counts once per kind of change. Adding events costs what they cost, never
    what the run already holds, so a room with thousands of them still opens fast.
    """

    day: int  # the local day of the run: a run never crosses a date line
    #: the line of the run's only event, kept while it has just one (it says more)
    single: str
    event_ids: list[str] = field(default_factory=list)
    #: kind -> user id -> cleaned display name, in first-seen order
    changes: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, evt: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.event_ids.append(str(evt.get("event_id", "")))
        users = self.changes.setdefault(member_change(evt), {})
        user_id = str(evt.get("state_key", ""))
        if user_id not in users:
            users[user_id] = clean_line(_member_name(evt, names))

    def absorb(self, other: MembershipRun) -> None:
        """Take ``other``'s events in (costs ``other``'s size only)."""
        self.event_ids.extend(other.event_ids)
        for kind, users in other.changes.items():
            mine = self.changes.setdefault(kind, {})
            for user_id, name in users.items():
                mine.setdefault(user_id, name)

    def line(self) -> str:
        """The run's line, e.g. "3 joined (alice, bob, carol); dave left".

        Its cost is bounded by the kinds of change, not by the number of events."""
        if len(self.event_ids) == 1:
            return self.single
        parts = []
        # In the order the kinds of change first happened: "3 were invited; 2 joined".
        for kind, users in self.changes.items():
            if not users or kind not in _MEMBER_KINDS:
                continue
            one, many = _MEMBER_KINDS[kind]
            if len(users) == 1:
                parts.append(f"{next(iter(users.values()))} {one}")
                continue
            shown = [name for name, _ in zip(users.values(), range(RUN_NAMES), strict=False)]
            more = f", +{len(users) - RUN_NAMES}" if len(users) > RUN_NAMES else ""
            parts.append(f"{len(users):,} {many} ({', '.join(shown)}{more})")
        return "; ".join(parts)


def local_day(ts: int) -> int:
    """The local calendar day of ``ts`` (ms from the server, so possibly absurd)."""
    try:
        return datetime.fromtimestamp(ts / 1000).toordinal()
    except (OverflowError, OSError, ValueError):
        return 0


def membership_run(item: TimelineItem) -> MembershipRun | None:
    return item.members


def run_item(item: TimelineItem, run: MembershipRun) -> TimelineItem:
    """A fresh item (the view caches by identity) showing ``run`` in ``item``'s place."""
    return TimelineItem(
        key=item.key,
        sender_id=item.sender_id,
        sender=item.sender,
        ts=item.ts,
        body=plain(clean_line(run.line()), "dim"),
        is_notice=True,
        event_type=item.event_type,
        members=run,
    )


def merge_runs(older: TimelineItem, newer: TimelineItem, keep: TimelineItem) -> TimelineItem | None:
    """One item for two adjacent membership runs, keyed as ``keep`` (one of them); None if
    they cannot merge (not both runs, or on different days). ``keep``'s run takes the other's
    in, so the cost is the size of the other run."""
    a, b = membership_run(older), membership_run(newer)
    if a is None or b is None or a.day != b.day:
        return None
    target, other = (a, b) if keep is older else (b, a)
    target.absorb(other)
    merged = run_item(keep, target)
    merged.ts = min(older.ts, newer.ts)
    return merged


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


def _apply_relations(
    events: list[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], Edits, dict[str, str]]:
    """``events`` with those redacted among them pruned (spec redaction algorithm), their
    edits (:class:`relations.Edits`, those taken back left out), and the redacted ids with
    each redaction's reason ("" if none)."""
    by_id = {str(evt.get("event_id")): evt for evt in events}
    redactions = shown_redactions(events, by_id)
    edits = Edits(events, redactions)
    if redactions:
        events = [
            prune_event(evt, redactions[event_id], None)
            if (event_id := str(evt.get("event_id"))) in redactions and not is_pruned(evt)
            else evt
            for evt in events
        ]
    reasons = {}
    for target, redaction in redactions.items():
        reason = _content(redaction).get("reason")
        reasons[target] = reason if isinstance(reason, str) else ""
    return events, edits, reasons


def build_items(
    events: Iterable[Mapping[str, Any]],
    names: Mapping[str, str],
    own_user_id: str = "",
    revealed: Collection[str] = (),
) -> list[TimelineItem]:
    """Timeline items for ``events`` (oldest first); ``names`` maps user ids to display names.

    Messages whose event id is in ``revealed`` show their spoilers. A message shows its
    newest edit (:class:`relations.Edits`); relations from beyond a page
    (``Store.related_events``) go after its events.

    Reactions are gathered under the messages they annotate (``reactions``: key, total,
    whether one is ``own_user_id``'s), and a reply gets a one-line preview of the message it
    answers when that message is among ``events`` (``reply.preview``), else just its id for
    the screen to look up. A thread's root gets its summary (``thread``). A message redacted
    among ``events`` is shown, quoted and summarised in its pruned form only.
    """
    events, edits, redacted = _apply_relations(list(events))
    items: list[TimelineItem] = []
    # Senders repeat: clean each display name once, not once per event.
    senders: dict[str, str] = {}
    for evt in events:
        if evt.get("type") == "m.room.member" and items:
            # Consecutive membership events join the run before them (one line per run).
            run = membership_run(items[-1])
            ts = evt.get("origin_server_ts")
            if run is not None and run.day == local_day(ts if isinstance(ts, int) else 0):
                run.add(evt, names)
                continue
        item = event_item(evt, names, edits, redacted, senders, revealed)
        if item is not None:
            items.append(item)
    for i, item in enumerate(items):
        run = membership_run(item)
        if run is not None and len(run.event_ids) > 1:
            items[i] = run_item(item, run)
    attach_relations(items, events, names, redacted, own_user_id)
    attach_threads(items, events, names)
    return items


def reply_preview(original: Mapping[str, Any], names: Mapping[str, str]) -> Text:
    """One line quoting the message a reply answers: "Alice: the first line…"."""
    sender_id = str(original.get("sender", ""))
    text = Text(clean_line(names.get(sender_id, sender_id)) + ": ", style="bold")
    if "redacted_because" in (original.get("unsigned") or {}) or not _content(original):
        return text + Text("[deleted]", style="italic")
    body = message_body(_content(original))
    first = body.split("\n")[0] if "\n" in body.plain else body
    # A quoted message's bars ("│ │ ") would read as part of the quote's own frame.
    bars = len(first.plain) - len(first.plain.lstrip("│ "))
    return text + (first[bars:] if bars else first)


def reaction_senders(
    events: Sequence[Mapping[str, Any]], target: str, names: Mapping[str, str]
) -> list[tuple[str, list[str]]]:
    """Who reacted to ``target`` with what: (key, sanitised display names), in order seen."""
    by_key = reactions(events).get(target, {})
    return [
        (clean_line(key), [clean_line(names.get(user, user)) for user in senders])
        for key, senders in by_key.items()
    ]


def reactions_text(reactions: list[tuple[str, list[str]]]) -> str:
    """One line per reaction key: "👍 alice, bob"."""
    return "\n".join(f"{key} {', '.join(senders)}" for key, senders in reactions)


def attach_relations(
    items: list[TimelineItem],
    events: list[Mapping[str, Any]],
    names: Mapping[str, str],
    redacted: Collection[str],
    own_user_id: str,
) -> None:
    """Reactions under their messages, and reply quotes (see build_items)."""
    by_id = {str(e.get("event_id")): e for e in events}
    reacted = reactions(events, redacted)
    for item in items:
        if item.is_notice or item.redacted:
            continue
        if item.key in reacted:
            item.reactions = tuple(
                Reaction(clean_line(key), len(senders), own_user_id in senders)
                for key, senders in reacted[item.key].items()
            )
        source = by_id.get(item.key)
        target = reply_target(source) if source is not None else None
        if target is not None:
            item.reply = reply_quote(target, by_id.get(target), names)


def reply_quote(
    target: str, original: Mapping[str, Any] | None, names: Mapping[str, str]
) -> ReplyQuote:
    """The quote of message ``target`` above a reply: a preview once ``original`` (that
    message) is at hand, else only its id for the screen to look up."""
    return ReplyQuote(target, None if original is None else reply_preview(original, names))


def summary_line(summary: ThreadSummary, names: Mapping[str, str]) -> Text:
    """``💬 3 replies · last: Alice: the first line…`` (sanitised; the view truncates it)."""
    noun = "reply" if summary.count == 1 else "replies"
    text = Text(f"💬 {summary.count} {noun}", style="bold")
    latest = summary.latest
    if latest is not None:
        sender_id = str(latest.get("sender", ""))
        text.append(" · last: ")
        text.append(clean_line(names.get(sender_id, sender_id)) + ": ", style="bold")
        content = latest.get("content")
        if isinstance(content, dict) and content and not is_pruned(latest):
            body = message_body(content)
            text.append_text(body.split("\n")[0] if "\n" in body.plain else body)
        else:
            text.append("[deleted]", style="italic")
    return text


def attach_threads(
    items: list[TimelineItem], events: Iterable[Mapping[str, Any]], names: Mapping[str, str]
) -> None:
    """Put a thread summary (``thread``) on every root among ``items``."""
    summaries = thread_summaries(events)
    if not summaries:
        return
    for item in items:
        summary = summaries.get(item.key)
        if summary is not None and not item.is_notice:
            item.thread = ThreadLine(summary.count, summary_line(summary, names))


def event_item(
    evt: Mapping[str, Any],
    names: Mapping[str, str],
    edits: Edits | None = None,
    redacted: Collection[str] | None = None,
    senders: dict[str, str] | None = None,
    revealed: Collection[str] = (),
) -> TimelineItem | None:
    """The item for one event, or None for events that are not shown on their own.

    ``senders`` caches cleaned display names across the events of one batch; a message whose
    id is in ``revealed`` shows its spoilers.
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

    def item(body: Text, *, notice: bool = False, **fields: Any) -> TimelineItem:
        return TimelineItem(
            key=event_id,
            sender_id=sender_id,
            sender=sender,
            ts=ts if isinstance(ts, int) else 0,
            body=body,
            is_notice=notice,
            event_type=kind,
            **fields,
        )

    if thread_root(evt) is not None:
        return None  # a thread reply: its root shows a summary, the thread screen shows it
    if kind == "m.room.message":
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == EDIT:
            return None  # folded into its original
        if (redacted and event_id in redacted) or is_pruned(evt):
            return item(deleted_text(event_id, unsigned, redacted), redacted=True)
        edit = edits.newest(event_id, evt.get("sender")) if edits else None
        if edit is not None:
            content = new_content(edit)
        reveal = event_id in revealed
        return item(
            message_body(content, reveal_spoilers=reveal),
            edited=edit is not None,
            spoiler_revealed=reveal,
            e2ee_warning=(e2ee_warning(edit) if edit else "") or e2ee_warning(evt),
            media=media_of(content),
        )
    if kind in ("m.reaction", "m.room.redaction") or kind.startswith("m.key.verification."):
        return None  # verification steps: the request line and the verification window say it
    if kind == "m.room.encrypted":
        if "redacted_because" in unsigned:
            return item(deleted_text(event_id, unsigned, redacted), redacted=True)
        return item(Text(undecrypted_text(evt, sender), style="dim italic"))
    if kind == "m.room.member":
        member_line = clean_line(_membership_line(evt, names))
        run = MembershipRun(local_day(ts if isinstance(ts, int) else 0), member_line)
        run.add(evt, names)
        return item(plain(member_line, "dim"), notice=True, members=run)
    if isinstance(evt.get("state_key"), str):
        line = _state_line(evt, sender)
        return None if line is None else item(plain(clean_line(line), "dim"), notice=True)
    return item(plain(clean_line(f"[{kind}]"), "dim"), notice=True)


#: what a message decrypted with a key of this trust (core/crypto.py) is marked with
E2EE_WARNINGS = {
    "unverified": "unverified device",
    "unknown-device": "unknown device",
    "blacklisted": "blocked device",
    "forwarded": "authenticity not guaranteed",
    # signed by a master key other than the first one we saw for the sender
    "cross-signed-untrusted": "sender's identity changed",
    "unknown": "authenticity not guaranteed",
}


def e2ee_warning(evt: Mapping[str, Any]) -> str:
    """The warning a decrypted event carries ("" when its sender's device is trusted)."""
    e2ee = evt.get("tm_e2ee")
    trust = e2ee.get("trust") if isinstance(e2ee, dict) else None
    return E2EE_WARNINGS.get(trust, "") if isinstance(trust, str) else ""


def deleted_text(
    event_id: str, unsigned: Mapping[str, Any], redacted: Collection[str] | None
) -> Text:
    """ "[deleted]", with the reason the redaction gave (sanitised) if any."""
    reason: Any = redacted.get(event_id) if isinstance(redacted, Mapping) else None
    if not reason:
        because = unsigned.get("redacted_because")
        content = because.get("content") if isinstance(because, dict) else None
        reason = content.get("reason") if isinstance(content, dict) else None
    if isinstance(reason, str) and clean_line(reason).strip():
        return Text(f"[deleted: {clean_line(reason).strip()}]", style="dim italic")
    return Text("[deleted]", style="dim italic")


def undecrypted_text(evt: Mapping[str, Any], sender: str) -> str:
    """The placeholder of an event whose key we lack: why, and what we wait for.

    ``sender`` is already clean; the reason in ``tm_e2ee`` is our own text (core/crypto.py).
    """
    e2ee = evt.get("tm_e2ee")
    error = e2ee.get("error") if isinstance(e2ee, dict) else None
    if isinstance(error, str):
        return f"🔒 {clean_line(error)}"
    device = _content(evt).get("device_id")
    whose = f"{sender}'s device {clean_line(device)}" if isinstance(device, str) else sender
    return f"🔒 waiting for the key from {whose}…"


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

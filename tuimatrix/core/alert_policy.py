"""Which notices become alerts, through which channels, and what each one says (pure).

A notice (``core/notices.py``: an event the push rules say notifies the user) becomes an alert
unless the user is already looking at its room in a focused terminal. A catch-up after being
offline, or a burst of more notices than ``summary_after`` in one sync, becomes one summary
instead of a storm; a room that alerted less than ``rate_limit`` seconds ago folds its next
notices into the status line's count. Every text here is sanitised (``clean_line``) and capped
before it leaves: a front end puts it inside terminal escape sequences and D-Bus messages.

No Textual, no I/O: the app (``ui/alerts.py``) tells it what is on screen and what time it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.timeline import message_body, preview_content

if TYPE_CHECKING:
    # Only its type: config.py reads the settings here, and exec needs no store to do that.
    from tuimatrix.core.notices import Notice

#: The ways an alert can reach the user besides the status line, which every alert reaches.
CHANNELS = ("desktop", "terminal", "bell", "title")
#: ``[notifications] terminal``: which notification sequence the terminal gets
TERMINAL_CHOICES = ("auto", "osc9", "osc777", "osc99", "off")
#: The longest title and body an alert carries (desktop popups and terminals truncate anyway;
#: the cap keeps a hostile 64 KiB body out of every escape sequence and D-Bus message).
MAX_TITLE = 80
MAX_BODY = 200
#: Alerts at most, across every room and account, in :data:`STORM_WINDOW` seconds: a spammer
#: in many rooms at once (each room within its own rate limit) makes a few popups, and the
#: rest fold into the status line's count.
STORM_ALERTS = 10
STORM_WINDOW = 60.0


@dataclass
class AlertSettings:
    """``[notifications]`` as the policy reads it (``config.py`` ``NotificationsConfig``)."""

    #: alerts at all (the status line still shows errors)
    enabled: bool = True
    #: the channels of highlights (mentions, keywords), and of other notifying messages
    highlight: frozenset[str] = frozenset(CHANNELS)
    other: frozenset[str] = frozenset({"title"})
    #: channels switched off whatever ``highlight`` and ``other`` say
    off: frozenset[str] = frozenset()
    #: ``auto`` (from the terminal's environment), ``osc9``, ``osc777``, ``osc99`` or ``off``
    terminal: str = "auto"
    #: in encrypted rooms, show the message's text (else only the room and the sender)
    show_encrypted_text: bool = False
    #: seconds between two alerts of one room; notices in between fold into the status line
    rate_limit: float = 30.0
    #: more notices than this in one sync make one summary
    summary_after: int = 5

    def channels(self, highlight: bool, sound: bool = True) -> frozenset[str]:
        """The channels a notice of this kind alerts through. The bell rings only where the
        push rule asked for a sound (its ``sound`` tweak: by default direct messages,
        mentions and keywords, not every message of a group)."""
        chosen = (self.highlight if highlight else self.other) - self.off
        return chosen if sound else chosen - {"bell"}


@dataclass(frozen=True, slots=True)
class Viewing:
    """What the user is looking at: whether the terminal has focus, and the room on screen."""

    focused: bool = True
    user_id: str | None = None
    room_id: str | None = None

    def sees(self, user_id: str, room_id: str) -> bool:
        return self.focused and self.user_id == user_id and self.room_id == room_id


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert to show: sanitised, capped text and the channels to use."""

    user_id: str
    #: None for a summary of several rooms
    room_id: str | None
    title: str
    body: str
    channels: frozenset[str]
    highlight: bool
    #: how many notices it stands for (more than one for a summary)
    count: int = 1


@dataclass(frozen=True, slots=True)
class Decision:
    """What one sync's notices come to: the alerts, and the status line's notice."""

    alerts: tuple[Alert, ...] = ()
    #: "" when nothing changes on the status line
    status: str = ""
    #: notices folded by the rate limit (counted in ``status``)
    folded: int = 0


@dataclass
class AlertPolicy:
    """Decides alerts for every account; remembers when each room last alerted."""

    settings: AlertSettings = field(default_factory=AlertSettings)
    #: (user id, room id, highlight) -> when that room last alerted (seconds)
    _last: dict[tuple[str, str, bool], float] = field(default_factory=dict)
    #: when the latest alerts went out (at most STORM_ALERTS of them), oldest first
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=STORM_ALERTS))

    def decide(
        self,
        user_id: str,
        notices: Iterable[Notice],
        viewing: Viewing,
        *,
        catching_up: bool,
        now: float,
        room_name: Callable[[str], str],
        initial: bool = False,
    ) -> Decision:
        """The alerts for ``notices`` of account ``user_id``.

        ``catching_up``: these came with a catch-up (the first sync of a session, or after being
        offline): one summary. ``initial``: the account's first sync ever, right after the
        login: no alert (all of it came before; the room list's counts show it).
        ``room_name``: a room's display name (raw; cleaned here). A room whose notification
        setting is ``none`` never gets here: its events do not notify.
        """
        if not self.settings.enabled or initial:
            return Decision()
        due = [n for n in notices if n.sender != user_id and not viewing.sees(user_id, n.room_id)]
        if not due:
            return Decision()
        if (catching_up and len(due) > 1) or len(due) > self.settings.summary_after:
            summary = self._summary(user_id, due)
            return Decision((summary,), status=f"{summary.title}: {summary.body}")
        alerts: list[Alert] = []
        folded: list[Notice] = []
        for notice in due:
            key = (user_id, notice.room_id, notice.highlight)
            last = self._last.get(key)
            if (last is not None and 0 <= now - last < self.settings.rate_limit) or self._storm(
                now
            ):
                folded.append(notice)
                continue
            self._last[key] = now
            self._recent.append(now)
            alerts.append(self._alert(user_id, notice, room_name(notice.room_id)))
        return Decision(tuple(alerts), _status(alerts, folded, room_name), len(folded))

    def _storm(self, now: float) -> bool:
        """Whether STORM_ALERTS alerts went out in the last STORM_WINDOW seconds."""
        full = len(self._recent) == STORM_ALERTS
        return full and 0 <= now - self._recent[0] < STORM_WINDOW

    def _alert(self, user_id: str, notice: Notice, room: str) -> Alert:
        sender = capped(notice.sender, MAX_TITLE)
        text = preview(notice.event)
        if notice.encrypted and not self.settings.show_encrypted_text:
            body = f"{sender}: sent an encrypted message"
        else:
            body = capped(f"{sender}: {text}" if text.strip() else sender, MAX_BODY)
        return Alert(
            user_id,
            notice.room_id,
            capped(room, MAX_TITLE) or capped(notice.room_id, MAX_TITLE),
            body,
            self.settings.channels(notice.highlight, notice.sound is not None),
            notice.highlight,
        )

    def _summary(self, user_id: str, notices: list[Notice]) -> Alert:
        rooms = len({n.room_id for n in notices})
        highlights = sum(n.highlight for n in notices)
        sound = any(n.sound is not None for n in notices)
        body = f"{_count(len(notices), 'new message')} in {_count(rooms, 'room')}"
        if highlights:
            body += f" ({_count(highlights, 'mention')})"
        return Alert(
            user_id,
            None,
            capped(user_id, MAX_TITLE),
            body,
            self.settings.channels(highlights > 0, sound),
            highlights > 0,
            len(notices),
        )


def capped(text: str, limit: int) -> str:
    """``text`` as one clean line of at most ``limit`` characters (an ellipsis if cut)."""
    line = " ".join(clean_line(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def preview(event: Mapping[str, Any]) -> str:
    """A notifying event's text (its body; a spoiler stays hidden), or what the event does
    when it has no text ("invited you"); "" when neither is known."""
    content = event.get("content")
    if not isinstance(content, dict):
        return ""
    text = message_body(preview_content(content)).plain
    return text if text.strip() else _WITHOUT_TEXT.get(str(event.get("type")), "")


#: What notifying events without a body do, said in an alert (the default push rules notify
#: for invites to the user and for calls).
_WITHOUT_TEXT = {
    "m.room.member": "invited you",
    "m.call.invite": "is calling",
    "org.matrix.msc3401.call.member": "started a call",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _status(alerts: list[Alert], folded: list[Notice], room_name: Callable[[str], str]) -> str:
    """The status line's notice: the last alert, and what the rate limit folded."""
    parts = [f"{alerts[-1].title}: {alerts[-1].body}"] if alerts else []
    if folded:
        rooms = {n.room_id for n in folded}
        room = next(iter(rooms))
        where = (
            capped(room_name(room), MAX_TITLE) or capped(room, MAX_TITLE)
            if len(rooms) == 1
            else _count(len(rooms), "room")
        )
        parts.append(f"{_count(len(folded), 'more new message')} in {where}")
    return " · ".join(parts)

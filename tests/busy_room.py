"""A busy room held in memory, for room-screen snapshots and tests that need no server.

Everything the room screen reads of an account (events, names, the unsent queue, the
fully-read marker, receipts) comes from fixed data with fixed timestamps, so every run
draws the same screen.
"""

from __future__ import annotations

import asyncio
from typing import Any

from room_fixtures import MINUTE, NOW, FakeAccount, FakeApp, FakeStore, room
from textual.events import Mount

from tuimatrix.core.open_timelines import OpenTimelines
from tuimatrix.core.sendqueue import LocalEcho

ROOM = "!busy:example.org"
ME, ALICE, BOB, CAROL = (f"@{n}:example.org" for n in ("me", "alice", "bob", "carol"))
NAMES = {ME: "Me", ALICE: "Alice", BOB: "Bob", CAROL: "Carol"}
#: 2025-01-01 10:00 UTC, two hours before the fixtures' "now"
MORNING = int(NOW * 1000) - 120 * MINUTE
#: the day before, 18:00 UTC
EVENING = MORNING - 16 * 60 * MINUTE


Event = dict[str, Any]


def _event(n: int, sender: str, ts: int, kind: str = "m.room.message", **fields: Any) -> Event:
    return {"event_id": f"$e{n:02d}", "sender": sender, "origin_server_ts": ts, "type": kind} | {
        "room_id": ROOM,
        **fields,
    }


def _text(
    n: int, sender: str, ts: int, body: str, html: str | None = None, more: Event | None = None
) -> Event:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body, **(more or {})}
    if html is not None:
        content |= {"format": "org.matrix.custom.html", "formatted_body": html}
    return _event(n, sender, ts, content=content)


def _join(n: int, user: str, ts: int) -> Event:
    content = {"membership": "join", "displayname": NAMES[user]}
    return _event(n, user, ts, "m.room.member", state_key=user, content=content)


def busy_events() -> list[dict[str, Any]]:
    """The room's events, oldest first: something of everything a timeline shows."""
    m = MORNING
    return [
        # Yesterday: three joins, one line.
        _join(1, ALICE, EVENING),
        _join(2, BOB, EVENING + 1000),
        _join(3, CAROL, EVENING + 2000),
        # Today (a date line): formatted messages, a reply, an edit, a deletion, reactions.
        _text(
            4,
            BOB,
            m,
            "> ship it\n\n- tests\n- docs",
            "<blockquote>ship <b>it</b></blockquote><ul><li>tests pass</li>"
            '<li>docs at <a href="https://example.org/docs">the docs</a></li></ul>',
        ),
        _text(
            5,
            BOB,
            m + MINUTE,
            "def ship(): return True",
            '<pre><code class="language-python">def ship(): return True</code></pre>',
        ),
        _text(
            6,
            ME,
            m + 2 * MINUTE,
            "> <@bob:example.org> ship it\n\non it, with `make release`",
            "on it, with <code>make release</code>",
            more={"m.relates_to": {"m.in_reply_to": {"event_id": "$e04"}}},
        ),
        _text(7, ALICE, m + 3 * MINUTE, "this was a mistake"),
        _event(8, ALICE, m + 4 * MINUTE, "m.room.redaction", redacts="$e07", content={}),
        _text(9, ALICE, m + 5 * MINUTE, "the release is at 11"),
        _text(
            10,
            ALICE,
            m + 6 * MINUTE,
            "* the release is at 11:30",
            more={
                "m.new_content": {"msgtype": "m.text", "body": "the release is at 11:30"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$e09"},
            },
        ),
        *(
            _event(
                n,
                who,
                m + 7 * MINUTE,
                "m.reaction",
                content={
                    "m.relates_to": {"rel_type": "m.annotation", "event_id": "$e04", "key": k}
                },
            )
            for n, who, k in ((11, ME, "👍"), (12, ALICE, "👍"), (13, CAROL, "🎉"))
        ),
        # Half an hour later (a time header): a thread, a file, the fully-read line, receipts.
        _text(14, ALICE, m + 40 * MINUTE, "launch checklist, in the thread"),
        _text(
            15,
            BOB,
            m + 41 * MINUTE,
            "done",
            more={"m.relates_to": {"rel_type": "m.thread", "event_id": "$e14"}},
        ),
        _text(
            16,
            CAROL,
            m + 42 * MINUTE,
            "me too",
            more={"m.relates_to": {"rel_type": "m.thread", "event_id": "$e14"}},
        ),
        _event(
            17,
            BOB,
            m + 43 * MINUTE,
            content={
                "msgtype": "m.file",
                "body": "release-notes.pdf",
                "url": "mxc://example.org/notes",
                "info": {"size": 123_456, "mimetype": "application/pdf"},
            },
        ),
    ]


#: the event the fully-read line sits under
FULLY_READ = "$e14"
#: others' read receipts: user -> event
RECEIPTS = {ALICE: "$e09", BOB: "$e17"}


class BusyStore(FakeStore):
    """What the room screen reads of a store."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__()
        self.events = events
        self.data[(ROOM, "m.fully_read")] = {"event_id": FULLY_READ}

    async def account_data(self, types: list[str] | None = None) -> dict[tuple[str, str], Any]:
        return self.data

    async def latest_events(self, room_id: str, limit: int) -> list[dict[str, Any]]:
        return self.events[-limit:] if room_id == ROOM else []

    async def events_before(self, room_id: str, event_id: str, limit: int) -> list[Event]:
        return []

    async def related_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return []  # the busy room's relations are all among its events

    async def event(self, event_id: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event_id"] == event_id), None)

    async def receipts(self, room_id: str) -> list[dict[str, Any]]:
        return [
            {"user_id": u, "receipt_type": "m.read", "thread_id": "", "event_id": e, "ts": n}
            for n, (u, e) in enumerate(RECEIPTS.items())
        ]


class FailedQueue:
    """One message of ours that could not be sent."""

    async def pending(self, room_id: str | None = None) -> list[LocalEcho]:
        content = {"msgtype": "m.text", "body": "did this go out?"}
        error = "connection refused"
        return [LocalEcho("tm1.failed", ROOM, "m.room.message", content, "failed", None, error)]


class BusyAccount(FakeAccount):
    """An account with one busy room. ``mark_read`` calls are recorded; with ``hang`` the
    fully-read one never answers (a server that stopped responding)."""

    def __init__(self, hang: bool = False) -> None:
        super().__init__(ME, [room(ROOM, "Release crew", topic="shipping 2.0 today")])
        self.store = BusyStore(busy_events())
        self.send_queue = FailedQueue()
        self.marked: list[tuple[str, bool]] = []
        self.hang = hang
        #: the room screen opens its timeline here while mounted, as in a real account
        self.timelines = OpenTimelines()

    async def member_names(self, room_id: str) -> dict[str, str]:
        return dict(NAMES)

    async def load_older(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return []

    async def fetch_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        raise LookupError(event_id)

    async def mark_read(
        self, room_id: str, event_id: str, *, fully_read: bool = True, private: bool = False
    ) -> None:
        self.marked.append((event_id, fully_read))
        if fully_read and self.hang:
            await asyncio.Event().wait()

    async def set_typing(self, room_id: str, typing: bool) -> None:
        pass


class BusyRoomApp(FakeApp):
    """The real app over a :class:`BusyAccount`, with the busy room open in ``message_format``."""

    def __init__(self, message_format: str = "elemental", hang: bool = False) -> None:
        self.account = BusyAccount(hang)
        super().__init__([self.account])
        self._format = message_format

    def message_format(self, account: Any, room_id: str) -> str:
        return self._format

    async def on_mount(self, event: Mount) -> None:  # type: ignore[override]
        await super().on_mount(event)
        self.open_room(self.account, ROOM)  # type: ignore[arg-type]

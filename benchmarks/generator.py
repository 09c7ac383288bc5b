"""Synthetic but valid ``/sync`` responses of a large account, deterministic from a seed.

An account has joined rooms (group chats, DMs listed in ``m.direct``, spaces with
``m.space.child``/``m.space.parent``, some end-to-end encrypted), invites, a few left rooms and
tags (favourites with an order, low priority, a user tag). Timelines mix plain messages with
realistic bodies, HTML (links, code, quotes, lists, mention pills), emotes, notices, files,
replies with and without fallbacks, edits, reactions, redactions and membership changes.
Lazy-loaded member lists, summaries with heroes, unread counts, receipts and typing are there
too. Two stress rooms come as incremental syncs: one with 10,000 events, one with a storm of
5,000 membership events.

Everything comes from one ``random.Random(seed)`` and lists (never sets, whose order changes
per process), so the same seed gives byte-identical responses.

A store is built by feeding the responses through our real ``apply_sync`` (:func:`build_store`),
exactly as the sync loop would, minus the network.
"""

from __future__ import annotations

import base64
import random
import socket
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from tuimatrix.paths import Paths

#: Our synthetic user, and the servers the other users live on.
SERVER = "bench.example"
OWN_USER = f"@me:{SERVER}"
OWN_NAME = "Benchmark Me"
OTHER_SERVERS = (SERVER, "matrix.org", "example.org", "chat.example.net", "kde.org")
#: 2026-01-01T00:00:00Z: the newest event of the account is at most this old plus a few days.
BASE_TS = 1_767_225_600_000
DAY_MS = 86_400_000

Event = dict[str, Any]
SyncResponse = dict[str, Any]


@dataclass(frozen=True)
class Size:
    """An account size: joined rooms and timeline events per joined room."""

    name: str
    rooms: int
    events_per_room: int


SMALL = Size("small", 50, 20)
LARGE = Size("large", 1_000, 20)
HUGE = Size("huge", 5_000, 10)
SIZES = {size.name: size for size in (SMALL, LARGE, HUGE)}

#: The two stress rooms.
BIG_ROOM_EVENTS = 10_000
STORM_EVENTS = 5_000


@dataclass
class Expected:
    """What a generated response holds, for checking that a store took all of it."""

    joined: list[str] = field(default_factory=list)
    invited: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    spaces: list[str] = field(default_factory=list)
    direct: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    favourites: list[str] = field(default_factory=list)
    low_priority: list[str] = field(default_factory=list)
    #: timeline events per joined or left room
    events: dict[str, int] = field(default_factory=dict)
    #: room id → display name the spec's algorithm gives (names and aliases only)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def merge(self, other: Expected) -> None:
        """Add ``other``'s rooms (a later response) to this one."""
        for name in ("joined", "invited", "left", "spaces", "direct", "encrypted"):
            mine: list[str] = getattr(self, name)
            mine.extend(r for r in getattr(other, name) if r not in mine)
        self.favourites.extend(other.favourites)
        self.low_priority.extend(other.low_priority)
        for room_id, n in other.events.items():
            self.events[room_id] = self.events.get(room_id, 0) + n
        self.names.update(other.names)


# -- words ---------------------------------------------------------------------------------

_FIRST = (
    "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert "
    "Sybil Trent Victor Walter Yusuf Zoe Amara Björn Chloé Dmitri Eszter Fatima Gustavo Hana "
    "Ingrid Jonas Kenji Leila Mateo Nadia Oskar Priya Quentin Rosa Sanjay Tomasz Ursula Vera "
    "Wen Ximena Yara Zeynep Aoife Bongani Céline Darius Elif Farid Giulia"
).split()
_LAST = (
    "Smith Jones Müller García Rossi Nowak Kowalski Tanaka Kim Nguyen Silva Novak Dubois "
    "Johansson Petrov Cohen Okafor Haddad Fischer Moreau Lopez Ivanova Schmidt Bianchi Larsen "
    "Yilmaz Papadopoulos O'Brien Sato Chen"
).split()
_WORDS = (
    "the the the a a a to to of of and and and is is it it in in that that for for you you i "
    "i we we this this on on with with just just be be have have not not are are was was but "
    "so so if if do do can can will will what what about about think think like like know "
    "know yes no maybe ok okay thanks thank please sorry sure right now today tomorrow "
    "yesterday later soon again still also really very much more some any all new old good "
    "great nice bad fine weird interesting release build test tests server client room rooms "
    "message messages sync store database bug bugs fix fixed issue issues patch branch merge "
    "commit review deploy config key keys device devices encryption verify session login "
    "logout homeserver federation bridge bot space spaces thread threads reply edit reaction "
    "meeting call notes agenda draft doc docs link screenshot log logs error crash timeout "
    "slow fast faster memory cpu disk network version upgrade python rust textual terminal "
    "window screen scroll keyboard shortcut palette command theme colour font unicode emoji "
    "coffee lunch weekend holiday train weather morning evening night team project plan idea "
    "question answer problem solution works working broken looks seems should could would "
    "might need want try tried trying see saw look looking check checked checking make made "
    "going get got use used using run running ran start started stop stopped wait waiting"
).split()
_EMOJI = ("🙂", "😂", "👍", "🎉", "❤️", "🚀", "🤔", "👀", "🔥", "✅", "🙏", "😅")
_REACTIONS = ("👍", "❤️", "😂", "🎉", "👀", "🙏", "+1", "🚀", "😮", "✅")
_LANGS = ("python", "rust", "bash", "json", "toml")
_CODE = (
    "async def main() -> None:\n    await client.sync(timeout=30_000)",
    'fn main() {\n    println!("hello, matrix");\n}',
    "curl -s https://matrix.example/_matrix/client/versions | jq .versions",
    '{"room_id": "!abc:example.org", "limit": 50}',
    "[room]\nlazy_load_members = true\ntimeline_limit = 50",
)
_DOMAINS = ("github.com", "matrix.org", "docs.python.org", "en.wikipedia.org", "example.com")
_TOPICS = (
    "General chat",
    "Releases and announcements only, please",
    "Off-topic: anything goes, be nice",
    "Development of the {x} client — PRs welcome",
    "Weekly meeting notes: https://notes.example.com/{x}",
    "Support for {x}. Read the FAQ before asking!",
    "Bridged to #{x} on Libera.Chat",
)


class SyncGenerator:
    """Builds ``/sync`` responses; every call draws from the same seeded generator."""

    def __init__(self, seed: int = 7, own_user: str = OWN_USER) -> None:
        self.rng = random.Random(seed)
        self.own_user = own_user
        self._batch = 0
        self.users = self._make_users(6_000)
        self.names = dict(self.users)

    # -- primitives ---------------------------------------------------------------------------

    def _token(self, nbytes: int = 32) -> str:
        raw = self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def event_id(self) -> str:
        """An event id in the style of room versions 4 and later."""
        return "$" + self._token(32)

    def room_id(self) -> str:
        letters = "".join(self.rng.choices(string.ascii_letters, k=18))
        return f"!{letters}:{SERVER}"

    def next_batch(self) -> str:
        self._batch += 1
        return f"s{self._batch}_{self.rng.randrange(10**6)}_0_1_1_1_1_{self._batch}_1"

    def _make_users(self, n: int) -> list[tuple[str, str]]:
        users = [(self.own_user, OWN_NAME)]
        for i in range(n):
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            server = OTHER_SERVERS[min(int(self.rng.expovariate(1.2)), len(OTHER_SERVERS) - 1)]
            local = f"{first.lower()}.{last.lower()}{i}".encode("ascii", "ignore").decode()
            local = "".join(c for c in local if c.isalnum() or c in "._-") or f"user{i}"
            roll = self.rng.random()
            if roll < 0.03:
                name = first  # a common first name alone: collides, disambiguated
            elif roll < 0.05:
                name = ""  # no display name: the user id is shown
            elif roll < 0.07:
                name = f"{first} {self.rng.choice(_EMOJI)}"
            else:
                name = f"{first} {last}"
            users.append((f"@{local}:{server}", name))
        return users

    def _member_content(self, user_id: str, membership: str = "join") -> dict[str, Any]:
        content: dict[str, Any] = {"membership": membership}
        name = self.names.get(user_id, "")
        if name and membership in ("join", "invite"):
            content["displayname"] = name
        if membership == "join" and self.rng.random() < 0.4:
            content["avatar_url"] = f"mxc://{SERVER}/{self._token(12)}"
        return content

    def _sentence(self, words: int) -> str:
        picked = self.rng.choices(_WORDS, k=max(1, words))
        text = " ".join(picked)
        text = text[0].upper() + text[1:]
        return text + self.rng.choice((".", ".", ".", "?", "!", ""))

    def _body(self) -> str:
        roll = self.rng.random()
        if roll < 0.02:  # a long paragraph or two
            return "\n\n".join(
                " ".join(self._sentence(self.rng.randint(8, 25)) for _ in range(5))
                for _ in range(self.rng.randint(1, 3))
            )
        if roll < 0.07:  # a few lines
            return "\n".join(
                self._sentence(self.rng.randint(2, 10)) for _ in range(self.rng.randint(2, 4))
            )
        text = self._sentence(int(self.rng.lognormvariate(2.0, 0.7)))
        extra = self.rng.random()
        if extra < 0.05:
            text += f" https://{self.rng.choice(_DOMAINS)}/{self._token(6)}"
        elif extra < 0.12:
            text += " " + self.rng.choice(_EMOJI)
        elif extra < 0.14:
            text = "ok"
        return text

    # -- events -------------------------------------------------------------------------------

    def _event(
        self, type_: str, sender: str, content: dict[str, Any], ts: int, **extra: Any
    ) -> Event:
        evt: Event = {
            "type": type_,
            "sender": sender,
            "content": content,
            "event_id": self.event_id(),
            "origin_server_ts": ts,
            "unsigned": {"age": max(0, BASE_TS + 7 * DAY_MS - ts)},
        }
        evt.update(extra)
        return evt

    def _state(
        self, type_: str, sender: str, content: dict[str, Any], ts: int, key: str = ""
    ) -> Event:
        return self._event(type_, sender, content, ts, state_key=key)

    def _html_message(self) -> dict[str, Any]:
        kind = self.rng.randrange(7)
        if kind == 0:
            word, rest = self.rng.choice(_WORDS), self._sentence(6)
            return _html(f"**{word}** {rest}", f"<strong>{word}</strong> {_esc(rest)}")
        if kind == 1:
            url = f"https://{self.rng.choice(_DOMAINS)}/{self._token(5)}"
            label = self._sentence(3)
            return _html(f"[{label}]({url})", f'see <a href="{url}">{_esc(label)}</a>')
        if kind == 2:
            lang, code = self.rng.choice(_LANGS), self.rng.choice(_CODE)
            return _html(
                f"```{lang}\n{code}\n```",
                f'<pre><code class="language-{lang}">{_esc(code)}</code></pre>',
            )
        if kind == 3:
            quote, answer = self._sentence(8), self._sentence(5)
            return _html(
                f"> {quote}\n\n{answer}",
                f"<blockquote>\n<p>{_esc(quote)}</p>\n</blockquote>\n<p>{_esc(answer)}</p>",
            )
        if kind == 4:
            items = [self._sentence(4) for _ in range(self.rng.randint(2, 5))]
            return _html(
                "\n".join(f"- {i}" for i in items),
                "<ul>\n" + "".join(f"<li>{_esc(i)}</li>\n" for i in items) + "</ul>",
            )
        if kind == 5:
            user_id, name = self.rng.choice(self.users[1:200])
            name = name or user_id
            rest = self._sentence(6)
            return _html(
                f"{name}: {rest}",
                f'<a href="https://matrix.to/#/{user_id}">{_esc(name)}</a>: {_esc(rest)}',
            )
        word, rest = self.rng.choice(_WORDS), self._sentence(5)
        return _html(
            f"{rest} `{word}` ~~{word}~~",
            f"{_esc(rest)} <code>{word}</code> <del>{word}</del> "
            f'<span data-mx-color="#d0457b">{word}</span>',
        )

    def _message(
        self, sender: str, ts: int, earlier: Sequence[Event], encrypted: bool
    ) -> list[Event]:
        """One timeline entry (sometimes two: a redaction rewrites its target)."""
        if encrypted:
            return [self._encrypted(sender, ts)]
        messages = [e for e in earlier[-30:] if e["type"] == "m.room.message" and e["content"]]
        roll = self.rng.random()
        if roll < 0.10:
            content = self._html_message()
        elif roll < 0.12:
            content = {"msgtype": "m.emote", "body": self._sentence(5).lower()}
        elif roll < 0.13:
            content = {"msgtype": "m.notice", "body": "[bot] " + self._sentence(10)}
        elif roll < 0.16:
            content = self._file()
        elif roll < 0.20 and messages:
            target = self.rng.choice(messages)
            content = self._reply(target)
        elif roll < 0.22 and messages:
            target = self.rng.choice(messages)
            new = self._body()
            content = {
                "msgtype": "m.text",
                "body": f"* {new}",
                "m.new_content": {"msgtype": "m.text", "body": new},
                "m.relates_to": {"rel_type": "m.replace", "event_id": target["event_id"]},
            }
            sender = target["sender"]
        elif roll < 0.27 and messages:
            target = self.rng.choice(messages)
            return [
                self._event(
                    "m.reaction",
                    sender,
                    {
                        "m.relates_to": {
                            "rel_type": "m.annotation",
                            "event_id": target["event_id"],
                            "key": self.rng.choice(_REACTIONS),
                        }
                    },
                    ts,
                )
            ]
        elif roll < 0.28 and messages:
            target = self.rng.choice(messages)
            redaction = self._event(
                "m.room.redaction",
                target["sender"],
                {"redacts": target["event_id"], "reason": "oops"},
                ts,
                redacts=target["event_id"],
            )
            # As a server sends it once redacted: no content, the redaction in unsigned.
            target["content"] = {}
            target["unsigned"]["redacted_because"] = dict(redaction)
            return [redaction]
        else:
            content = {"msgtype": "m.text", "body": self._body()}
        if self.rng.random() < 0.3:
            content["m.mentions"] = {}
        return [self._event("m.room.message", sender, content, ts)]

    def _reply(self, target: Event) -> dict[str, Any]:
        answer = self._body()
        content: dict[str, Any] = {
            "msgtype": "m.text",
            "body": answer,
            "m.relates_to": {"m.in_reply_to": {"event_id": target["event_id"]}},
            "m.mentions": {"user_ids": [target["sender"]]},
        }
        if self.rng.random() < 0.5:  # the pre-v1.13 fallback, which we strip when showing
            quoted = str(target["content"].get("body", "")).split("\n")[0]
            content["body"] = f"> <{target['sender']}> {quoted}\n\n{answer}"
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = (
                f'<mx-reply><blockquote><a href="https://matrix.to/#/!r/{target["event_id"]}">'
                f'In reply to</a> <a href="https://matrix.to/#/{target["sender"]}">'
                f"{_esc(target['sender'])}</a><br>{_esc(quoted)}</blockquote></mx-reply>"
                f"{_esc(answer)}"
            )
        return content

    def _file(self) -> dict[str, Any]:
        kind = self.rng.choice(("m.image", "m.image", "m.file", "m.video", "m.audio"))
        ext = {"m.image": "jpg", "m.file": "pdf", "m.video": "mp4", "m.audio": "ogg"}[kind]
        mime = {"m.image": "image/jpeg", "m.file": "application/pdf"}.get(kind, f"{kind[2:]}/{ext}")
        info: dict[str, Any] = {"mimetype": mime, "size": self.rng.randrange(10_000, 9_000_000)}
        if kind == "m.image":
            info.update(w=self.rng.choice((800, 1280, 1920)), h=self.rng.choice((600, 720, 1080)))
        return {
            "msgtype": kind,
            "body": f"{self.rng.choice(('IMG', 'scan', 'notes'))}_{self.rng.randrange(9999)}.{ext}",
            "url": f"mxc://{SERVER}/{self._token(18)}",
            "info": info,
        }

    def _encrypted(self, sender: str, ts: int) -> Event:
        size = self.rng.randrange(120, 900)
        return self._event(
            "m.room.encrypted",
            sender,
            {
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": base64.b64encode(self.rng.randbytes(size)).decode().rstrip("="),
                "sender_key": self._token(32),
                "device_id": "".join(self.rng.choices(string.ascii_uppercase, k=10)),
                "session_id": self._token(32),
            },
            ts,
        )

    def _membership_change(self, room_members: list[str], pool: Sequence[str], ts: int) -> Event:
        """A join of someone new, a leave, or a display-name change."""
        roll = self.rng.random()
        if roll < 0.45 or len(room_members) < 3:
            user = self.rng.choice(pool)
            if user not in room_members:
                room_members.append(user)
            return self._state("m.room.member", user, self._member_content(user), ts, user)
        user = self.rng.choice(room_members[1:])
        if roll < 0.8:
            room_members.remove(user)
            return self._state("m.room.member", user, {"membership": "leave"}, ts, user)
        old = self._member_content(user)
        new = dict(old, displayname=f"{self.rng.choice(_FIRST)} ({self.rng.choice(_WORDS)})")
        evt = self._state("m.room.member", user, new, ts, user)
        evt["unsigned"]["prev_content"] = old
        return evt

    # -- rooms --------------------------------------------------------------------------------

    def _timeline(
        self,
        members: list[str],
        pool: Sequence[str],
        n: int,
        end_ts: int,
        encrypted: bool,
        membership_share: float = 0.04,
    ) -> list[Event]:
        """``n`` events ending around ``end_ts``, senders mostly from ``members``."""
        events: list[Event] = []
        ts = end_ts - int(n * self.rng.expovariate(1 / 600_000))
        # A few people do most of the talking.
        weights = [1.0 / (i + 1) for i in range(len(members))]
        while len(events) < n:
            ts += int(self.rng.expovariate(1 / 90_000)) + 500
            if self.rng.random() < membership_share:
                events.append(self._membership_change(members, pool, ts))
                continue
            if len(weights) != len(members):
                weights = [1.0 / (i + 1) for i in range(len(members))]
            sender = self.rng.choices(members, weights)[0]
            events.extend(self._message(sender, ts, events, encrypted))
        return events[:n]

    def _room_state(
        self,
        creator: str,
        ts: int,
        *,
        name: str | None,
        members: list[str],
        space: bool = False,
        encrypted: bool = False,
        alias: str | None = None,
        topic: str | None = None,
    ) -> list[Event]:
        create: dict[str, Any] = {"creator": creator, "room_version": "10"}
        if space:
            create["type"] = "m.space"
        state = [
            self._state("m.room.create", creator, create, ts),
            self._state(
                "m.room.power_levels",
                creator,
                {
                    "users": {creator: 100},
                    "users_default": 0,
                    "events_default": 0,
                    "state_default": 50,
                    "ban": 50,
                    "kick": 50,
                    "redact": 50,
                    "invite": 0,
                    "events": {"m.room.name": 50, "m.room.power_levels": 100},
                },
                ts + 1,
            ),
            self._state(
                "m.room.join_rules",
                creator,
                {"join_rule": self.rng.choice(("invite", "public", "knock"))},
                ts + 2,
            ),
            self._state(
                "m.room.history_visibility", creator, {"history_visibility": "shared"}, ts + 3
            ),
        ]
        if name:
            state.append(self._state("m.room.name", creator, {"name": name}, ts + 4))
        if topic:
            state.append(self._state("m.room.topic", creator, {"topic": topic}, ts + 5))
        if alias:
            state.append(self._state("m.room.canonical_alias", creator, {"alias": alias}, ts + 6))
        if self.rng.random() < 0.3:
            url = f"mxc://{SERVER}/{self._token(12)}"
            state.append(self._state("m.room.avatar", creator, {"url": url}, ts + 7))
        if encrypted:
            state.append(
                self._state(
                    "m.room.encryption",
                    creator,
                    {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_ms": 604_800_000},
                    ts + 8,
                )
            )
        state.extend(
            self._state("m.room.member", m, self._member_content(m), ts + 10 + i, m)
            for i, m in enumerate(members)
        )
        return state

    def _room_name(self) -> str:
        roll = self.rng.random()
        words = self.rng.sample(_WORDS[120:], 2)
        if roll < 0.4:
            return f"{words[0].capitalize()} {words[1]}"
        if roll < 0.6:
            return f"#{words[0]}-{words[1]}"
        if roll < 0.7:
            return f"{words[0].capitalize()} {self.rng.choice(_EMOJI)}"
        return f"{self.rng.choice(_FIRST)}'s {words[0]} {words[1]}"

    def _joined_room(
        self,
        room_id: str,
        kind: str,
        n_events: int,
        end_ts: int,
        expected: Expected,
        *,
        encrypted: bool,
        members_hint: int | None = None,
    ) -> dict[str, Any]:
        """One joined room of an initial sync; kind is "group", "dm" or "space"."""
        pool = [u for u, _ in self.users[1:]]
        if kind == "dm":
            members = [self.own_user, self.rng.choice(pool)]
            joined_count = 2
        else:
            size = members_hint or max(3, int(self.rng.lognormvariate(2.3, 1.1)))
            members = [self.own_user, *self.rng.sample(pool, min(size, 12))]
            joined_count = max(size, len(members))
        start_members = list(members)
        name = None if kind == "dm" else self._room_name()
        if kind == "space":
            name = f"{self.rng.choice(_FIRST)}'s {self.rng.choice(('community', 'team', 'space'))}"
        alias = None
        if kind != "dm" and self.rng.random() < 0.5:
            alias = f"#{self._token(6).lower().replace('_', '-')}:{SERVER}"
        topic = None
        if kind != "dm" and self.rng.random() < 0.6:
            topic = self.rng.choice(_TOPICS).format(x=self.rng.choice(_WORDS[120:]))
        creator = members[1] if kind == "dm" or self.rng.random() < 0.7 else self.own_user
        timeline = self._timeline(
            members,
            pool[:3000],
            n_events,
            end_ts,
            encrypted and kind != "space",
            membership_share={"space": 0.5, "dm": 0.0}.get(kind, 0.04),
        )
        create_ts = timeline[0]["origin_server_ts"] - self.rng.randrange(DAY_MS, 400 * DAY_MS)
        # Lazy loading: the state block has the members the timeline needs (and us).
        senders = list(dict.fromkeys([*start_members, *(e["sender"] for e in timeline)]))
        senders = [s for s in senders if s in start_members or not _joins(timeline, s)]
        state = self._room_state(
            creator,
            create_ts,
            name=name,
            members=senders,
            space=kind == "space",
            encrypted=encrypted,
            alias=alias,
            topic=topic,
        )
        heroes = [m for m in start_members if m != self.own_user][:5]
        notifications = int(self.rng.expovariate(0.3)) if self.rng.random() < 0.3 else 0
        last = timeline[-1]
        receipts: dict[str, Any] = {
            last["event_id"]: {
                "m.read": {
                    u: {"ts": last["origin_server_ts"] + 1000}
                    for u in self.rng.sample(start_members, min(3, len(start_members)))
                }
            }
        }
        ephemeral: list[Event] = [{"type": "m.receipt", "content": receipts}]
        if self.rng.random() < 0.02:
            ephemeral.append({"type": "m.typing", "content": {"user_ids": [members[1]]}})
        account_data: list[Event] = []
        if self.rng.random() < 0.5:
            account_data.append(
                {"type": "m.fully_read", "content": {"event_id": timeline[-1]["event_id"]}}
            )
        room: dict[str, Any] = {
            "summary": {
                "m.heroes": heroes,
                "m.joined_member_count": joined_count,
                "m.invited_member_count": 0,
            },
            "state": {"events": state},
            "timeline": {
                "events": timeline,
                "limited": n_events >= 10,
                "prev_batch": f"t{self.rng.randrange(10**6)}-{self.rng.randrange(10**7)}_0_0",
            },
            "ephemeral": {"events": ephemeral},
            "account_data": {"events": account_data},
            "unread_notifications": {
                "notification_count": notifications,
                "highlight_count": 1 if notifications and self.rng.random() < 0.2 else 0,
            },
        }
        expected.joined.append(room_id)
        expected.events[room_id] = len(timeline)
        if encrypted:
            expected.encrypted.append(room_id)
        if name:
            expected.names[room_id] = name
        elif alias:
            expected.names[room_id] = alias
        return room

    def _invite(self, room_id: str, direct: bool) -> dict[str, Any]:
        inviter = self.rng.choice(self.users[1:500])[0]
        stripped: list[Event] = [
            {
                "type": "m.room.create",
                "sender": inviter,
                "state_key": "",
                "content": {"creator": inviter, "room_version": "10"},
            },
            {
                "type": "m.room.join_rules",
                "sender": inviter,
                "state_key": "",
                "content": {"join_rule": "invite"},
            },
            {
                "type": "m.room.member",
                "sender": inviter,
                "state_key": inviter,
                "content": self._member_content(inviter),
            },
        ]
        if not direct:
            stripped.append(
                {
                    "type": "m.room.name",
                    "sender": inviter,
                    "state_key": "",
                    "content": {"name": self._room_name()},
                }
            )
        own: dict[str, Any] = {"membership": "invite", "displayname": OWN_NAME}
        if direct:
            own["is_direct"] = True
        stripped.append(
            {"type": "m.room.member", "sender": inviter, "state_key": self.own_user, "content": own}
        )
        return {"invite_state": {"events": stripped}}

    def _left(self, room_id: str, end_ts: int, expected: Expected) -> dict[str, Any]:
        pool = [u for u, _ in self.users[1:]]
        members = [self.own_user, *self.rng.sample(pool, 4)]
        timeline = self._timeline(list(members), pool[:3000], 5, end_ts, False, 0.0)
        timeline.append(
            self._state(
                "m.room.member",
                self.own_user,
                {"membership": "leave"},
                end_ts + 1000,
                self.own_user,
            )
        )
        state = self._room_state(
            members[1], end_ts - 30 * DAY_MS, name=self._room_name(), members=members
        )
        expected.left.append(room_id)
        expected.events[room_id] = len(timeline)
        return {
            "state": {"events": state},
            "timeline": {"events": timeline, "limited": False, "prev_batch": "t0-0_0_0"},
            "account_data": {"events": []},
        }

    # -- responses ----------------------------------------------------------------------------

    def initial_sync(self, size: Size) -> tuple[SyncResponse, Expected]:
        """An initial ``/sync`` of an account of ``size``, and what it holds."""
        expected = Expected()
        n = size.rooms
        kinds = ["group"] * n
        n_spaces = max(1, n // 50)
        n_dms = max(2, n * 15 // 100)
        for i in range(n_spaces):
            kinds[i] = "space"
        for i in range(n_spaces, n_spaces + n_dms):
            kinds[i] = "dm"
        self.rng.shuffle(kinds)
        room_ids = [self.room_id() for _ in range(n)]
        join: dict[str, Any] = {}
        for room_id, kind in zip(room_ids, kinds, strict=True):
            # Activity is skewed: most rooms were active recently, a long tail was not.
            end_ts = BASE_TS - int(self.rng.expovariate(1 / (5 * DAY_MS)))
            encrypted = self.rng.random() < (0.4 if kind == "dm" else 0.08)
            join[room_id] = self._joined_room(
                room_id, kind, size.events_per_room, end_ts, expected, encrypted=encrypted
            )
            if kind == "space":
                expected.spaces.append(room_id)
        groups = [r for r, k in zip(room_ids, kinds, strict=True) if k == "group"]
        # Spaces: each lists some rooms as children; some children name the space back.
        for space in expected.spaces:
            state = join[space]["state"]["events"]
            sender = state[0]["sender"]
            for child in self.rng.sample(groups, min(len(groups), self.rng.randint(5, 30))):
                via = {"via": [SERVER], "suggested": self.rng.random() < 0.2}
                state.append(self._state("m.space.child", sender, via, BASE_TS - DAY_MS, child))
                if self.rng.random() < 0.5:
                    parent = {"via": [SERVER], "canonical": True}
                    join[child]["state"]["events"].append(
                        self._state("m.space.parent", sender, parent, BASE_TS - DAY_MS, space)
                    )
        # m.direct: DMs by the other member.
        direct: dict[str, list[str]] = {}
        for room_id, kind in zip(room_ids, kinds, strict=True):
            if kind == "dm":
                other = join[room_id]["summary"]["m.heroes"][0]
                direct.setdefault(other, []).append(room_id)
                expected.direct.append(room_id)
        # Tags.
        for room_id in groups + expected.direct:
            roll = self.rng.random()
            tags: dict[str, Any] = {}
            if roll < 0.03:
                tags["m.favourite"] = {"order": round(self.rng.random(), 3)}
                expected.favourites.append(room_id)
            elif roll < 0.08:
                tags["m.lowpriority"] = {}
                expected.low_priority.append(room_id)
            if self.rng.random() < 0.02:
                tags["u.work"] = {}
            if tags:
                join[room_id]["account_data"]["events"].append(
                    {"type": "m.tag", "content": {"tags": tags}}
                )
        invite: dict[str, Any] = {}
        for i in range(max(1, n // 50)):
            room_id = self.room_id()
            is_direct = i % 3 == 0
            invite[room_id] = self._invite(room_id, is_direct)
            expected.invited.append(room_id)
        leave: dict[str, Any] = {}
        for _ in range(max(1, n // 100)):
            room_id = self.room_id()
            end_ts = BASE_TS - int(self.rng.expovariate(1 / (30 * DAY_MS)))
            leave[room_id] = self._left(room_id, end_ts, expected)
        presence = [
            {
                "type": "m.presence",
                "sender": u,
                "content": {
                    "presence": self.rng.choice(("online", "offline", "unavailable")),
                    "last_active_ago": self.rng.randrange(10**7),
                },
            }
            for u, _ in self.users[1:41]
        ]
        resp: SyncResponse = {
            "next_batch": self.next_batch(),
            "account_data": {
                "events": [
                    {"type": "m.direct", "content": direct},
                    {"type": "m.ignored_user_list", "content": {"ignored_users": {}}},
                    {"type": "m.push_rules", "content": _PUSH_RULES},
                ]
            },
            "presence": {"events": presence},
            "rooms": {"join": join, "invite": invite, "leave": leave, "knock": {}},
            "to_device": {"events": []},
            "device_lists": {"changed": [], "left": []},
            "device_one_time_keys_count": {"signed_curve25519": 50},
            "device_unused_fallback_key_types": ["signed_curve25519"],
        }
        return resp, expected

    def _room_syncs(
        self, room_id: str, timeline: list[Event], state: list[Event], batch: int
    ) -> list[SyncResponse]:
        """Incremental syncs delivering ``timeline`` in batches (the first brings the state)."""
        responses: list[SyncResponse] = []
        for start in range(0, len(timeline), batch):
            chunk = timeline[start : start + batch]
            room: dict[str, Any] = {
                "timeline": {"events": chunk, "limited": False, "prev_batch": self.next_batch()},
                "unread_notifications": {"notification_count": 0, "highlight_count": 0},
            }
            if start == 0:
                room["state"] = {"events": state}
                room["summary"] = {
                    "m.heroes": [e["state_key"] for e in state if e["type"] == "m.room.member"][
                        1:6
                    ],
                    "m.joined_member_count": sum(1 for e in state if e["type"] == "m.room.member"),
                    "m.invited_member_count": 0,
                }
            responses.append({"next_batch": self.next_batch(), "rooms": {"join": {room_id: room}}})
        return responses

    def big_room_syncs(
        self, events: int = BIG_ROOM_EVENTS, batch: int = 1_000
    ) -> tuple[list[SyncResponse], str, Expected]:
        """A busy room with ``events`` events (30 regulars), as incremental syncs."""
        room_id = self.room_id()
        pool = [u for u, _ in self.users[1:]]
        members = [self.own_user, *self.rng.sample(pool, 30)]
        timeline = self._timeline(members, pool[:3000], events, BASE_TS, False, 0.02)
        start_members = [m for m in members if not _joins(timeline, m) or m == self.own_user]
        state = self._room_state(
            members[1],
            timeline[0]["origin_server_ts"] - DAY_MS,
            name="Busy room",
            members=list(dict.fromkeys([*start_members, *(e["sender"] for e in timeline)])),
            topic="A room with ten thousand events",
        )
        expected = Expected(joined=[room_id], events={room_id: len(timeline)})
        expected.names[room_id] = "Busy room"
        return self._room_syncs(room_id, timeline, state, batch), room_id, expected

    def membership_storm_syncs(
        self, events: int = STORM_EVENTS, batch: int = 1_000
    ) -> tuple[list[SyncResponse], str, Expected]:
        """A room whose timeline is ``events`` membership changes (joins, leaves, renames,
        invites, kicks and bans by ~2,000 people), as incremental syncs."""
        room_id = self.room_id()
        creator = self.users[1][0]
        pool = [u for u, _ in self.users[2:2002]]
        present: list[str] = []
        ts = BASE_TS - 3 * DAY_MS
        timeline: list[Event] = []
        while len(timeline) < events:
            ts += int(self.rng.expovariate(1 / 20_000)) + 100
            roll = self.rng.random()
            if roll < 0.5 or len(present) < 10:
                user = self.rng.choice(pool)
                evt = self._state("m.room.member", user, self._member_content(user), ts, user)
                if user in present:
                    evt["unsigned"]["prev_content"] = self._member_content(user)
                else:
                    present.append(user)
            elif roll < 0.8:
                user = self.rng.choice(present)
                present.remove(user)
                evt = self._state("m.room.member", user, {"membership": "leave"}, ts, user)
                evt["unsigned"]["prev_content"] = self._member_content(user)
            elif roll < 0.9:
                user = self.rng.choice(pool)
                evt = self._state(
                    "m.room.member", creator, self._member_content(user, "invite"), ts, user
                )
            else:
                user = self.rng.choice(present)
                present.remove(user)
                membership = self.rng.choice(("leave", "ban"))
                content = {"membership": membership, "reason": "spam"}
                evt = self._state("m.room.member", creator, content, ts, user)
            timeline.append(evt)
        state = self._room_state(
            creator,
            BASE_TS - 10 * DAY_MS,
            name="Membership storm",
            members=[self.own_user, creator],
            topic="A public room that everyone joins and leaves",
        )
        expected = Expected(joined=[room_id], events={room_id: len(timeline)})
        expected.names[room_id] = "Membership storm"
        return self._room_syncs(room_id, timeline, state, batch), room_id, expected


def _joins(timeline: Sequence[Event], user: str) -> bool:
    """Whether ``user`` joins in ``timeline`` (then the state block leaves them out)."""
    return any(
        e["type"] == "m.room.member"
        and e.get("state_key") == user
        and e["content"].get("membership") == "join"
        and "prev_content" not in e["unsigned"]
        for e in timeline
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html(body: str, formatted: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
    }


#: A realistic, trimmed m.push_rules (the server defaults a client receives).
_PUSH_RULES: dict[str, Any] = {
    "global": {
        "override": [
            {
                "rule_id": ".m.rule.master",
                "default": True,
                "enabled": False,
                "conditions": [],
                "actions": [],
            },
            {
                "rule_id": ".m.rule.suppress_notices",
                "default": True,
                "enabled": True,
                "conditions": [
                    {"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}
                ],
                "actions": [],
            },
            {
                "rule_id": ".m.rule.is_user_mention",
                "default": True,
                "enabled": True,
                "conditions": [
                    {
                        "kind": "event_property_contains",
                        "key": "content.m\\.mentions.user_ids",
                        "value": OWN_USER,
                    }
                ],
                "actions": [
                    "notify",
                    {"set_tweak": "sound", "value": "default"},
                    {"set_tweak": "highlight"},
                ],
            },
        ],
        "underride": [
            {
                "rule_id": ".m.rule.message",
                "default": True,
                "enabled": True,
                "conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
                "actions": ["notify"],
            },
            {
                "rule_id": ".m.rule.encrypted",
                "default": True,
                "enabled": True,
                "conditions": [
                    {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}
                ],
                "actions": ["notify"],
            },
        ],
        "content": [],
        "room": [],
        "sender": [],
    }
}


# -- accounts: responses, bytes, stores and profiles ------------------------------------------


@dataclass
class Account:
    """A generated account: its sync responses in order, and what they hold."""

    responses: list[SyncResponse]
    expected: Expected
    big_room: str | None = None
    storm_room: str | None = None


def generate_account(
    size: Size,
    *,
    seed: int = 7,
    big_room: int = 0,
    storm_room: int = 0,
) -> Account:
    """The initial sync of ``size``, then the incremental syncs of the stress rooms: one with
    ``big_room`` events and one with ``storm_room`` membership events (none for 0)."""
    gen = SyncGenerator(seed)
    initial, expected = gen.initial_sync(size)
    account = Account([initial], expected)
    if big_room:
        responses, account.big_room, more = gen.big_room_syncs(big_room)
        account.responses += responses
        expected.merge(more)
    if storm_room:
        responses, account.storm_room, more = gen.membership_storm_syncs(storm_room)
        account.responses += responses
        expected.merge(more)
    return account


def to_bytes(resp: SyncResponse) -> bytes:
    """The response as a homeserver sends it (compact UTF-8 JSON)."""
    return orjson.dumps(resp)


async def build_store(path: Path, responses: Iterable[SyncResponse]) -> None:
    """Create the store at ``path`` from ``responses``, through our real sync path.

    Each response is applied and committed with its ``next_batch`` in one transaction, as
    ``Account.sync_once`` does (without the network and the crypto hook).
    """
    from tuimatrix.core.store import Store
    from tuimatrix.core.sync import apply_sync

    store = Store(path)
    await store.open()
    try:
        for i, resp in enumerate(responses):
            async with store.transaction() as conn:
                await apply_sync(conn, resp, initial=i == 0)
    finally:
        await store.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released), so requests fail fast."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def profile_paths(home: Path) -> Paths:
    """The locations ``TUIMATRIX_HOME=home`` gives."""
    from tuimatrix.paths import Paths

    return Paths(home / "config", home / "data", home / "state", home / "cache")


async def make_profile(home: Path, responses: Iterable[SyncResponse]) -> Path:
    """A ``TUIMATRIX_HOME`` with one saved session whose store holds ``responses``.

    The session's homeserver is a closed loopback port: the app starts, shows the stored
    rooms and fails to sync, without touching the network. Returns the store's path.
    """
    from tuimatrix.core.session import STORE_FILE, SessionInfo, account_dir, save_session

    paths = profile_paths(home)
    session = SessionInfo(
        user_id=OWN_USER,
        homeserver=f"http://127.0.0.1:{closed_port()}",
        device_id="BENCHDEVICE",
        access_token="syt_benchmark_token",
    )
    save_session(paths, session)
    store_path = account_dir(paths, OWN_USER) / STORE_FILE
    await build_store(store_path, responses)
    return store_path

"""Room summaries: what the room list shows of a room, derived from the store.

Display names follow the spec's "Calculating the display name for a room": ``m.room.name``,
then the canonical alias, then the heroes (disambiguated member names), then "Empty room".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.store import Store, loads
from tuimatrix.core.sync import gc_paused

#: Rooms read and rebuilt between two yields to the event loop while refreshing many rooms.
ROOMS_PER_STEP = 100

#: The state types a summary is built from (members only for heroes and our own).
SUMMARY_STATE_TYPES = (
    "m.room.name",
    "m.room.canonical_alias",
    "m.room.topic",
    "m.room.avatar",
    "m.room.create",
    "m.room.encryption",
    "m.space.child",
    "m.space.parent",
    "m.room.member",
)


@dataclass
class RoomSummary:
    room_id: str
    membership: str = "join"
    name: str = ""
    display_name: str = ""
    canonical_alias: str | None = None
    topic: str = ""
    avatar_url: str | None = None
    is_space: bool = False
    encrypted: bool = False
    is_direct: bool = False
    tags: dict[str, float | None] = field(default_factory=dict)
    space_children: list[str] = field(default_factory=list)
    space_parents: list[str] = field(default_factory=list)
    joined_count: int = 0
    invited_count: int = 0
    notification_count: int = 0
    highlight_count: int = 0
    latest_ts: int = 0
    inviter: str | None = None
    #: the user marked it unread (``m.marked_unread``, spec v1.12)
    marked_unread: bool = False

    @property
    def is_favourite(self) -> bool:
        return "m.favourite" in self.tags

    @property
    def is_low_priority(self) -> bool:
        return "m.lowpriority" in self.tags


#: A room's current state by (type, state key): (sender, content).
_State = dict[tuple[str, str], tuple[str | None, dict[str, Any]]]


def summary_label(room: RoomSummary) -> str:
    """What a room is called on screen, as one safe line: its display name, else its id (a
    name that is nothing but control characters counts as none). ``room_names.room_label``
    is the same for a room id."""
    return clean_line(room.display_name) or clean_line(room.room_id)


@dataclass
class _RoomState:
    """The raw inputs of one room's summary: its row in ``rooms`` and its state."""

    row: Mapping[str, Any] | None = None
    state: _State = field(default_factory=dict)


def member_names(members: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """Display names of members, disambiguated as the spec asks.

    A name shared by two members, or that looks like a user id, gets the user id appended.
    """
    counts: dict[str, int] = {}
    for content in members.values():
        name = content.get("displayname")
        if isinstance(name, str) and name:
            counts[name] = counts.get(name, 0) + 1
    names = {}
    for user_id, content in members.items():
        name = content.get("displayname")
        if not isinstance(name, str) or not name:
            names[user_id] = user_id
        elif counts[name] > 1 or name.startswith("@"):
            names[user_id] = f"{name} ({user_id})"
        else:
            names[user_id] = name
    return names


def compute_display_name(
    name: str,
    alias: str | None,
    heroes: list[str],
    hero_names: Mapping[str, str],
    joined: int,
    invited: int,
) -> str:
    if name:
        return name
    if alias:
        return alias
    shown = [hero_names.get(h, h) for h in heroes]
    others = joined + invited - 1
    if shown:
        if others <= 0 and joined + invited <= 1:
            return "Empty room (was " + ", ".join(shown) + ")"
        if others > len(shown):
            return ", ".join(shown) + f" and {others - len(shown)} others"
        if len(shown) == 1:
            return shown[0]
        return ", ".join(shown[:-1]) + " and " + shown[-1]
    return "Empty room"


def build_summary(
    room_id: str,
    inputs: _RoomState,
    own_user_id: str,
    direct_rooms: set[str],
    tags: Mapping[str, Any] | None,
    marked_unread: bool = False,
) -> RoomSummary:
    row = inputs.row or {}
    state = inputs.state

    def content(type_: str, key: str = "") -> dict[str, Any]:
        entry = state.get((type_, key))
        return entry[1] if entry else {}

    name = content("m.room.name").get("name")
    name = name if isinstance(name, str) else ""
    alias = content("m.room.canonical_alias").get("alias")
    alias = alias if isinstance(alias, str) else None
    topic = content("m.room.topic").get("topic")
    avatar = content("m.room.avatar").get("url")
    create = content("m.room.create")
    # One pass over the state for what is keyed by user or room id.
    members: dict[str, dict[str, Any]] = {}
    children: list[str] = []
    parents: list[str] = []
    for (type_, key), (_, value) in state.items():
        if type_ == "m.room.member":
            members[key] = value
        elif type_ == "m.space.child":
            if value.get("via"):
                children.append(key)
        elif type_ == "m.space.parent" and value.get("via"):
            parents.append(key)
    joined = row.get("joined_count")
    invited = row.get("invited_count")
    if joined is None:
        joined = sum(1 for c in members.values() if c.get("membership") == "join")
    if invited is None:
        invited = sum(1 for c in members.values() if c.get("membership") == "invite")
    if name or alias:
        display_name = name or alias or ""
    else:
        # Only a room without a name or an alias is named after its members.
        heroes_raw = row.get("heroes") or "[]"
        heroes = [h for h in loads(heroes_raw) if isinstance(h, str) and h != own_user_id]
        if not heroes and row.get("membership") in ("invite", "knock", None):
            # Invites carry no summary: the stripped member events stand in for heroes.
            heroes = [u for u in members if u != own_user_id][:5]
        display_name = compute_display_name(
            name, alias, heroes, member_names(members), int(joined), int(invited)
        )
    own = state.get(("m.room.member", own_user_id))
    encrypted = bool(content("m.room.encryption").get("algorithm"))
    # The server cannot read an encrypted room's messages: its counts there miss mentions
    # and keywords. Ours come from the push rules evaluated on the decrypted events.
    counted = "local_" if encrypted else ""
    tag_map: dict[str, float | None] = {}
    if isinstance(tags, Mapping):
        for tag, info in tags.items():
            order = info.get("order") if isinstance(info, dict) else None
            tag_map[str(tag)] = float(order) if isinstance(order, int | float) else None
    return RoomSummary(
        room_id=room_id,
        membership=str(row.get("membership") or "join"),
        name=name,
        display_name=display_name,
        canonical_alias=alias,
        topic=topic if isinstance(topic, str) else "",
        avatar_url=avatar if isinstance(avatar, str) else None,
        is_space=create.get("type") == "m.space",
        encrypted=encrypted,
        is_direct=room_id in direct_rooms,
        tags=tag_map,
        space_children=sorted(children),
        space_parents=sorted(parents),
        joined_count=int(joined),
        invited_count=int(invited),
        notification_count=int(row.get(f"{counted}notification_count") or 0),
        highlight_count=int(row.get(f"{counted}highlight_count") or 0),
        latest_ts=int(row.get("latest_ts") or 0),
        inviter=own[0] if own and own[1].get("membership") == "invite" else None,
        marked_unread=marked_unread,
    )


#: Room account data that marks a room unread: the spec's (v1.12) and the unstable name
#: clients wrote before it (MSC2867), read both as Element does.
MARKED_UNREAD = ("m.marked_unread", "com.famedly.marked_unread")


def marked_unread_rooms(account_data: Mapping[tuple[str, str], Any]) -> set[str]:
    """The rooms marked unread, from account data by (room id, type). The stable type wins
    over the unstable one when a room has both."""
    marks: dict[str, bool] = {}
    for type_ in reversed(MARKED_UNREAD):
        for (room_id, kind), content in account_data.items():
            if room_id and kind == type_ and isinstance(content, dict):
                marks[room_id] = content.get("unread") is True
    return {room_id for room_id, unread in marks.items() if unread}


def direct_room_ids(m_direct: Any) -> set[str]:
    rooms: set[str] = set()
    if isinstance(m_direct, dict):
        for room_ids in m_direct.values():
            if isinstance(room_ids, list):
                rooms.update(r for r in room_ids if isinstance(r, str))
    return rooms


_NOT_MEMBERS = tuple(t for t in SUMMARY_STATE_TYPES if t != "m.room.member")


class RoomModels:
    """Every room summary of one account, kept up to date from the store.

    Only the summaries stay in memory: a refresh reads the few rooms a sync touched again,
    so the parsed state of a thousand rooms is not kept (nor walked by every full garbage
    collection) for the rare change that needs it.
    """

    def __init__(self, store: Store, own_user_id: str) -> None:
        self.store = store
        self.own_user_id = own_user_id
        self.summaries: dict[str, RoomSummary] = {}
        self._direct: set[str] = set()
        self._tags: dict[str, Any] = {}
        self._marked_unread: set[str] = set()

    async def load(self) -> None:
        """Read every room from the store (at start: no network needed).

        No full garbage collection runs meanwhile: with the app's modules loaded, each would
        walk them all for every few thousand objects this creates.
        """
        with gc_paused():
            await self._load_account_data()
            rows = {r["room_id"]: dict(r) for r in await self.store.room_rows()}
            states = _group_state(await self.store.state_rows(_NOT_MEMBERS))
            # Member events are most of the state, and most summaries need only ours: read
            # the others only for the rooms that need them (about 90% less to parse at start).
            needy = [r for r, row in rows.items() if _needs_members(row, states.get(r, {}))]
            members = await self.store.state_rows(("m.room.member",), room_ids=needy)
            members += await self.store.member_rows(self.own_user_id)
            _group_state(members, into=states)
            self.summaries = {
                room_id: self._build(room_id, row, states.get(room_id, {}))
                for room_id, row in rows.items()
            }

    async def refresh(self, room_ids: Iterable[str], account_data_changed: bool = False) -> None:
        """Recompute the summaries of ``room_ids`` (after a sync touched them).

        Only those rooms are read again, :data:`ROOMS_PER_STEP` at a time, and the event loop
        runs between two steps, so an initial sync's thousands of rooms never freeze the UI.
        When account data changed, so are the rooms whose DM flag or tags it changed. No full
        garbage collection runs meanwhile.
        """
        with gc_paused():
            changed = list(dict.fromkeys(room_ids))
            if account_data_changed:
                seen = set(changed)
                changed += [r for r in await self._reload_account_data() if r not in seen]
            for i in range(0, len(changed), ROOMS_PER_STEP):
                await self._refresh_rooms(changed[i : i + ROOMS_PER_STEP])
                await asyncio.sleep(0)

    async def _refresh_rooms(self, room_ids: list[str]) -> None:
        rows = {r["room_id"]: dict(r) for r in await self.store.room_rows(room_ids)}
        states = _group_state(await self.store.state_rows(SUMMARY_STATE_TYPES, room_ids=room_ids))
        for room_id in room_ids:
            row = rows.get(room_id)
            if row is None:
                # Known only from account data (e.g. a tag on a room we never joined), or forgotten.
                self.summaries.pop(room_id, None)
            else:
                self.summaries[room_id] = self._build(room_id, row, states.get(room_id, {}))

    async def _load_account_data(self) -> None:
        data = await self.store.account_data(types=("m.direct", "m.tag", *MARKED_UNREAD))
        self._direct = direct_room_ids(data.get(("", "m.direct")))
        self._tags = {
            room_id: content.get("tags")
            for (room_id, type_), content in data.items()
            if room_id and type_ == "m.tag" and isinstance(content, dict)
        }
        self._marked_unread = marked_unread_rooms(data)

    async def _reload_account_data(self) -> list[str]:
        """Read ``m.direct``, the tags and the unread marks again; the rooms whose summaries
        they change."""
        old_direct, old_tags, old_marked = self._direct, self._tags, self._marked_unread
        await self._load_account_data()
        affected = old_direct ^ self._direct
        affected |= old_marked ^ self._marked_unread
        affected.update(
            room_id
            for room_id in old_tags.keys() | self._tags.keys()
            if old_tags.get(room_id) != self._tags.get(room_id)
        )
        return sorted(affected)

    def _build(self, room_id: str, row: Mapping[str, Any], state: _State) -> RoomSummary:
        return build_summary(
            room_id,
            _RoomState(row, state),
            self.own_user_id,
            self._direct,
            self._tags.get(room_id),
            room_id in self._marked_unread,
        )


def _needs_members(row: Mapping[str, Any], state: _State) -> bool:
    """Whether :func:`build_summary` needs all of a room's members (not just our own): for
    a room named after its members, or one whose member counts are not stored."""
    name = state.get(("m.room.name", ""), (None, {}))[1].get("name")
    alias = state.get(("m.room.canonical_alias", ""), (None, {}))[1].get("alias")
    named = (isinstance(name, str) and name) or (isinstance(alias, str) and alias)
    return not named or row.get("joined_count") is None or row.get("invited_count") is None


def _group_state(rows: Iterable[Any], into: dict[str, _State] | None = None) -> dict[str, _State]:
    """State rows (room id, type, state key, sender, content) by room, contents parsed."""
    states: dict[str, _State] = {} if into is None else into
    for room_id, type_, state_key, sender, content in rows:
        state = states.get(room_id)
        if state is None:
            state = states[room_id] = {}
        state[(type_, state_key)] = (sender, loads(content))
    return states

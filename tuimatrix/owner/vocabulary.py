"""What a shell completes, gathered where the accounts are (the owner) and sent to the shell.

Plain data (names, ids, tags), so that completing a word needs no round trip: the shell asks
for it again before each prompt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuimatrix.core.accounts import Accounts


@dataclass(frozen=True)
class RoomWord:
    """A room as completion offers it: by name or by alias."""

    value: str
    meta: str
    #: the account it is a room of
    account: str
    is_space: bool
    is_alias: bool


@dataclass
class Vocabulary:
    rooms: list[RoomWord] = field(default_factory=list)
    #: user id → display name, of members known in the stores
    users: dict[str, str] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> Vocabulary:
        """Read what an owner sent; anything malformed is left out, never an error."""
        if not isinstance(value, dict):
            return cls()
        rooms = []
        for room in value.get("rooms") or ():
            try:
                rooms.append(RoomWord(**room))
            except TypeError:
                continue
        users = value.get("users")
        return cls(
            rooms=[r for r in rooms if isinstance(r.value, str) and isinstance(r.meta, str)],
            users={
                k: v
                for k, v in (users.items() if isinstance(users, dict) else ())
                if isinstance(k, str) and isinstance(v, str)
            },
            accounts=[a for a in value.get("accounts") or () if isinstance(a, str)],
            tags=[t for t in value.get("tags") or () if isinstance(t, str)],
        )


async def vocabulary_of(accounts: Accounts) -> Vocabulary:
    """Rooms (names and aliases), members, accounts and tags of every account."""
    from tuimatrix.commands.tags import tag_suggestions
    from tuimatrix.core.room_names import nameable_rooms
    from tuimatrix.core.store import loads

    several = len(accounts) > 1
    rooms: list[RoomWord] = []
    for owner, room in nameable_rooms(accounts):
        meta = room.canonical_alias or ("space" if room.is_space else "room")
        if several:
            meta += f" · {owner.user_id}"
        if room.display_name:
            rooms.append(RoomWord(room.display_name, meta, owner.user_id, room.is_space, False))
        if room.canonical_alias:
            rooms.append(
                RoomWord(
                    room.canonical_alias, room.display_name, owner.user_id, room.is_space, True
                )
            )
    users: dict[str, str] = {}
    for account in accounts:
        for row in await account.store.state_rows(["m.room.member"]):
            user_id = str(row["state_key"])
            try:
                name = loads(row["content"]).get("displayname")
            except (ValueError, AttributeError):
                name = None
            if not users.get(user_id):
                users[user_id] = name if isinstance(name, str) else ""
    return Vocabulary(
        rooms=rooms,
        users=users,
        accounts=[account.user_id for account in accounts],
        tags=tag_suggestions(accounts),
    )


class VocabularyCache:
    """The owner's vocabulary, gathered again only after a sync changed something: a shell
    asks before every prompt, and reading every member row each time would be a pause in
    the app's loop on a large account."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self._value: dict[str, Any] | None = None
        self._accounts_seen: tuple[str, ...] = ()
        accounts.add_listener(self._changed)

    def _changed(self, account: object, change: object) -> None:
        from tuimatrix.core.sync import SyncChanges

        if isinstance(change, SyncChanges):
            self._value = None

    async def get(self) -> dict[str, Any]:
        seen = tuple(account.user_id for account in self.accounts)
        if self._value is None or seen != self._accounts_seen:
            self._value = (await vocabulary_of(self.accounts)).to_json()
            self._accounts_seen = seen
        return self._value

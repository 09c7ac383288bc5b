"""What OlmMachine needs to know of rooms, read from our own ``room_state`` table.

mautrix's crypto asks a state store whether a room is encrypted, with which settings, and
which encrypted rooms a user shares with us (to rotate keys when their devices change). Our
sync already writes every state event to ``room_state`` in the same transaction as the
timeline, so answering from there keeps one copy of the state, always in step with the events.

Members are lazy-loaded by the sync filter, so ``room_state`` may know only some of them.
Before a room key is shared, :meth:`CryptoStateStore.members_for_keys` loads the full list
once per room (``GET /members``); later changes arrive by sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from mautrix.crypto import StateStore
from mautrix.types import (
    EncryptionAlgorithm,
    RoomEncryptionStateEventContent,
    RoomID,
    UserID,
)

from tuimatrix.core.store import Store, dumps, loads

#: Who gets the room key: members who can read what we send now (spec: joined and invited).
KEY_MEMBERSHIPS = ("join", "invite")
MEMBERS_LOADED = "members_loaded:"

FetchMembers = Callable[[str], Awaitable[list[dict[str, Any]]]]


class CryptoStateStore(StateStore):
    def __init__(self, store: Store, fetch_members: FetchMembers) -> None:
        self.store = store
        self._fetch_members = fetch_members

    async def is_encrypted(self, room_id: RoomID) -> bool:
        return await self.get_encryption_info(room_id) is not None

    async def get_encryption_info(self, room_id: RoomID) -> RoomEncryptionStateEventContent | None:
        state = await self.store.state_event(room_id, "m.room.encryption")
        if state is None:
            return None
        if not isinstance(state[1].get("algorithm"), str) or not state[1]["algorithm"]:
            # Emptied by a later state event: encryption stays on, with the only room algorithm.
            return RoomEncryptionStateEventContent(algorithm=EncryptionAlgorithm.MEGOLM_V1)
        return RoomEncryptionStateEventContent.deserialize(cast(Any, state[1]))

    async def find_shared_rooms(self, user_id: UserID) -> list[RoomID]:
        rows = await self.store.db.fetch(
            "SELECT m.room_id FROM room_state m JOIN room_state e "
            "ON e.room_id = m.room_id AND e.type = 'm.room.encryption' AND e.state_key = '' "
            "WHERE m.type = 'm.room.member' AND m.state_key = $1 "
            "AND json_extract(m.content, '$.membership') IN ('join', 'invite')",
            user_id,
        )
        return [RoomID(r["room_id"]) for r in rows]

    async def joined_only(self, room_id: str) -> bool:
        """Whether the room's history is visible to members only from when they joined."""
        visibility = await self.store.state_event(room_id, "m.room.history_visibility")
        return visibility is not None and visibility[1].get("history_visibility") == "joined"

    async def members_for_keys(self, room_id: str) -> list[UserID]:
        """Everyone who should get our room key: the full member list, loaded once."""
        if await self.store.get_value(MEMBERS_LOADED + room_id) is None:
            members = [
                m
                for m in await self._fetch_members(room_id)
                if isinstance(m.get("state_key"), str) and isinstance(m.get("content"), dict)
            ]
            async with self.store.transaction() as conn:
                # Only where sync has told us nothing: what sync wrote is at least as new.
                await conn.executemany(
                    "INSERT OR IGNORE INTO room_state "
                    "(room_id, type, state_key, event_id, sender, content) "
                    "VALUES ($1, 'm.room.member', $2, $3, $4, $5)",
                    [
                        (
                            room_id,
                            m["state_key"],
                            m.get("event_id"),
                            m.get("sender"),
                            dumps(m["content"]),
                        )
                        for m in members
                        if isinstance(m.get("state_key"), str)
                        and isinstance(m.get("content"), dict)
                    ],
                )
                await conn.execute(
                    "INSERT OR REPLACE INTO sync_state (key, value) VALUES ($1, '1')",
                    MEMBERS_LOADED + room_id,
                )
        rows = await self.store.db.fetch(
            "SELECT state_key, content FROM room_state "
            "WHERE room_id = $1 AND type = 'm.room.member'",
            room_id,
        )
        # Where history is visible only from joining, an invitee must not read what is sent
        # before they join: they get the key of later messages, once they have joined.
        wanted = ("join",) if await self.joined_only(room_id) else KEY_MEMBERSHIPS
        return [
            UserID(r["state_key"]) for r in rows if loads(r["content"]).get("membership") in wanted
        ]


def _json(member: dict[str, Any]) -> str:
    return dumps(member["content"])

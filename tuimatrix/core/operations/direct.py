"""Direct chats (spec "Direct Messaging"): the ``m.direct`` account data and finding a DM."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import EventType
from tuimatrix.core.operations.base import as_json
from tuimatrix.core.operations.server_state import ServerState


class DirectChats(ServerState):
    async def direct_rooms(self) -> dict[str, list[str]]:
        """``m.direct`` account data as the server has it: user id → room ids."""
        try:
            stored: Any = await self.client.get_account_data(EventType.DIRECT)
        except Exception as e:
            if getattr(e, "errcode", None) != "M_NOT_FOUND":
                raise
            return {}
        if not isinstance(stored, dict):
            return {}
        return {
            str(user): [r for r in rooms if isinstance(r, str)]
            for user, rooms in stored.items()
            if isinstance(rooms, list)
        }

    async def find_direct_room(self, user_id: str) -> str | None:
        """A DM with ``user_id`` from ``m.direct`` that is still one: we are joined, they are
        joined or invited, and nobody else is in it."""
        candidates = (await self.direct_rooms()).get(user_id, [])
        if not candidates:
            return None
        joined_rooms = await self.joined_rooms()
        for room_id in reversed(candidates):  # the newest DM first
            if room_id not in joined_rooms:
                continue
            joined = await self.joined_members(room_id)
            if set(joined) - {self.user_id, user_id}:
                continue
            if user_id in joined:
                return room_id
            member = await self.get_state(room_id, "m.room.member", user_id)
            if member and member.get("membership") == "invite":
                return room_id
        return None

    async def _add_direct(self, user_id: str, room_id: str) -> None:
        """Record ``room_id`` as a DM with ``user_id`` in ``m.direct`` (creating or joining one)."""
        try:
            stored: Any = await self.client.get_account_data(EventType.DIRECT)
        except Exception as e:
            if getattr(e, "errcode", None) != "M_NOT_FOUND":
                raise
            stored = {}
        direct: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        rooms = list(direct.get(user_id, []))
        if room_id not in rooms:
            direct[user_id] = [*rooms, room_id]
            await self.client.set_account_data(EventType.DIRECT, as_json(direct))

"""Room membership (spec "Room membership"): joining, leaving, forgetting, inviting, kicking,
banning; and the members' names as our store knows them."""

from __future__ import annotations

from tuimatrix.core.lazy import RoomID, UserID
from tuimatrix.core.operations.base import as_json
from tuimatrix.core.operations.direct import DirectChats
from tuimatrix.core.rooms import member_names as disambiguate
from tuimatrix.core.store import loads


class Membership(DirectChats):
    async def join(self, room: str, via: list[str] | None = None) -> str:
        """Join by room id or alias; returns the room id."""
        # mautrix retries a failed join 4 times over 100 s (an old federation workaround):
        # a ban or a typo must fail at once.
        room_id = str(
            await self.client.join_room(as_json(room), servers=via or None, max_retries=0)
        )
        invite = await self.store.state_event(room_id, "m.room.member", self.user_id)
        if invite and invite[0] and invite[1].get("is_direct"):
            # Accepting a DM invite: the spec asks the invitee to record it in m.direct too.
            await self._add_direct(invite[0], room_id)
        return room_id

    async def leave(self, room_id: str, reason: str | None = None) -> None:
        await self.client.leave_room(RoomID(room_id), reason=reason)

    async def forget(self, room_id: str) -> None:
        """Forget a room we left; leaves it first if we are still in it."""
        try:
            await self.client.forget_room(RoomID(room_id))
        except Exception as e:
            if getattr(e, "errcode", None) not in ("M_UNKNOWN", "M_BAD_STATE"):
                raise
            await self.leave(room_id)
            await self.client.forget_room(RoomID(room_id))
        await self.store.db.execute("DELETE FROM rooms WHERE room_id=$1", room_id)

    async def invite(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.client.invite_user(RoomID(room_id), UserID(user_id), reason=reason)

    async def kick(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.client.kick_user(RoomID(room_id), UserID(user_id), reason=reason or "")

    async def ban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.client.ban_user(RoomID(room_id), UserID(user_id), reason=reason or "")

    async def unban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        await self.client.unban_user(RoomID(room_id), UserID(user_id), reason=reason or "")

    async def member_names(self, room_id: str) -> dict[str, str]:
        """Disambiguated display names of the room's known members (from the store)."""
        members = {
            r["state_key"]: loads(r["content"])
            for r in await self.store.room_state_rows(room_id)
            if r["type"] == "m.room.member"
        }
        return disambiguate(members)

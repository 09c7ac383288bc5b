"""What the server says a room is now, not our model of it (spec "Getting events for a room",
"Room membership"): state events, the room's creators and power, joined rooms and members."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.operations.base import OperationsBase

#: The power of a room's creators where they outrank everyone (room version 12 on): the spec
#: calls it infinite; this is the largest integer canonical JSON allows, above any real level.
CREATOR_POWER = 2**53 - 1


def creators_outrank(create_content: dict[str, Any]) -> bool:
    """Whether the room's version makes its creators all-powerful (room version 12, MSC4289)."""
    version = create_content.get("room_version", "1")
    version = version if isinstance(version, str) else "1"
    return (version.isdigit() and int(version) >= 12) or version == "org.matrix.hydra.11"


def creators_of(create_event: dict[str, Any]) -> set[str]:
    """The creators, if they outrank everyone: the create event's sender and
    ``additional_creators`` (spec "Room version 12"); an empty set in older rooms."""
    content = create_event.get("content")
    if not isinstance(content, dict) or not creators_outrank(content):
        return set()
    extra = content.get("additional_creators")
    creators = {u for u in extra if isinstance(u, str)} if isinstance(extra, list) else set()
    sender = create_event.get("sender")
    return creators | ({sender} if isinstance(sender, str) else set())


def power_level(power_levels: dict[str, Any], creators: set[str], user_id: str) -> int:
    """A user's power level: ``users``, else ``users_default`` (spec "m.room.power_levels");
    creators of a room version 12 room are above it all (they are not listed there)."""
    if user_id in creators:
        return CREATOR_POWER
    users = power_levels.get("users")
    level = users.get(user_id) if isinstance(users, dict) else None
    if not isinstance(level, int):
        level = power_levels.get("users_default", 0)
    return level if isinstance(level, int) else 0


class ServerState(OperationsBase):
    async def get_state(
        self, room_id: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any] | None:
        """One state event's content (``GET /rooms/{id}/state/{type}/{key}``); None if unset.

        Empty content counts as unset: it is how ``m.space.child`` and friends are removed.
        """
        try:
            resp = await self.client.api.request(
                Method.GET, Path.v3.rooms[room_id].state[event_type][state_key]
            )
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return None
            raise
        return resp if isinstance(resp, dict) and resp else None

    async def state_event(
        self, room_id: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any] | None:
        """One whole state event, sender included (``?format=event``); None if unset."""
        try:
            resp = await self.client.api.request(
                Method.GET,
                Path.v3.rooms[room_id].state[event_type][state_key],
                query_params={"format": "event"},
            )
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return None
            raise
        return resp if isinstance(resp, dict) and "content" in resp else None

    async def room_creators(self, room_id: str) -> set[str]:
        """Who outranks everyone in the room (room version 12 on; see ``creators_of``)."""
        create = await self.state_event(room_id, "m.room.create")
        return creators_of(create) if create else set()

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        """Every current state event of a room (``GET /rooms/{id}/state``)."""
        resp = await self.client.api.request(Method.GET, Path.v3.rooms[room_id].state)
        return [e for e in resp if isinstance(e, dict)] if isinstance(resp, list) else []

    async def joined_rooms(self) -> set[str]:
        """The rooms we are joined to, as the server knows (``GET /joined_rooms``)."""
        resp = await self.client.api.request(Method.GET, Path.v3.joined_rooms)
        rooms = resp.get("joined_rooms") if isinstance(resp, dict) else None
        return {r for r in rooms if isinstance(r, str)} if isinstance(rooms, list) else set()

    async def joined_members(self, room_id: str) -> dict[str, dict[str, Any]]:
        """Joined members and their profiles (``GET /rooms/{id}/joined_members``)."""
        resp = await self.client.api.request(Method.GET, Path.v3.rooms[room_id].joined_members)
        joined = resp.get("joined") if isinstance(resp, dict) else None
        if not isinstance(joined, dict):
            return {}
        return {u: p if isinstance(p, dict) else {} for u, p in joined.items()}

    async def members(self, room_id: str) -> list[dict[str, Any]]:
        """Member events of everyone but those who left (``GET /rooms/{id}/members``)."""
        resp = await self.client.api.request(
            Method.GET, Path.v3.rooms[room_id].members, query_params={"not_membership": "leave"}
        )
        chunk = resp.get("chunk") if isinstance(resp, dict) else None
        return [e for e in chunk if isinstance(e, dict)] if isinstance(chunk, list) else []

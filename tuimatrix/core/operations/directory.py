"""Room aliases and the room directory (spec "Room aliases", "Listing rooms")."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import EventType, Method, Path, RoomID
from tuimatrix.core.operations.base import OperationsBase, as_json


class Directory(OperationsBase):
    async def alias_room(self, alias: str) -> str | None:
        """The room an alias points to (``GET /directory/room/{alias}``), None if unknown."""
        try:
            resp = await self.client.api.request(Method.GET, Path.v3.directory.room[alias])
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return None
            raise
        room_id = resp.get("room_id") if isinstance(resp, dict) else None
        return room_id if isinstance(room_id, str) else None

    async def add_alias(self, room_id: str, alias: str) -> None:
        """Create ``alias`` (a full ``#local:server``) for the room in the alias directory."""
        await self.client.api.request(
            Method.PUT, Path.v3.directory.room[alias], {"room_id": room_id}
        )

    async def set_canonical_alias(self, room_id: str, alias: str) -> None:
        """Publish ``alias`` as the room's main address (``m.room.canonical_alias``)."""
        await self.client.send_state_event(
            RoomID(room_id), EventType.ROOM_CANONICAL_ALIAS, as_json({"alias": alias})
        )

    async def set_directory_visibility(self, room_id: str, public: bool) -> None:
        """List the room in (or remove it from) the server's public room directory."""
        await self.client.api.request(
            Method.PUT,
            Path.v3.directory.list.room[room_id],
            {"visibility": "public" if public else "private"},
        )

    async def public_rooms(
        self, query: str | None = None, server: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """One page of a server's public rooms (``POST /publicRooms``), filtered by ``query``."""
        body: dict[str, Any] = {"limit": limit}
        if query:
            body["filter"] = {"generic_search_term": query}
        resp = await self.client.api.request(
            Method.POST,
            Path.v3.publicRooms,
            body,
            query_params={"server": server} if server else None,
        )
        chunk = resp.get("chunk") if isinstance(resp, dict) else None
        return [r for r in chunk if isinstance(r, dict)] if isinstance(chunk, list) else []

"""Spaces (spec "Spaces"): a space is a room; its children are ``m.space.child`` state."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import EventType, Method, Path, RoomID
from tuimatrix.core.operations.base import as_json
from tuimatrix.core.operations.rooms import Rooms


def child_vias(hierarchy: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Where to join each child of a space hierarchy through: the ``via`` of the
    ``m.space.child`` event that names it (spec "Spaces")."""
    via: dict[str, list[str]] = {}
    for parent in hierarchy:
        for child in parent.get("children_state") or []:
            content = child.get("content") if isinstance(child, dict) else None
            servers = content.get("via") if isinstance(content, dict) else None
            if isinstance(servers, list) and isinstance(child.get("state_key"), str):
                via.setdefault(child["state_key"], [s for s in servers if isinstance(s, str)])
    return via


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else user_id


class Spaces(Rooms):
    async def create_space(
        self, name: str, *, topic: str | None = None, public: bool = False
    ) -> str:
        """A space is a room whose create event has ``type: m.space`` (spec "Spaces")."""
        return await self.create_room(
            name, topic=topic, public=public, creation_content={"type": "m.space"}
        )

    async def add_space_child(
        self, space_id: str, room_id: str, *, suggested: bool = False
    ) -> None:
        """``m.space.child`` in the space; ``m.space.parent`` in the room if our power allows."""
        via = [server_of(self.user_id)]
        await self.client.send_state_event(
            RoomID(space_id),
            EventType.SPACE_CHILD,
            as_json({"via": via, "suggested": suggested}),
            state_key=room_id,
        )
        await self._try_parent(room_id, space_id, {"via": via, "canonical": False})

    async def remove_space_child(self, space_id: str, room_id: str) -> None:
        """An ``m.space.child`` with empty content removes the child."""
        await self.client.send_state_event(
            RoomID(space_id), EventType.SPACE_CHILD, as_json({}), state_key=room_id
        )
        await self._try_parent(room_id, space_id, {})

    async def _try_parent(self, room_id: str, space_id: str, content: dict[str, Any]) -> None:
        try:
            await self.client.send_state_event(
                RoomID(room_id), EventType.SPACE_PARENT, as_json(content), state_key=space_id
            )
        except Exception as e:
            # Not allowed to change the room's state (or not in it): the child link suffices.
            if getattr(e, "errcode", None) not in ("M_FORBIDDEN", "M_NOT_FOUND"):
                raise

    async def space_hierarchy(self, space_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The rooms of a space (``GET /v1/rooms/{id}/hierarchy``), the space first."""
        rooms: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"limit": str(limit)}
            if token:
                query["from"] = token
            resp = await self.client.api.request(
                Method.GET, Path.v1.rooms[space_id].hierarchy, query_params=query
            )
            rooms.extend(r for r in resp.get("rooms", []) if isinstance(r, dict))
            token = resp.get("next_batch")
            if not token:
                return rooms

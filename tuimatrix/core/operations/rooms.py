"""Creating rooms and changing their name and topic (spec "Creation", "m.room.name",
"m.room.topic")."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import EventType, RoomCreatePreset, RoomID, UserID
from tuimatrix.core.operations.base import as_json
from tuimatrix.core.operations.direct import DirectChats


class Rooms(DirectChats):
    async def create_room(
        self,
        name: str | None = None,
        *,
        topic: str | None = None,
        invite: list[str] | None = None,
        public: bool = False,
        is_direct: bool = False,
        encrypted: bool = False,
        creation_content: dict[str, Any] | None = None,
    ) -> str:
        initial_state = []
        if encrypted:
            initial_state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        room_id = await self.client.create_room(
            name=name,
            topic=topic,
            invitees=[UserID(u) for u in invite or []],
            preset=RoomCreatePreset.PUBLIC if public else RoomCreatePreset.PRIVATE,
            is_direct=is_direct,
            initial_state=initial_state,
            creation_content=creation_content,
        )
        if is_direct and invite:
            await self._add_direct(invite[0], room_id)
        return str(room_id)

    async def set_topic(self, room_id: str, topic: str) -> None:
        await self.client.send_state_event(
            RoomID(room_id), EventType.ROOM_TOPIC, as_json({"topic": topic})
        )

    async def set_name(self, room_id: str, name: str) -> None:
        await self.client.send_state_event(
            RoomID(room_id), EventType.ROOM_NAME, as_json({"name": name})
        )

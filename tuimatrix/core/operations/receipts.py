"""What the user does in a room, told to the others: typing (spec "Typing Notifications"),
read receipts and the fully-read marker (spec "Receipts", "Fully read markers")."""

from __future__ import annotations

from tuimatrix.core.lazy import Method, Path, RoomID
from tuimatrix.core.operations.base import OperationsBase


class Receipts(OperationsBase):
    async def set_typing(self, room_id: str, typing: bool, timeout_ms: int = 5000) -> None:
        """Typing notifications (spec "Typing Notifications"); timeout 0 means stopped."""
        await self.client.set_typing(RoomID(room_id), timeout_ms if typing else 0)

    async def mark_read(self, room_id: str, event_id: str, *, fully_read: bool = True) -> None:
        """The read receipt and (unless ``fully_read`` is False) the fully-read marker, in
        one request: the receipt follows reading, the marker moves when the user leaves."""
        body = {"m.read": event_id}
        if fully_read:
            body["m.fully_read"] = event_id
        await self.client.api.request(Method.POST, Path.v3.rooms[room_id].read_markers, body)

"""What the user does in a room, told to the others: typing (spec "Typing Notifications"),
read receipts and the fully-read marker (spec "Receipts", "Fully read markers"), and the
room marked unread (spec v1.12 "Unread markers")."""

from __future__ import annotations

from tuimatrix.core.lazy import Method, Path, RoomID
from tuimatrix.core.operations.base import OperationsBase
from tuimatrix.core.receipts import receipt_type
from tuimatrix.core.rooms import MARKED_UNREAD

#: the account data type a mark as unread is written as (the spec's, v1.12)
MARK_UNREAD = MARKED_UNREAD[0]


class Receipts(OperationsBase):
    async def set_typing(self, room_id: str, typing: bool, timeout_ms: int = 5000) -> None:
        """Typing notifications (spec "Typing Notifications"); timeout 0 means stopped."""
        await self.client.set_typing(RoomID(room_id), timeout_ms if typing else 0)

    async def mark_read(
        self, room_id: str, event_id: str, *, fully_read: bool = True, private: bool = False
    ) -> None:
        """The read receipt (``m.read.private`` if ``private``) and, unless ``fully_read`` is
        False, the fully-read marker, in one request: the receipt follows reading, the marker
        moves when the user leaves."""
        body = {receipt_type(private): event_id}
        if fully_read:
            body["m.fully_read"] = event_id
        await self.client.api.request(Method.POST, Path.v3.rooms[room_id].read_markers, body)

    async def mark_room_read(self, room_id: str, *, private: bool = False) -> bool:
        """The room read up to its newest stored event: receipt, fully-read marker, and a
        mark as unread cleared. False when the room has no event to mark."""
        latest = await self.store.latest_events(room_id, 1)
        event_id = latest[-1].get("event_id") if latest else None
        if not isinstance(event_id, str):
            return False
        await self.mark_read(room_id, event_id, fully_read=True, private=private)
        if await self.marked_unread_types(room_id):
            await self.set_marked_unread(room_id, False)
        return True

    async def marked_unread_types(self, room_id: str) -> list[str]:
        """The account data types that mark the room unread now (as the store has them)."""
        stored = await self.store.account_data(MARKED_UNREAD)
        return [
            kind
            for kind in MARKED_UNREAD
            if isinstance(content := stored.get((room_id, kind)), dict)
            and content.get("unread") is True
        ]

    async def set_marked_unread(self, room_id: str, unread: bool) -> None:
        """Mark the room unread, or clear the mark (``m.marked_unread``; the unstable one too
        when it is what marked the room, so that the mark really goes)."""
        types = [MARK_UNREAD]
        if not unread:
            types += [t for t in await self.marked_unread_types(room_id) if t not in types]
        for kind in types:
            await self.client.api.request(
                Method.PUT,
                Path.v3.user[self.user_id].rooms[room_id].account_data[kind],
                {"unread": unread},
            )

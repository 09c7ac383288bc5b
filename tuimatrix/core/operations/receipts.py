"""What the user does in a room, told to the others: typing (spec "Typing Notifications"),
read receipts and the fully-read marker (spec "Receipts", "Fully read markers"), and the
room marked unread (spec v1.12 "Unread markers")."""

from __future__ import annotations

from tuimatrix.core.lazy import Method, Path, RoomID
from tuimatrix.core.operations.base import OperationsBase

#: the receipt others see, and the one only the user's own devices (and the server) see
PUBLIC_RECEIPT = "m.read"
PRIVATE_RECEIPT = "m.read.private"
#: room account data ``{"unread": true}``: the user marked the room unread (spec v1.12), and
#: the unstable name clients used before (MSC2867), read too and cleared when set
MARKED_UNREAD = "m.marked_unread"
MARKED_UNREAD_UNSTABLE = "com.famedly.marked_unread"


def receipt_type(private: bool) -> str:
    """The read receipt type to send (``[room] read-receipts``)."""
    return PRIVATE_RECEIPT if private else PUBLIC_RECEIPT


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

    async def set_marked_unread(self, room_id: str, unread: bool) -> None:
        """Mark the room unread, or clear the mark (``m.marked_unread``; the unstable one too
        when it is what marked the room, so that the mark really goes)."""
        types = [MARKED_UNREAD]
        if not unread:
            stored = await self.store.account_data([MARKED_UNREAD_UNSTABLE])
            content = stored.get((room_id, MARKED_UNREAD_UNSTABLE))
            if isinstance(content, dict) and content.get("unread") is True:
                types.append(MARKED_UNREAD_UNSTABLE)
        for kind in types:
            await self.client.api.request(
                Method.PUT,
                Path.v3.user[self.user_id].rooms[room_id].account_data[kind],
                {"unread": unread},
            )

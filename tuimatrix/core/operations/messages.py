"""Messages (spec "Sending events to a room", "Rich replies", "Event replacements",
"Reactions", "Redactions", "User and room mentions"): queued through the send queue, so
that they survive errors and restarts, and encrypted when sent if the room is."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.errors import UserError
from tuimatrix.core.lazy import Method, Path, RoomID
from tuimatrix.core.operations.base import OperationsBase
from tuimatrix.core.relations import EDIT, relation, reply_target
from tuimatrix.core.sendqueue import LocalEcho


class Messages(OperationsBase):
    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> LocalEcho:
        """Queue an event; it is persisted before it is sent (see SendQueue), and encrypted
        when it is sent if the room is."""
        if self.crypto is None and await self.is_encrypted(room_id):
            # Never plaintext into an encrypted room: the members expect it to be private.
            raise UserError(
                "this room is end-to-end encrypted and encryption is off for this account; "
                "nothing was sent"
            )
        return await self.send_queue.enqueue(room_id, event_type, content)

    async def is_encrypted(self, room_id: str) -> bool:
        """From the store; for a room it does not know yet (just created), from the server."""
        state = await self.store.state_event(room_id, "m.room.encryption")
        if state is not None:
            # Sticky (the spec: encryption cannot be turned off): a redacted or emptied
            # m.room.encryption still means the members expect privacy.
            return True
        if await self.store.db.fetchval("SELECT 1 FROM rooms WHERE room_id=$1", room_id):
            return False
        try:
            content = await self.client.api.request(
                Method.GET, Path.v3.rooms[room_id].state["m.room.encryption"][""]
            )
        except Exception as e:
            # No encryption event, or not our room: then the send itself says what is wrong.
            if getattr(e, "errcode", None) in ("M_NOT_FOUND", "M_FORBIDDEN"):
                return False
            raise
        return bool(isinstance(content, dict) and content.get("algorithm"))

    async def send_text(
        self,
        room_id: str,
        body: str,
        *,
        html: str | None = None,
        emote: bool = False,
        mentions: list[str] | None = None,
        room_mention: bool = False,
        relates_to: dict[str, Any] | None = None,
    ) -> LocalEcho:
        """A text message (or emote) with its ``m.mentions`` (spec "User and room mentions")."""
        content: dict[str, Any] = {"msgtype": "m.emote" if emote else "m.text", "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        content["m.mentions"] = self._mentions(mentions, room_mention)
        if relates_to:
            content["m.relates_to"] = relates_to
        return await self.send_event(room_id, "m.room.message", content)

    async def fetch_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """One event from the server (``GET /rooms/{roomId}/event/{eventId}``)."""
        evt = await self.client.api.request(Method.GET, Path.v3.rooms[room_id].event[event_id])
        if not isinstance(evt, dict):
            raise UserError(f"event {event_id} not found")
        await self.decrypt(room_id, [evt])
        return evt

    async def _event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event, stored or else fetched."""
        evt = await self.store.event(event_id)
        if evt is None:
            evt = await self.fetch_event(room_id, event_id)
        if not isinstance(evt, dict):
            raise UserError(f"event {event_id} not found")
        return evt

    async def _original(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event (fetched if not stored); an edit is followed to the event it edits, one
        step only: an edit of an edit replaces nothing (core/relations/edits.py), and edits
        that name each other must not send us round in circles."""
        evt = await self._event(room_id, event_id)
        rel = relation(evt)
        if rel is not None and rel[0] == EDIT and rel[1] != event_id:
            return await self._event(room_id, rel[1])
        return evt

    def _mentions(self, user_ids: list[str] | None, room: bool = False) -> dict[str, Any]:
        """``m.mentions``: never ourselves; ``room`` only when set (spec "User and room
        mentions")."""
        mentions: dict[str, Any] = {"user_ids": sorted(set(user_ids or []) - {self.user_id})}
        if room:
            mentions["room"] = True
        return mentions

    async def _reply_sender(self, room_id: str, original: dict[str, Any]) -> list[str]:
        """The sender of the message ``original`` replies to (still mentioned by its edits)."""
        event_id = reply_target(original)
        if event_id is None:
            return []
        try:
            replied = await self._original(room_id, event_id)
        except Exception:
            return []  # not visible to us any more: nobody to mention
        sender = replied.get("sender")
        return [sender] if isinstance(sender, str) else []

    async def reply(
        self,
        room_id: str,
        event_id: str,
        body: str,
        *,
        html: str | None = None,
        emote: bool = False,
        mentions: list[str] | None = None,
        room_mention: bool = False,
    ) -> LocalEcho:
        """A reply without fallback (spec v1.13), mentioning the original's sender."""
        original = await self._original(room_id, event_id)
        return await self.send_text(
            room_id,
            body,
            html=html,
            emote=emote,
            mentions=[original["sender"], *(mentions or [])],
            room_mention=room_mention,
            relates_to={"m.in_reply_to": {"event_id": original["event_id"]}},
        )

    async def edit(
        self,
        room_id: str,
        event_id: str,
        body: str,
        *,
        html: str | None = None,
        mentions: list[str] | None = None,
        room_mention: bool = False,
    ) -> LocalEcho:
        """An ``m.replace`` of the original event (never of an edit).

        ``m.new_content`` carries every mention of the new text; the edit itself only those
        the original did not have, so nobody is pinged twice (spec "Mentions in edits")."""
        original = await self._original(room_id, event_id)
        if original.get("sender") != self.user_id:
            raise UserError("only your own messages can be edited")
        old = original.get("content", {}).get("m.mentions")
        old_users = old.get("user_ids") if isinstance(old, dict) else None
        already = (
            {u for u in old_users if isinstance(u, str)} if isinstance(old_users, list) else set()
        )
        mentions = [*(mentions or []), *await self._reply_sender(room_id, original)]
        new_content: dict[str, Any] = {
            "msgtype": original.get("content", {}).get("msgtype", "m.text"),
            "body": body,
        }
        if html is not None:
            new_content["format"] = "org.matrix.custom.html"
            new_content["formatted_body"] = html
        new_content["m.mentions"] = self._mentions(mentions, room_mention)
        content: dict[str, Any] = {
            **{k: v for k, v in new_content.items() if k not in ("body", "m.mentions")},
            "body": f"* {body}",
            "m.new_content": new_content,
            "m.mentions": self._mentions(
                [u for u in mentions or [] if u not in already],
                room_mention and not (isinstance(old, dict) and old.get("room")),
            ),
            "m.relates_to": {"rel_type": "m.replace", "event_id": original["event_id"]},
        }
        if html is not None:
            content["formatted_body"] = f"* {html}"
        return await self.send_event(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> LocalEcho:
        return await self.send_event(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        event = await self.client.redact(RoomID(room_id), event_id, reason=reason)  # type: ignore[arg-type]
        return str(event)

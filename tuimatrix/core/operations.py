"""What the commands ask of an account: rooms, spaces, tags, membership, messages.

Each is one or two requests through mautrix; messages go through the send queue so that they
survive errors and restarts. Spec references are in the docstrings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mautrix.api import Method, Path
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from tuimatrix.core.errors import UserError
from tuimatrix.core.rooms import member_names as disambiguate
from tuimatrix.core.sendqueue import LocalEcho
from tuimatrix.core.store import loads

if TYPE_CHECKING:
    from mautrix.client import Client

    from tuimatrix.core.sendqueue import SendQueue
    from tuimatrix.core.store import Store

#: Tags with a meaning in the spec; anything else must be a user tag ``u.NAME``.
FAVOURITE = "m.favourite"
LOW_PRIORITY = "m.lowpriority"


def normalise_tag(tag: str) -> str:
    """``favourite`` → ``m.favourite``; a bare name → ``u.NAME`` (spec "Room tagging")."""
    tag = tag.strip()
    aliases = {
        "favourite": FAVOURITE,
        "favorite": FAVOURITE,
        "fav": FAVOURITE,
        "low-priority": LOW_PRIORITY,
        "lowpriority": LOW_PRIORITY,
        "low": LOW_PRIORITY,
    }
    if not tag:
        raise UserError("a tag name is needed")
    if tag.lower() in aliases:
        return aliases[tag.lower()]
    if tag.startswith(("m.", "u.")) or "." in tag:
        return tag
    return f"u.{tag}"


def _json(value: Any) -> Any:
    """Plain JSON for mautrix calls whose types only admit its own content classes."""
    return value


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else user_id


class Operations:
    """Mixed into ``Account``; relies on its client, store, send queue and user id."""

    client: Client
    store: Store
    send_queue: SendQueue
    user_id: str

    # -- rooms and spaces ----------------------------------------------------------------------

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
            _json({"via": via, "suggested": suggested}),
            state_key=room_id,
        )
        await self._try_parent(room_id, space_id, {"via": via, "canonical": False})

    async def remove_space_child(self, space_id: str, room_id: str) -> None:
        """An ``m.space.child`` with empty content removes the child."""
        await self.client.send_state_event(
            RoomID(space_id), EventType.SPACE_CHILD, _json({}), state_key=room_id
        )
        await self._try_parent(room_id, space_id, {})

    async def _try_parent(self, room_id: str, space_id: str, content: dict[str, Any]) -> None:
        try:
            await self.client.send_state_event(
                RoomID(room_id), EventType.SPACE_PARENT, _json(content), state_key=space_id
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

    # -- tags ----------------------------------------------------------------------------------

    async def set_tag(self, room_id: str, tag: str, order: float | None = None) -> str:
        tag = normalise_tag(tag)
        content: dict[str, Any] = {} if order is None else {"order": order}
        await self.client.api.request(
            Method.PUT, Path.v3.user[self.user_id].rooms[room_id].tags[tag], content
        )
        return tag

    async def remove_tag(self, room_id: str, tag: str) -> str:
        tag = normalise_tag(tag)
        await self.client.api.request(
            Method.DELETE, Path.v3.user[self.user_id].rooms[room_id].tags[tag]
        )
        return tag

    async def get_tags(self, room_id: str) -> dict[str, Any]:
        resp = await self.client.api.request(
            Method.GET, Path.v3.user[self.user_id].rooms[room_id].tags
        )
        tags = resp.get("tags")
        return tags if isinstance(tags, dict) else {}

    # -- membership ----------------------------------------------------------------------------

    async def join(self, room: str, via: list[str] | None = None) -> str:
        """Join by room id or alias; returns the room id."""
        # mautrix retries a failed join 4 times over 100 s (an old federation workaround):
        # a ban or a typo must fail at once.
        room_id = str(await self.client.join_room(_json(room), servers=via or None, max_retries=0))
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

    async def ignored_users(self) -> list[str]:
        try:
            resp = await self.client.get_account_data("m.ignored_user_list")
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return []
            raise
        ignored = resp.get("ignored_users") if isinstance(resp, dict) else None
        return sorted(ignored) if isinstance(ignored, dict) else []

    async def ignore_user(self, user_id: str) -> None:
        users = set(await self.ignored_users()) | {user_id}
        await self.client.set_account_data(
            "m.ignored_user_list", _json({"ignored_users": {u: {} for u in sorted(users)}})
        )

    async def unignore_user(self, user_id: str) -> None:
        users = set(await self.ignored_users()) - {user_id}
        await self.client.set_account_data(
            "m.ignored_user_list", _json({"ignored_users": {u: {} for u in sorted(users)}})
        )

    async def _add_direct(self, user_id: str, room_id: str) -> None:
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
            await self.client.set_account_data(EventType.DIRECT, _json(direct))

    # -- room state ----------------------------------------------------------------------------

    async def set_topic(self, room_id: str, topic: str) -> None:
        await self.client.send_state_event(
            RoomID(room_id), EventType.ROOM_TOPIC, _json({"topic": topic})
        )

    async def set_name(self, room_id: str, name: str) -> None:
        await self.client.send_state_event(
            RoomID(room_id), EventType.ROOM_NAME, _json({"name": name})
        )

    async def set_typing(self, room_id: str, typing: bool, timeout_ms: int = 5000) -> None:
        """Typing notifications (spec "Typing Notifications"); timeout 0 means stopped."""
        await self.client.set_typing(RoomID(room_id), timeout_ms if typing else 0)

    async def mark_read(self, room_id: str, event_id: str) -> None:
        """The read receipt and the fully-read marker, in one request."""
        await self.client.api.request(
            Method.POST,
            Path.v3.rooms[room_id].read_markers,
            {"m.fully_read": event_id, "m.read": event_id},
        )

    async def member_names(self, room_id: str) -> dict[str, str]:
        """Disambiguated display names of the room's known members (from the store)."""
        members = {
            r["state_key"]: loads(r["content"])
            for r in await self.store.room_state_rows(room_id)
            if r["type"] == "m.room.member"
        }
        return disambiguate(members)

    # -- messages ------------------------------------------------------------------------------

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> LocalEcho:
        """Queue an event; it is persisted before it is sent (see SendQueue)."""
        return await self.send_queue.enqueue(room_id, event_type, content)

    async def send_text(
        self,
        room_id: str,
        body: str,
        *,
        html: str | None = None,
        emote: bool = False,
        mentions: list[str] | None = None,
        relates_to: dict[str, Any] | None = None,
    ) -> LocalEcho:
        content: dict[str, Any] = {"msgtype": "m.emote" if emote else "m.text", "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        content["m.mentions"] = {"user_ids": sorted(set(mentions or []) - {self.user_id})}
        if relates_to:
            content["m.relates_to"] = relates_to
        return await self.send_event(room_id, "m.room.message", content)

    async def _original(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event (fetched if not stored); an edit is followed to the event it edits."""
        evt = await self.store.event(event_id)
        if evt is None:
            evt = await self.client.api.request(Method.GET, Path.v3.rooms[room_id].event[event_id])
        relates = evt.get("content", {}).get("m.relates_to") if isinstance(evt, dict) else None
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            target = relates.get("event_id")
            if isinstance(target, str) and target != event_id:
                return await self._original(room_id, target)
        if not isinstance(evt, dict):
            raise UserError(f"event {event_id} not found")
        return evt

    async def reply(
        self, room_id: str, event_id: str, body: str, *, html: str | None = None
    ) -> LocalEcho:
        """A reply without fallback (spec v1.13), mentioning the original's sender."""
        original = await self._original(room_id, event_id)
        return await self.send_text(
            room_id,
            body,
            html=html,
            mentions=[original["sender"]],
            relates_to={"m.in_reply_to": {"event_id": original["event_id"]}},
        )

    async def edit(
        self, room_id: str, event_id: str, body: str, *, html: str | None = None
    ) -> LocalEcho:
        """An ``m.replace`` of the original event (never of an edit)."""
        original = await self._original(room_id, event_id)
        if original.get("sender") != self.user_id:
            raise UserError("only your own messages can be edited")
        new_content: dict[str, Any] = {
            "msgtype": original.get("content", {}).get("msgtype", "m.text"),
            "body": body,
        }
        if html is not None:
            new_content["format"] = "org.matrix.custom.html"
            new_content["formatted_body"] = html
        content: dict[str, Any] = {
            **{k: v for k, v in new_content.items() if k != "body"},
            "body": f"* {body}",
            "m.new_content": new_content,
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

"""What the commands ask of an account: rooms, spaces, tags, membership, messages.

Each is one or two requests through mautrix; messages go through the send queue so that they
survive errors and restarts. Spec references are in the docstrings.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tuimatrix.core.errors import UserError
from tuimatrix.core.lazy import EventType, Method, Path, RoomCreatePreset, RoomID, UserID
from tuimatrix.core.rooms import member_names as disambiguate
from tuimatrix.core.sendqueue import LocalEcho
from tuimatrix.core.store import loads

if TYPE_CHECKING:
    from mautrix.client import Client

    from tuimatrix.core.e2ee.crypto import Crypto
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


#: A room's notification settings, from loudest to quietest but "default" (the account's rules).
NOTIFICATION_MODES = ("default", "all", "mentions", "none")


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


def _notifies(rule: dict[str, Any]) -> bool:
    actions = rule.get("actions")
    return isinstance(actions, list) and "notify" in actions


class Operations:
    """Mixed into ``Account``; relies on its client, store, send queue and user id."""

    client: Client
    store: Store
    send_queue: SendQueue
    user_id: str
    crypto: Crypto | None
    # Account's background sync task; None until ``start()`` (read by ``syncing``).
    _sync_task: asyncio.Task[None] | None

    async def decrypt(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Decrypt fetched events in place (Account does; without crypto nothing happens)."""

    @property
    def syncing(self) -> bool:
        """Whether the background sync loop runs (the account was started)."""
        return getattr(self, "_sync_task", None) is not None

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

    async def mark_read(self, room_id: str, event_id: str, *, fully_read: bool = True) -> None:
        """The read receipt and (unless ``fully_read`` is False) the fully-read marker, in
        one request: the receipt follows reading, the marker moves when the user leaves."""
        body = {"m.read": event_id}
        if fully_read:
            body["m.fully_read"] = event_id
        await self.client.api.request(Method.POST, Path.v3.rooms[room_id].read_markers, body)

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
            return bool(state[1].get("algorithm"))
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

    async def _original(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event (fetched if not stored); an edit is followed to the event it edits."""
        evt = await self.store.event(event_id)
        if evt is None:
            evt = await self.fetch_event(room_id, event_id)
        relates = evt.get("content", {}).get("m.relates_to") if isinstance(evt, dict) else None
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            target = relates.get("event_id")
            if isinstance(target, str) and target != event_id:
                return await self._original(room_id, target)
        if not isinstance(evt, dict):
            raise UserError(f"event {event_id} not found")
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
        relates = original.get("content", {}).get("m.relates_to")
        target = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
        event_id = target.get("event_id") if isinstance(target, dict) else None
        if not isinstance(event_id, str):
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

    # -- server state (what the server says now, not our model) --------------------------------

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

    # -- aliases and the room directory (spec "Room aliases", "Listing rooms") ----------------

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
            RoomID(room_id), EventType.ROOM_CANONICAL_ALIAS, _json({"alias": alias})
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

    # -- direct chats (spec "Direct Messaging") ------------------------------------------------

    async def direct_rooms(self) -> dict[str, list[str]]:
        """``m.direct`` account data as the server has it: user id → room ids."""
        try:
            stored: Any = await self.client.get_account_data(EventType.DIRECT)
        except Exception as e:
            if getattr(e, "errcode", None) != "M_NOT_FOUND":
                raise
            return {}
        if not isinstance(stored, dict):
            return {}
        return {
            str(user): [r for r in rooms if isinstance(r, str)]
            for user, rooms in stored.items()
            if isinstance(rooms, list)
        }

    async def find_direct_room(self, user_id: str) -> str | None:
        """A DM with ``user_id`` from ``m.direct`` that is still one: we are joined, they are
        joined or invited, and nobody else is in it."""
        candidates = (await self.direct_rooms()).get(user_id, [])
        if not candidates:
            return None
        joined_rooms = await self.joined_rooms()
        for room_id in reversed(candidates):  # the newest DM first
            if room_id not in joined_rooms:
                continue
            joined = await self.joined_members(room_id)
            if set(joined) - {self.user_id, user_id}:
                continue
            if user_id in joined:
                return room_id
            member = await self.get_state(room_id, "m.room.member", user_id)
            if member and member.get("membership") == "invite":
                return room_id
        return None

    # -- push rules (spec "Push Notifications"), written as Element writes them ---------------

    async def push_rule(self, kind: str, rule_id: str) -> dict[str, Any] | None:
        """A rule of the global ruleset (``GET /pushrules/global/{kind}/{ruleId}``)."""
        try:
            resp = await self.client.api.request(
                Method.GET, Path.v3.pushrules["global"][kind][rule_id]
            )
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return None
            raise
        return resp if isinstance(resp, dict) else None

    async def set_push_rule(self, kind: str, rule_id: str, rule: dict[str, Any]) -> None:
        """Create or replace a rule (``PUT /pushrules/global/{kind}/{ruleId}``)."""
        await self.client.api.request(Method.PUT, Path.v3.pushrules["global"][kind][rule_id], rule)

    async def delete_push_rule(self, kind: str, rule_id: str) -> bool:
        """Delete a rule; False if there was none."""
        try:
            await self.client.api.request(Method.DELETE, Path.v3.pushrules["global"][kind][rule_id])
        except Exception as e:
            if getattr(e, "errcode", None) == "M_NOT_FOUND":
                return False
            raise
        return True

    async def set_room_notifications(self, room_id: str, mode: str) -> None:
        """``default``, ``all``, ``mentions`` or ``none`` for one room, as Element does it.

        ``none`` (mute) is an override rule named after the room that matches its events and
        does nothing (``actions: []``, which replaced the deprecated ``dont_notify``);
        ``mentions`` a room rule with no actions, so only the higher-priority mention and
        keyword rules fire; ``all`` a room rule that notifies with the default sound;
        ``default`` removes both, leaving the account's rules.
        """
        if mode not in NOTIFICATION_MODES:
            raise UserError(f"notifications: one of {', '.join(NOTIFICATION_MODES)}")
        if mode == "none":
            await self.delete_push_rule("room", room_id)
            await self.set_push_rule(
                "override",
                room_id,
                {
                    "conditions": [{"kind": "event_match", "key": "room_id", "pattern": room_id}],
                    "actions": [],
                },
            )
            return
        await self.delete_push_rule("override", room_id)
        if mode == "default":
            await self.delete_push_rule("room", room_id)
        elif mode == "mentions":
            await self.set_push_rule("room", room_id, {"actions": []})
        else:
            await self.set_push_rule(
                "room",
                room_id,
                {"actions": ["notify", {"set_tweak": "sound", "value": "default"}]},
            )

    async def room_notifications(self, room_id: str) -> str:
        """The room's mode as :meth:`set_room_notifications` names it, read from the server."""
        override = await self.push_rule("override", room_id)
        if override and override.get("enabled", True) and not _notifies(override):
            return "none"
        rule = await self.push_rule("room", room_id)
        if not rule or not rule.get("enabled", True):
            return "default"
        return "all" if _notifies(rule) else "mentions"

    # -- reports, media, profile ---------------------------------------------------------------

    async def report_event(
        self, room_id: str, event_id: str, reason: str | None = None, score: int = -100
    ) -> None:
        """Report an event to the server admins (``POST /rooms/{id}/report/{eventId}``)."""
        body: dict[str, Any] = {"score": score}
        if reason:
            body["reason"] = reason
        await self.client.api.request(Method.POST, Path.v3.rooms[room_id].report[event_id], body)

    async def upload(self, data: bytes, mimetype: str, filename: str) -> str:
        """Upload to the content repository (``POST /media/v3/upload``); returns the mxc URI."""
        uri = await self.client.upload_media(data, mime_type=mimetype, filename=filename)
        return str(uri)

    async def set_display_name(self, name: str) -> None:
        """The global display name (``PUT /profile/{userId}/displayname``); the server copies
        it into our member event in every room."""
        await self.client.set_displayname(name, check_current=False)

    async def display_name(self, user_id: str) -> str | None:
        """A user's global display name (``GET /profile/{userId}/displayname``)."""
        name = await self.client.get_displayname(UserID(user_id))
        return str(name) if name else None

    async def upload_attachment(
        self, room_id: str, data: bytes, mimetype: str, filename: str
    ) -> dict[str, Any]:
        """Upload a file for a message in ``room_id``: ``{"url": mxc}``, or in an encrypted
        room ``{"file": EncryptedFile}`` (spec "Sending encrypted attachments"): the media
        server only ever sees ciphertext there."""
        if await self.get_state(room_id, "m.room.encryption") is None:
            return {"url": await self.upload(data, mimetype, filename)}
        from mautrix.crypto.attachments import encrypt_attachment

        ciphertext, file = encrypt_attachment(data)
        # The server learns neither the type nor the name of an encrypted file.
        uri = await self.upload(ciphertext, "application/octet-stream", "")
        return {"file": {**file.serialize(), "url": uri}}

"""Room tags (spec "Room tagging"): ``m.favourite``, ``m.lowpriority`` and user tags ``u.*``."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.errors import UserError
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.operations.base import OperationsBase

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


class Tags(OperationsBase):
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

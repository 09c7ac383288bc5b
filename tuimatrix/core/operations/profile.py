"""Profiles (spec "Profiles"): display names."""

from __future__ import annotations

from tuimatrix.core.lazy import UserID
from tuimatrix.core.operations.base import OperationsBase


class Profile(OperationsBase):
    async def set_display_name(self, name: str) -> None:
        """The global display name (``PUT /profile/{userId}/displayname``); the server copies
        it into our member event in every room."""
        await self.client.set_displayname(name, check_current=False)

    async def display_name(self, user_id: str) -> str | None:
        """A user's global display name (``GET /profile/{userId}/displayname``)."""
        name = await self.client.get_displayname(UserID(user_id))
        return str(name) if name else None

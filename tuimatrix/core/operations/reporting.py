"""Reporting content to the server admins (spec "Reporting content")."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.operations.base import OperationsBase


class Reporting(OperationsBase):
    async def report_event(
        self, room_id: str, event_id: str, reason: str | None = None, score: int = -100
    ) -> None:
        """Report an event to the server admins (``POST /rooms/{id}/report/{eventId}``)."""
        body: dict[str, Any] = {"score": score}
        if reason:
            body["reason"] = reason
        await self.client.api.request(Method.POST, Path.v3.rooms[room_id].report[event_id], body)

"""The server's list of the events it notified the user of (spec "Push Notifications",
``GET /_matrix/client/v3/notifications``): the history of mentions and keywords from before
what this client evaluated itself, in rooms the server can read (not encrypted ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.operations.base import OperationsBase

#: notifications asked for in one page
NOTIFICATIONS_PAGE = 50


@dataclass(frozen=True, slots=True)
class ServerNotification:
    """One entry of ``/notifications``; ``event`` is RAW (sanitise all you show)."""

    room_id: str
    event: dict[str, Any]
    #: the user has read it (a receipt at or after it): it no longer needs them
    read: bool
    highlight: bool
    ts: int


def parse_notification(entry: Any) -> ServerNotification | None:
    """An entry of the response, or None when it lacks what an entry must have."""
    if not isinstance(entry, dict):
        return None
    room_id, event = entry.get("room_id"), entry.get("event")
    if not isinstance(room_id, str) or not isinstance(event, dict):
        return None
    if not isinstance(event.get("event_id"), str) or not isinstance(event.get("sender"), str):
        return None
    actions = entry.get("actions")
    highlight = isinstance(actions, list) and any(
        isinstance(a, dict) and a.get("set_tweak") == "highlight" and a.get("value", True) is True
        for a in actions
    )
    ts = entry.get("ts", event.get("origin_server_ts"))
    return ServerNotification(
        room_id=room_id,
        event=event,
        read=entry.get("read") is True,
        highlight=highlight,
        ts=ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
    )


class ServerNotifications(OperationsBase):
    async def server_notifications(
        self, *, token: str | None = None, limit: int = NOTIFICATIONS_PAGE
    ) -> tuple[list[ServerNotification], str | None]:
        """A page of the server's notifications, newest first, and the token of the next,
        older page (None: no more). Entries that are not well formed are left out."""
        query = {"limit": str(limit)}
        if token:
            query["from"] = token
        resp = await self.client.api.request(Method.GET, Path.v3.notifications, query_params=query)
        entries = resp.get("notifications") if isinstance(resp, dict) else None
        parsed = [parse_notification(e) for e in entries] if isinstance(entries, list) else []
        following = resp.get("next_token") if isinstance(resp, dict) else None
        return [n for n in parsed if n is not None], (
            following if isinstance(following, str) and following else None
        )

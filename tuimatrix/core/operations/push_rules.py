"""Push rules (spec "Push Notifications"), read from and written to the server, as Element
writes them; ``tuimatrix.core.push_rules`` reads the same rules from the copy sync keeps."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.errors import UserError
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.operations.base import OperationsBase
from tuimatrix.core.push_rules import NOTIFICATION_MODES, notifies


class PushRules(OperationsBase):
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
        if override and override.get("enabled", True) and not notifies(override):
            return "none"
        rule = await self.push_rule("room", room_id)
        if not rule or not rule.get("enabled", True):
            return "default"
        return "all" if notifies(rule) else "mentions"

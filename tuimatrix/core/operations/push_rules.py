"""Push rules (spec "Push Notifications"), read from and written to the server, as Element
writes them; ``tuimatrix.core.push_rules`` reads the same rules from the copy sync keeps."""

from __future__ import annotations

from typing import Any

from tuimatrix.core.errors import UserError
from tuimatrix.core.lazy import Method, Path
from tuimatrix.core.notification_settings import (
    DEFAULT_RULES,
    MENTION_ACTIONS,
    MENTION_LEVELS,
    MENTION_RULES,
    check_keyword,
    keyword_rule_ids,
    level_actions,
    mention_rules,
    mute_rule,
)
from tuimatrix.core.operations.base import OperationsBase
from tuimatrix.core.push_rules import NOTIFICATION_MODES, notifies


class PushRules(OperationsBase):
    async def push_ruleset(self) -> dict[str, Any]:
        """The user's push rules as the server has them now (``GET /pushrules/``), in the
        shape of the ``m.push_rules`` account data.

        The settings commands read this, not the copy sync keeps: a command run right after
        another (``add-keyword x; keywords``) must see the change before the next sync does.
        """
        resp = await self.client.api.request(Method.GET, Path.v3.pushrules[""])
        return resp if isinstance(resp, dict) else {}

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

    async def _set_rule_actions(self, kind: str, rule_id: str, actions: list[Any]) -> None:
        """``PUT /pushrules/global/{kind}/{ruleId}/actions``: the way to change a server rule."""
        path = Path.v3.pushrules["global"][kind][rule_id]["actions"]
        await self.client.api.request(Method.PUT, path, {"actions": actions})

    async def _set_rule_enabled(self, kind: str, rule_id: str, enabled: bool) -> None:
        path = Path.v3.pushrules["global"][kind][rule_id]["enabled"]
        await self.client.api.request(Method.PUT, path, {"enabled": enabled})

    async def add_keyword(self, keyword: str) -> str:
        """Notify (highlighted, with the default sound) for messages holding ``keyword``, as
        Element adds one: a content rule whose id and pattern are the keyword. Returns the
        keyword as stored (trimmed); a keyword a rule cannot hold is a UsageError."""
        keyword = check_keyword(keyword)
        await self.set_push_rule(
            "content", keyword, {"pattern": keyword, "actions": list(MENTION_ACTIONS)}
        )
        # The server keeps a rule's enabled flag apart from the rule: a rule put again over a
        # disabled one would stay disabled.
        await self._set_rule_enabled("content", keyword, True)
        return keyword

    async def remove_keyword(self, keyword: str) -> list[str]:
        """Delete the keyword's content rules (by id, or by pattern whoever wrote them); the
        ids deleted, [] if it was not a keyword."""
        rule_ids = keyword_rule_ids(await self.push_ruleset(), keyword.strip())
        return [r for r in rule_ids if await self.delete_push_rule("content", r)]

    async def mute_sender(self, user_id: str) -> None:
        """Nothing ``user_id`` sends notifies, their mentions of the user included: an override
        rule named after them, matching their events exactly, with no actions (as Element
        mutes a room). Not a sender rule: Synapse stores those with a condition on the key
        ``user_id``, which no event has, so they never match there."""
        await self.set_push_rule("override", user_id, mute_rule(user_id))
        await self._set_rule_enabled("override", user_id, True)

    async def unmute_sender(self, user_id: str) -> bool:
        """Delete the rules that mute ``user_id`` (ours, and a sender rule another client
        wrote); False if there was none."""
        deleted = [await self.delete_push_rule(kind, user_id) for kind in ("override", "sender")]
        return any(deleted)

    async def set_default_notifications(self, kind: str, level: str) -> None:
        """The level (``all``, ``noisy``, ``mentions``, ``off``) of a default (``dm``,
        ``group``, ``encrypted-dm``, ``encrypted-group``): the actions of its server rule, and
        whether it is enabled (``off`` disables it, as Element's older settings did)."""
        rule_id = DEFAULT_RULES.get(kind)
        if rule_id is None:
            raise UserError(f"default: one of {', '.join(DEFAULT_RULES)}, not {kind!r}")
        actions = level_actions(level)
        if actions is not None:
            await self._set_rule_actions("underride", rule_id, actions)
        await self._set_rule_enabled("underride", rule_id, actions is not None)

    async def set_mention_notifications(self, who: str, level: str) -> list[str]:
        """Mentions of ``who`` (``me``: intentional mentions, display name, user name;
        ``room``: ``@room``) notify (``on``, highlighted, the server's defaults) or not
        (``off``: actions ``[]``), as Element's settings write them. The rule ids changed
        (those the server has)."""
        if who not in MENTION_RULES:
            raise UserError(f"mentions: one of {', '.join(MENTION_RULES)}, not {who!r}")
        if level not in MENTION_LEVELS:
            raise UserError(f"mentions: one of {', '.join(MENTION_LEVELS)}, not {level!r}")
        actions = MENTION_RULES[who][1] if level == "on" else []
        rules = mention_rules(await self.push_ruleset(), who)
        for kind, rule_id in rules:
            await self._set_rule_actions(kind, rule_id, list(actions))
            await self._set_rule_enabled(kind, rule_id, True)
        return [rule_id for _kind, rule_id in rules]

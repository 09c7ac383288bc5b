"""Per-room notification settings, read from the ``m.push_rules`` account data.

The same reading as :meth:`Operations.room_notifications` (``core/operations/push_rules.py``,
which asks the server), but from the copy sync keeps, so the room list can show every room's
setting without a request per room.
"""

from __future__ import annotations

from typing import Any

#: A room's notification settings, from loudest to quietest but "default" (the account's rules).
NOTIFICATION_MODES = ("default", "all", "mentions", "none")


def global_rules(push_rules: Any, kind: str) -> list[dict[str, Any]]:
    """The rules of one kind of the ``global`` ruleset (the dicts among them; [] if none)."""
    ruleset = push_rules.get("global") if isinstance(push_rules, dict) else None
    rules = ruleset.get(kind) if isinstance(ruleset, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def notifies(rule: dict[str, Any]) -> bool:
    """Whether a push rule's actions notify (a rule with no actions silences what it matches)."""
    actions = rule.get("actions")
    return isinstance(actions, list) and "notify" in actions


def notification_modes(push_rules: Any) -> dict[str, str]:
    """Room id → ``all``, ``mentions`` or ``none`` for the rooms whose setting is not the
    account's default (as ``set-notifications`` writes them: a room rule, or a muting
    override rule named after the room)."""
    modes: dict[str, str] = {}
    for rule in global_rules(push_rules, "room"):
        room_id = rule.get("rule_id")
        if isinstance(room_id, str) and rule.get("enabled", True):
            modes[room_id] = "all" if notifies(rule) else "mentions"
    for rule in global_rules(push_rules, "override"):
        room_id = rule.get("rule_id")
        if (
            isinstance(room_id, str)
            and room_id.startswith("!")
            and rule.get("enabled", True)
            and not notifies(rule)
        ):
            modes[room_id] = "none"
    return modes

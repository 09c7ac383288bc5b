"""The account-wide notification settings people edit, as push rules written as Element writes
them, so that Element and tuimatrix each read the other's changes.

Pure: a ruleset in (the ``m.push_rules`` content, or ``GET /pushrules/``: the same shape), the
settings out; and the rules to write for a setting. ``core/operations/push_rules.py`` sends
them. Element's reading is ``src/models/notificationsettings/toNotificationSettings.ts``: a
rule notifies when it is enabled and its actions hold ``notify``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuimatrix.core.errors import UsageError
from tuimatrix.core.push_defaults import KINDS, is_keyword_rule
from tuimatrix.core.push_rules import global_rules, notifies

#: A keyword's actions, Element's "mention" actions (and Synapse's for ``.m.rule.is_user_mention``):
#: notify, with the default sound, highlighted (a highlight tweak with no value is ``true``).
MENTION_ACTIONS: list[Any] = [
    "notify",
    {"set_tweak": "sound", "value": "default"},
    {"set_tweak": "highlight"},
]
#: ``@room`` on: Synapse's default actions for ``.m.rule.is_room_mention`` and
#: ``.m.rule.roomnotif``.
ROOM_MENTION_ACTIONS: list[Any] = ["notify", {"set_tweak": "highlight"}]

#: The kinds of room a default applies to → the underride rule that sets it (spec "Default
#: Underride Rules"); Element's "Messages in one-to-one chats", "… in group chats", and the
#: encrypted ones.
DEFAULT_RULES = {
    "dm": ".m.rule.room_one_to_one",
    "group": ".m.rule.message",
    "encrypted-dm": ".m.rule.encrypted_room_one_to_one",
    "encrypted-group": ".m.rule.encrypted",
}
#: The levels of a default: ``all`` notifies, ``noisy`` with the default sound (the server's own
#: default for DMs), ``mentions`` notifies only through the mention and keyword rules (Element's
#: "@mentions and keywords": actions ``[]``), ``off`` disables the rule. The two last differ
#: only in how they are written: mentions and keywords still notify, from their own rules.
DEFAULT_LEVELS = ("all", "noisy", "mentions", "off")
_LEVEL_ACTIONS: dict[str, list[Any]] = {
    "all": ["notify"],
    "noisy": ["notify", {"set_tweak": "sound", "value": "default"}],
    "mentions": [],
}

#: Mentions of the user (intentional ``m.mentions``, then the legacy display-name and user-name
#: rules) and of the whole room, with the actions each has when on.
MENTION_RULES: dict[str, tuple[tuple[str, ...], list[Any]]] = {
    "me": (
        (".m.rule.is_user_mention", ".m.rule.contains_display_name", ".m.rule.contains_user_name"),
        MENTION_ACTIONS,
    ),
    "room": ((".m.rule.is_room_mention", ".m.rule.roomnotif"), ROOM_MENTION_ACTIONS),
}
MENTION_LEVELS = ("on", "off")

#: The longest keyword accepted (characters): a keyword is a rule id and a pattern on the server.
MAX_KEYWORD = 100
#: Characters a push-rule glob gives a meaning to, with no way to escape them (Synapse also
#: reads ``[…]`` as a character class).
_GLOB = "*?[]"


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword: a content rule of the user's (the server's own are named ``.…``)."""

    rule_id: str
    pattern: str
    enabled: bool
    notify: bool
    highlight: bool
    sound: str | None

    @property
    def alert(self) -> str:
        """``highlight``, ``notify`` or ``off`` (disabled, or no ``notify``)."""
        if not (self.enabled and self.notify):
            return "off"
        return "highlight" if self.highlight else "notify"


def check_keyword(text: str) -> str:
    """A keyword as a rule can hold it (trimmed), or a UsageError naming what is wrong.

    Element makes the keyword both the rule id and the pattern; the server refuses rule ids
    with slashes or starting with ``.`` (its own), and a glob has no escape for ``* ? [ ]``.
    """
    keyword = text.strip()
    if not keyword:
        raise UsageError("keyword: empty")
    if len(keyword) > MAX_KEYWORD:
        raise UsageError(f"keyword: longer than {MAX_KEYWORD} characters")
    bad = sorted({c for c in keyword if c in _GLOB or c in "/\\" or not c.isprintable()})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise UsageError(
            f"keyword: cannot hold {shown} (push-rule patterns are globs with no escape, "
            "and rule ids hold no slashes or control characters)"
        )
    if keyword.startswith("."):
        raise UsageError("keyword: cannot start with '.' (those rule ids are the server's)")
    return keyword


def _tweak(actions: Any, name: str) -> Any:
    """A tweak's value in a rule's actions (a highlight with no value is true); None if none."""
    if not isinstance(actions, list):
        return None
    for action in actions:
        if isinstance(action, dict) and action.get("set_tweak") == name:
            return action.get("value", True if name == "highlight" else None)
    return None


def find_rule(ruleset: Any, rule_id: str) -> tuple[str, dict[str, Any]] | None:
    """The kind and rule of the global ruleset with this id, if there is one."""
    for kind in KINDS:
        for rule in global_rules(ruleset, kind):
            if rule.get("rule_id") == rule_id:
                return kind, rule
    return None


def _on(rule: dict[str, Any]) -> bool:
    return bool(rule.get("enabled", True)) and notifies(rule)


def keywords(ruleset: Any) -> list[Keyword]:
    """The user's keywords, in the server's order (Element's: content rules not named ``.…``)."""
    found = []
    for rule in global_rules(ruleset, "content"):
        rule_id, pattern = rule.get("rule_id"), rule.get("pattern")
        if isinstance(rule_id, str) and is_keyword_rule(rule_id) and isinstance(pattern, str):
            actions = rule.get("actions")
            sound = _tweak(actions, "sound")
            found.append(
                Keyword(
                    rule_id,
                    pattern,
                    enabled=bool(rule.get("enabled", True)),
                    notify=notifies(rule),
                    highlight=_tweak(actions, "highlight") is True,
                    sound=sound if isinstance(sound, str) else None,
                )
            )
    return found


def keyword_rule_ids(ruleset: Any, keyword: str) -> list[str]:
    """The ids of the content rules that are this keyword (by id, or by pattern ignoring case,
    as the server matches it): what removing it deletes, whoever wrote them."""
    folded = keyword.casefold()
    found = keywords(ruleset)
    return [k.rule_id for k in found if k.rule_id == keyword or k.pattern.casefold() == folded]


def mute_rule(user_id: str) -> dict[str, Any]:
    """The override rule that silences everything ``user_id`` sends (an exact match: a user id
    may hold ``[`` for an IPv6 server, which a glob would read as a character class)."""
    return {
        "conditions": [{"kind": "event_property_is", "key": "sender", "value": user_id}],
        "actions": [],
    }


def _mutes_sender(rule: dict[str, Any]) -> bool:
    """A rule named after a user that matches only their events (ours, or another client's
    ``event_match`` on ``sender``)."""
    user_id = rule.get("rule_id")
    conditions = rule.get("conditions")
    if not isinstance(conditions, list) or len(conditions) != 1:
        return False
    condition = conditions[0]
    return (
        isinstance(condition, dict)
        and condition.get("key") == "sender"
        and user_id in (condition.get("value"), condition.get("pattern"))
    )


def muted_senders(ruleset: Any) -> list[str]:
    """The users whose messages do not notify: enabled rules that do not notify, named after
    them — our overrides (:func:`mute_rule`), and sender rules (the spec's, which other
    clients may write)."""
    muted = [rule for rule in global_rules(ruleset, "override") if _mutes_sender(rule)]
    muted += global_rules(ruleset, "sender")
    found = [
        rule["rule_id"]
        for rule in muted
        if isinstance(rule.get("rule_id"), str) and rule.get("enabled", True) and not notifies(rule)
    ]
    return list(dict.fromkeys(found))


def default_level(ruleset: Any, kind: str) -> str | None:
    """The level of a default (``dm``, ``group``, …) as :data:`DEFAULT_LEVELS` names it; None
    when the server has no such rule."""
    found = find_rule(ruleset, DEFAULT_RULES[kind])
    if found is None:
        return None
    rule = found[1]
    if not rule.get("enabled", True):
        return "off"
    if not notifies(rule):
        return "mentions"
    return "noisy" if _tweak(rule.get("actions"), "sound") else "all"


def level_actions(level: str) -> list[Any] | None:
    """The actions a default's rule gets for a level; None for ``off`` (the rule is disabled)."""
    if level not in DEFAULT_LEVELS:
        raise UsageError(f"level: one of {', '.join(DEFAULT_LEVELS)}, not {level!r}")
    actions = _LEVEL_ACTIONS.get(level)
    return list(actions) if actions is not None else None


def mention_level(ruleset: Any, who: str) -> str | None:
    """``on`` when any of the mention rules of ``who`` (``me``, ``room``) notifies (Element's
    reading), ``off`` when none does; None when the server has none of them."""
    rules = [found[1] for r in MENTION_RULES[who][0] if (found := find_rule(ruleset, r))]
    if not rules:
        return None
    return "on" if any(_on(rule) for rule in rules) else "off"


def mention_rules(ruleset: Any, who: str) -> list[tuple[str, str]]:
    """The (kind, rule id) of the mention rules of ``who`` that the server has."""
    return [(found[0], r) for r in MENTION_RULES[who][0] if (found := find_rule(ruleset, r))]

"""The user's push rules evaluated here, per the spec ("Push Notifications" → push rules).

The server cannot read an encrypted room's messages, so its counts miss mentions and
keywords there: the client evaluates the same rules on the decrypted events. The semantics
follow Synapse's evaluator (``rust/src/push/evaluator.rs``, ``utils.rs``) so that our counts
agree with the server's where it can see: globs are case-insensitive, ``?`` and ``*`` never
match a newline, ``content.body`` matches by words, a key's dots separate levels unless
escaped (``\\.``), values compare with their JSON type, and the legacy mention rules step
aside for an event with ``m.mentions``.

Rules are compiled once (:meth:`Ruleset.from_account_data`) into closures; evaluation runs on
every new event of every sync, so it does no parsing. Everything in an event is untrusted:
a wrong type, a huge string or deep nesting never raises, it just does not match, and the
work per condition is bounded (:data:`MAX_GLOB`, :data:`MAX_SCANNED`; a glob with ``*``
runs as a regex that keeps its leftmost parts and so never backtracks past a line, others
with wildcards as a bit-parallel automaton, linear in the text).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeGuard

from tuimatrix.core.push_defaults import KINDS, is_keyword_rule, localpart, server_default_rules

#: A glob longer than this (characters) never matches: no real keyword or name is that long.
MAX_GLOB = 512
#: Characters of a string value that matching looks at. An event is at most 64 KiB, so a
#: real one is never cut; a longer value (a forged or local event) is matched on its start.
MAX_SCANNED = 65_536
#: The rules that step aside for an event with ``m.mentions`` (the spec's intentional
#: mentions: a client that sends them has said exactly whom it mentions).
LEGACY_MENTION_RULES = frozenset(
    {
        ("override", ".m.rule.contains_display_name"),
        ("override", ".m.rule.roomnotif"),
        ("content", ".m.rule.contains_user_name"),
    }
)
#: Rules of one kind compiled, in order; the rest are ignored. A user has dozens (a room or
#: muted room is one each: a few hundred for the busiest); a hostile server's ruleset of
#: 100,000 would take seconds to compile and milliseconds per event to evaluate.
MAX_RULES_PER_KIND = 2_000
#: The power level a sender needs for a notification kind the power levels do not name.
DEFAULT_NOTIFICATION_LEVEL = 50


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the push rules decided for one event."""

    notify: bool
    highlight: bool = False
    sound: str | None = None  # the "sound" tweak ("default", ...), None if none
    rule_id: str | None = None  # the rule that matched; None when none did


SILENT = Verdict(False)


@dataclass(frozen=True, slots=True)
class RoomFacts:
    """What the push-rule conditions need to know about the event's room."""

    member_count: int  # joined members
    display_name: str | None  # the user's display name in the room
    power_levels: Mapping[str, Any] | None  # content of m.room.power_levels (None: none)
    #: Users above every power level: the creators of a room version 12+ room (the
    #: ``m.room.create`` sender and its ``additional_creators``), or the creator of an older
    #: room that has no power levels event.
    creators: frozenset[str] = field(default_factory=frozenset)
    #: The room's id, for the rules that name a room (room rules, a muted room's override):
    #: events from ``/sync`` do not carry their ``room_id``.
    room_id: str | None = None


class _Subject:
    """One evaluation's event, room and user, with what several conditions read."""

    __slots__ = ("_lower", "_raw", "content", "event", "room", "user_id")

    def __init__(self, event: Mapping[str, Any], room: RoomFacts, user_id: str) -> None:
        self.event = event
        self.room = room
        self.user_id = user_id
        content = event.get("content")
        self.content: Mapping[str, Any] = content if _is_object(content) else {}
        self._raw: str | None = None
        self._lower = ""

    def lowered(self, value: str) -> str:
        """``value`` as globs read it; the body is read by several rules, cut and lowered once."""
        if value is not self._raw:
            self._raw = value
            self._lower = _lowered(value)
        return self._lower


def _is_object(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # `type(...) is dict` first: events are dicts, and an ABC check costs ten times more.
    return type(value) is dict or isinstance(value, Mapping)


Condition = Callable[[_Subject], bool]
_MISSING = object()
_ROOM_ID = ("room_id",)


# -- keys and values ---------------------------------------------------------------------------


def key_path(key: str) -> tuple[str, ...] | None:
    """A condition's dotted key as the levels it names: ``content.m\\.mentions.room`` →
    ``("content", "m.mentions", "room")``. None when it cannot name anything (a backslash
    that escapes neither a dot nor a backslash)."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(key)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in (".", "\\"):
                return None
            current.append(escaped)
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return tuple(parts)


def _lookup(subject: _Subject, path: tuple[str, ...]) -> Any:
    value: Any = subject.event
    if path == _ROOM_ID and "room_id" not in value:
        return subject.room.room_id
    for part in path:
        if not _is_object(value):
            return _MISSING
        value = value.get(part, _MISSING)
    return value


def _is_simple(value: Any) -> bool:
    # As Synapse flattens an event: strings, integers, booleans and null; never floats.
    return value is None or type(value) in (str, int, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    return type(a) is type(b) and a == b


# -- globs -------------------------------------------------------------------------------------

#: A glob's test of a text already cut to MAX_SCANNED and lowered (:func:`_lowered`).
Matcher = Callable[[str], bool]
_WILDCARD_RUN = re.compile(r"[?*]+")


def _never(_: str) -> bool:
    return False


def _lowered(value: str) -> str:
    return value[:MAX_SCANNED].lower()


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class _WildcardGlob:
    """A glob with ``?``/``*`` as a bit-parallel NFA (shift-and with a self-loop per star):
    linear in the text whatever the pattern, unlike a backtracking regex."""

    __slots__ = ("_accept", "_any", "_literals", "_required", "_star", "_start", "_words")

    def __init__(self, glob: str, *, words: bool) -> None:
        self._words = words
        self._literals: dict[str, int] = {}
        self._any = self._star = 0
        bit = 0
        pos = 0
        chunks = []
        for run in _WILDCARD_RUN.finditer(glob):
            chunk = glob[pos : run.start()].lower()
            chunks.append(chunk)
            bit = self._add_literal(chunk, bit)
            # As Synapse simplifies a run: `?*?*` is `??*`, the regex `.{2,}`.
            for _ in range(run.group().count("?")):
                self._any |= 1 << bit
                bit += 1
            if "*" in run.group():
                self._star |= 1 << bit
                bit += 1
            pos = run.end()
        chunks.append(glob[pos:].lower())
        bit = self._add_literal(chunks[-1], bit)
        self._accept = 1 << bit
        self._start = self._close(1)
        self._required = max(chunks, key=len)

    def _add_literal(self, chunk: str, bit: int) -> int:
        for char in chunk:
            self._literals[char] = self._literals.get(char, 0) | (1 << bit)
            bit += 1
        return bit

    def _close(self, states: int) -> int:
        # A star may match nothing: being at it is being past it too.
        return states | ((states & self._star) << 1)

    def _step(self, states: int, char: str) -> int:
        moved = states & self._literals.get(char, 0)
        if char != "\n":  # as the regex `.` Synapse builds, a wildcard stops at a newline
            moved |= states & self._any
            return self._close((moved << 1) | (states & self._star))
        return self._close(moved << 1)

    def __call__(self, text: str) -> bool:
        if self._required not in text:
            return False
        if not self._words:
            states = self._start
            for char in text:
                states = self._step(states, char)
                if not states:
                    return False
            return bool(states & self._accept)
        # By words: a match starts and ends where the text is not inside a word, as Synapse's
        # `(?:^|\b|\W)glob(?:\b|\W|$)`: never between two word characters.
        states = 0
        previous_word = False
        for char in text:
            word = _word_char(char)
            if not (previous_word and word):
                if states & self._accept:
                    return True
                states |= self._start
            states = self._step(states, char)
            previous_word = word
        return bool((states | self._start) & self._accept)


#: Where a match by words may start or end: not between two word characters (``\\w`` is
#: :func:`_word_char`'s set: alphanumerics and ``_``).
_BOUNDARY = r"(?:(?<!\w)|(?!\w))"


def _segment(segment: str) -> str:
    # `?` is any character but a newline: the regex `.` without DOTALL.
    return "".join("." if char == "?" else re.escape(char) for char in segment)


def _wildcard_regex(glob: str, *, words: bool) -> Matcher | None:
    """A glob with wildcards as a regex that runs at C speed and never backtracks more than
    a line: None when it has a ``*`` and one of its fixed parts holds a newline (the automaton
    takes those). Without a ``*`` its length is fixed: a plain search.

    With no newline in its fixed parts (the parts between stars), a match lies inside one
    line, and within a line the leftmost start and the leftmost place of each middle part
    are always as good as any later one (a star takes whatever lies between): so each is
    found once and kept (an atomic group), and only the last part, which must end the match,
    is searched along the line. By words, the search starts only at line starts."""
    segments = glob.lower().split("*")
    if len(segments) == 1:  # only `?`: a fixed length, searched like a word
        fixed = re.compile(_segment(segments[0]))
        if not words:
            return lambda text: fixed.fullmatch(text) is not None
        bounded = re.compile(rf"{_BOUNDARY}{fixed.pattern}{_BOUNDARY}")
        return lambda text: bounded.search(text) is not None
    if any("\n" in segment for segment in segments):
        return None
    first, *middle, last = (_segment(segment) for segment in segments)
    between = "".join(f"(?>[^\n]*?{segment})" for segment in middle)
    if not words:
        whole = re.compile(rf"{first}{between}[^\n]*?{last}\Z")
        return lambda text: whole.match(text) is not None
    by_words = re.compile(
        rf"^(?>[^\n]*?{_BOUNDARY}{first}){between}[^\n]*?{last}{_BOUNDARY}", re.MULTILINE
    )
    return lambda text: by_words.search(text) is not None


@lru_cache(maxsize=1024)
def _glob(glob: str, words: bool) -> Matcher:
    # Cached: display names and keywords repeat across rules and rooms.
    if len(glob) > MAX_GLOB:
        return _never
    if "*" in glob or "?" in glob:
        found = _wildcard_regex(glob, words=words)
        if found is not None:
            required = max(glob.lower().replace("?", "*").split("*"), key=len)
            return lambda text: required in text and found(text)
        return _WildcardGlob(glob, words=words)
    literal = glob.lower()
    if not words:
        return literal.__eq__
    regex = re.compile(r"(?:^|\b|\W)" + re.escape(literal) + r"(?:\b|\W|\Z)")
    return lambda text: literal in text and regex.search(text) is not None


def compile_glob(glob: str, *, words: bool) -> Callable[[str], bool]:
    """A case-insensitive test of a value against ``glob``: the whole value, or (``words``) a
    run of whole words in it, as ``content.body`` is matched."""
    matcher = _glob(glob, words)
    return lambda value: matcher(_lowered(value))


# -- conditions --------------------------------------------------------------------------------


def _event_match(key: Any, pattern: Any) -> Condition | None:
    path = key_path(key) if isinstance(key, str) else None
    if path is None or not isinstance(pattern, str):
        return None
    # Only content.body is matched by words (Synapse decides by this exact key).
    matcher = _glob(pattern, key == "content.body")

    def condition(subject: _Subject) -> bool:
        value = _lookup(subject, path)
        return type(value) is str and matcher(subject.lowered(value))

    return condition


def _event_property_is(key: Any, expected: Any) -> Condition | None:
    path = key_path(key) if isinstance(key, str) else None
    if path is None or not _is_simple(expected):
        return None
    return lambda subject: _same(_lookup(subject, path), expected)


def _event_property_contains(key: Any, expected: Any) -> Condition | None:
    path = key_path(key) if isinstance(key, str) else None
    if path is None or not _is_simple(expected):
        return None

    def condition(subject: _Subject) -> bool:
        values = _lookup(subject, path)
        return type(values) is list and any(_same(value, expected) for value in values)

    return condition


def _contains_display_name(subject: _Subject) -> bool:
    name = subject.room.display_name
    event = subject.event
    if not name and event.get("type") == "m.room.member":
        # An invite or join of the user: they have no name in the room yet but this one.
        if event.get("state_key") == subject.user_id:
            name = subject.content.get("displayname")
    body = subject.content.get("body")
    # An empty name would match every message.
    if not isinstance(name, str) or not name or type(body) is not str:
        return False
    return _glob(name, True)(subject.lowered(body))


_MEMBER_COUNT = re.compile(r"([=<>]*)([0-9]+)")
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "": operator.eq,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _room_member_count(is_: Any) -> Condition | None:
    parsed = _MEMBER_COUNT.fullmatch(is_) if isinstance(is_, str) and len(is_) < 32 else None
    compare = _COMPARISONS.get(parsed.group(1)) if parsed else None
    if parsed is None or compare is None:
        return None
    bound = int(parsed.group(2))
    return lambda subject: bool(compare(subject.room.member_count, bound))


def power_level(value: Any) -> int | None:
    """A power level as Synapse reads one: an integer, or (old rooms) a string or number that
    converts to one; None for anything else."""
    if type(value) is int:
        return value
    if isinstance(value, str | float):
        try:
            return int(value)
        except (ValueError, OverflowError):
            return None
    return None


def _sender_notification_permission(key: Any) -> Condition | None:
    if not isinstance(key, str):
        return None

    def condition(subject: _Subject) -> bool:
        sender = subject.event.get("sender")
        if type(sender) is not str:
            return False
        if sender in subject.room.creators:
            return True
        levels = subject.room.power_levels
        if not isinstance(levels, Mapping):
            return False  # only a creator (above) may notify the room without power levels
        notifications = levels.get("notifications")
        required = None
        if isinstance(notifications, Mapping):
            required = power_level(notifications.get(key))
        users = levels.get("users")
        level = users.get(sender) if isinstance(users, Mapping) else None
        if level is None:
            level = levels.get("users_default", 0)
        have = power_level(level)
        need = DEFAULT_NOTIFICATION_LEVEL if required is None else required
        return (have or 0) >= need

    return condition


def _compile_condition(condition: Any, user_id: str) -> Condition | None:
    """One condition as a closure; None for one that can never match (an unknown kind, or
    fields of the wrong type: the spec says such a rule does not match)."""
    if not isinstance(condition, Mapping):
        return None
    kind = condition.get("kind")
    key = condition.get("key")
    if kind == "event_match":
        pattern = condition.get("pattern", _MISSING)
        if pattern is _MISSING:  # Synapse's internal form, in case a server sends it
            pattern = {"user_id": user_id, "user_localpart": localpart(user_id)}.get(
                str(condition.get("pattern_type"))
            )
        return _event_match(key, pattern)
    if kind == "event_property_is":
        return _event_property_is(key, condition.get("value", _MISSING))
    if kind == "event_property_contains":
        return _event_property_contains(key, condition.get("value", _MISSING))
    if kind == "contains_display_name":
        return _contains_display_name
    if kind == "room_member_count":
        return _room_member_count(condition.get("is"))
    if kind == "sender_notification_permission":
        return _sender_notification_permission(key)
    return None


# -- rules -------------------------------------------------------------------------------------


def actions_verdict(actions: Any, rule_id: str) -> Verdict:
    """What a rule's actions decide. ``dont_notify`` and ``coalesce`` are ignored, as the spec
    now says (an old server's ``["dont_notify"]`` is ``[]``); tweaks count only with
    ``notify``, as a server counts only notifying events."""
    if not isinstance(actions, list) or "notify" not in actions:
        return Verdict(False, rule_id=rule_id)
    highlight = False
    sound: str | None = None
    for action in actions:
        if not isinstance(action, Mapping):
            continue
        tweak = action.get("set_tweak")
        value = action.get("value", _MISSING)
        if tweak == "highlight":
            highlight = value is _MISSING or value is True
        elif tweak == "sound":
            sound = value if isinstance(value, str) else None
    return Verdict(True, highlight=highlight, sound=sound, rule_id=rule_id)


@dataclass(frozen=True, slots=True)
class _Rule:
    conditions: tuple[Condition, ...]
    verdict: Verdict
    legacy_mention: bool
    #: The event type the rule needs, lowered, when one of its conditions names one exactly
    #: (most do): checked first, by an index, instead of as a condition.
    event_type: str | None = None


def _type_gate(raw: list[Any]) -> tuple[str | None, list[Any]]:
    """The first exact ``type`` match among a rule's conditions, and the other conditions."""
    for index, condition in enumerate(raw):
        if (
            isinstance(condition, Mapping)
            and condition.get("kind") == "event_match"
            and condition.get("key") == "type"
            and isinstance(pattern := condition.get("pattern"), str)
            and not ("*" in pattern or "?" in pattern)
            and len(pattern) <= MAX_GLOB
        ):
            return pattern.lower(), raw[:index] + raw[index + 1 :]
    return None, raw


def _rule_conditions(kind: str, rule: Mapping[str, Any], rule_id: str) -> list[Any] | None:
    """A rule's conditions in the one form: content, room and sender rules imply theirs."""
    if kind == "content":
        return [{"kind": "event_match", "key": "content.body", "pattern": rule.get("pattern")}]
    if kind == "room":
        return [{"kind": "event_match", "key": "room_id", "pattern": rule_id}]
    if kind == "sender":
        return [{"kind": "event_match", "key": "sender", "pattern": rule_id}]
    conditions = rule.get("conditions", [])  # none at all: the rule always matches
    return conditions if isinstance(conditions, list) else None


def _compile_rule(kind: str, rule: Any, user_id: str) -> _Rule | None:
    if not isinstance(rule, Mapping):
        return None
    rule_id = rule.get("rule_id")
    if not isinstance(rule_id, str) or rule.get("enabled", True) is not True:
        return None
    raw = _rule_conditions(kind, rule, rule_id)
    if raw is None:
        return None
    event_type, raw = _type_gate(raw)
    conditions = [_compile_condition(condition, user_id) for condition in raw]
    if any(condition is None for condition in conditions):
        return None  # a condition that never matches: so does the rule
    return _Rule(
        conditions=tuple(c for c in conditions if c is not None),
        verdict=actions_verdict(rule.get("actions"), rule_id),
        legacy_mention=(kind, rule_id) in LEGACY_MENTION_RULES,
        event_type=event_type,
    )


def _usable(content: Any) -> Mapping[str, Any] | None:
    ruleset = content.get("global") if isinstance(content, Mapping) else None
    if isinstance(ruleset, Mapping) and any(isinstance(ruleset.get(k), list) for k in KINDS):
        return ruleset
    return None


class Ruleset:
    """The user's push rules (the ``m.push_rules`` account data), compiled once."""

    __slots__ = ("_by_type", "_rules", "_untyped", "keywords", "user_id")

    #: Event types whose rules are kept at hand; past this (a flood of made-up types) the
    #: index starts again.
    MAX_TYPES = 256

    def __init__(
        self, user_id: str, rules: tuple[_Rule, ...], keywords: frozenset[str] = frozenset()
    ) -> None:
        self.user_id = user_id
        #: the ids of the user's own content rules (its keywords; not the server's ``.m.``
        #: ones): a verdict whose ``rule_id`` is among them came from a keyword
        self.keywords = keywords
        self._rules = rules
        self._untyped = tuple(rule for rule in rules if rule.event_type is None)
        self._by_type: dict[str, tuple[_Rule, ...]] = {}

    def _rules_for(self, event_type: Any) -> tuple[_Rule, ...]:
        """The rules that can match an event of ``event_type``, in order."""
        if type(event_type) is not str:
            return self._untyped
        rules = self._by_type.get(event_type)
        if rules is None:
            if len(self._by_type) >= self.MAX_TYPES:
                self._by_type.clear()
            lowered = event_type.lower() if len(event_type) <= MAX_GLOB else None
            rules = tuple(r for r in self._rules if r.event_type in (None, lowered))
            self._by_type[event_type] = rules
        return rules

    @classmethod
    def from_account_data(cls, user_id: str, content: Any) -> Ruleset:
        """Compile ``content``; when it is None or not a usable ruleset, the server-default
        rules (Synapse's, in its order)."""
        ruleset = _usable(content) or server_default_rules(user_id)
        compiled: list[_Rule] = []
        keywords: set[str] = set()
        for kind in KINDS:
            rules = ruleset.get(kind)
            for rule in rules[:MAX_RULES_PER_KIND] if isinstance(rules, list) else ():
                built = _compile_rule(kind, rule, user_id)
                if built is not None:
                    compiled.append(built)
                    rule_id = built.verdict.rule_id
                    if kind == "content" and rule_id and is_keyword_rule(rule_id):
                        keywords.add(rule_id)
        return cls(user_id, tuple(compiled), frozenset(keywords))

    def evaluate(self, event: Mapping[str, Any], room: RoomFacts) -> Verdict:
        """The first enabled rule that matches decides; SILENT when none does, and for the
        user's own events (servers never notify a user of their own events)."""
        if not _is_object(event) or event.get("sender") == self.user_id:
            return SILENT
        subject = _Subject(event, room, self.user_id)
        intentional = "m.mentions" in subject.content
        for rule in self._rules_for(event.get("type")):
            if rule.legacy_mention and intentional:
                continue
            for condition in rule.conditions:
                if not condition(subject):
                    break
            else:
                return rule.verdict
        return SILENT

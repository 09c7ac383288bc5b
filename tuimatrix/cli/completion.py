"""Completion for ``tuimatrix shell``: command ids, options, rooms, users, tags."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from tuimatrix.commands.grammar import positional_at, quote_word, read_words, scan
from tuimatrix.core.sanitize import clean_line

if TYPE_CHECKING:
    from tuimatrix.commands import Param
    from tuimatrix.owner.vocabulary import Vocabulary

# -- completion --------------------------------------------------------------------------------


def split_partial(text: str) -> tuple[list[str], str, int]:
    """Shell words of ``text`` up to the cursor: (complete words, current word, its start).

    The command line's own grammar (:func:`~tuimatrix.commands.grammar.scan`); never fails
    on an open quote.
    """
    scanned = scan(text)
    return scanned.words, scanned.current, scanned.start


def _matches(candidates: Iterable[tuple[str, str]], typed: str) -> list[tuple[str, str]]:
    """(value, meta) pairs whose value starts with ``typed`` (any case), then those holding it.

    The meta text is searched too (a user's display name, a room's alias).
    """
    needle = typed.lower()
    first: list[tuple[str, str]] = []
    then: list[tuple[str, str]] = []
    seen: set[str] = set()
    for value, meta in candidates:
        if value in seen:
            continue
        lowered = value.lower()
        if lowered.startswith(needle):
            first.append((value, meta))
            seen.add(value)
        elif needle and (needle in lowered or needle in meta.lower()):
            then.append((value, meta))
            seen.add(value)
    return first + then


class CommandCompleter(Completer):
    """Completes a command line: ids, then options, and values by the parameter's kind.

    The values come from a :class:`~tuimatrix.owner.vocabulary.Vocabulary` that the shell
    asks the owner for before each prompt (completing must not wait for anything).
    """

    def __init__(
        self, vocabulary: Vocabulary | None = None, *, builtins: Iterable[str] = ()
    ) -> None:
        from tuimatrix.owner.vocabulary import Vocabulary

        self.vocabulary = vocabulary or Vocabulary()
        self.builtins = tuple(builtins)

    # -- the values of each kind ---------------------------------------------------------------

    def command_ids(self) -> list[tuple[str, str]]:
        from tuimatrix.commands import REGISTRY, load_commands

        load_commands()
        ids = [
            (name, cmd.title)
            for cmd in REGISTRY.values()
            if not cmd.ui_only
            for name in (cmd.id, *cmd.aliases)
        ]
        ids += [(name, "shell") for name in self.builtins]
        return sorted(ids)

    def rooms(
        self, account: str | None = None, *, spaces_only: bool = False
    ) -> list[tuple[str, str]]:
        """(name or alias, what it is) of the joined and invited rooms of ``account`` (a user
        id), or of every account."""
        words = [
            word
            for word in self.vocabulary.rooms
            if (account is None or word.account == account) and (word.is_space or not spaces_only)
        ]
        names = [(w.value, w.meta) for w in words if not w.is_alias]
        aliases = [(w.value, w.meta) for w in words if w.is_alias]
        return sorted(names, key=lambda n: n[0].lower()) + sorted(aliases)

    def user_ids(self) -> list[tuple[str, str]]:
        own = [(user_id, "you") for user_id in self.vocabulary.accounts]
        return own + sorted(self.vocabulary.users.items())

    def account_ids(self) -> list[tuple[str, str]]:
        return [(user_id, "account") for user_id in self.vocabulary.accounts]

    def tags(self) -> list[tuple[str, str]]:
        return [(tag, "tag") for tag in self.vocabulary.tags]

    def values(self, param: Param | None, kind: str = "", name: str = "") -> list[tuple[str, str]]:
        """The values offered for ``param`` (or a parameter of this kind and name, as an owner
        describes it), by its kind (and an ``account`` by its name)."""
        if param is not None:
            kind, name = param.kind, param.name
            choices: tuple[str, ...] = param.choices or ()
        else:
            choices = ()
        if name == "account":
            return self.account_ids()
        if kind == "room":
            return self.rooms()
        if kind == "space":
            return self.rooms(spaces_only=True)
        if kind == "user":
            return self.user_ids()
        if kind == "tag":
            return self.tags()
        return [(choice, "") for choice in choices]

    # -- completion ----------------------------------------------------------------------------

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        words, current, start = split_partial(document.text_before_cursor)
        start_position = start - len(document.text_before_cursor)
        for text, display, meta in self.complete(words, current):
            yield Completion(
                text, start_position, display=clean_line(display), display_meta=clean_line(meta)
            )

    def complete(self, words: list[str], current: str) -> list[tuple[str, str, str]]:
        """(text to insert, display, meta) for the ``current`` word after ``words``."""
        from tuimatrix.commands import find_command

        if not words:
            return self._offer(self.command_ids(), current)
        name = words[0]
        if name == "help" and len(words) == 1:
            return self._offer(self.command_ids(), current)
        if name == "use":
            return self._offer(self.rooms(), current, quote=True)
        cmd = find_command(name)
        if cmd is None or cmd.ui_only:
            return []
        params = cmd.all_params
        options = {p.flag_name: p for p in params if p.option}
        positionals = [p for p in params if not p.option]
        read = read_words(params, words[1:])
        used = {option.flag for option in read.options}
        loose = read.no_more_options
        if read.pending is not None:  # an option waiting for its value
            return self._offer(self.values(read.pending), current, quote=True)
        if not loose and current.startswith("--") and "=" in current:
            flag, _eq, typed = current.partition("=")
            option = options.get(flag)
            if option is None or option.kind == "flag":
                return []
            return [
                (f"{flag}={text}", display, meta)
                for text, display, meta in self._offer(self.values(option), typed, quote=True)
            ]
        param = positional_at(positionals, len(read.arguments))
        if not loose and (current.startswith("-") or param is None):
            flags = [(p.flag_name, p.help) for p in options.values() if p.flag_name not in used]
            return self._offer(flags, current)
        if param is None:
            return []
        return self._offer(self.values(param), current, quote=True)

    @staticmethod
    def _offer(
        candidates: Iterable[tuple[str, str]], typed: str, *, quote: bool = False
    ) -> list[tuple[str, str, str]]:
        return [
            (quote_word(value) if quote else value, value, meta)
            for value, meta in _matches(candidates, typed)
        ]


class ValueCompleter(Completer):
    """Completes a whole prompt answer as one value (no quoting): a room, a user, a tag…"""

    def __init__(self, values: Iterable[tuple[str, str]] | None = None) -> None:
        self._values = list(values or ())

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        typed = document.text_before_cursor
        for value, meta in _matches(self._values, typed.strip()):
            yield Completion(
                value, -len(typed), display=clean_line(value), display_meta=clean_line(meta)
            )

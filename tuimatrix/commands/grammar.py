"""The command line's grammar: shell words, and which word fills which parameter.

One grammar for the parser (:func:`~tuimatrix.commands.parse_line`) and the shell's
completion, so what completion offers is what the parser reads. Words follow ``shlex.split``
(POSIX, no comments): ``'…'`` keeps everything, ``"…"`` lets ``\\"`` and ``\\\\`` through,
``\\`` escapes one character outside quotes. A line is ``ID ARG… [--flag] [--name VALUE]``;
``--name=VALUE`` works too, and after ``--`` every word is an argument.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuimatrix.commands import Param

#: what separates words (``shlex``'s whitespace; other spaces are part of a word)
WHITESPACE = " \t\r\n"

# What ``shlex.split`` (comments off) would not keep in one word as it is.
NEEDS_QUOTES = re.compile(r"[\s'\"\\]")


@dataclass(frozen=True)
class Words:
    """A line cut into words, up to its end (where a user may still be typing)."""

    #: the complete words
    words: list[str]
    #: the last word, still open (unquoted so far); "" when the line ends in a space
    current: str
    #: where the current word starts in the line, its quote included
    start: int
    #: the current word is a word (not just the end of the line after a space)
    open: bool
    #: why the line is not a complete command line (an open quote, a lone backslash)
    problem: str | None = None

    def complete(self) -> list[str]:
        """Every word, the last one included (for a line that is finished)."""
        return [*self.words, self.current] if self.open else list(self.words)


def scan(text: str) -> Words:
    """``text`` cut into words; never fails (an open quote is reported in ``problem``)."""
    words: list[str] = []
    value: list[str] = []
    start: int | None = None
    quote: str | None = None
    problem: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is not None:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(text) and text[i + 1] in '"\\':
                i += 1
                value.append(text[i])
            else:
                if c == "\\" and quote == '"' and i + 1 == len(text):
                    problem = "No escaped character"  # shlex's word for it, before the quote's
                value.append(c)
        elif c in WHITESPACE:
            if start is not None:
                words.append("".join(value))
                value, start = [], None
        else:
            if start is None:
                start = i
            if c in "'\"":
                quote = c
            elif c == "\\":
                if i + 1 < len(text):
                    i += 1
                    value.append(text[i])
                else:
                    problem = "No escaped character"
            else:
                value.append(c)
        i += 1
    if quote is not None and problem is None:
        problem = "No closing quotation"
    if start is None:
        return Words(words, "", len(text), False, problem)
    return Words(words, "".join(value), start, True, problem)


def split_line(text: str) -> list[str]:
    """The words of a finished command line; ValueError (``shlex``'s message) if it is open."""
    scanned = scan(text)
    if scanned.problem is not None:
        raise ValueError(scanned.problem)
    return scanned.complete()


def quote_word(value: str) -> str:
    """``value`` as one word of a command line: quoted only where needed."""
    if value and not NEEDS_QUOTES.search(value):
        return value
    return shlex.quote(value)


@dataclass(frozen=True)
class OptionWord:
    """An option as given: ``--name``, ``--name VALUE`` or ``--name=VALUE``."""

    flag: str
    #: the command's option of that name; None when it has none
    param: Param | None
    #: its value (None for a flag, an unknown option, or a value still to come)
    value: str | None
    #: the value came after "=" in the same word
    inline: bool


@dataclass
class CommandWords:
    """The words after a command's id, sorted into options and arguments."""

    options: list[OptionWord] = field(default_factory=list)
    #: the other words, in order (every word after ``--`` is one)
    arguments: list[str] = field(default_factory=list)
    #: a ``--`` was given: no more options
    no_more_options: bool = False
    #: the words ended with an option that takes a value (what is typed next is its value)
    pending: Param | None = None


def read_words(params: Sequence[Param], words: Sequence[str]) -> CommandWords:
    """Sort ``words`` (those after the id) by the command's ``params``; never fails."""
    options = {p.flag_name: p for p in params if p.option}
    read = CommandWords()
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            read.arguments.extend(words[i + 1 :])
            read.no_more_options = True
            break
        if word.startswith("--") and len(word) > 2:
            flag, eq, value = word.partition("=")
            param = options.get(flag)
            given: str | None = value if eq else None
            if param is not None and param.kind != "flag" and not eq:
                if i + 1 < len(words):
                    i += 1
                    given = words[i]
                else:
                    read.pending = param
            read.options.append(OptionWord(flag, param, given, bool(eq)))
        else:
            read.arguments.append(word)
        i += 1
    return read


def positional_at(positionals: Sequence[Param], index: int) -> Param | None:
    """The positional parameter that argument ``index`` fills (a "rest" one takes all)."""
    for i, param in enumerate(positionals):
        if param.rest or i == index:
            return param
    return None

"""The command line's one grammar: the parser and shell completion read words alike."""

from __future__ import annotations

import random
import shlex

import pytest

from tuimatrix.commands import Param, UsageError, parse_line
from tuimatrix.commands.grammar import positional_at, quote_word, read_words, scan, split_line

LINES = [
    "",
    "tag-room fav",
    "  tag-room   fav  ",
    "tag-room fav --room 'Team chat'",
    'send "say \\"hi\\"" \\\\ back',
    'a "x y" b\\ c',
    "a'b c'd",
    "a '' b \"\"",
    'a "in \\x kept" b',
    "tabs\tand\nnewlines\r",
    "unicode\u00a0space stays\u2003in a word",
    "# not a comment",
]


@pytest.mark.parametrize("line", LINES)
def test_words_are_what_shlex_split_makes(line: str) -> None:
    assert split_line(line) == shlex.split(line)


def test_words_match_shlex_on_random_lines() -> None:
    rng = random.Random(13)
    alphabet = "ab '\"\\\t -="
    for _ in range(3000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        try:
            expected: list[str] | str = shlex.split(line)
        except ValueError as e:
            expected = str(e)
        try:
            got: list[str] | str = split_line(line)
        except ValueError as e:
            got = str(e)
        assert got == expected, repr(line)


def test_an_open_line_is_read_up_to_the_cursor() -> None:
    scanned = scan("tag-room --room 'Team c")
    assert (scanned.words, scanned.current, scanned.start) == (["tag-room", "--room"], "Team c", 16)
    assert scanned.problem == "No closing quotation"
    after_space = scan("tag-room ")
    assert (after_space.current, after_space.start, after_space.open) == ("", 9, False)
    with pytest.raises(UsageError, match="cannot parse the command line: No closing quotation"):
        parse_line("tag-room 'unclosed")


@pytest.mark.parametrize("value", ["plain", "two words", "it's", 'say "hi"', "back\\slash", ""])
def test_a_quoted_word_reads_back_as_itself(value: str) -> None:
    assert split_line(f"x {quote_word(value)}") == ["x", value]


PARAMS = (
    Param("tag", "tag"),
    Param("text", "text", rest=True),
    Param("order", "float", option=True, required=False),
    Param("yes", "flag", option=True),
)


def test_options_and_arguments_are_sorted_alike_for_parser_and_completion() -> None:
    read = read_words(PARAMS, ["fav", "--order", "0.5", "--yes", "--frob", "more", "--", "--x"])
    assert read.arguments == ["fav", "more", "--x"]
    assert [(o.flag, o.param is not None, o.value) for o in read.options] == [
        ("--order", True, "0.5"),
        ("--yes", True, None),
        ("--frob", False, None),
    ]
    assert read.no_more_options and read.pending is None
    waiting = read_words(PARAMS, ["fav", "--order"])
    assert waiting.pending is not None and waiting.pending.name == "order"
    inline = read_words(PARAMS, ["--order=1"])
    assert inline.options[0].inline and inline.options[0].value == "1"


def test_the_rest_parameter_takes_every_later_argument() -> None:
    positionals = [p for p in PARAMS if not p.option]
    assert positional_at(positionals, 0) is PARAMS[0]
    assert positional_at(positionals, 1) is PARAMS[1]
    assert positional_at(positionals, 7) is PARAMS[1]
    assert positional_at(positionals[:1], 1) is None

"""What the user typed, as markdown → a message's ``formatted_body`` (spec "m.room.message").

CommonMark plus ~~strikethrough~~, with single newlines kept as line breaks (a chat message is
not a document). Raw HTML is never passed through: ``<b>`` typed by the user is shown as typed.
Mentions ("pills") are links to ``https://matrix.to/#/ID`` around the name the user completed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink, normalizeLinkText
from markdown_it.token import Token

from tuimatrix.core.errors import UserError

#: ``@room`` as a word: the whole room is mentioned (spec "User and room mentions").
ROOM_MENTION = re.compile(r"(?<![\w@])@room(?!\w|:\w)")
_CODE_BLOCKS = frozenset({"fence", "code_block"})
#: Where pill markers are picked from: private-use characters, two the text does not contain.
_PRIVATE_USE = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))
_CHARACTER_REFERENCE = re.compile(r"&#(?:([0-9]{1,7})|[xX]([0-9a-fA-F]{1,6}));")


def matrix_to(matrix_id: str) -> str:
    """The ``matrix.to`` link of a user id or room alias, as pills carry it."""
    return f"https://matrix.to/#/{matrix_id}"


@dataclass(frozen=True)
class _Pills:
    """The pills of one message while markdown runs: each name is replaced by a marker (two
    private-use characters around its number), so a name full of markdown syntax ("*bob*",
    "a_b") stays one piece of text instead of turning into emphasis."""

    names: Sequence[str]
    links: Sequence[str]
    opener: str
    closer: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(f"{self.opener}(\\d+){self.closer}")

    def mark(self, source: str) -> str:
        # Longest first, so "Al Smith" wins over "Al".
        for number, name in sorted(enumerate(self.names), key=lambda pair: -len(pair[1])):
            source = pill_pattern(name).sub(f"{self.opener}{number}{self.closer}", source)
        return source

    def number(self, match: re.Match[str]) -> int | None:
        # A marker can still come out of the text itself (an entity such as "&#57344;").
        number = int(match.group(1))
        return number if number < len(self.names) else None

    def restore(self, text: str) -> str:
        """``text`` with every marker back to its bare name."""

        def name(match: re.Match[str]) -> str:
            number = self.number(match)
            return match.group(0) if number is None else self.names[number]

        return self.pattern.sub(name, text)


def _unused_characters(source: str) -> Iterator[str]:
    # Characters written as numeric references ("&#57344;") are used too: markdown decodes them.
    used = set(source)
    for match in _CHARACTER_REFERENCE.finditer(source):
        decimal, hexadecimal = match.groups()
        code = int(decimal) if decimal else int(hexadecimal, 16)
        if code < 0x110000:
            used.add(chr(code))
    for block in _PRIVATE_USE:
        for code in block:
            if chr(code) not in used:
                yield chr(code)


def _new_pills(source: str, names: Sequence[str], links: Sequence[str]) -> _Pills:
    # Picked per message: a marker the user typed (a Nerd Font glyph) cannot be mistaken for one.
    unused = _unused_characters(source)
    opener, closer = next(unused, None), next(unused, None)
    if opener is None or closer is None:
        raise UserError("the message has too many private-use characters to format it")
    return _Pills(names, links, opener, closer)


#: The pills of the message being parsed, for link destinations (see _normalize_link).
_PARSING: ContextVar[_Pills | None] = ContextVar("_PARSING", default=None)


def _normalize_link(url: str) -> str:
    # A name inside a link destination is part of the address, never a pill: put it back before
    # markdown-it encodes the address and checks its scheme ("[x](javascript:…)" with a pill
    # named "javascript" must still be refused).
    pills = _PARSING.get()
    return normalizeLink(pills.restore(url) if pills else url)


def _normalize_link_text(link: str) -> str:
    pills = _PARSING.get()
    return normalizeLinkText(pills.restore(link) if pills else link)


@cache
def _parser() -> MarkdownIt:
    # html=False escapes raw HTML; images are off because Matrix only allows mxc:// sources and
    # clients drop the rest, so "![x](url)" stays readable text with a link instead.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    md.enable("strikethrough").disable("image")
    md.normalizeLink = _normalize_link  # type: ignore[method-assign]
    md.normalizeLinkText = _normalize_link_text  # type: ignore[method-assign]

    def strike_open(*_: Any) -> str:
        return "<del>"  # <del> is in every client's allowlist; <s> only in newer specs

    def strike_close(*_: Any) -> str:
        return "</del>"

    md.add_render_rule("s_open", strike_open)
    md.add_render_rule("s_close", strike_close)
    return md


def pill_pattern(name: str) -> re.Pattern[str]:
    """Where ``name`` stands as a whole word (not inside a longer one)."""
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")


def _is_plain(tokens: list[Token], body: str) -> bool:
    """One paragraph of plain text that reads exactly as ``body``: no formatting to send."""
    if [t.type for t in tokens] != ["paragraph_open", "inline", "paragraph_close"]:
        return False
    pieces = []
    for child in tokens[1].children or []:
        if child.type == "text":
            pieces.append(child.content)
        elif child.type == "softbreak":
            pieces.append("\n")
        else:
            return False
    return "".join(pieces) == body


@dataclass
class _Mentions:
    #: numbers of the pills standing outside code and links
    pills: set[int]
    room: bool = False


def _prose(token: Token, pills: _Pills | None, found: _Mentions) -> list[Token]:
    """The children of an inline token, with pill markers in prose turned into pill links
    (in link text and code: the bare name), and what the prose mentions noted in ``found``."""
    children: list[Token] = []
    in_link = 0
    autolink = False
    for child in token.children or []:
        if child.type == "link_open":
            in_link += 1
            autolink = child.markup == "autolink"
            if pills is not None and isinstance(title := child.attrs.get("title"), str):
                child.attrs["title"] = pills.restore(title)
        elif child.type == "link_close":
            in_link -= 1
            autolink = False
        if child.type == "text" and not autolink and ROOM_MENTION.search(child.content):
            found.room = True
        if pills is None:
            children.append(child)
            continue
        if child.type == "code_inline" or (child.type == "text" and in_link):
            child.content = pills.restore(child.content)
        if child.type != "text" or in_link:
            children.append(child)
            continue
        last = 0
        for match in pills.pattern.finditer(child.content):
            number = pills.number(match)
            if number is None:
                continue
            if match.start() > last:
                children.append(Token("text", "", 0, content=child.content[last : match.start()]))
            last = match.end()
            found.pills.add(number)
            link, name = html.escape(pills.links[number]), html.escape(pills.names[number])
            children.append(Token("html_inline", "", 0, content=f'<a href="{link}">{name}</a>'))
        if last == 0:
            children.append(child)
        elif last < len(child.content):
            children.append(Token("text", "", 0, content=child.content[last:]))
    return children


def _walk(tokens: list[Token], pills: _Pills | None) -> _Mentions:
    """Put the pills in (see :func:`_prose`); what is mentioned outside code."""
    found = _Mentions(set())
    for token in tokens:
        if token.type in _CODE_BLOCKS:
            # In code a pill is the bare name, and neither it nor "@room" mentions anyone.
            if pills is not None:
                token.content = pills.restore(token.content)
                token.info = pills.restore(token.info)
            continue
        if token.children:
            token.children = _prose(token, pills, found)
    return found


@dataclass(frozen=True)
class Rendered:
    """A message's markdown, rendered."""

    #: the ``formatted_body``, or None when it would add nothing to the plain body
    html: str | None
    #: the pill names that stand outside code: the ones that mention someone
    mentioned: frozenset[str]
    #: ``@room`` stands outside code (``m.mentions.room``)
    room: bool


def render(
    source: str, pills: Mapping[str, str] | None = None, *, body: str | None = None
) -> Rendered:
    """``source`` rendered, with the mentions its prose (not its code) makes.

    ``pills`` maps a name as it stands in the text to the Matrix id it mentions (a user id or
    a room alias); each whole-word occurrence becomes a link to it. ``body`` is the plain
    body sent alongside (``source`` itself unless given).
    """
    body = source if body is None else body
    names = [n for n in (pills or {}) if n and pill_pattern(n).search(source)]
    marked = None
    if names:
        marked = _new_pills(source, names, [matrix_to((pills or {})[n]) for n in names])
    md = _parser()
    reset = _PARSING.set(marked)
    try:
        tokens = md.parse(marked.mark(source) if marked else source)
    finally:
        _PARSING.reset(reset)
    plain = not names and _is_plain(tokens, body)
    found = _walk(tokens, marked)
    mentioned = frozenset(names[n] for n in found.pills)
    if plain:
        return Rendered(None, mentioned, found.room)
    rendered: str = md.renderer.render(tokens, md.options, {})
    return Rendered(rendered.rstrip("\n"), mentioned, found.room)


def markdown_html(
    source: str, pills: Mapping[str, str] | None = None, *, body: str | None = None
) -> str | None:
    """The ``formatted_body`` for ``source``, or None when it would add nothing to ``body``."""
    return render(source, pills, body=body).html

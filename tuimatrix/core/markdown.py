"""What the user typed, as markdown → a message's ``formatted_body`` (spec "m.room.message").

CommonMark plus ~~strikethrough~~, with single newlines kept as line breaks (a chat message is
not a document). Raw HTML is never passed through: ``<b>`` typed by the user is shown as typed.
Mentions ("pills") are links to ``https://matrix.to/#/ID`` around the name the user completed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: Private-use characters around a pill's number while markdown runs: a name full of markdown
#: syntax ("*bob*", "a_b") then stays one piece of text instead of turning into emphasis.
_PILL_OPEN = "\ue000"
_PILL_CLOSE = "\ue001"
_PILL_RE = re.compile(f"{_PILL_OPEN}(\\d+){_PILL_CLOSE}")
_CODE_BLOCKS = frozenset({"fence", "code_block"})


def matrix_to(matrix_id: str) -> str:
    """The ``matrix.to`` link of a user id or room alias, as pills carry it."""
    return f"https://matrix.to/#/{matrix_id}"


@cache
def _parser() -> MarkdownIt:
    # html=False escapes raw HTML; images are off because Matrix only allows mxc:// sources and
    # clients drop the rest, so "![x](url)" stays readable text with a link instead.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    md.enable("strikethrough").disable("image")

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


def _mark_pills(source: str, names: Sequence[str]) -> str:
    # Longest first, so "Al Smith" wins over "Al".
    for number, name in sorted(enumerate(names), key=lambda pair: -len(pair[1])):
        marker = f"{_PILL_OPEN}{number}{_PILL_CLOSE}"
        source = pill_pattern(name).sub(marker, source)
    return source


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


def _expand_pills(tokens: list[Token], names: Sequence[str], links: Sequence[str]) -> None:
    """Turn the pill markers back into names: links in text, the bare name in code."""

    def name(match: re.Match[str]) -> str:
        return names[int(match.group(1))]

    for token in tokens:
        if token.type in _CODE_BLOCKS:
            token.content = _PILL_RE.sub(name, token.content)
        if not token.children:
            continue
        children: list[Token] = []
        in_link = 0
        for child in token.children:
            if child.type == "link_open":
                in_link += 1
            elif child.type == "link_close":
                in_link -= 1
            if child.type == "code_inline" or (child.type == "text" and in_link):
                child.content = _PILL_RE.sub(name, child.content)
            if child.type != "text" or in_link or not _PILL_RE.search(child.content):
                children.append(child)
                continue
            parts = _PILL_RE.split(child.content)
            for i, part in enumerate(parts):
                if i % 2 == 0:
                    if part:
                        children.append(Token("text", "", 0, content=part))
                    continue
                number = int(part)
                anchor = f'<a href="{html.escape(links[number])}">{html.escape(names[number])}</a>'
                children.append(Token("html_inline", "", 0, content=anchor))
        token.children = children


def markdown_html(
    source: str, pills: Mapping[str, str] | None = None, *, body: str | None = None
) -> str | None:
    """The ``formatted_body`` for ``source``, or None when it would add nothing to ``body``.

    ``pills`` maps a name as it stands in the text to the Matrix id it mentions (a user id or
    a room alias); each whole-word occurrence becomes a link to it. ``body`` is the plain
    body sent alongside (``source`` itself unless given).
    """
    body = source if body is None else body
    names = [n for n in (pills or {}) if n and pill_pattern(n).search(source)]
    links = [matrix_to((pills or {})[n]) for n in names]
    md = _parser()
    tokens = md.parse(_mark_pills(source, names) if names else source)
    if not names and _is_plain(tokens, body):
        return None
    if names:
        _expand_pills(tokens, names, links)
    rendered: str = md.renderer.render(tokens, md.options, {})
    return rendered.rstrip("\n")

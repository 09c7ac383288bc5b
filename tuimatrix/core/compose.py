"""From the composer's text to a message: ``/`` commands, markdown and ``m.mentions``.

``/me TEXT`` is an emote, ``/shrug [TEXT]`` prepends ¯\\_(ツ)_/¯, ``/plain TEXT`` skips markdown,
``//TEXT`` sends "/TEXT". Any other ``/word`` is refused rather than sent by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tuimatrix.core.errors import UserError
from tuimatrix.core.markdown import ROOM_MENTION, pill_pattern, render

SHRUG = "¯\\_(ツ)_/¯"
#: The shrug as markdown source: its backslash and underscores escaped to stay themselves.
_SHRUG_MARKDOWN = "¯\\\\\\_(ツ)\\_/¯"
_SLASH = re.compile(r"/([A-Za-z][\w-]*)(?:\s+|$)")

#: The composer's own commands, for the "unknown command" line and the README.
SLASH_COMMANDS = {
    "me": "send an emote: /me waves",
    "shrug": "send ¯\\_(ツ)_/¯, after any text",
    "plain": "send the text as it is, without markdown",
}


@dataclass(frozen=True)
class Outgoing:
    """A message ready for ``send_text``."""

    body: str
    html: str | None = None
    emote: bool = False
    #: users mentioned by pills (``m.mentions.user_ids``)
    user_ids: tuple[str, ...] = ()
    #: ``@room`` was written (``m.mentions.room``)
    room: bool = False


def markdown_message(
    text: str, pills: Mapping[str, str] | None = None, *, emote: bool = False
) -> Outgoing:
    """``text`` as markdown: the source stays the plain body, pills become mentions."""
    return _message(text, text, pills, emote=emote)


def _message(
    body: str,
    source: str,
    pills: Mapping[str, str] | None,
    *,
    emote: bool = False,
    formatted: bool = True,
) -> Outgoing:
    present = {
        name: target
        for name, target in (pills or {}).items()
        if name and pill_pattern(name).search(body)
    }
    if formatted:
        # Mentions come from the rendered prose: "@room" or a name inside code pings nobody.
        rendered = render(source, present, body=body)
        html, room = rendered.html, rendered.room
        present = {name: present[name] for name in rendered.mentioned}
    else:
        html, room = None, bool(ROOM_MENTION.search(body))
    users = sorted({t for t in present.values() if t.startswith("@")})
    return Outgoing(body=body, html=html, emote=emote, user_ids=tuple(users), room=room)


def composer_message(text: str, pills: Mapping[str, str] | None = None) -> Outgoing:
    """What the composer sends for ``text``; a UserError for an unknown ``/command``."""
    if text.startswith("//"):
        return markdown_message(text[1:], pills)
    match = _SLASH.match(text)
    if not match:
        if text.startswith("/") and not text[1:2].isspace() and len(text) > 1:
            raise UserError(f"not a command: {text.split()[0]} (// at the start sends a /)")
        return markdown_message(text, pills)
    name, rest = match.group(1).lower(), text[match.end() :]
    if name == "me":
        if not rest.strip():
            raise UserError("/me needs some text: /me waves")
        return markdown_message(rest, pills, emote=True)
    if name == "shrug":
        if not rest.strip():
            return _message(SHRUG, _SHRUG_MARKDOWN, pills)
        return _message(f"{SHRUG} {rest}", f"{_SHRUG_MARKDOWN} {rest}", pills)
    if name == "plain":
        if not rest.strip():
            raise UserError("/plain needs some text")
        return _message(rest, rest, pills, formatted=False)
    known = ", ".join(f"/{c}" for c in SLASH_COMMANDS)
    raise UserError(f"unknown command /{name} (known: {known}; // at the start sends a /)")

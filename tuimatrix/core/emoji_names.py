"""Emoji by name and ``:shortcode:``, for reactions (CLDR names from the ``emoji`` package)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import emoji

#: Offered before anything is typed: the reactions people use most.
COMMON = ("👍", "❤️", "😂", "🎉", "👀", "🙏", "✅", "👎", "😮", "😢", "🔥", "🚀")
#: Results shown at most.
LIMIT = 100


@dataclass(frozen=True)
class Emoji:
    char: str
    #: the CLDR name first ("thumbs up"), then aliases ("thumbsup", "+1")
    names: tuple[str, ...]

    @property
    def shortcode(self) -> str:
        return ":" + self.names[0].replace(" ", "_") + ":"


def _name(shortcode: str) -> str:
    return shortcode.strip(":").replace("_", " ")


@cache
def all_emoji() -> tuple[Emoji, ...]:
    """Every fully-qualified emoji with its names (built once, on first use)."""
    fully_qualified = emoji.STATUS["fully_qualified"]
    out = []
    for char, data in emoji.EMOJI_DATA.items():
        if data.get("status") != fully_qualified or "en" not in data:
            continue
        names = [_name(data["en"]), *(_name(a) for a in data.get("alias", []))]
        out.append(Emoji(char, tuple(dict.fromkeys(n.lower() for n in names))))
    return tuple(out)


@cache
def _by_char() -> dict[str, Emoji]:
    return {e.char: e for e in all_emoji()}


def _rank(query: str, names: tuple[str, ...]) -> int | None:
    best: int | None = None
    for name in names:
        if name == query:
            rank = 0
        elif name.startswith(query):
            rank = 1
        elif any(word.startswith(query) for word in name.split()):
            rank = 2
        elif query in name:
            rank = 3
        else:
            continue
        best = rank if best is None else min(best, rank)
    return best


def search(query: str, limit: int = LIMIT) -> list[Emoji]:
    """Emoji whose names match ``query`` ("thumb", ":+1", "party popper"); best first.

    An exact name beats a prefix, a prefix a word's prefix, that a substring; then shorter
    names (the plain emoji before its skin tones). Nothing typed: the common reactions.
    """
    query = query.strip().strip(":").replace("_", " ").lower()
    if not query:
        return [_by_char()[c] for c in COMMON if c in _by_char()]
    scored = []
    for position, item in enumerate(all_emoji()):
        rank = _rank(query, item.names)
        if rank is not None:
            scored.append((rank, len(item.names[0]), position, item))
    scored.sort(key=lambda t: t[:3])
    return [item for *_, item in scored[:limit]]


def reaction_key(text: str) -> str:
    """What a typed reaction sends: ``:shortcodes:`` become emoji; anything else stays."""
    text = text.strip()
    return emoji.emojize(text, language="alias")


def is_emoji(text: str) -> bool:
    return bool(emoji.is_emoji(text))

"""Images inside the Line-API timeline, as coloured half blocks (``▀``, two pixels a cell).

Sixel and kitty graphics are escape-sequence payloads placed outside the cell grid, so they
cannot live in a timeline's rows (they are for the image viewer, ``view-image``); half blocks
are plain styled cells and can. An image's rows are known before its thumbnail arrives (from
the size the sender gave, else a default box), so rows never jump: while it loads, its box
shows a dim line. Thumbnails are fetched once per media, when first drawn, and kept small
(at most :data:`MAX_COLS` × 2·:data:`MAX_ROWS` pixels) in an LRU shared by every room.
"""

from __future__ import annotations

import asyncio
import io
import math
from typing import TYPE_CHECKING

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip

from tuimatrix.core.media import Media, thumbnail
from tuimatrix.core.timeline import TimelineItem

if TYPE_CHECKING:
    from tuimatrix.core.account import Account
    from tuimatrix.widgets.timeline import TimelineView

#: the largest box an inline image takes, in cells
MAX_COLS = 32
MAX_ROWS = 8
#: the box of an image whose size the sender did not give
DEFAULT_BOX = (16, 6)
#: an encrypted image without its own thumbnail is downloaded whole: only up to this size
MAX_WHOLE_DOWNLOAD = 4 * 1024 * 1024
#: the largest picture decoded (Pillow's own bomb limit is far higher)
MAX_PIXELS = 40_000_000

#: on/off for every timeline (config ``[media] inline-images``)
enabled = True

# "url cols×rows" → decoded pixels (rows of (r, g, b)), or None when it cannot be shown.
_pixels: LRUCache[str, list[list[tuple[int, int, int]]] | None] = LRUCache(512)
_pending: set[str] = set()


def inline_media(item: TimelineItem) -> Media | None:
    """The item's image, if it is one to show inline."""
    media = item.extra.get("media")
    if not enabled or not isinstance(media, Media) or media.msgtype != "m.image":
        return None
    if item.redacted or (_key(media) in _pixels and _pixels.get(_key(media)) is None):
        return None  # deleted, or known to be unshowable
    if media.file is not None and media.thumbnail_file is None:
        if media.size is None or media.size > MAX_WHOLE_DOWNLOAD:
            return None
    return media


def _key(media: Media) -> str:
    cols, rows = box(media)
    return f"{media.url} {cols}x{rows}"


def box(media: Media) -> tuple[int, int]:
    """(columns, rows) of an image's box: its aspect ratio kept, within the maximum."""
    if not media.width or not media.height:
        return DEFAULT_BOX
    # A cell shows two square pixels stacked: the image is (width, height) in those pixels.
    scale = min(MAX_COLS / media.width, 2 * MAX_ROWS / media.height)
    cols = max(1, min(MAX_COLS, round(media.width * scale)))
    rows = max(1, min(MAX_ROWS, math.ceil(media.height * scale / 2)))
    return cols, rows


def image_rows(item: TimelineItem) -> int:
    """How many rows the item's inline image takes (0 for none)."""
    media = inline_media(item)
    return box(media)[1] if media is not None else 0


def image_strips(
    view: TimelineView, item: TimelineItem, indent: int, width: int, dim: Style
) -> list[Strip]:
    """The image's rows, indented; a dim placeholder until it has loaded (asked for here)."""
    media = inline_media(item)
    if media is None:
        return []
    rows = box(media)[1]
    pad = Segment(" " * indent)
    key = _key(media)
    pixels = _pixels.get(key)
    if pixels is None:
        account = getattr(view.screen, "account", None)
        if key not in _pending and account is not None:
            _pending.add(key)
            view.run_worker(_load(view, account, item), group="thumbnails")
        label = Segment("[loading image…]"[: max(0, width - indent)], dim)
        blank = Strip([pad])
        return [Strip([pad, label]).crop(0, width), *[blank] * (rows - 1)]
    strips = []
    for y in range(rows):
        top, bottom = pixels[2 * y], pixels[2 * y + 1]
        cells = [
            Segment("▀", Style(color=Color.from_rgb(*up), bgcolor=Color.from_rgb(*down)))
            for up, down in zip(top, bottom, strict=True)
        ]
        strips.append(Strip([pad, *cells]).crop(0, width))
    return strips


def _decode(data: bytes, cols: int, rows: int) -> list[list[tuple[int, int, int]]]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError("too large")
        img.draft("RGB", (cols * 4, rows * 8))  # JPEG: decode at a fraction of the size
        small = img.convert("RGB").resize((cols, rows * 2))
        raw = small.tobytes()
    flat = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    return [flat[y * cols : (y + 1) * cols] for y in range(rows * 2)]


async def _load(view: TimelineView, account: Account, item: TimelineItem) -> None:
    """Load the thumbnail, then redraw the item (its current version: it may be rebuilt)."""
    await load_thumbnail(account, item)
    current = next((i for i in view.items if i.key == item.key), None)
    if current is not None:
        view.upsert(current)


async def load_thumbnail(account: Account, item: TimelineItem) -> bool:
    """Fetch and decode the item's thumbnail into the shared cache; False if it cannot be."""
    media = inline_media(item)
    if media is None:
        return False
    cols, rows = box(media)
    try:
        data = await thumbnail(account, media, 320, 240)
        pixels: list[list[tuple[int, int, int]]] | None = await asyncio.to_thread(
            _decode, data, cols, rows
        )
    except Exception:  # unreachable, not a picture, too large: the line without the image
        pixels = None
    _pixels.set(_key(media), pixels)
    _pending.discard(_key(media))
    return pixels is not None

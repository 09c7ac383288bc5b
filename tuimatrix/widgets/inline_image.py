"""Images inside the Line-API timeline, as coloured half blocks (``▀``, two pixels a cell).

Sixel and kitty graphics are escape-sequence payloads placed outside the cell grid, so they
cannot live in a timeline's rows (they are for the image viewer, ``view-image``); half blocks
are plain styled cells and can. An image's rows are known before its thumbnail arrives (from
the size the sender gave, else a default box), so rows never jump: while it loads, its box
shows a dim line. Thumbnails are fetched once per media, when first drawn (again
:data:`RETRY_AFTER` seconds after a failed fetch), and kept small
(at most :data:`MAX_COLS` × 2·:data:`MAX_ROWS` pixels) in an LRU shared by every room.

Nobody asked for these images, so what a sender can make us fetch and decode is small: at most
:data:`MAX_BYTES` received (counted as they arrive, whatever the sender declared), never the
whole file when the server has no thumbnail, and only the formats of ``IMAGE_FORMATS``.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from typing import TYPE_CHECKING

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip
from textual.worker import get_current_worker

from tuimatrix.core.media import IMAGE_FORMATS, Media, MediaTooLarge, thumbnail
from tuimatrix.core.timeline import TimelineItem

if TYPE_CHECKING:
    from textual.worker import Worker

    from tuimatrix.core.account import Account
    from tuimatrix.widgets.timeline import TimelineView

#: the largest box an inline image takes, in cells
MAX_COLS = 32
MAX_ROWS = 8
#: the box of an image whose size the sender did not give
DEFAULT_BOX = (16, 6)
#: the most bytes fetched for one inline image (an encrypted one without its own thumbnail is
#: downloaded whole: only up to this size)
MAX_BYTES = 4 * 1024 * 1024
#: the largest picture decoded (Pillow's own bomb limit is far higher)
MAX_PIXELS = 4_000_000
#: after a failed fetch (the network, the server), seconds before the next try
RETRY_AFTER = 60.0

#: on/off for every timeline (config ``[media] inline-images``)
enabled = True

# "url cols×rows" → decoded pixels (rows of (r, g, b)), or None when it cannot be shown.
_pixels: LRUCache[str, list[list[tuple[int, int, int]]] | None] = LRUCache(512)
# key → the worker fetching it. Whether it still runs is asked of the worker: one cancelled
# before it started (its room closed) runs no code of ours, so none could clear its entry.
_pending: dict[str, Worker[None]] = {}
# key → when it may be fetched again: failed fetches are retried, not remembered as unshowable
_retry_at: dict[str, float] = {}
_clock = time.monotonic


def inline_media(item: TimelineItem) -> Media | None:
    """The item's image, if it is one to show inline."""
    media = item.media
    if not enabled or media is None or media.msgtype != "m.image":
        return None
    if item.redacted or (_key(media) in _pixels and _pixels.get(_key(media)) is None):
        return None  # deleted, or known to be unshowable
    if media.file is not None and media.thumbnail_file is None:
        if media.size is None or media.size > MAX_BYTES:
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
        if account is not None and may_fetch(key):
            _pending[key] = view.run_worker(_load(view, account, item, key), group="thumbnails")
        text = "[image not loaded]" if key in _retry_at else "[loading image…]"
        label = Segment(text[: max(0, width - indent)], dim)
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


def may_fetch(key: str) -> bool:
    """Whether to fetch ``key`` now: not while a worker does, nor soon after a failure."""
    worker = _pending.get(key)
    if worker is not None and not worker.is_finished and not worker.cancelled_event.is_set():
        return False
    _pending.pop(key, None)
    return _clock() >= _retry_at.get(key, 0.0)


def _decode(data: bytes, cols: int, rows: int) -> list[list[tuple[int, int, int]]]:
    from PIL import Image

    with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError("too large")
        img.draft("RGB", (cols * 4, rows * 8))  # JPEG: decode at a fraction of the size
        small = img.convert("RGB").resize((cols, rows * 2))
        raw = small.tobytes()
    flat = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    return [flat[y * cols : (y + 1) * cols] for y in range(rows * 2)]


async def _load(view: TimelineView, account: Account, item: TimelineItem, key: str) -> None:
    """Load the thumbnail, then redraw the item (its current version: it may be rebuilt)."""
    try:
        await load_thumbnail(account, item)
    finally:  # a finished worker is let go: it holds its view (a closed room's, maybe)
        if _pending.get(key) is get_current_worker():
            del _pending[key]
    current = next((i for i in view.items if i.key == item.key), None)
    if current is not None:
        view.upsert(current)


async def load_thumbnail(account: Account, item: TimelineItem) -> bool:
    """Fetch and decode the item's thumbnail into the shared cache; False if it cannot be."""
    media = inline_media(item)
    if media is None:
        return False
    cols, rows = box(media)
    key = _key(media)
    try:
        data = await thumbnail(account, media, 320, 240, max_bytes=MAX_BYTES, whole_fallback=False)
    except MediaTooLarge:
        data = None
    except Exception:  # unreachable or refused for now: not remembered, tried again later
        _retry_at[key] = _clock() + RETRY_AFTER
        return False
    pixels: list[list[tuple[int, int, int]]] | None = None
    if data is not None:
        try:
            pixels = await asyncio.to_thread(_decode, data, cols, rows)
        except Exception:  # not a picture we read, too large: the line without the image
            pixels = None
    _pixels.set(key, pixels)
    _retry_at.pop(key, None)
    return pixels is not None

"""An image over the room, drawn by textual-image: sixel or kitty graphics where the terminal
has them, coloured half blocks elsewhere.

textual-image asks the terminal what it supports when it is imported, and it cannot once
Textual reads the terminal: :func:`probe_terminal` runs before the app starts (``tuimatrix``
and ``tuimatrix demo`` do). Without a terminal (tests) it draws with unicode blocks.
"""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tuimatrix.core.errors import UserError
from tuimatrix.core.media import IMAGE_FORMATS

#: the largest image decoded, in pixels (Pillow's own bomb limit is far higher)
MAX_PIXELS = 40_000_000
_probed = False


def probe_terminal() -> None:
    """Let textual-image ask the terminal for sixel / kitty support (before the app runs)."""
    global _probed
    try:
        import textual_image.widget  # noqa: F401  (the import asks the terminal)
    except Exception:  # a terminal that cannot be asked: no viewer (inline images still show)
        return
    _probed = True


def image_widget_class() -> Any:
    """The best image widget this terminal allows (see the module's docstring)."""
    if not _probed and sys.__stdout__ is not None and sys.__stdout__.isatty():
        # Importing textual-image now would question a terminal that Textual is reading.
        raise UserError("the image viewer is unavailable: the terminal was not asked at start")
    from textual_image.widget import Image

    return Image


def _decode(data: bytes) -> Any:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            if img.width * img.height > MAX_PIXELS:
                raise UserError("the image is too large to show")
            img.thumbnail((1600, 1200))
            return img.convert("RGB")
    except UserError:
        raise
    except Exception:
        raise UserError("cannot show the image: not a picture this viewer reads") from None


async def decode_image(data: bytes) -> Any:
    """A Pillow image from ``data`` (decoded off the UI loop); a UserError if it is none."""
    return await asyncio.to_thread(_decode, data)


class ImageScreen(ModalScreen[None]):
    """One image and its name; escape (or any of q, enter) closes it."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("q", "dismiss(None)", "Close", show=False),
        Binding("enter", "dismiss(None)", "Close", show=False),
    ]
    DEFAULT_CSS = """
    ImageScreen { align: center middle; }
    ImageScreen > Vertical {
        width: 90%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    ImageScreen #image { width: 1fr; height: 1fr; }
    """

    def __init__(self, image: Any, name: str) -> None:
        super().__init__()
        self.image = image
        self.image_name = name  # sanitised by the caller
        # Here, not in compose: a viewer that is unavailable is an error line, not a crash.
        self.widget_class = image_widget_class()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text.assemble((self.image_name or "image", "bold"), ("  escape closes", "dim"))
            )
            yield self.widget_class(self.image, id="image")

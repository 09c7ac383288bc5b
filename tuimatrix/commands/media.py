"""media: download and open a message's file, view an image, open its links, reveal spoilers.

They act on a message (the selected one in the app, an event id elsewhere). The content used
is the message as shown: its newest edit where the room's screen has one loaded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.messages import EVENT, ROOM_SCREEN, event_arg
from tuimatrix.commands.runner import config_of, need_room
from tuimatrix.core import media as core_media
from tuimatrix.core.account import Account
from tuimatrix.core.errors import UserError
from tuimatrix.core.links import message_links
from tuimatrix.core.opener import open_with_system
from tuimatrix.core.relations import shown_edits
from tuimatrix.core.sanitize import clean_line
from tuimatrix.paths import get_paths

#: event id → the file this process saved it to, so opening twice downloads once
_saved: dict[str, Path] = {}


async def shown_content(
    ctx: Context, account: Account, room_id: str, event_id: str
) -> dict[str, Any]:
    """The content of message ``event_id`` as shown: its newest loaded edit, else as stored."""
    return (await shown_message(ctx, account, room_id, event_id))[1]


async def shown_message(
    ctx: Context, account: Account, room_id: str, event_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Message ``event_id`` as stored, and its content as shown (see :func:`shown_content`)."""
    events = account.timelines.loaded_events(room_id)
    original = next((e for e in events if e.get("event_id") == event_id), None)
    if original is None:
        original = await account.store.event(event_id)
    if original is None:
        original = await account.fetch_event(room_id, event_id)
    # The edit the timeline shows (of the loaded events, as build_items chooses it).
    return original, dict(shown_edits(events).shown_content(original))


async def _media(ctx: Context, inv: Invocation) -> tuple[Account, core_media.Media]:
    account, room_id = need_room(inv)
    content = await shown_content(ctx, account, room_id, event_arg(inv))
    media = core_media.media_of(content)
    if media is None:
        raise UserError(f"{inv.command.id}: that message has no file")
    return account, media


async def _save(ctx: Context, inv: Invocation) -> Path:
    account, media = await _media(ctx, inv)
    return await _save_media(ctx, inv, account, media)


async def _save_media(
    ctx: Context, inv: Invocation, account: Account, media: core_media.Media
) -> Path:
    folder = inv.args.get("dir")
    directory = Path(folder) if folder else None  # "~" is expanded where the file is written
    directory = directory or config_of(ctx).media.download_dir or get_paths().downloads_dir
    path = await core_media.save(account, media, directory)
    _saved[event_arg(inv)] = path
    return path


@command(
    "download",
    "media: Download file",
    "Save the file, image, audio or video of EVENT in the download directory (a new file, "
    "never over an existing one)",
    EVENT,
    Param("dir", "path", "the directory to save in", required=False, option=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def download(ctx: Context, inv: Invocation) -> Result:
    path = await _save(ctx, inv)
    return Result(f"saved {clean_line(str(path))}", {"path": str(path)})


@command(
    "open-media",
    "media: Open file",
    "Open the file of EVENT with the system's opener (downloading it first); a file that is "
    "not a plain image, audio, video, PDF or text file of its declared type is opened only "
    "once confirmed",
    EVENT,
    Param("yes", "flag", "open a file of any type without asking", option=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def open_media(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    event_id = event_arg(inv)
    original, content = await shown_message(ctx, account, room_id, event_id)
    media = core_media.media_of(content)
    if media is None:
        raise UserError("open-media: that message has no file")
    path: Path | None = _saved.get(event_id)
    if path is not None and not await asyncio.to_thread(path.is_file):
        path = None
    # The saved file keeps the sender's extension, and the opener picks a program by it.
    name = path.name if path is not None else core_media.safe_filename(media.name)
    unasked = core_media.opens_unasked(name, media.mimetype)
    if not (unasked or inv.args.get("yes") or inv.prefix >= 2):
        if not await _confirm_open(ctx, name, media, original):
            return Result("not opened")
    if path is None:
        path = await _save_media(ctx, inv, account, media)
    await open_with_system(str(path), config_of(ctx).media.opener)
    return Result(f"opened {clean_line(str(path))}", {"path": str(path)})


async def _confirm_open(
    ctx: Context, name: str, media: core_media.Media, original: dict[str, Any]
) -> bool:
    ext = Path(name).suffix or "no extension"
    sender = clean_line(str(original.get("sender", "")))[:100] or "an unknown sender"
    kind = clean_line(media.mimetype)[:60] or "no type given"
    what = f"{clean_line(name)} ({ext}, {kind}) from {sender}"
    if not ctx.interactive:
        raise UsageError(f"open-media: {what} may be run as a program: add --yes to open it")
    return await ctx.confirm(f"Open {what}? Its opener may run it as a program")


@command(
    "open-link",
    "media: Open link",
    "Open a link of EVENT in the browser (a list to pick from when it has several)",
    EVENT,
    Param("index", "int", "which link (1 is the first)", required=False, option=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def open_link(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    links = message_links(await shown_content(ctx, account, room_id, event_arg(inv)))
    if not links:
        raise UserError("open-link: that message has no web, mail or matrix.to link")
    index = inv.args.get("index")
    if index is not None:
        if not 1 <= index <= len(links):
            raise UsageError(f"open-link: --index is 1 to {len(links)}")
        url = links[index - 1]
    elif ctx.ui.screens:
        # Even one link is shown first: the user sees where it goes before it opens.
        chosen = await ctx.ui.pick_link(links)
        if chosen is None:
            return Result("cancelled")
        url = chosen
    elif len(links) == 1:
        url = links[0]
    else:
        listed = "; ".join(f"{n}: {u}" for n, u in enumerate(links, 1))
        raise UsageError(f"open-link: {len(links)} links, give --index ({listed})")
    await open_with_system(url, config_of(ctx).media.opener)
    return Result(f"opened {url}", {"url": url})


@command(
    "reveal-spoiler",
    "media: Reveal or hide spoilers",
    "Show the hidden (spoiler) text of EVENT, or hide it again",
    EVENT,
    room=True,
    screens=ROOM_SCREEN,
    ui_only=True,
)
async def reveal_spoiler(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    event_id = event_arg(inv)
    view = ctx.ui.room_view(account, room_id)
    item = None
    if view is not None:
        item = next((i for i in view.items() if i.key == event_id), None)
    if item is None or view is None:
        raise UserError("reveal-spoiler: that message is not shown")
    content = await shown_content(ctx, account, room_id, event_id)
    if "data-mx-spoiler" not in str(content.get("formatted_body", "")):
        raise UserError("reveal-spoiler: that message has no spoiler")
    reveal = not item.spoiler_revealed
    view.show_spoiler(item, content, reveal)
    return Result("spoiler revealed" if reveal else "spoiler hidden")


@command(
    "view-image",
    "media: View image",
    "Show the image of EVENT (its thumbnail) in a window over the room",
    EVENT,
    room=True,
    screens=ROOM_SCREEN,
    ui_only=True,
)
async def view_image(ctx: Context, inv: Invocation) -> Result:
    account, media = await _media(ctx, inv)
    if media.msgtype != "m.image":
        raise UserError("view-image: that message is not an image")
    data = await core_media.thumbnail(account, media, 800, 600)
    await ctx.ui.show_image(data, clean_line(media.name))
    return Result()

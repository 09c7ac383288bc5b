"""messages: send, reply, edit, delete, react, send files (spec "Instant Messaging").

Messages go through the account's send queue (persisted before they are sent, retried with
the same transaction id); each command waits until its message is sent or has failed.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import re
from pathlib import Path
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.membership import room_label
from tuimatrix.commands.runner import need_room
from tuimatrix.core.account import Account
from tuimatrix.core.errors import UserError
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import SENT, LocalEcho

_EVENT_ID = re.compile(r"\$\S+")

EVENT = Param("event", "event", "the event id ($…)")
ROOM_SCREEN = ("room",)


def event_arg(inv: Invocation, name: str = "event") -> str:
    """The parameter ``name`` as an event id, or a UsageError."""
    event_id = str(inv.args[name]).strip()
    if not _EVENT_ID.fullmatch(event_id):
        raise UsageError(f"{inv.command.id}: {clean_line(event_id)!r} is not an event id ($…)")
    return event_id


def _text(inv: Invocation, name: str = "text") -> str:
    text = str(inv.args[name])
    if not text.strip():
        raise UsageError(f"{inv.command.id}: {name.upper()} is empty")
    return text


async def _sent(account: Account, echo: LocalEcho, what: str) -> Result:
    """Wait for the queued message; a failure is the user's error to read."""
    done = await account.send_queue.wait(echo.txn_id)
    if done.state != SENT or not done.event_id:
        raise UserError(f"{what} not sent: {clean_line(done.error or done.state)}")
    return Result(
        f"{what} sent to {room_label(account, echo.room_id)}", {"event_id": done.event_id}
    )


@command(
    "send",
    "messages: Send message",
    "Send TEXT to the room",
    Param("text", "text", "the message", rest=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def send(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    return await _sent(account, await account.send_text(room_id, _text(inv)), "message")


@command(
    "send-emote",
    "messages: Send emote",
    "Send TEXT as an emote (/me)",
    Param("text", "text", "what you do", rest=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def send_emote(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    return await _sent(account, await account.send_text(room_id, _text(inv), emote=True), "emote")


def _read(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()


def _image_info(data: bytes) -> tuple[int, int, str | None] | None:
    """Width, height and MIME type if Pillow is installed and reads the header; else None."""
    try:
        from PIL import Image  # optional: Synapse brings it along, we do not depend on it
    except ImportError:
        return None
    try:
        # Image.open reads only the header: no pixels are decoded here.
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            return width, height, Image.MIME.get(img.format or "")
    except Exception:  # not an image Pillow knows (or a decompression bomb): no dimensions
        return None


@command(
    "send-file",
    "messages: Send file",
    "Upload the file at PATH and send it (as an image when it is one)",
    Param("path", "path", "the file to send"),
    room=True,
    screens=ROOM_SCREEN,
)
async def send_file(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    if await account.is_encrypted(room_id):
        # Refuse before uploading: send_event would refuse the message anyway.
        raise UserError(
            "this room is end-to-end encrypted, and tuimatrix cannot encrypt "
            "messages yet; nothing was sent"
        )
    path = str(inv.args["path"])
    try:
        data = await asyncio.to_thread(_read, path)
    except OSError as e:
        raise UserError(f"send-file: cannot read {path}: {e.strerror or e}") from None
    filename = Path(path).name
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    info: dict[str, Any] = {"size": len(data)}
    image = _image_info(data)
    if image is not None:
        info["w"], info["h"] = image[0], image[1]
        mimetype = image[2] or mimetype
    info["mimetype"] = mimetype
    is_image = mimetype.startswith("image/")
    content: dict[str, Any] = {
        "msgtype": "m.image" if is_image else "m.file",
        "body": filename,
        "filename": filename,
        "info": info,
        **await account.upload_attachment(room_id, data, mimetype, filename),
    }
    echo = await account.send_event(room_id, "m.room.message", content)
    return await _sent(account, echo, "image" if is_image else "file")


@command(
    "reply",
    "messages: Reply",
    "Reply to EVENT with TEXT",
    EVENT,
    Param("text", "text", "the reply", rest=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def reply(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await account.reply(room_id, event_arg(inv), _text(inv))
    return await _sent(account, echo, "reply")


async def _current_text(ctx: Context, inv: Invocation) -> str | None:
    """An edit starts from the message's text as shown (the newest edit), else as stored."""
    selected = getattr(ctx, "selected_message", None)
    item = selected() if selected else None
    if item is not None and item.key == inv.args.get("event"):
        return str(item.body.plain)
    if inv.account is None or "event" not in inv.args:
        return None
    stored = await inv.account.store.event(str(inv.args["event"]))
    body = (stored or {}).get("content", {}).get("body")
    return body if isinstance(body, str) else None


@command(
    "edit",
    "messages: Edit message",
    "Replace the text of your message EVENT with TEXT",
    EVENT,
    Param("text", "text", "the new text", rest=True),
    room=True,
    screens=ROOM_SCREEN,
    prefill=lambda ctx, inv, param: _current_text(ctx, inv),
)
async def edit(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await account.edit(room_id, event_arg(inv), _text(inv))
    return await _sent(account, echo, "edit")


@command(
    "delete",
    "messages: Delete message",
    "Delete (redact) EVENT: its content is removed for everyone",
    EVENT,
    Param("reason", "text", "why, shown in its place", required=False, option=True),
    room=True,
    destructive=True,
    screens=ROOM_SCREEN,
)
async def delete(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    redaction = await account.redact(room_id, event_arg(inv), inv.args.get("reason"))
    return Result(f"deleted a message in {room_label(account, room_id)}", {"event_id": redaction})


@command(
    "react",
    "messages: React",
    "React to EVENT with KEY (an emoji, or any short text)",
    EVENT,
    Param("key", "text", "the reaction"),
    room=True,
    screens=ROOM_SCREEN,
)
async def react(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await account.react(room_id, event_arg(inv), _text(inv, "key"))
    return await _sent(account, echo, "reaction")

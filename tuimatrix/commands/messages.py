"""messages: send, reply, edit, delete, react, send files (spec "Instant Messaging").

Messages go through the account's send queue (persisted before they are sent, retried with
the same transaction id); each command waits until its message is sent or has failed. Text is
markdown (see ``core.markdown``); a failed message can be retried or discarded.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import re
from pathlib import Path
from typing import Any

from tuimatrix.commands import Context, Invocation, Param, Result, UsageError, command
from tuimatrix.commands.runner import need_room
from tuimatrix.core.account import Account
from tuimatrix.core.compose import Outgoing, markdown_message
from tuimatrix.core.emoji_names import reaction_key
from tuimatrix.core.errors import UserError
from tuimatrix.core.relations import shown_content
from tuimatrix.core.room_names import room_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sendqueue import FAILED, QUEUED, SENT, LocalEcho, NotConfirmed
from tuimatrix.core.threads import root_of, send_in_thread

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


async def _send(
    account: Account, room_id: str, message: Outgoing, reply_to: str | None = None
) -> LocalEcho:
    """Queue ``message`` (a reply to ``reply_to`` if given) with its HTML and mentions."""
    if reply_to is not None:
        return await account.reply(
            room_id,
            reply_to,
            message.body,
            html=message.html,
            emote=message.emote,
            mentions=list(message.user_ids),
            room_mention=message.room,
        )
    return await account.send_text(
        room_id,
        message.body,
        html=message.html,
        emote=message.emote,
        mentions=list(message.user_ids),
        room_mention=message.room,
    )


async def _sent(account: Account, echo: LocalEcho, what: str) -> Result:
    """Wait for the queued message; a failure is the user's error to read."""
    done = await account.send_queue.wait(echo.txn_id)
    if done.state == QUEUED:  # its wait ended first: the caller settles it (owner.sends)
        raise NotConfirmed(f"{what} not sent: {clean_line(done.error or 'not confirmed in time')}")
    if done.state != SENT or not done.event_id:
        raise UserError(f"{what} not sent: {clean_line(done.error or done.state)}")
    return Result(
        f"{what} sent to {room_label(account, echo.room_id)}", {"event_id": done.event_id}
    )


@command(
    "send",
    "messages: Send message",
    "Send TEXT to the room (markdown: **bold**, _italics_, `code`, ~~strike~~, lists, quotes)",
    Param("text", "text", "the message", rest=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def send(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await _send(account, room_id, markdown_message(_text(inv)))
    return await _sent(account, echo, "message")


@command(
    "send-emote",
    "messages: Send emote",
    "Send TEXT as an emote (/me in the composer)",
    Param("text", "text", "what you do", rest=True),
    room=True,
    screens=ROOM_SCREEN,
)
async def send_emote(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await _send(account, room_id, markdown_message(_text(inv), emote=True))
    return await _sent(account, echo, "emote")


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
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "GIF", "WEBP")) as img:
            width, height = img.size
            return width, height, Image.MIME.get(img.format or "")
    except Exception:  # not an image Pillow knows (or a decompression bomb): no dimensions
        return None


def msgtype_for(mimetype: str) -> str:
    """``m.image``, ``m.audio``, ``m.video`` by the MIME type's family; else ``m.file``."""
    family = mimetype.split("/", 1)[0]
    return {"image": "m.image", "audio": "m.audio", "video": "m.video"}.get(family, "m.file")


def attachment_content(path: str, data: bytes) -> dict[str, Any]:
    """A file message's content, without its ``url``/``file`` (spec "m.file", "m.image"…)."""
    filename = Path(path).name
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    info: dict[str, Any] = {"size": len(data)}
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        image = _image_info(data)
        if image is not None:
            info["w"], info["h"] = image[0], image[1]
            mimetype = image[2] or mimetype
    info["mimetype"] = mimetype
    return {"msgtype": msgtype_for(mimetype), "body": filename, "filename": filename, "info": info}


@command(
    "send-file",
    "messages: Send file",
    "Upload the file at PATH and send it (an image, audio or video by its type)",
    Param("path", "path", "the file to send"),
    room=True,
    screens=ROOM_SCREEN,
)
async def send_file(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    path = str(inv.args["path"])
    try:
        data = await asyncio.to_thread(_read, path)
    except OSError as e:
        raise UserError(f"send-file: cannot read {path}: {e.strerror or e}") from None
    content = attachment_content(path, data)
    # In an encrypted room only ciphertext is uploaded (see upload_attachment).
    content.update(
        await account.upload_attachment(
            room_id, data, content["info"]["mimetype"], content["filename"]
        )
    )
    echo = await account.send_event(room_id, "m.room.message", content)
    return await _sent(account, echo, content["msgtype"][2:])


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
    event_id = event_arg(inv)
    # A reply to a message in a thread (or on a thread's screen) stays in that thread.
    root = ctx.ui.current_thread(account, room_id)
    if root is None and (found := await root_of(account, room_id, event_id)) != event_id:
        root = found
    message = markdown_message(_text(inv))
    if root is not None:
        echo = await send_in_thread(
            account,
            room_id,
            root,
            message.body,
            reply_to=event_id,
            html=message.html,
            emote=message.emote,
            mentions=message.user_ids,
            room_mention=message.room,
        )
    else:
        echo = await _send(account, room_id, message, reply_to=event_id)
    return await _sent(account, echo, "reply")


def _loaded_events(inv: Invocation) -> list[dict[str, Any]]:
    """The events the command's room has loaded in the app (its window, its open threads)."""
    if inv.account is None or inv.room_id is None:
        return []
    return inv.account.timelines.loaded_events(inv.room_id)


def _written_text(original: dict[str, Any], loaded: list[dict[str, Any]]) -> str | None:
    """The body the sender last wrote: the shown edit's ``m.new_content`` (of those loaded
    and the one the server bundled), else the original's. The text on screen would do only
    until the first edit: it is rendered, its markdown lost."""
    body = shown_content(original, loaded).get("body")
    return body if isinstance(body, str) else None


async def _current_text(ctx: Context, inv: Invocation) -> str | None:
    """An edit starts from the message's text as its sender wrote it (markdown source)."""
    if inv.account is None or "event" not in inv.args:
        return None
    event_id = str(inv.args["event"])
    loaded = _loaded_events(inv)
    original = next((e for e in loaded if e.get("event_id") == event_id), None)
    if original is None:
        original = await inv.account.store.event(event_id)
    if original is None:
        item = ctx.ui.selected_event()
        return str(item.body.plain) if item is not None and item.key == event_id else None
    return _written_text(original, loaded)


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
    message = markdown_message(_text(inv))
    echo = await account.edit(
        room_id,
        event_arg(inv),
        message.body,
        html=message.html,
        mentions=list(message.user_ids),
        room_mention=message.room,
    )
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
    "React to EVENT with KEY: an emoji, a :shortcode:, or any short text",
    EVENT,
    Param("key", "emoji", "the reaction"),
    room=True,
    screens=ROOM_SCREEN,
)
async def react(ctx: Context, inv: Invocation) -> Result:
    account, room_id = need_room(inv)
    echo = await account.react(room_id, event_arg(inv), reaction_key(_text(inv, "key")))
    return await _sent(account, echo, "reaction")


TXN = Param("txn", "event", "the failed message (its transaction id)")


async def _failed(inv: Invocation) -> tuple[Account, LocalEcho]:
    """The failed message ``txn`` of this room; a clear error if it is anything else."""
    account, room_id = need_room(inv)
    txn_id = str(inv.args["txn"]).strip()
    echo = await account.send_queue.get(txn_id)
    if echo is None or echo.room_id != room_id:
        what = "that message" if txn_id.startswith("$") else repr(clean_line(txn_id))
        raise UserError(f"{inv.command.id}: {what} is not a failed message of this room")
    if echo.state != FAILED:
        raise UserError(f"{inv.command.id}: that message has not failed (it is {echo.state})")
    return account, echo


@command(
    "retry-send",
    "messages: Retry failed message",
    "Send the failed message TXN again (same transaction: never sent twice)",
    TXN,
    room=True,
    screens=ROOM_SCREEN,
)
async def retry_send(ctx: Context, inv: Invocation) -> Result:
    account, echo = await _failed(inv)
    await account.send_queue.retry(echo.txn_id)
    return await _sent(account, echo, "message")


@command(
    "discard-send",
    "messages: Discard failed message",
    "Remove the failed message TXN: it is not sent",
    TXN,
    room=True,
    screens=ROOM_SCREEN,
)
async def discard_send(ctx: Context, inv: Invocation) -> Result:
    account, echo = await _failed(inv)
    await account.send_queue.cancel(echo.txn_id)
    return Result(f"discarded a message to {room_label(account, echo.room_id)}")

"""One shape of an event for programs: what ``messages``, the live feed and hooks all give.

Plain JSON values only, taken as sent (a body is data for a program, not rendered here: the
encoder, ``core/safe_json.py``, escapes what a terminal could act on). The events the store
keeps are already decrypted (core/e2ee/crypto.py decrypts them in place and marks them with
``tm_e2ee``); one whose key is missing keeps the type ``m.room.encrypted`` and says why in
``decryption_error``.

Keys of every object: ``account``, ``room_id``, ``room_name``, ``event_id``, ``sender``,
``sender_name``, ``own`` (sent by the account itself), ``origin_server_ts`` (ms), ``time``
(ISO 8601, UTC), ``type``, ``state_key``, ``msgtype``, ``body``, ``formatted_body``,
``format``, ``membership`` (of a member event), ``relations`` (``reply_to``, ``replaces``,
``thread_root``, ``reaction`` {``key``, ``event_id``}, ``redacts``; absent ones null),
``encrypted``, ``decrypted``, ``decryption_error``, ``redacted``, ``edited``, ``mentions_me``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from tuimatrix.core.redaction import is_pruned
from tuimatrix.core.relations import (
    ANNOTATION,
    EDIT,
    THREAD,
    content_of,
    new_content,
    redaction_target,
    relates_to,
    reply_target,
)
from tuimatrix.core.sanitize import strip_reply_fallback
from tuimatrix.core.store import dumps, loads

if TYPE_CHECKING:
    from tuimatrix.core.rooms import RoomModels
    from tuimatrix.core.store import Store

ENCRYPTED = "m.room.encrypted"
#: the events that carry a message a person wrote (what ``messages`` lists)
MESSAGE_TYPES = ("m.room.message", "m.sticker", ENCRYPTED)


class RoomsAccount(Protocol):
    """What this module reads of an account (``core/account.py`` ``Account`` is one)."""

    @property
    def user_id(self) -> str: ...

    @property
    def store(self) -> Store: ...

    @property
    def rooms(self) -> RoomModels: ...


@dataclass(frozen=True)
class RoomView:
    """What :func:`event_json` needs to know of the account and the room an event is in."""

    account: str  # the account's user id
    room_id: str
    room_name: str = ""
    #: user id -> display name in the room (members the store knows)
    names: Mapping[str, str] = field(default_factory=dict)
    #: the account's own display name in the room ("" if none): legacy mentions match it
    own_name: str = ""


_MEMBERS_SQL = (
    "SELECT state_key, content FROM room_state WHERE room_id=$1 AND type='m.room.member' "
    "AND state_key IN (SELECT value FROM json_each($2))"
)


async def room_view(account: RoomsAccount, room_id: str, senders: Iterable[str]) -> RoomView:
    """The :class:`RoomView` of ``room_id``, with the names of ``senders`` (and the
    account's own): only their member events are read, however large the room."""
    users = sorted({*senders, account.user_id})
    names: dict[str, str] = {}
    for row in await account.store.db.fetch(_MEMBERS_SQL, room_id, dumps(users)):
        content = loads(row["content"])
        name = content.get("displayname") if isinstance(content, dict) else None
        if isinstance(name, str) and name:
            names[str(row["state_key"])] = name
    summary = account.rooms.summaries.get(room_id)
    room_name = summary.display_name if summary is not None else ""
    return RoomView(account.user_id, room_id, room_name, names, names.get(account.user_id, ""))


def iso_time(ts: int) -> str | None:
    """``ts`` (ms since the epoch, from the server, so possibly absurd) in ISO 8601 UTC."""
    try:
        moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _word_in(needle: str, body: str) -> bool:
    """Whether ``needle`` is in ``body`` as a whole word (any case)."""
    if not needle:
        return False
    pattern = r"(?<![\w@])" + re.escape(needle) + r"(?![\w])"
    return re.search(pattern, body, re.IGNORECASE) is not None


def mentions_user(content: Mapping[str, Any], user_id: str, display_name: str = "") -> bool:
    """Whether a message mentions ``user_id`` (spec "User and room mentions").

    With ``m.mentions``: its ``user_ids`` has the user, or ``room`` is true. Without it (an
    older client): the body holds the user id, its localpart or ``display_name`` as a word.
    """
    mentions = content.get("m.mentions")
    if isinstance(mentions, dict):
        users = mentions.get("user_ids")
        return (isinstance(users, list) and user_id in users) or mentions.get("room") is True
    body = content.get("body")
    if not isinstance(body, str):
        return False
    localpart = user_id[1:].split(":", 1)[0] if user_id.startswith("@") else ""
    return any(_word_in(needle, body) for needle in (user_id, localpart, display_name))


def _relations(evt: Mapping[str, Any]) -> dict[str, Any]:
    relates = relates_to(evt)
    rel_type = relates.get("rel_type")
    target = _text(relates.get("event_id"))
    reaction = None
    if rel_type == ANNOTATION and target is not None:
        reaction = {"key": _text(relates.get("key")), "event_id": target}
    # In a thread, m.in_reply_to is a fallback for clients without threads (the event answers
    # the thread) unless is_falling_back says false: read as core/threads.py reads it.
    fallback = rel_type == THREAD and relates.get("is_falling_back", True) is not False
    return {
        "reply_to": None if fallback else reply_target(evt),
        "replaces": target if rel_type == EDIT else None,
        "thread_root": target if rel_type == THREAD else None,
        "reaction": reaction,
        "redacts": redaction_target(evt),
    }


def _decryption_error(evt: Mapping[str, Any]) -> str | None:
    if evt.get("type") != ENCRYPTED or is_pruned(evt):
        return None
    e2ee = evt.get("tm_e2ee")
    error = e2ee.get("error") if isinstance(e2ee, dict) else None
    if isinstance(error, str) and error:
        return error
    return "the room key has not arrived (yet)"


def event_json(
    room: RoomView, evt: Mapping[str, Any], edit: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``evt`` (as stored, decrypted where we could) as one JSON object for programs.

    ``edit``: the newest edit of ``evt`` (core/relations/edits.py), whose new content is then
    the message's (``edited`` true); relations stay the original's.
    """
    content: Mapping[str, Any] = content_of(evt)
    redacted = is_pruned(evt)
    if edit is not None and not redacted:
        content = new_content(edit)
    sender = str(evt.get("sender", ""))
    ts = evt.get("origin_server_ts")
    ts = ts if isinstance(ts, int) and not isinstance(ts, bool) else 0
    kind = str(evt.get("type", ""))
    body = _text(content.get("body"))
    if body is not None and reply_target(evt) is not None:
        body = strip_reply_fallback(body)
    is_message = kind in ("m.room.message", "m.sticker")
    membership = content.get("membership") if kind == "m.room.member" else None
    return {
        "account": room.account,
        "room_id": room.room_id,
        "room_name": room.room_name,
        "event_id": _text(evt.get("event_id")),
        "sender": sender,
        "sender_name": room.names.get(sender, sender),
        "own": sender == room.account,
        "origin_server_ts": ts,
        "time": iso_time(ts),
        "type": kind,
        "state_key": _text(evt.get("state_key")),
        "msgtype": _text(content.get("msgtype")),
        "body": body,
        "formatted_body": _text(content.get("formatted_body")),
        "format": _text(content.get("format")),
        "membership": _text(membership),
        "relations": _relations(evt),
        "encrypted": "tm_e2ee" in evt or kind == ENCRYPTED,
        "decrypted": "tm_e2ee" in evt and kind != ENCRYPTED,
        "decryption_error": _decryption_error(evt),
        "redacted": redacted,
        "edited": edit is not None and not redacted,
        "mentions_me": is_message
        and not redacted
        and sender != room.account
        and mentions_user(content, room.account, room.own_name),
    }

"""A room's messages for programs: the newest ones, or those stored after a token.

The token is a position in the account's store, not the server's: the SQLite ``rowid`` of
the events table, which grows with every event stored (events are never deleted, so a rowid
is never reused). Whatever the store takes in after a page was read — live events, a filled
gap, scrollback — has a greater rowid, so polling with ``since`` misses nothing and repeats
nothing, whatever the timing. A token belongs to one account's store.

Edits fold into the message they edit (its newest content, ``edited`` true) when that
message is on the page; an edit of an older message is a row of its own (``relations``
``replaces``), so that a poller learns of it. Reactions, redactions and state are not
messages; a redacted message is a row with ``redacted`` true and no body. A message stored
undecrypted keeps its row; its key arriving later changes it in place (no new rowid): ask
``messages`` again without ``since`` to read it decrypted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mautrix.util.async_db import Connection

from tuimatrix.core.errors import UsageError
from tuimatrix.core.event_json import MESSAGE_TYPES, RoomsAccount, event_json, room_view
from tuimatrix.core.relations import EDIT, Edits, edit_target
from tuimatrix.core.store import dumps, loads

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
_TOKEN = re.compile(r"s(\d{1,18})")

_NOT_AN_EDIT = "COALESCE(json_extract(json, '$.content.\"m.relates_to\".rel_type'), '') != $3"
_NEWEST = (
    "SELECT rowid, position, json FROM events WHERE room_id=$1 "
    "AND type IN (SELECT value FROM json_each($2)) AND " + _NOT_AN_EDIT + " "
    "ORDER BY position DESC LIMIT $4"
)
_AFTER = (
    "SELECT rowid, position, json FROM events WHERE room_id=$1 "
    "AND type IN (SELECT value FROM json_each($2)) AND rowid > $3 ORDER BY rowid LIMIT $4"
)
_TOP = "SELECT MAX(rowid) FROM events WHERE room_id=$1"


@dataclass(frozen=True)
class MessagePage:
    """Rows of :func:`~.event_json.event_json` objects, oldest first, and where to go on."""

    rows: list[dict[str, Any]]
    #: give it as ``since`` to get what the store takes in after this page (never "")
    next_token: str
    #: whether more rows were stored after the token than the page could hold
    more: bool = False


def clamp_limit(limit: int | None) -> int:
    """The number of rows to return: :data:`DEFAULT_LIMIT`, kept within 1..:data:`MAX_LIMIT`."""
    return DEFAULT_LIMIT if limit is None else max(1, min(MAX_LIMIT, limit))


def parse_token(token: str) -> int:
    """The store position a token names; UsageError if it is not one ``messages`` gave."""
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise UsageError(f"--since: {token[:40]!r} is not a token from messages (like s1234)")
    return int(match.group(1))


def _token(rowid: int) -> str:
    return f"s{rowid}"


async def message_page(
    account: RoomsAccount, room_id: str, limit: int | None = None, since: str | None = None
) -> MessagePage:
    """The newest ``limit`` messages of ``room_id`` (or the first ``limit`` stored after the
    token ``since``), oldest first, with the token to continue from."""
    limit = clamp_limit(limit)
    after = parse_token(since) if since is not None else None
    # One connection for both reads: no sync can land between the page and its token.
    conn: Connection
    async with account.store.db.acquire() as conn:
        if after is None:
            rows = list(await conn.fetch(_NEWEST, room_id, dumps(MESSAGE_TYPES), EDIT, limit))
            top = await conn.fetchval(_TOP, room_id)
            next_rowid = int(top) if top is not None else 0
            more = False
        else:
            rows = list(await conn.fetch(_AFTER, room_id, dumps(MESSAGE_TYPES), after, limit))
            more = len(rows) == limit
            if more:
                next_rowid = max(int(r["rowid"]) for r in rows)
            else:
                top = await conn.fetchval(_TOP, room_id)
                next_rowid = max(after, int(top) if top is not None else 0)
    # Taken in the order they were stored; shown in the room's order.
    rows.sort(key=lambda r: float(r["position"]))
    events = [loads(r["json"]) for r in rows]
    return MessagePage(await _rows(account, room_id, events), _token(next_rowid), more)


async def _rows(
    account: RoomsAccount, room_id: str, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The events as rows: edits folded into the messages on the page that they edit."""
    on_page = {e.get("event_id") for e in events}
    shown = [e for e in events if edit_target(e) not in on_page]
    related = await account.store.related_events(shown)
    edits = Edits([*events, *related])
    view = await room_view(account, room_id, (str(e.get("sender")) for e in shown))
    return [event_json(view, evt, edits.shown(evt)) for evt in shown]

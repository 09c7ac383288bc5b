"""Older events: scrollback below the oldest stored event, and filling ``limited`` gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mautrix.util.async_db import Connection

from tuimatrix.core.store import dumps
from tuimatrix.core.sync import insert_timeline

if TYPE_CHECKING:
    from tuimatrix.core.account_like import AccountLike


def _chunk(resp: dict[str, Any]) -> list[dict[str, Any]]:
    chunk = resp.get("chunk")
    return [
        e
        for e in (chunk if isinstance(chunk, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("event_id"), str)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("sender"), str)
    ]


async def _put_lazy_members(conn: Connection, room_id: str, resp: dict[str, Any]) -> None:
    """Member events sent along with old messages: keep them only where we know nothing newer."""
    state = resp.get("state")
    rows = [
        (
            room_id,
            e["type"],
            e["state_key"],
            e.get("event_id"),
            e.get("sender"),
            dumps(e["content"]),
        )
        for e in (state if isinstance(state, list) else [])
        if isinstance(e, dict)
        and e.get("type") == "m.room.member"
        and isinstance(e.get("state_key"), str)
        and isinstance(e.get("content"), dict)
    ]
    if rows:
        await conn.executemany(
            "INSERT OR IGNORE INTO room_state (room_id, type, state_key, event_id, sender, content)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )


async def store_older(
    account: AccountLike, room_id: str, resp: dict[str, Any], token_key: str
) -> list[dict[str, Any]]:
    """Store a backwards ``/messages`` page below the oldest event; returns it oldest first."""
    events = list(reversed(_chunk(resp)))
    end = resp.get("end")
    await account.decrypt(room_id, events)
    async with account.store.transaction() as conn:
        bottom = await conn.fetchval("SELECT MIN(position) FROM events WHERE room_id=$1", room_id)
        bottom = float(bottom) if bottom is not None else 0.0
        new = await insert_timeline(conn, room_id, events, bottom - len(events) - 1, 1.0)
        await _put_lazy_members(conn, room_id, resp)
        # No `end` means the start of the room: nothing older to fetch.
        await conn.execute(
            "UPDATE sync_state SET value=$1 WHERE key=$2",
            end if isinstance(end, str) and events else "",
            token_key,
        )
    return new


async def fill_gap(
    account: AccountLike, room_id: str, position: float, prev_batch: str, max_events: int
) -> int:
    """Fetch the events missing below ``position`` until one we have, and slot them in."""
    collected: list[dict[str, Any]] = []  # newest first
    states: list[dict[str, Any]] = []
    token: str | None = prev_batch
    met_known = False
    while token and len(collected) < max_events:
        resp = await account.messages(room_id, token, min(100, max_events - len(collected)))
        states.append(resp)
        page = _chunk(resp)
        ids = [e["event_id"] for e in page]
        known = set()
        if ids:
            marks = ",".join(f"${i + 2}" for i in range(len(ids)))
            rows = await account.store.db.fetch(
                f"SELECT event_id FROM events WHERE room_id=$1 AND event_id IN ({marks})",
                room_id,
                *ids,
            )
            known = {r["event_id"] for r in rows}
        for evt in page:
            if evt["event_id"] in known:
                met_known = True
                break
            collected.append(evt)
        end = resp.get("end")
        token = end if isinstance(end, str) and page and not met_known else None
    events = list(reversed(collected))
    await account.decrypt(room_id, events)
    async with account.store.transaction() as conn:
        below = await conn.fetchval(
            "SELECT MAX(position) FROM events WHERE room_id=$1 AND position < $2",
            room_id,
            position,
        )
        low = float(below) if below is not None else position - len(events) - 1
        step = (position - low) / (len(events) + 1)
        new = await insert_timeline(conn, room_id, events, low + step, step)
        # An encrypted room's counts need the gap's mentions too (its own evaluation).
        await account.notices.record_filled(conn, room_id, new)
        for resp in states:
            await _put_lazy_members(conn, room_id, resp)
        await conn.execute("DELETE FROM gaps WHERE room_id=$1 AND position=$2", room_id, position)
        if token and new:
            # Stopped at max_events: the rest of the hole stays recorded below what we added.
            lowest = await conn.fetchval(
                "SELECT position FROM events WHERE event_id=$1", new[0]["event_id"]
            )
            await conn.execute(
                "INSERT OR REPLACE INTO gaps (room_id, position, prev_batch) VALUES ($1, $2, $3)",
                room_id,
                lowest,
                token,
            )
    return len(new)

"""Read state against Synapse: mark-read clears the server's counts, mark-all-read over a
section (asking first), mark-unread's account data, and private read receipts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import MakeUser
from helpers import eventually, until
from test_app import SIZE
from test_app import peer as peer  # the fixture, shared
from test_read_commands import accounts_of
from test_room_actions import open_room
from test_room_reading import PeerFactory, fully_read_on_server
from test_sync import Login, login  # noqa: F401  (the fixture)

from tuimatrix.app import TuimatrixApp
from tuimatrix.commands import UsageError
from tuimatrix.commands.runner import run_line
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.sendqueue import SENT
from tuimatrix.owner.context import ExecContext
from tuimatrix.paths import get_paths


async def send(account: Account, room_id: str, text: str, mentions: list[str]) -> str:
    echo = await account.send_text(room_id, text, mentions=mentions)
    done = await account.send_queue.wait(echo.txn_id)
    assert done.state == SENT and done.event_id is not None
    return done.event_id


async def counts(account: Account) -> dict[str, tuple[int, int]]:
    """Each room's unread and highlight counts after a fresh sync (the server's: the rooms
    are not encrypted)."""
    await account.sync_once()
    rooms = account.rooms.summaries.values()
    return {r.room_id: (r.notification_count, r.highlight_count) for r in rooms}


async def account_data(account: Account, room_id: str, kind: str) -> Any:
    try:
        return await account.client.api.request(
            "GET",  # type: ignore[arg-type]
            f"/_matrix/client/v3/user/{account.user_id}/rooms/{room_id}/account_data/{kind}",
        )
    except Exception:
        return None


async def shared_rooms(a: Account, b: Account, names: list[str]) -> list[str]:
    """Unencrypted rooms of ``a`` that ``b`` joined, each with a message from ``a`` that
    mentions ``b`` (unread and a highlight for ``b``)."""
    rooms = [await a.create_room(n, encrypted=False, invite=[b.user_id]) for n in names]
    await b.sync_once()
    for room_id in rooms:
        await b.join(room_id)
        await send(a, room_id, f"hello {b.user_id}", [b.user_id])

    async def all_unread() -> bool:
        now = await counts(b)
        return all(now[r][1] > 0 for r in rooms)

    await eventually(all_unread)
    return rooms


async def test_mark_read_clears_the_counts_on_the_server_and_the_unread_mark(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a, b = await login(alice), await login(bob)
    [room_id] = await shared_rooms(a, b, ["Marked"])
    ctx = ExecContext(accounts_of(b), b)

    result = await run_line(ctx, f"mark-unread --room {room_id}")
    assert result.message == "marked Marked unread"
    assert await account_data(b, room_id, "m.marked_unread") == {"unread": True}

    async def marked() -> bool:
        await b.sync_once()
        return await b.marked_unread_types(room_id) == ["m.marked_unread"]

    await eventually(marked)
    result = await run_line(ctx, f"mark-read --room {room_id}")
    assert result.message == "marked Marked read"

    async def read_on_server() -> bool:
        return (await counts(b))[room_id] == (0, 0)

    await eventually(read_on_server)
    assert await account_data(b, room_id, "m.marked_unread") == {"unread": False}
    assert not await b.marked_unread_types(room_id)
    fully_read = await account_data(b, room_id, "m.fully_read")
    latest = (await b.store.latest_events(room_id, 1))[-1]["event_id"]
    assert fully_read == {"event_id": latest}


async def test_mark_all_read_over_a_section_asks_before_many_rooms(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    a, b = await login(alice), await login(bob)
    rooms = await shared_rooms(a, b, ["One", "Two", "Three", "Four"])
    favourite = rooms[0]
    ctx = ExecContext(accounts_of(b), b)
    await run_line(ctx, f"tag-room favourite --room {favourite}")

    async def tagged() -> bool:
        await b.sync_once()
        return b.rooms.summaries[favourite].is_favourite

    await eventually(tagged)
    # One section: only its rooms, without asking (a few).
    assert (await run_line(ctx, "mark-all-read favourites")).message == "marked 1 room read"

    async def favourite_read() -> bool:
        return (await counts(b))[favourite] == (0, 0)

    await eventually(favourite_read)
    now = await counts(b)
    assert all(now[r][0] > 0 for r in rooms[1:])

    with pytest.raises(UsageError, match="no room-list section 'nowhere'"):
        await run_line(ctx, "mark-all-read nowhere")

    # Everything: more than a few rooms (with a fifth) is asked about, so exec needs --yes.
    rooms += await shared_rooms(a, b, ["Five"])
    with pytest.raises(UsageError, match="would mark 4 rooms read: add --yes"):
        await run_line(ctx, "mark-all-read")
    now = await counts(b)
    assert all(now[r][0] > 0 for r in rooms[1:])
    assert (await run_line(ctx, "mark-all-read --yes")).message == "marked 4 rooms read"

    async def all_read() -> bool:
        now = await counts(b)
        return all(now[r] == (0, 0) for r in rooms)

    await eventually(all_read)
    assert (await run_line(ctx, "mark-all-read")).message == "no unread rooms"


async def test_private_receipts_are_not_seen_by_others(
    make_user: MakeUser,
    login: Login,  # noqa: F811
) -> None:
    get_paths().config_file.parent.mkdir(parents=True, exist_ok=True)
    get_paths().config_file.write_text('[room]\nread-receipts = "private"\n')
    alice, bob = make_user("alice"), make_user("bob")
    a, b = await login(alice), await login(bob)
    [room_id] = await shared_rooms(a, b, ["Private"])
    ctx = ExecContext(accounts_of(b), b)
    assert (await run_line(ctx, f"mark-read --room {room_id}")).message == "marked Private read"

    async def bob_has_a_private_receipt() -> bool:
        await b.sync_once()
        rows = await b.store.receipts(room_id)
        return any(
            r["user_id"] == bob.user_id and r["receipt_type"] == "m.read.private" for r in rows
        )

    await eventually(bob_has_a_private_receipt)
    assert (await counts(b))[room_id] == (0, 0)  # the server counts it all the same
    # Alice, who wrote after bob's last public receipt, never sees one from him.
    await a.sync_once()
    seen = [r for r in await a.store.receipts(room_id) if r["user_id"] == bob.user_id]
    assert seen == []


async def test_reading_a_room_in_the_app_sends_private_receipts(
    make_user: MakeUser, peer: PeerFactory
) -> None:
    get_paths().config_file.parent.mkdir(parents=True, exist_ok=True)
    get_paths().config_file.write_text('[room]\nread-receipts = "private"\n')
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = await peer(bob)
    room_id = await b.create_room("Quiet", invite=[alice.user_id])
    await me.join(room_id)
    said = await send(b, room_id, "psst", [])
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = next(iter(app.accounts))
        screen = await open_room(pilot, app, room_id)
        await until(pilot, lambda: said in [i.key for i in screen.timeline.items])

        async def own_receipts() -> set[str]:
            rows = await account.store.receipts(room_id)
            return {r["receipt_type"] for r in rows if r["user_id"] == alice.user_id}

        async with asyncio.timeout(30):
            while await own_receipts() != {"m.read.private"}:
                await pilot.pause(0.1)
        # Leaving moves the fully-read marker, still with a private receipt.
        await pilot.press("escape")
        async with asyncio.timeout(30):
            while await fully_read_on_server(account, room_id) != said:
                await pilot.pause(0.1)
        assert await own_receipts() == {"m.read.private"}
    await b.sync_once()
    assert [r for r in await b.store.receipts(room_id) if r["user_id"] == alice.user_id] == []

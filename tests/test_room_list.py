"""The room list: sections, folds that survive restarts, live moves, keys.

End-to-end tests drive the app with Pilot against the real Synapse; the snapshot tests and
the update-logic checks use in-memory accounts (fixed names and times), so they are stable.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from conftest import MakeUser
from helpers import TestUser, busy, until
from room_fixtures import DAY, MINUTE, FakeAccount, FakeApp, ago, room, sample_accounts
from test_app import SIZE
from textual.pilot import Pilot
from textual.widgets import DataTable

from tuimatrix.app import TuimatrixApp
from tuimatrix.config import load_config
from tuimatrix.core import auth
from tuimatrix.core.account import LIVE, Account
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sync import SyncChanges
from tuimatrix.paths import Paths, get_paths
from tuimatrix.screens.room import RoomScreen
from tuimatrix.screens.room_list import RoomListScreen
from tuimatrix.screens.space import SpaceScreen
from tuimatrix.ui.folds import RoomListState, state_file
from tuimatrix.widgets.room_row import fit_columns
from tuimatrix.widgets.room_tree import HeaderRow, RoomRow

# -- helpers ------------------------------------------------------------------------------


def other_paths(name: str) -> Paths:
    """A separate profile: another client (or user) next to the app's own."""
    paths = get_paths()
    root = paths.data_dir.parent / name
    return Paths(root / "config", root / "data", root / "state", root / "cache")


@pytest.fixture
async def client() -> AsyncIterator[Callable[[TestUser, str], Awaitable[Account]]]:
    """Log a user in under a separate profile (another device), closed after the test."""
    opened: list[Account] = []

    async def login(user: TestUser, profile: str = "other") -> Account:
        account = (await auth.login(other_paths(profile), user.user_id, user.password)).account
        opened.append(account)
        return account

    yield login
    for account in opened:
        await account.close()


def names(app: TuimatrixApp, section: str) -> list[str]:
    account = next(iter(app.accounts))
    rooms = account.rooms.summaries
    return [rooms[room_id].display_name for _, room_id in app.room_list.section_rooms(section)]


def headers(app: TuimatrixApp) -> dict[str, bool]:
    """Section id → folded, for every header shown."""
    rows = app.room_list.room_tree.rows
    return {row.section: row.folded for row in rows if isinstance(row, HeaderRow)}


def header_index(app: TuimatrixApp, section: str) -> int:
    rows = app.room_list.room_tree.rows
    return next(i for i, r in enumerate(rows) if isinstance(r, HeaderRow) and r.section == section)


async def live_app(pilot: Pilot[None]) -> Account:
    app = pilot.app
    await until(pilot, lambda: len(app.accounts) == 1)  # type: ignore[attr-defined]
    account: Account = next(iter(app.accounts))  # type: ignore[attr-defined]
    await until(pilot, lambda: account.status.state == LIVE)
    return account


# -- end to end, against Synapse ----------------------------------------------------------


async def test_each_section_gets_the_right_rooms(
    make_user: MakeUser, client: Callable[[TestUser, str], Awaitable[Account]]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = await client(bob, "bob")
    space = await me.create_space("Work")
    sub = await me.create_space("Projects")
    in_space = await me.create_room("Work chat")
    deep = await me.create_room("Launch")
    await me.add_space_child(space, in_space)
    await me.add_space_child(space, sub)
    await me.add_space_child(sub, deep)
    await me.create_room("Loose ends")
    fav = await me.create_room("Garden")
    await me.set_tag(fav, "favourite")
    low = await me.create_room("Old stuff")
    await me.set_tag(low, "low-priority")
    await me.create_room(invite=[bob.user_id], is_direct=True)
    await b.create_room("Party", invite=[alice.user_id])
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        await live_app(pilot)
        await until(pilot, lambda: names(app, "invites") == ["Party"])
        await until(pilot, lambda: "Launch" in names(app, "spaces"))
        assert names(app, "favourites") == ["Garden"]
        assert names(app, "low-priority") == ["Old stuff"]
        assert names(app, "unspaced") == ["Loose ends"]
        assert sorted(names(app, "spaced")) == ["Launch", "Work chat"]
        assert len(names(app, "people")) == 1 and "Party" not in names(app, "people")
        # The tree: the space, its subspace first with its room, then its room.
        rows = app.room_list.room_tree.rows
        tree = [
            (app.accounts.get(r.ref[0]).rooms.summaries[r.ref[1]].display_name, r.depth)  # type: ignore[union-attr]
            for r in rows
            if isinstance(r, RoomRow) and r.section == "spaces"
        ]
        assert tree == [("Work", 0), ("Projects", 1), ("Launch", 2), ("Work chat", 1)]
        assert list(headers(app)) == [
            "invites",
            "favourites",
            "spaces",
            "spaced",
            "unspaced",
            "people",
            "low-priority",
        ]


async def prepared(make_user: MakeUser, *room_names: str) -> tuple[TestUser, dict[str, str]]:
    user = make_user("alice")
    account = (await auth.login(get_paths(), user.user_id, user.password)).account
    rooms = {name: await account.create_room(name) for name in room_names}
    await account.close()
    return user, rooms


async def test_a_folded_section_stays_folded_after_a_restart(make_user: MakeUser) -> None:
    _, rooms = await prepared(make_user, "Kept", "Hidden")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        await account.set_tag(rooms["Hidden"], "low-priority")
        await until(pilot, lambda: "low-priority" in headers(app))
        app.room_list.room_tree.move_cursor(header_index(app, "low-priority"))
        await pilot.press("enter")
        assert headers(app)["low-priority"] is True
        hidden = f"{account.user_id}|{rooms['Hidden']}"
        assert hidden not in app.room_list.room_keys()
        path = state_file(get_paths(), [account.user_id])
        await until(pilot, lambda: path.exists())
        assert json.loads(path.read_text())["folds"] == {"section:low-priority": True}

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "low-priority" in headers(app))
        assert headers(app)["low-priority"] is True
        assert hidden not in app.room_list.room_keys()
        # toggle-section by name (any case, title or id) unfolds it again.
        app.run_lines(["toggle-section 'Low priority'"])
        await until(pilot, lambda: headers(app)["low-priority"] is False)
        assert hidden in app.room_list.room_keys()


async def test_a_corrupt_state_file_means_defaults_and_a_notice(make_user: MakeUser) -> None:
    user, _ = await prepared(make_user, "Anything")
    path = state_file(get_paths(), [user.user_id])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"version": 1, "folds": {"section:unspaced": "yes"')
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        await live_app(pilot)
        await until(pilot, lambda: "unspaced" in headers(app))
        assert "corrupt" in app.status_message and "\n" not in app.status_message
        assert not any(headers(app).values())
        # The next fold writes a good file over it.
        app.room_list.toggle_section("unspaced")
        await until(pilot, lambda: b"true" in path.read_bytes())
        assert json.loads(path.read_text())["folds"] == {"section:unspaced": True}


async def test_close_room_takes_it_out_of_open(make_user: MakeUser) -> None:
    _, rooms = await prepared(make_user, "Porch", "Shed")
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        app.open_room(account, rooms["Porch"])
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        # An open room's loaded window is the account's to read (commands do), until it closes.
        await until(pilot, lambda: len(account.timelines.of_room(rooms["Porch"])) == 1)
        [window] = account.timelines.of_room(rooms["Porch"])
        assert window is app.screen.timeline_model  # type: ignore[attr-defined]
        app.action_show_room_list()
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        assert names(app, "open") == ["Porch"]
        assert account.timelines.of_room(rooms["Porch"]) == [window]
        assert app.room_list.move_to(account, rooms["Porch"])
        row = app.room_list.room_tree.cursor_row
        assert isinstance(row, RoomRow) and row.section == "open"
        await pilot.press("c")
        await until(pilot, lambda: names(app, "open") == [])
        assert "open" not in headers(app)
        assert not app.is_screen_installed(f"room:{account.user_id}|{rooms['Porch']}")
        await until(pilot, lambda: account.timelines.of_room(rooms["Porch"]) == [])
        # Closed while on view, a room goes just as completely.
        app.open_room(account, rooms["Shed"])
        await until(pilot, lambda: len(account.timelines.of_room(rooms["Shed"])) == 1)
        assert app.close_room(account, rooms["Shed"])
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        await until(pilot, lambda: account.timelines.of_room(rooms["Shed"]) == [])


async def test_next_unread_goes_to_the_next_unread_room_in_the_list(
    make_user: MakeUser, client: Callable[[TestUser, str], Awaitable[Account]]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = await client(bob, "bob")
    quiet = await b.create_room("Quiet talk", invite=[alice.user_id])
    shout = await b.create_room("Shout", invite=[alice.user_id])
    read = await me.create_room("Already read")
    for room_id in (quiet, shout):
        await me.join(room_id)
    await me.close()
    await b.send_text(quiet, "hello")
    await b.send_text(shout, f"{alice.user_id}: look", mentions=[alice.user_id])
    await b.send_queue.flush()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        await until(pilot, lambda: sorted(names(app, "unread")) == ["Quiet talk", "Shout"])
        # Highlights first: the mention comes before the merely unread.
        await until(pilot, lambda: names(app, "unread") == ["Shout", "Quiet talk"])
        # From a read room at the bottom, "next" wraps around to the first unread one.
        assert app.room_list.move_to(account, read)
        await pilot.press("space")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        assert isinstance(app.screen, RoomScreen) and app.screen.room_id == shout
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RoomListScreen))
        # Space on a header folds it instead.
        app.room_list.room_tree.move_cursor(header_index(app, "unread"))
        await pilot.press("space")
        assert headers(app)["unread"] is True


async def test_a_room_tagged_favourite_by_another_client_moves_live(
    make_user: MakeUser, client: Callable[[TestUser, str], Awaitable[Account]]
) -> None:
    user, rooms = await prepared(make_user, "Kitchen", "Garage", "Attic")
    other = await client(user, "laptop")  # the same user on another device
    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        await until(pilot, lambda: sorted(names(app, "unspaced")) == ["Attic", "Garage", "Kitchen"])
        assert app.room_list.move_to(account, rooms["Garage"])
        await other.set_tag(rooms["Garage"], "favourite")
        await until(pilot, lambda: names(app, "favourites") == ["Garage"])
        assert sorted(names(app, "unspaced")) == ["Attic", "Kitchen"]
        # The cursor followed the room to its new section.
        selected = app.room_list.selected()
        assert selected is not None and selected[1].room_id == rooms["Garage"]


async def test_enter_on_a_space_lists_its_rooms_to_join_and_open(
    make_user: MakeUser, client: Callable[[TestUser, str], Awaitable[Account]]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    me = (await auth.login(get_paths(), alice.user_id, alice.password)).account
    b = await client(bob, "bob")
    space = await b.create_space("Club", public=True)
    chat = await b.create_room("Club chat", topic="all things club", public=True)
    await b.add_space_child(space, chat)
    await me.join(space)
    await me.close()

    app = TuimatrixApp(get_paths())
    async with app.run_test(size=SIZE) as pilot:
        account = await live_app(pilot)
        await until(pilot, lambda: names(app, "spaces") == ["Club"])
        assert app.room_list.move_to(account, space)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SpaceScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_row(chat)[0].plain == "join"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RoomScreen))
        assert isinstance(app.screen, RoomScreen) and app.screen.room_id == chat
        assert chat in await account.joined_rooms()


# -- the update logic, on in-memory accounts ---------------------------------------------


def more_rooms(rng: random.Random, count: int) -> list[RoomSummary]:
    spaces = [f"!sp{i}" for i in range(4)]
    made = [
        room(s, f"Space {i}", is_space=True, space_children=[f"!r{j}" for j in range(i, count, 5)])
        for i, s in enumerate(spaces)
    ]
    made += [
        room(
            f"!r{j}",
            f"Room {j:02}",
            latest_ts=ago(rng.randrange(1, 90) * MINUTE),
            is_direct=j % 7 == 0,
        )
        for j in range(count)
    ]
    return made


def mutate(rng: random.Random, account: FakeAccount, step: int) -> str:
    """Change one room as a sync would (a new summary object); returns its id."""
    summaries = account.rooms.summaries
    room_id = rng.choice(sorted(summaries))
    old = summaries[room_id]
    kind = rng.randrange(10)
    if kind == 0:
        new = dataclasses.replace(old, latest_ts=ago(0) + step, notification_count=1)
    elif kind == 1:
        new = dataclasses.replace(old, notification_count=0, highlight_count=0)
    elif kind == 2:
        new = dataclasses.replace(old, highlight_count=2, notification_count=3)
    elif kind == 3:
        new = dataclasses.replace(
            old, tags={} if old.tags else {rng.choice(["m.favourite", "m.lowpriority"]): None}
        )
    elif kind == 4:
        new = dataclasses.replace(old, is_direct=not old.is_direct)
    elif kind == 5:
        new = dataclasses.replace(old, display_name=f"Renamed {step}")
    elif kind == 6:
        new = dataclasses.replace(old, membership=rng.choice(["leave", "invite", "join"]))
    elif kind == 7:
        room_id = f"!new{step}"
        new = room(room_id, f"New {step}", latest_ts=ago(step))
    elif kind == 8:
        parents = [] if old.space_parents else [rng.choice(["!sp0", "!sp1", "!nowhere"])]
        new = dataclasses.replace(old, space_parents=parents)
    else:
        del summaries[room_id]  # forgotten
        return room_id
    summaries[room_id] = new
    return room_id


async def test_live_updates_give_the_rows_a_full_regroup_gives() -> None:
    rng = random.Random(11)
    account = FakeAccount("@me:example.org", more_rooms(rng, 40))
    app = FakeApp([account])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.room_list
        await pilot.pause()
        incremental = 0
        for step in range(300):
            changed = {mutate(rng, account, step) for _ in range(rng.randrange(1, 4))}
            screen.account_changed(account, SyncChanges(rooms=changed))  # type: ignore[arg-type]
            if step % 3:
                continue
            regroups = screen.regroups
            screen._flush()
            incremental += screen.regroups == regroups
            moved = list(screen.room_tree.rows)
            screen.refresh_rooms()
            assert list(screen.room_tree.rows) == moved, step
        assert incremental > 25  # many batches moved rooms without regrouping


async def test_the_cursor_and_the_view_stay_on_the_room_across_a_resort() -> None:
    rooms = [room(f"!r{i}", f"Room {i:03}", latest_ts=ago(i * MINUTE)) for i in range(200)]
    account = FakeAccount("@me:example.org", rooms)
    app = FakeApp([account])
    async with app.run_test(size=(100, 20)) as pilot:
        screen, tree = app.room_list, app.room_list.room_tree
        await pilot.pause()
        assert screen.move_to(account, "!r150")  # type: ignore[arg-type]
        await pilot.pause()
        offset = tree.cursor - tree.scroll_offset.y
        # Ten rooms below it get new messages: they move above it, in the same section.
        changed = {f"!r{i}" for i in range(160, 170)}
        for room_id in changed:
            old = account.rooms.summaries[room_id]
            account.rooms.summaries[room_id] = dataclasses.replace(old, latest_ts=ago(0) + 1)
        screen.account_changed(account, SyncChanges(rooms=changed))  # type: ignore[arg-type]
        screen._flush()
        await pilot.pause()
        row = tree.cursor_row
        assert isinstance(row, RoomRow) and row.ref[1] == "!r150"
        assert tree.cursor - tree.scroll_offset.y == offset
        assert [r.ref[1] for r in tree.rows[1:11] if isinstance(r, RoomRow)] == sorted(changed)


async def test_filter_keys_fold_keys_and_escape() -> None:
    app = FakeApp(sample_accounts())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.room_list
        await pilot.pause()
        await pilot.press("slash", *"alpha")
        keys = screen.room_keys()
        assert {key.split("|")[1] for key in keys} == {"!alpha", "!work", "!proj"}
        await pilot.press("down", "enter")  # back to the list, the filter kept
        assert screen.room_tree.has_focus and screen.room_keys() == keys
        await pilot.press("escape")
        assert len(screen.room_keys()) > len(keys) and not screen.filter_input.has_focus
        # Left folds the space under the cursor (and remembers it), right unfolds it.
        assert screen.move_to(app.accounts.get("@me:example.org"), "!work")  # type: ignore[arg-type]
        await pilot.press("left")
        assert "@me:example.org|!proj" not in screen.room_keys()
        await until(pilot, lambda: not busy(app, "room-list-state"))  # the fold is saved
        state, _ = RoomListState.load(get_paths(), ["@me:example.org"])
        assert state.folds == {"space:@me:example.org|!work": True}
        await pilot.press("right")
        row = screen.room_tree.cursor_row
        assert isinstance(row, RoomRow) and row.ref[1] == "!work" and not row.folded
        with pytest.raises(Exception, match="no section"):
            screen.toggle_section("nonsense")


# -- small pieces ------------------------------------------------------------------------


def test_columns_fit_narrow_terminals_by_dropping_the_least_important() -> None:
    every = ("name", "unread", "activity", "topic", "members", "notifications", "account")
    wide = fit_columns(every, 200, 20)
    assert [c for c, _ in wide] == list(every)
    assert sum(w for _, w in wide) + len(wide) - 1 == 200
    assert fit_columns(every, 80, 20) == (
        ("name", 16),
        ("unread", 7),
        ("activity", 4),
        ("topic", 12),
        ("members", 7),
        ("notifications", 8),
        ("account", 20),
    )
    # The topic goes first, then the notification setting, the members, the account…
    shown = {w: [c for c, _ in fit_columns(every, w, 20)] for w in (70, 50, 40)}
    assert shown[70] == ["name", "unread", "activity", "members", "notifications", "account"]
    assert shown[50] == ["name", "unread", "activity", "account"]
    assert shown[40] == ["name", "unread", "activity"]
    # …and one account needs no account column.
    assert [c for c, _ in fit_columns(every, 25, 0)] == ["name", "unread"]
    assert fit_columns(every, 10, 0) == (("name", 10),)


def test_the_state_file_per_account_set(tmp_path: Path) -> None:
    paths = get_paths()
    state, notice = RoomListState.load(paths, ["@b:x", "@a:x"])
    assert state.folds == {} and notice == ""  # the first run: no file, no notice
    state.toggle("section:people")
    state.save_now()
    again, notice = RoomListState.load(paths, ["@a:x", "@b:x"])
    assert again.is_folded("section:people") and notice == ""
    assert state_file(paths, ["@a:x"]) != state_file(paths, ["@a:x", "@b:x"])
    assert oct(state_file(paths, ["@a:x", "@b:x"]).stat().st_mode & 0o777) == "0o600"
    for garbage in (b"\xff\xfe", b"[]", b'{"version": 2, "folds": {}}', b'{"version": 1}'):
        state_file(paths, ["@a:x"]).write_bytes(garbage)
        broken, notice = RoomListState.load(paths, ["@a:x"])
        assert broken.folds == {} and "corrupt" in notice
    assert RoomListState.load(paths, [])[0].path is None


def test_room_list_settings_in_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[room-list]
sections = ["people", "rooms", "bogus"]
sort = "recent"
columns = ["unread", "topic"]
[room-list.section-sort]
people = "name"
rooms = "loudest"
"""
    )
    config = load_config(path)
    assert config.room_list.sections == ("people", "rooms")
    assert config.room_list.sort == "recent"
    assert config.room_list.section_sort == {"people": "name"}
    assert config.room_list.columns == ("name", "unread", "topic")
    errors = "\n".join(config.errors)
    assert "unknown 'bogus'" in errors and "rooms: one of" in errors


async def test_configured_sections_and_columns_are_used() -> None:
    config = get_paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[room-list]\nsections = ["people", "rooms"]\ncolumns = ["name", "unread"]\n')
    app = FakeApp(sample_accounts())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert list(headers(app)) == ["people", "rooms"]
        assert [c for c, _ in app.room_list.room_tree._layout] == ["name", "unread"]


# -- snapshots ----------------------------------------------------------------------------


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await until(pilot, lambda: bool(pilot.app.room_list.room_keys()))  # type: ignore[attr-defined]


def test_snapshot_80x24(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(FakeApp(sample_accounts()), terminal_size=(80, 24), run_before=settle)


def test_snapshot_160x50(snap_compare: Callable[..., bool]) -> None:
    accounts = sample_accounts()
    second = FakeAccount(
        "@me:other.example",
        [
            room("!x", "Elsewhere", latest_ts=ago(2 * DAY), topic="the other account's room"),
            room("!y", "Night shift", notification_count=12, latest_ts=ago(4 * MINUTE)),
        ],
    )
    assert snap_compare(FakeApp([*accounts, second]), terminal_size=(160, 50), run_before=settle)


def test_snapshot_folded_80x24(snap_compare: Callable[..., bool]) -> None:
    async def fold(pilot: Pilot[None]) -> None:
        await settle(pilot)
        screen = pilot.app.room_list  # type: ignore[attr-defined]
        screen.toggle_section("spaced rooms")
        screen.move_to(screen.tm.accounts.get("@me:example.org"), "!proj")
        shown = screen.room_keys()
        await pilot.press("left")  # folds the Projects space
        await until(pilot, lambda: len(screen.room_keys()) < len(shown))

    assert snap_compare(FakeApp(sample_accounts()), terminal_size=(80, 24), run_before=fold)


def test_snapshot_filtered_80x24(snap_compare: Callable[..., bool]) -> None:
    async def filtered(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("slash", "a", "l")
        await until(pilot, lambda: pilot.app.room_list._filter == "al")  # type: ignore[attr-defined]

    assert snap_compare(FakeApp(sample_accounts()), terminal_size=(80, 24), run_before=filtered)


async def test_a_flush_after_the_room_tree_is_gone_does_nothing() -> None:
    """Quitting removes the screen's widgets before its timers stop: a batch of changes (or
    the age refresh) firing in between must not raise NoMatches out of the app."""
    account = FakeAccount("@me:example.org", [room("!a", "Alpha")])
    app = FakeApp([account])
    async with app.run_test(size=(100, 20)) as pilot:
        screen = app.room_list
        await pilot.pause()
        screen.account_changed(account, SyncChanges(rooms={"!a"}))  # type: ignore[arg-type]
        await screen.room_tree.remove()
        screen._flush()
        screen._refresh_ages()

"""The room list: every room of every account in Ement.el-style sections, live from sync.

Sync changes are batched: a change marks rooms dirty, and at most a few times a second the
batch is applied. A room whose place in the Spaces tree could change (membership, space
links) regroups every section; any other change moves just that room between the flat
sections it leaves and joins (bisecting it into place), and only the sections it touched are
flattened to rows again. The rows are drawn by :class:`RoomTree`, which renders only the lines
on screen whose content changed and keeps the cursor on the same (section, room).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from itertools import chain

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Key
from textual.screen import Screen
from textual.widgets import Input

from tuimatrix.config import RoomListConfig
from tuimatrix.core.account import Account
from tuimatrix.core.errors import UserError
from tuimatrix.core.push_rules import notification_modes
from tuimatrix.core.rooms import RoomSummary, summary_label
from tuimatrix.core.sanitize import clean_line
from tuimatrix.core.sections import (
    Grouping,
    RoomRef,
    Section,
    SortKey,
    find_section,
    flat_sections,
    fuzzy_match,
    group_rooms,
    is_unread,
    sort_key,
    structure_signature,
)
from tuimatrix.core.sync import SyncChanges
from tuimatrix.screens.base import UsesApp
from tuimatrix.ui.folds import RoomListState, section_key, space_key
from tuimatrix.widgets.room_row import RoomLook, room_look
from tuimatrix.widgets.room_rows import RowBuilder
from tuimatrix.widgets.room_tree import HeaderRow, RoomRow, RoomTree, Row, header_row
from tuimatrix.widgets.status import StatusLine

log = logging.getLogger(__name__)

__all__ = ["RoomListScreen"]

#: How often batched room changes are drawn (seconds).
REDRAW_INTERVAL = 0.25
#: How often the activity ages are brought up to date (seconds).
AGE_INTERVAL = 30


class SortKeys(dict[RoomRef, SortKey]):
    """One sort's key of every room, computed the first time it is asked for."""

    def __init__(self, sort: str, room_of: Callable[[RoomRef], RoomSummary | None]) -> None:
        super().__init__()
        self.sort = sort
        self._room_of = room_of

    def __missing__(self, ref: RoomRef) -> SortKey:
        room = self._room_of(ref)
        key = sort_key(ref, room, self.sort) if room is not None else (2, 2, 2, 0, "", *ref)
        self[ref] = key
        return key


class RoomListScreen(UsesApp, Screen[None]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="room-list.down"),
        Binding("k", "cursor_up", "Up", show=False, id="room-list.up"),
        Binding("slash", "filter", "Filter", show=False, id="room-list.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="room-list.clear-filter"),
    ]
    DEFAULT_CSS = """
    RoomListScreen RoomTree { height: 1fr; }
    RoomListScreen #filter { display: none; height: 1; border: none; padding: 0 1; }
    RoomListScreen #filter.-shown { display: block; }
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """``clock``: the current time for activity ages (fixed in snapshot tests)."""
        super().__init__()
        self._clock = clock
        self._config = RoomListConfig()
        self._state = RoomListState(None)
        self._users: tuple[str, ...] = ()
        self._grouping = Grouping([], {}, set(), ())
        self._structure: dict[RoomRef, tuple[object, ...] | None] = {}
        #: sort -> room -> its key, computed once per change of the room
        self._keys: dict[str, SortKeys] = {}
        self._tree_refs: set[RoomRef] = set()
        #: the rooms some joined space lists as a child (joined or not)
        self._listed: set[RoomRef] = set()
        self._rows: dict[str, list[Row]] = {}
        self._builder = RowBuilder(lambda key: self._state.is_folded(key))
        #: each row's last look, and what it was made from (the summary object, the rest)
        self._looks: dict[RoomRow, tuple[RoomSummary, tuple[object, ...], RoomLook]] = {}
        self._open: set[RoomRef] = set()
        self._dirty: set[RoomRef] = set()
        self._regroup = True
        self._filter = ""
        #: per account: room id -> its notification setting, once m.push_rules is read
        self._notify: dict[str, dict[str, str]] = {}
        #: how many times every section was grouped from scratch (for tests and benchmarks)
        self.regroups = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter rooms by name or alias (escape clears)", id="filter")
        yield RoomTree(self._look, id="rooms")
        yield StatusLine()

    @property
    def room_tree(self) -> RoomTree:
        return self.query_one(RoomTree)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    def on_mount(self) -> None:
        self._config = self.tm.config.room_list
        self.tm.apply_keys(self, "room-list")
        self.refresh_rooms()
        self._flush()
        self.set_interval(REDRAW_INTERVAL, self._flush)
        self.set_interval(AGE_INTERVAL, self._refresh_ages)
        self.room_tree.focus()
        self.tm.refresh_status()

    def on_unmount(self) -> None:
        self._state.save_now()

    # -- what the app tells us -------------------------------------------------------------

    def refresh_rooms(self) -> None:
        """Group every room of every account again (at start, after a login)."""
        users = tuple(sorted(a.user_id for a in self.tm.accounts))
        if users != self._users:
            self._users = users
            self._load_state()
            for account in self.tm.accounts:
                self._load_notification_modes(account)
        self._regroup = True
        if self.is_mounted:
            self._flush()

    def refresh_open_rooms(self) -> None:
        """Room screens were opened or closed: the Open section follows at once."""
        opened = self._open_refs()
        changed = opened ^ self._open
        self._open = opened
        self._dirty |= changed
        if changed and self.is_mounted:
            self._flush()

    def account_changed(self, account: Account, change: object) -> None:
        if not isinstance(change, SyncChanges):
            return
        self._dirty.update((account.user_id, room_id) for room_id in change.rooms)
        if "m.direct" in change.account_data:
            # Global account data names no rooms, but may move any of them to People.
            self._dirty.update((account.user_id, r) for r in account.rooms.summaries)
        if "m.push_rules" in change.account_data:
            self._load_notification_modes(account)

    # -- the public API the app, the commands and the tests use ----------------------------

    def selected(self) -> tuple[Account, RoomSummary] | None:
        """The room under the cursor (None on a header)."""
        row = self.room_tree.cursor_row if self.is_mounted else None
        return self._resolve(row.ref) if isinstance(row, RoomRow) else None

    def room_keys(self) -> list[str]:
        """``user_id|room_id`` of every room row shown, in order (rooms may repeat)."""
        return [f"{r.ref[0]}|{r.ref[1]}" for r in self.room_tree.rows if isinstance(r, RoomRow)]

    def section_rooms(self, section_id: str) -> list[RoomRef]:
        """The rooms of a section in its order (the Spaces tree depth first), folded or not."""
        section = self._grouping.section(section_id)
        return [node.ref for node in section.walk()] if section is not None else []

    def move_to(self, account: Account, room_id: str) -> bool:
        """Put the cursor on the room's first row; False if it is not shown."""
        return self.room_tree.move_to_ref((account.user_id, room_id))

    def toggle_section(self, name: str | None = None) -> str:
        """Fold or unfold the section named ``name`` (its title or id, any case), or the one
        under the cursor — on a room in the Spaces tree, the space around it."""
        if name:
            section_id = find_section(self._grouping.wanted, name)
            if section_id is None:
                titles = ", ".join(s.title for s in self._grouping.sections)
                raise UserError(f"no section {name!r} in the room list ({titles})")
            section = self._grouping.section(section_id)
            assert section is not None
            return self._toggle(header_row(section.id, section.title, 0, False), None)
        row = self.room_tree.cursor_row
        if row is None:
            raise UserError("the room list is empty")
        if isinstance(row, RoomRow) and not row.has_children:
            row = self._enclosing(row)
        return self._toggle(row, None)

    def next_unread(self) -> tuple[Account, str] | None:
        """The first unread room from the cursor down (wrapping), in the list's order."""
        rows = self.room_tree.rows
        start = self.room_tree.cursor
        for i in chain(range(start, len(rows)), range(0, start)):
            row = rows[i]
            if isinstance(row, RoomRow):
                found = self._resolve(row.ref)
                if found and found[1].membership == "join" and is_unread(found[1]):
                    return found[0], row.ref[1]
        return None

    # -- batching ----------------------------------------------------------------------------

    def _tree_gone(self) -> bool:
        """The app is shutting down: it removes the screen's widgets before the screen's
        timers stop, so a timer may still fire with no room tree left to draw."""
        return not self.query(RoomTree)

    def _flush(self) -> None:
        """Apply the changes gathered since the last flush (a timer calls this)."""
        if self._tree_gone():
            return
        if self._regroup:
            self._regroup = False
            self._keys.clear()
            self._dirty.clear()
            self._regroup_all()
            return
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        if any(self._reshapes_tree(ref) for ref in dirty):
            for ref in dirty:
                for keys in self._keys.values():
                    keys.pop(ref, None)
            self._regroup_all()
            return
        grouping = self._grouping
        touched: set[str] = set()
        for ref in dirty:
            touched |= self._move(ref, self._room(ref))
        for section in grouping.sections:
            if section.id in touched:
                self._rows[section.id] = self._flatten(section)
        if touched:
            self._show()
        self.room_tree.refresh_refs(dirty)

    def _reshapes_tree(self, ref: RoomRef) -> bool:
        """Whether a change of this room needs a regroup: it is (or was) a space, has (or
        had) space links, or a space lists it. Anything else — a room joined, left or
        invited to outside any space included — moves between flat sections alone."""
        old = self._structure.get(ref)
        new = self._structure[ref] = structure_signature(self._room(ref))
        if new == old:
            return False
        return ref in self._listed or any(sig is not None and any(sig[1:]) for sig in (old, new))

    def _move(self, ref: RoomRef, room: RoomSummary | None) -> set[str]:
        """Move a changed room between (and within) sections — out of all of them if it is
        gone (forgotten) — and return the sections touched."""
        grouping = self._grouping
        if room is None:
            keys: dict[str, SortKey] = {}
            moved, new = False, []
        else:
            keys = {how: sort_key(ref, room, how) for how in self._keys}
            moved = any(self._keys[how].get(ref) != key for how, key in keys.items())
            new = flat_sections(
                ref,
                room,
                is_open=ref in self._open,
                in_space=ref in grouping.spaced,
                wanted=set(grouping.wanted),
            )
        old = grouping.placed.get(ref, [])
        grouping.placed[ref] = new
        if moved and ref in self._tree_refs:
            # The tree's members change only by regrouping; a new key moves it among siblings.
            old, new = [*old, "spaces"], [*new, "spaces"]
        leaving = [s for s in grouping.sections if s.id in old and (moved or s.id not in new)]
        entering = [s for s in grouping.sections if s.id in new and (moved or s.id not in old)]
        # Out of the old places while the cached keys still find them, then back in.
        for section in leaving:
            section.remove(ref)
        for how, key in keys.items():
            self._keys[how][ref] = key
        for section in entering:
            section.insert(ref)
            if section.id == "spaces":
                self._builder.moved(section, ref)
        return {s.id for s in (*leaving, *entering)}

    def _regroup_all(self) -> None:
        """Every section from scratch (the sort keys of unchanged rooms are reused)."""
        self.regroups += 1
        rooms = {
            (account.user_id, room_id): room
            for account in self.tm.accounts
            for room_id, room in account.rooms.summaries.items()
        }
        self._open = self._open_refs()
        config = self._config
        self._grouping = group_rooms(
            rooms, self._open, config.sections, config.sort, config.section_sort, self._order
        )
        self._structure = {ref: structure_signature(room) for ref, room in rooms.items()}
        self._listed = {
            (user, child)
            for (user, _), room in rooms.items()
            if room.is_space and room.membership == "join"
            for child in room.space_children
        }
        spaces = self._grouping.section("spaces")
        self._tree_refs = spaces.refs() if spaces is not None else set()
        self._builder.reset()
        if len(self._looks) > 2 * len(rooms) + 100:
            self._looks.clear()  # rows of rooms long gone: let them go
        self._rows = {s.id: self._flatten(s) for s in self._grouping.sections}
        several = len(self.tm.accounts) > 1
        width = max((len(user) for user in self._users), default=0) if several else 0
        self.room_tree.set_columns(config.columns, width)
        self._show()

    def _show(self, cursor: tuple[object, ...] | None = None) -> None:
        tree = self.room_tree
        rows = list(chain.from_iterable(self._rows.get(s, ()) for s in self._grouping.wanted))
        tree.set_rows(rows, cursor=cursor)
        if not tree.user_moved and not isinstance(tree.cursor_row, RoomRow):
            # Until the user moves it, the cursor waits on the first room, not on a header.
            first = tree.first_room()
            if first is not None:
                tree.move_cursor(first)

    def _flatten(self, section: Section) -> list[Row]:
        """A section's rows: its header, then (unless folded) its rooms."""
        return self._builder.rows(section, self._matches if self._filter else None)

    def _refresh_ages(self) -> None:
        if self._tree_gone():
            return
        self.room_tree.refresh()  # only rows whose age text changed are rendered again

    # -- folds -------------------------------------------------------------------------------

    def _load_state(self) -> None:
        self._state, notice = RoomListState.load(self.tm.paths, self._users)
        if notice:
            self.tm.notify_status(notice)

    def _space_folded(self, ref: RoomRef) -> bool:
        return self._state.is_folded(space_key(*ref))

    def _enclosing(self, row: RoomRow) -> Row:
        """The space row a room sits under, or its section's header."""
        rows = self.room_tree.rows
        for i in range(self.room_tree.cursor - 1, -1, -1):
            above = rows[i]
            if isinstance(above, HeaderRow) or above.depth < row.depth:
                return above
        section = self._grouping.section(row.section)
        return header_row(row.section, section.title if section else row.section, 0, False)

    def _toggle(self, row: Row, fold: bool | None) -> str:
        if isinstance(row, HeaderRow):
            key, what = section_key(row.section), row.title
        else:
            key, what = space_key(*row.ref), self._room_name(row.ref)
        folded = self._state.is_folded(key)
        section = self._grouping.section(row.section)
        if fold is None or fold != folded:
            self._state.toggle(key)
            self.run_worker(self._state.save(), group="room-list-state")
            if isinstance(row, RoomRow) and section is not None:
                self._builder.fold_changed(section, row.ref)
        if section is not None:
            self._rows[section.id] = self._flatten(section)
        self._show(cursor=row.id)
        return f"{'folded' if self._state.is_folded(key) else 'unfolded'} {what}"

    @on(RoomTree.FoldRequested)
    def _fold_requested(self, message: RoomTree.FoldRequested) -> None:
        message.stop()
        self._toggle(message.row, message.fold)

    # -- opening ----------------------------------------------------------------------------

    @on(RoomTree.Activated)
    def _activated(self, message: RoomTree.Activated) -> None:
        message.stop()
        if isinstance(message.row, HeaderRow):
            self._toggle(message.row, None)
        else:
            self._open_ref(message.row.ref)

    def action_open_room(self) -> None:
        """Open the room under the cursor (a space: its rooms; an invite: accept or reject)."""
        row = self.room_tree.cursor_row
        if isinstance(row, RoomRow):
            self._open_ref(row.ref)

    def _open_ref(self, ref: RoomRef) -> None:
        found = self._resolve(ref)
        if found is None:
            return
        account, room = found
        if room.membership == "invite":
            from tuimatrix.screens.invite import InviteScreen

            self.app.push_screen(InviteScreen(account, room))
        elif room.is_space:
            from tuimatrix.screens.space import SpaceScreen

            self.app.push_screen(SpaceScreen(account, room))
        else:
            self.tm.open_room(account, room.room_id)

    # -- cursor and filter ------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.room_tree.action_cursor_down()

    def action_cursor_up(self) -> None:
        self.room_tree.action_cursor_up()

    def action_filter(self) -> None:
        field = self.filter_input
        field.add_class("-shown")
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.filter_input
        if not field.has_class("-shown"):
            raise SkipAction()  # escape means nothing else here, but a user binding may
        field.remove_class("-shown")
        field.value = ""
        self.room_tree.focus()
        self._set_filter("")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.room_tree.focus()

    def on_key(self, event: Key) -> None:
        # Up and down in the filter move the list's cursor, so a match is one enter away.
        if self.filter_input.has_focus and event.key in ("up", "down"):
            event.stop()
            event.prevent_default()
            self.room_tree.user_moved = True
            self.room_tree.move_cursor(self.room_tree.cursor + (1 if event.key == "down" else -1))

    def _set_filter(self, text: str) -> None:
        if text.strip() == self._filter:
            return
        self._filter = text.strip()
        self._rows = {s.id: self._flatten(s) for s in self._grouping.sections}
        self._show()
        first = self.room_tree.first_room()
        if first is not None:
            self.room_tree.move_cursor(first)

    def _matches(self, ref: RoomRef) -> bool:
        room = self._room(ref)
        return room is not None and fuzzy_match(
            self._filter, room.display_name, room.canonical_alias
        )

    # -- rooms and how they look ----------------------------------------------------------

    def _room(self, ref: RoomRef) -> RoomSummary | None:
        account = self.tm.accounts.get(ref[0])
        return account.rooms.summaries.get(ref[1]) if account is not None else None

    def _resolve(self, ref: RoomRef) -> tuple[Account, RoomSummary] | None:
        account = self.tm.accounts.get(ref[0])
        room = account.rooms.summaries.get(ref[1]) if account is not None else None
        return (account, room) if account is not None and room is not None else None

    def _room_name(self, ref: RoomRef) -> str:
        room = self._room(ref)
        return summary_label(room) if room is not None else clean_line(ref[1])

    def _open_refs(self) -> set[RoomRef]:
        return {(screen.account.user_id, screen.room_id) for screen in self.tm.room_screens()}

    def _look(self, row: RoomRow) -> RoomLook | None:
        """How the row's room looks now (kept while its summary, setting and age hold)."""
        room = self._room(row.ref)
        if room is None:
            return None
        notify = self._notify.get(row.ref[0], {}).get(row.ref[1], "")
        now = self._clock()
        tick = int(now // AGE_INTERVAL)
        kept = self._looks.get(row)
        if kept is not None and kept[0] is room and kept[1] == (notify, tick, self._users):
            return kept[2]
        look = room_look(
            room,
            depth=row.depth,
            fold=("▸" if row.folded else "▾") if row.has_children else "",
            notify=notify,
            account=row.ref[0] if len(self._users) > 1 else "",
            now=now,
        )
        self._looks[row] = (room, (notify, tick, self._users), look)
        return look

    def _order(self, how: str) -> Callable[[RoomRef], SortKey]:
        """The key function of a sort, over the cache (a C-level lookup: bisect calls it)."""
        keys = self._keys.get(how)
        if keys is None:
            keys = self._keys[how] = SortKeys(how, self._room)
        return keys.__getitem__

    @work(group="push-rules")
    async def _load_notification_modes(self, account: Account) -> None:
        try:
            data = await account.store.account_data()
        except Exception:  # a closing store: the column stays as it was
            log.debug("cannot read push rules of %s", account.user_id, exc_info=True)
            return
        self._notify[account.user_id] = notification_modes(data.get(("", "m.push_rules")))
        if self.is_mounted:
            self.room_tree.refresh()

"""Room-list sections, Ement.el style: which rooms go in which section, and in what order.

Pure logic over :class:`RoomSummary` objects of any number of accounts; a room is named by its
``(user_id, room_id)`` pair, since two accounts may share a room. A room has one *home*
section — the first that applies of Favourites, Low priority, People, then Spaced or Unspaced
rooms (or Rooms, which takes both when the split is switched off) — and may also be listed
in the overlay sections Invites, Open and Unread, and under its spaces in the Spaces tree.
A home that is not configured falls through to the next, so no room is ever hidden by
leaving a section out (only by leaving out every section it could be in).
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import NamedTuple

from tuimatrix.core.rooms import RoomSummary

#: A room as one account sees it: ``(user_id, room_id)``.
RoomRef = tuple[str, str]
#: What rooms are ordered by within a section (smaller first).
SortKey = tuple[int, int, int, int, str, str, str]
#: A room's key under one sort.
Order = Callable[[RoomRef], SortKey]

SECTION_TITLES: dict[str, str] = {
    "invites": "Invites",
    "favourites": "Favourites",
    "open": "Open",
    "unread": "Unread",
    "spaces": "Spaces",
    "spaced": "Spaced rooms",
    "unspaced": "Unspaced rooms",
    "rooms": "Rooms",
    "people": "People",
    "low-priority": "Low priority",
}
#: The default sections, in order (``rooms`` is the alternative to the spaced/unspaced split).
DEFAULT_SECTIONS: tuple[str, ...] = (
    "invites",
    "favourites",
    "open",
    "unread",
    "spaces",
    "spaced",
    "unspaced",
    "people",
    "low-priority",
)
#: ``unread-then-recent``: highlights, then other unread, then the latest activity first.
SORTS: tuple[str, ...] = ("unread-then-recent", "recent", "name")
DEFAULT_SORT = "unread-then-recent"
#: Spaces nested deeper than this are not opened (hostile hierarchies; the screen's width).
MAX_DEPTH = 32


def is_unread(room: RoomSummary) -> bool:
    """Notifying messages not read yet, or marked unread by the user (``m.marked_unread``)."""
    return bool(room.notification_count or room.highlight_count or room.marked_unread)


def sort_key(ref: RoomRef, room: RoomSummary, sort: str) -> SortKey:
    """The order of ``room`` under ``sort``: spaces before rooms (in the Spaces tree, child
    spaces come first), then by ``sort``; ties go by name, then account and room id."""
    name = room.display_name.casefold()
    tier = 0 if room.is_space else 1
    if sort == "name":
        return (tier, 0, 0, 0, name, *ref)
    if sort == "recent":
        return (tier, 0, 0, -room.latest_ts, name, *ref)
    return (
        tier,
        0 if room.highlight_count else 1,
        0 if room.notification_count or room.marked_unread else 1,
        -room.latest_ts,
        name,
        *ref,
    )


def structure_signature(room: RoomSummary | None) -> tuple[object, ...] | None:
    """What shapes the Spaces tree and the spaced/unspaced split: when it changes for any
    room, every section is grouped again."""
    if room is None:
        return None
    return (
        room.membership,
        room.is_space,
        tuple(room.space_children),
        tuple(room.space_parents),
    )


def flat_sections(
    ref: RoomRef,
    room: RoomSummary,
    *,
    is_open: bool,
    in_space: bool,
    wanted: Set[str],
) -> list[str]:
    """The sections other than Spaces that list ``room`` (those in ``wanted``)."""
    found = []
    if is_open:
        found.append("open")
    if room.membership == "invite":
        found.append("invites")
    if room.membership == "join":
        if is_unread(room):
            found.append("unread")
        if room.is_favourite and "favourites" in wanted:
            found.append("favourites")
        elif room.is_low_priority and "low-priority" in wanted:
            found.append("low-priority")
        elif room.is_space:
            pass  # at home in the Spaces tree
        elif room.is_direct and "people" in wanted:
            found.append("people")
        elif in_space:
            found.append("spaced" if "spaced" in wanted else "rooms")
        else:
            found.append("unspaced" if "unspaced" in wanted else "rooms")
    return [section for section in found if section in wanted]


class Node(NamedTuple):
    """One row of a section: a room, how deep it is nested, and the spaces above it."""

    ref: RoomRef
    depth: int
    #: the room ids of the spaces above it, outermost first (empty outside the Spaces tree)
    path: tuple[str, ...]
    #: a space with children shown under it (it can be folded)
    has_children: bool


@dataclass
class Section:
    """A section's rooms: a forest in which only the Spaces section ever nests."""

    id: str
    title: str
    sort: str
    #: each node's children in display order; the key ``None`` holds the top level
    children: dict[RoomRef | None, list[RoomRef]] = field(default_factory=dict)
    #: how the lists are ordered (kept so a changed room re-sorts only its section)
    order: Order | None = field(default=None, repr=False)
    #: in a tree, the nodes each room is listed under (``None``: the top level)
    parents: dict[RoomRef, list[RoomRef | None]] | None = field(default=None, repr=False)

    @property
    def top(self) -> list[RoomRef]:
        return self.children.get(None, [])

    @property
    def is_flat(self) -> bool:
        """No room has rooms under it (every section but Spaces)."""
        return all(node is None or not kids for node, kids in self.children.items())

    def refs(self) -> set[RoomRef]:
        """Every room in the section, once."""
        found = set(self.top)
        for node, kids in self.children.items():
            if node is not None:
                found.update(kids)
        return found

    def count(self) -> int:
        """The header's number: distinct rooms (in the Spaces tree, spaces count too)."""
        return len(self.refs()) if len(self.children) > 1 else len(self.top)

    def insert(self, ref: RoomRef) -> None:
        """Put a room in its place: in a flat section at the top level, in the Spaces tree
        under each of its parents (it must already belong there)."""
        for kids in self._lists_of(ref):
            if self.order is None:
                kids.append(ref)
            else:
                bisect.insort(kids, ref, key=self.order)

    def remove(self, ref: RoomRef) -> None:
        """Take a room out of its place (``order`` must still give its old key)."""
        for kids in self._lists_of(ref):
            if self.order is not None:
                try:
                    i = bisect.bisect_left(kids, self.order(ref), key=self.order)
                except KeyError:  # a room the order never knew cannot be in the list
                    continue
                if i < len(kids) and kids[i] == ref:
                    del kids[i]
                    continue
            with contextlib.suppress(ValueError):
                kids.remove(ref)

    def _lists_of(self, ref: RoomRef) -> list[list[RoomRef]]:
        if self.parents is None:
            return [self.children.setdefault(None, [])]
        return [self.children[p] for p in self.parents.get(ref, ()) if p in self.children]

    def resort(self) -> None:
        """Put every list back in order after some rooms' sort keys changed."""
        if self.order is not None:
            for kids in self.children.values():
                kids.sort(key=self.order)

    def walk(
        self,
        folded: Callable[[RoomRef], bool] = lambda ref: False,
        keep: Callable[[RoomRef], bool] | None = None,
        top: Sequence[RoomRef] | None = None,
    ) -> Iterator[Node]:
        """The rows in display order, depth first.

        A ``folded`` space's children are skipped. With ``keep`` (a filter), only the rooms it
        keeps are listed, with the spaces above them (folds are then ignored, so that every
        match shows). A space met again below itself (``m.space.child`` cycles) is not
        entered twice, and nothing deeper than ``MAX_DEPTH`` is, so every walk ends. ``top``
        walks only the trees under these roots.
        """
        kept = self._kept(keep) if keep is not None else None
        stack: list[tuple[RoomRef, int, tuple[str, ...]]] = [
            (ref, 0, ()) for ref in reversed(self.top if top is None else top)
        ]
        while stack:
            ref, depth, path = stack.pop()
            if kept is not None and ref not in kept:
                continue
            kids = self.children.get(ref)
            if kids and depth < MAX_DEPTH:
                kids = [k for k in kids if k[1] not in path and k != ref]
                if kept is not None:
                    kids = [k for k in kids if k in kept]
            else:
                kids = []
            yield Node(ref, depth, path, bool(kids))
            if kids and (kept is not None or not folded(ref)):
                below = (*path, ref[1])
                stack.extend((kid, depth + 1, below) for kid in reversed(kids))

    def _kept(self, keep: Callable[[RoomRef], bool]) -> set[RoomRef]:
        """The rooms ``keep`` accepts, and every space that has one of them below it."""
        kept = {ref for ref in self.refs() if keep(ref)}
        parents: dict[RoomRef, list[RoomRef]] = {}
        for node, kids in self.children.items():
            if node is not None:
                for kid in kids:
                    parents.setdefault(kid, []).append(node)
        todo = list(kept)
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in kept:
                    kept.add(parent)
                    todo.append(parent)
        return kept


@dataclass
class Grouping:
    """The sections, and what it takes to move one room between them without regrouping."""

    sections: list[Section]
    #: the sections (not counting the Spaces tree) that list each room
    placed: dict[RoomRef, list[str]]
    #: the rooms in some space (listed as a child, or naming a parent)
    spaced: set[RoomRef]
    #: the configured section ids, in order
    wanted: tuple[str, ...]

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)


def group_rooms(
    rooms: Mapping[RoomRef, RoomSummary],
    open_rooms: Set[RoomRef] = frozenset(),
    sections: Sequence[str] = DEFAULT_SECTIONS,
    sort: str = DEFAULT_SORT,
    section_sort: Mapping[str, str] | None = None,
    order_for: Callable[[str], Order] | None = None,
) -> Grouping:
    """The configured ``sections``, in order, each with its rooms sorted.

    ``order_for(sort)`` may be given to reuse sort keys computed earlier (its keys must be
    :func:`sort_key`'s). Rooms we have left appear only in Open, while their screen is open.
    """
    enabled = tuple(s for s in dict.fromkeys(sections) if s in SECTION_TITLES)
    wanted = set(enabled)
    sort_of = {s: (section_sort or {}).get(s, sort) for s in enabled}

    def default_order(how: str) -> Order:
        return lambda ref: sort_key(ref, rooms[ref], how)

    orders = {how: (order_for or default_order)(how) for how in set(sort_of.values())}
    buckets: dict[str, list[RoomRef]] = {s: [] for s in enabled}
    kids = space_children(rooms)
    spaced = {kid for children in kids.values() for kid in children}
    spaced.update(ref for ref, room in rooms.items() if room.space_parents)
    placed: dict[RoomRef, list[str]] = {}
    for ref, room in rooms.items():
        where = flat_sections(
            ref, room, is_open=ref in open_rooms, in_space=ref in spaced, wanted=wanted
        )
        placed[ref] = where
        for section in where:
            buckets[section].append(ref)

    result = []
    for section_id in enabled:
        how = sort_of[section_id]
        if section_id == "spaces":
            result.append(_spaces_section(rooms, kids, how, orders[how]))
            continue
        order = orders[how]
        refs = sorted(buckets[section_id], key=order)
        result.append(Section(section_id, SECTION_TITLES[section_id], how, {None: refs}, order))
    return Grouping(result, placed, spaced, enabled)


def space_children(rooms: Mapping[RoomRef, RoomSummary]) -> dict[RoomRef, set[RoomRef]]:
    """Each joined space's joined children, from both ``m.space.child`` (in the space) and
    ``m.space.parent`` (in the room); a space never contains itself."""
    joined = {ref for ref, room in rooms.items() if room.membership == "join"}
    kids: dict[RoomRef, set[RoomRef]] = {}
    for ref in joined:
        room = rooms[ref]
        user = ref[0]
        if room.is_space:
            for child in room.space_children:
                if (user, child) in joined and child != ref[1]:
                    kids.setdefault(ref, set()).add((user, child))
        for parent in room.space_parents:
            if (user, parent) in joined and rooms[(user, parent)].is_space and parent != ref[1]:
                kids.setdefault((user, parent), set()).add(ref)
    return kids


def _spaces_section(
    rooms: Mapping[RoomRef, RoomSummary],
    kids: Mapping[RoomRef, set[RoomRef]],
    how: str,
    order: Order,
) -> Section:
    """Every joined space, nested under its parent spaces; child spaces before rooms."""

    spaces = sorted(
        (ref for ref, room in rooms.items() if room.membership == "join" and room.is_space),
        key=order,
    )
    children: dict[RoomRef | None, list[RoomRef]] = {
        space: sorted(kids[space], key=order) for space in spaces if space in kids
    }
    nested = {kid for children in kids.values() for kid in children}
    roots = [space for space in spaces if space not in nested]
    reached: set[RoomRef] = set()

    def reach(start: RoomRef) -> None:
        todo = [start]
        while todo:
            ref = todo.pop()
            if ref not in reached:
                reached.add(ref)
                todo.extend(children.get(ref, ()))

    for root in roots:
        reach(root)
    # Spaces that only sit in a cycle of each other have no root above them: the first of
    # each cycle stands in as one, so every space is listed.
    for space in spaces:
        if space not in reached:
            roots.append(space)
            reach(space)
    children[None] = sorted(roots, key=order)
    parents: dict[RoomRef, list[RoomRef | None]] = {}
    for node, listed in children.items():
        for ref in listed:
            parents.setdefault(ref, []).append(node)
    return Section("spaces", SECTION_TITLES["spaces"], how, children, order, parents)


def fuzzy_match(query: str, *texts: str | None) -> bool:
    """Whether the letters of ``query`` appear in order in one of ``texts`` (case-insensitive;
    spaces in the query are ignored)."""
    needle = "".join(query.casefold().split())
    if not needle:
        return True
    for text in texts:
        if not text:
            continue
        haystack = iter(text.casefold())
        if all(char in haystack for char in needle):
            return True
    return False


def find_section(sections: Sequence[str], name: str) -> str | None:
    """The section id that ``name`` means: its id or its title, any case, ``-`` or space."""
    wanted = " ".join(name.replace("-", " ").casefold().split())
    for section in sections:
        title = SECTION_TITLES.get(section, section)
        if wanted in (section.replace("-", " "), title.casefold()):
            return section
    return None

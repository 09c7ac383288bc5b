"""Sections to rows (headers and rooms) for the room tree, reusing every row that did not change.

A flat section's rows differ only in order, so each room's row is made once. In the Spaces
tree, every space keeps the rows of its subtree (itself and everything under it, as folded);
when a room moves among its siblings only the spaces above it are rebuilt, from their
children's kept rows — so a live update costs about the rooms that changed, not the tree.
"""

from __future__ import annotations

from collections.abc import Callable

from tuimatrix.core.sections import MAX_DEPTH, Node, RoomRef, Section
from tuimatrix.ui.folds import section_key, space_key
from tuimatrix.widgets.room_tree import RoomRow, Row, header_row, room_row

#: a tree node: the room, and the room ids of the spaces above it
TreeKey = tuple[RoomRef, tuple[str, ...]]


class FlatRows(dict[RoomRef, RoomRow]):
    """A flat section's row of each room, made the first time it is needed."""

    def __init__(self, section_id: str) -> None:
        super().__init__()
        self.section_id = section_id

    def __missing__(self, ref: RoomRef) -> RoomRow:
        row = self[ref] = room_row(self.section_id, Node(ref, 0, (), False), False)
        return row


class RowBuilder:
    """Rows of sections, with folds (``is_folded(state key)``) and an optional filter."""

    def __init__(self, is_folded: Callable[[str], bool]) -> None:
        self._is_folded = is_folded
        self._flat: dict[str, FlatRows] = {}
        self._subtrees: dict[TreeKey, list[Row]] = {}
        #: the kept subtrees of each room (a space under two parents has two)
        self._keys_of: dict[RoomRef, set[TreeKey]] = {}

    def reset(self) -> None:
        """After a regroup: the tree may have changed shape (a flat row never changes)."""
        self._subtrees.clear()
        self._keys_of.clear()

    def rows(self, section: Section, keep: Callable[[RoomRef], bool] | None = None) -> list[Row]:
        """The section's header and rooms (none at all for an empty section, as Ement.el).

        With ``keep`` (a filter) only the rooms it keeps show, with the spaces above them,
        and folds are ignored so that every match is seen.
        """
        sid = section.id
        if keep is not None:
            nodes = list(section.walk(keep=keep))
            if not nodes:
                return []
            header = header_row(sid, section.title, len({n.ref for n in nodes}), False)
            return [header, *(room_row(sid, node, False) for node in nodes)]
        count = section.count()
        if not count:
            return []
        folded = self._is_folded(section_key(sid))
        rows: list[Row] = [header_row(sid, section.title, count, folded)]
        if folded:
            return rows
        if section.is_flat:
            made = self._flat.get(sid)
            if made is None:
                made = self._flat[sid] = FlatRows(sid)
            rows.extend(map(made.__getitem__, section.top))  # a loop in C: no Python per room
            return rows
        for root in section.top:
            rows.extend(self._subtree(section, root, ()))
        return rows

    def moved(self, section: Section, ref: RoomRef) -> None:
        """``ref`` changed place among its siblings: the subtrees above it are stale."""
        for parent in (section.parents or {}).get(ref, ()):
            if parent is not None:
                self._drop_with_ancestors(section, parent)

    def fold_changed(self, section: Section, ref: RoomRef) -> None:
        """A space was folded or unfolded: its subtree and those above it are stale."""
        self._drop_with_ancestors(section, ref)

    def _drop_with_ancestors(self, section: Section, ref: RoomRef) -> None:
        parents = section.parents or {}
        todo, seen = [ref], {ref}
        while todo:
            current = todo.pop()
            for key in self._keys_of.pop(current, ()):
                self._subtrees.pop(key, None)
            for parent in parents.get(current, ()):
                if parent is not None and parent not in seen:
                    seen.add(parent)
                    todo.append(parent)

    def _subtree(self, section: Section, ref: RoomRef, path: tuple[str, ...]) -> list[Row]:
        """The rows of ``ref`` and (unless folded) everything under it, as ``Section.walk``
        lists them (cycles cut, depth capped)."""
        key = (ref, path)
        kept = self._subtrees.get(key)
        if kept is not None:
            return kept
        kids = section.children.get(ref)
        if kids and len(path) < MAX_DEPTH:
            kids = [k for k in kids if k[1] not in path and k != ref]
        else:
            kids = []
        folded = bool(kids) and self._is_folded(space_key(*ref))
        rows: list[Row] = [room_row(section.id, Node(ref, len(path), path, bool(kids)), folded)]
        if kids and not folded:
            below = (*path, ref[1])
            for kid in kids:
                rows.extend(self._subtree(section, kid, below))
        self._subtrees[key] = rows
        self._keys_of.setdefault(ref, set()).add(key)
        return rows

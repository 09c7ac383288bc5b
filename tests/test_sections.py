"""Room-list sections as pure logic: which rooms go where, in which order (no UI, no server)."""

from __future__ import annotations

from room_fixtures import HOUR, MINUTE, ago, room

from tuimatrix.core.push_rules import notification_modes
from tuimatrix.core.rooms import RoomSummary
from tuimatrix.core.sections import (
    MAX_DEPTH,
    RoomRef,
    Section,
    find_section,
    fuzzy_match,
    group_rooms,
    sort_key,
)

ME = "@me:x"


def rooms_of(*summaries: RoomSummary, user: str = ME) -> dict[RoomRef, RoomSummary]:
    return {(user, r.room_id): r for r in summaries}


def ids(section: Section | None, **walk: object) -> list[str]:
    assert section is not None
    return [node.ref[1] for node in section.walk(**walk)]  # type: ignore[arg-type]


def sample() -> dict[RoomRef, RoomSummary]:
    return rooms_of(
        room("!invite", "Invite", membership="invite"),
        room("!fav", "Fav", tags={"m.favourite": None}),
        room("!low", "Low", tags={"m.lowpriority": None}),
        room("!dm", "Dm", is_direct=True),
        room("!space", "Space", is_space=True, space_children=["!child", "!sub", "!gone"]),
        room("!sub", "Sub", is_space=True, space_children=["!deep"]),
        room("!child", "Child"),
        room("!deep", "Deep", notification_count=1),
        # Names its space only from its own side (m.space.parent), as some clients do.
        room("!parented", "Parented", space_parents=["!space"]),
        room("!loose", "Loose"),
        room("!left", "Left", membership="leave"),
    )


def test_each_section_gets_its_rooms() -> None:
    grouping = group_rooms(sample(), open_rooms={(ME, "!fav"), (ME, "!left")})
    assert [s.id for s in grouping.sections] == [
        "invites",
        "favourites",
        "open",
        "unread",
        "spaces",
        "spaced",
        "unspaced",
        "people",
        "low-priority",
    ]
    got = {s.id: ids(s) for s in grouping.sections}
    assert got["invites"] == ["!invite"]
    assert got["favourites"] == ["!fav"]
    # A room may be in several sections: an open favourite, an unread room in a space.
    assert got["open"] == ["!fav", "!left"]
    assert got["unread"] == ["!deep"]
    assert got["spaced"] == ["!deep", "!child", "!parented"]
    assert got["unspaced"] == ["!loose"]
    assert got["people"] == ["!dm"]
    assert got["low-priority"] == ["!low"]
    # The tree: child spaces first, then rooms; a child we are not in is left out.
    spaces = grouping.section("spaces")
    assert spaces is not None
    assert [(n.ref[1], n.depth, n.has_children) for n in spaces.walk()] == [
        ("!space", 0, True),
        ("!sub", 1, True),
        ("!deep", 2, False),
        ("!child", 1, False),
        ("!parented", 1, False),
    ]
    assert spaces.count() == 5


def test_configured_sections_their_order_and_the_homes_that_fall_through() -> None:
    grouping = group_rooms(sample(), sections=["people", "rooms", "invites", "nonsense"])
    assert [s.id for s in grouping.sections] == ["people", "rooms", "invites"]
    got = {s.id: ids(s) for s in grouping.sections}
    # No Favourites or Low priority section: those rooms are not lost, they go to Rooms,
    # which also takes spaced and unspaced rooms together.
    assert got["rooms"] == ["!deep", "!child", "!fav", "!loose", "!low", "!parented"]
    assert got["people"] == ["!dm"]


def test_space_cycles_end_and_every_space_is_listed() -> None:
    rooms = rooms_of(
        room("!a", "A", is_space=True, space_children=["!b", "!a"]),
        room("!b", "B", is_space=True, space_children=["!a", "!r"]),
        room("!r", "R"),
    )
    spaces = group_rooms(rooms).section("spaces")
    # Neither space is a root (each is the other's child): the first stands in as one.
    assert [(n.ref[1], n.depth) for n in spaces.walk()] == [("!a", 0), ("!b", 1), ("!r", 2)]  # type: ignore[union-attr]


def test_deep_hierarchies_are_capped() -> None:
    chain = [
        room(f"!s{i}", f"S{i:03}", is_space=True, space_children=[f"!s{i + 1}"])
        for i in range(MAX_DEPTH + 20)
    ]
    spaces = group_rooms(rooms_of(*chain)).section("spaces")
    depths = [n.depth for n in spaces.walk()]  # type: ignore[union-attr]
    assert max(depths) == MAX_DEPTH and depths[0] == 0


def test_default_sort_is_highlights_then_unread_then_latest_activity() -> None:
    rooms = rooms_of(
        room("!old-unread", "A", notification_count=1, latest_ts=ago(5 * HOUR)),
        room("!new", "B", latest_ts=ago(1 * MINUTE)),
        room("!highlight", "C", notification_count=1, highlight_count=1, latest_ts=ago(HOUR)),
        room("!older", "D", latest_ts=ago(HOUR)),
        room("!new-unread", "E", notification_count=3, latest_ts=ago(2 * MINUTE)),
    )
    assert ids(group_rooms(rooms).section("unspaced")) == [
        "!highlight",
        "!new-unread",
        "!old-unread",
        "!new",
        "!older",
    ]
    recent = group_rooms(rooms, sort="recent", section_sort={"unread": "name"})
    assert ids(recent.section("unspaced")) == [
        "!new",
        "!new-unread",
        "!highlight",
        "!older",
        "!old-unread",
    ]
    assert ids(recent.section("unread")) == ["!old-unread", "!highlight", "!new-unread"]


def test_insert_and_remove_keep_a_section_in_order() -> None:
    rooms = rooms_of(*(room(f"!{c}", c.upper()) for c in "aceg"))
    section = group_rooms(rooms, sort="name").section("unspaced")
    assert section is not None
    rooms[(ME, "!d")] = room("!d", "D")
    section.insert((ME, "!d"))
    section.remove((ME, "!a"))
    section.remove((ME, "!nowhere"))
    assert ids(section) == ["!c", "!d", "!e", "!g"]
    assert sort_key((ME, "!d"), rooms[(ME, "!d")], "name") < sort_key(
        (ME, "!e"), rooms[(ME, "!e")], "name"
    )


def test_folds_and_filters_in_the_tree() -> None:
    spaces = group_rooms(sample()).section("spaces")
    folded = ids(spaces, folded=lambda ref: ref[1] == "!sub")
    assert folded == ["!space", "!sub", "!child", "!parented"]
    # A match deep down shows with the spaces above it, folded or not.
    assert ids(spaces, folded=lambda ref: True, keep=lambda ref: ref[1] == "!deep") == [
        "!space",
        "!sub",
        "!deep",
    ]


def test_rooms_of_two_accounts_stay_apart() -> None:
    rooms = {
        **rooms_of(room("!space", "Space", is_space=True, space_children=["!r"]), user="@a:x"),
        **rooms_of(room("!r", "R shared"), user="@a:x"),
        **rooms_of(room("!r", "R shared"), user="@b:x"),
    }
    grouping = group_rooms(rooms)
    assert [n.ref for n in grouping.section("spaces").walk()] == [  # type: ignore[union-attr]
        ("@a:x", "!space"),
        ("@a:x", "!r"),
    ]
    assert [n.ref for n in grouping.section("unspaced").walk()] == [("@b:x", "!r")]  # type: ignore[union-attr]


def test_fuzzy_match_and_section_names() -> None:
    assert fuzzy_match("gdn", "Garden club")
    assert fuzzy_match("gar club", "Garden club")
    assert fuzzy_match("TEAM", None, "#team:example.org")
    assert not fuzzy_match("dg", "Garden")
    assert fuzzy_match("", "anything")
    sections = ["favourites", "low-priority", "unspaced"]
    assert find_section(sections, "Low Priority") == "low-priority"
    assert find_section(sections, "low-priority") == "low-priority"
    assert find_section(sections, "FAVOURITES") == "favourites"
    assert find_section(sections, "unspaced rooms") == "unspaced"
    assert find_section(sections, "people") is None


def test_notification_modes_from_push_rules() -> None:
    rules = {
        "global": {
            "override": [
                {"rule_id": "!muted:x", "actions": [], "enabled": True},
                {"rule_id": ".m.rule.master", "actions": [], "enabled": False},
                {"rule_id": "!off:x", "actions": [], "enabled": False},
            ],
            "room": [
                {"rule_id": "!loud:x", "actions": ["notify"], "enabled": True},
                {"rule_id": "!quiet:x", "actions": [], "enabled": True},
            ],
        }
    }
    assert notification_modes(rules) == {
        "!muted:x": "none",
        "!loud:x": "all",
        "!quiet:x": "mentions",
    }
    assert notification_modes(None) == {} and notification_modes({"global": []}) == {}

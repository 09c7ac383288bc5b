"""Room display names and member names, as the spec computes them (pure logic)."""

from __future__ import annotations

from tuimatrix.core.rooms import compute_display_name, direct_room_ids, member_names


def test_name_then_alias_then_heroes() -> None:
    names = {"@a:x": "Alice", "@b:x": "Bob", "@c:x": "Carol"}
    assert compute_display_name("Room", "#alias:x", ["@a:x"], names, 2, 0) == "Room"
    assert compute_display_name("", "#alias:x", ["@a:x"], names, 2, 0) == "#alias:x"
    assert compute_display_name("", None, ["@a:x"], names, 2, 0) == "Alice"
    assert compute_display_name("", None, ["@a:x", "@b:x"], names, 3, 0) == "Alice and Bob"
    assert (
        compute_display_name("", None, ["@a:x", "@b:x", "@c:x"], names, 10, 2)
        == "Alice, Bob, Carol and 8 others"
    )
    assert compute_display_name("", None, [], names, 1, 0) == "Empty room"
    assert compute_display_name("", None, ["@a:x"], names, 1, 0) == "Empty room (was Alice)"


def test_colliding_and_mxid_like_names_are_disambiguated() -> None:
    names = member_names(
        {
            "@a:x": {"displayname": "Sam"},
            "@b:x": {"displayname": "Sam"},
            "@c:x": {"displayname": "@admin:x"},
            "@d:x": {"displayname": "Dee"},
            "@e:x": {},
        }
    )
    assert names == {
        "@a:x": "Sam (@a:x)",
        "@b:x": "Sam (@b:x)",
        "@c:x": "@admin:x (@c:x)",
        "@d:x": "Dee",
        "@e:x": "@e:x",
    }


def test_direct_rooms_from_m_direct() -> None:
    assert direct_room_ids({"@a:x": ["!1:x", "!2:x"], "@b:x": ["!3:x", 5], "bad": "x"}) == {
        "!1:x",
        "!2:x",
        "!3:x",
    }
    assert direct_room_ids(None) == set()

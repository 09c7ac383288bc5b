"""The one room label and the one room resolver (core/room_names.py), on fake accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tuimatrix.core.accounts import Accounts
from tuimatrix.core.errors import UsageError, UserError
from tuimatrix.core.room_names import (
    best_score,
    fuzzy_offsets,
    fuzzy_score,
    nameable_rooms,
    resolve_room,
    room_label,
)
from tuimatrix.core.rooms import RoomSummary, summary_label


class FakeClient:
    """Answers alias lookups from a table (an unknown alias is the server's M_NOT_FOUND)."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.asked: list[str] = []

    async def resolve_room_alias(self, alias: str) -> Any:
        self.asked.append(alias)
        if alias not in self.aliases:
            raise LookupError("M_NOT_FOUND: Room alias not found")
        return SimpleNamespace(room_id=self.aliases[alias])


@dataclass
class FakeAccount:
    user_id: str
    summaries: dict[str, RoomSummary] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rooms = SimpleNamespace(summaries=self.summaries)
        self.client = FakeClient(self.aliases)

    def add(self, room_id: str, name: str, **fields: Any) -> FakeAccount:
        self.summaries[room_id] = RoomSummary(room_id, display_name=name, **fields)
        return self


class FakeAccounts:
    def __init__(self, *accounts: FakeAccount) -> None:
        self.accounts = list(accounts)

    def __iter__(self) -> Any:
        return iter(self.accounts)

    def __len__(self) -> int:
        return len(self.accounts)

    def rooms(self) -> Any:
        for account in self.accounts:
            for room in account.summaries.values():
                yield account, room


def accounts(*listed: FakeAccount) -> Accounts:
    return cast(Accounts, FakeAccounts(*listed))


async def resolve(listed: Accounts, text: str, account: Any = None) -> tuple[Any, str]:
    """:func:`resolve_room`, typed for fake accounts."""
    return await resolve_room(listed, text, account)


def alice() -> FakeAccount:
    return (
        FakeAccount("@alice:x")
        .add("!team:x", "Team chat", canonical_alias="#team:x")
        .add("!garden:x", "Garden club")
        .add("!gardens:x", "Community gardens")
        .add("!old:x", "Old room", membership="leave")
        .add("!invite:x", "Invited room", membership="invite")
        .add("!space:x", "Projects", is_space=True)
    )


# -- the label -----------------------------------------------------------------------------------


def test_room_label_is_the_display_name_as_one_clean_line() -> None:
    account = FakeAccount("@a:x").add("!r:x", "Evil\x1b[2J\nname\u202e")
    label = room_label(cast(Any, account), "!r:x")
    assert "\x1b" not in label and "\n" not in label and "\u202e" not in label
    assert label.startswith("Evil")


def test_room_label_falls_back_to_the_room_id() -> None:
    account = FakeAccount("@a:x").add("!nameless:x", "")
    assert room_label(cast(Any, account), "!nameless:x") == "!nameless:x"
    assert room_label(cast(Any, account), "!unknown:x") == "!unknown:x"


def test_a_name_of_nothing_but_control_characters_counts_as_none() -> None:
    """The room row, the room title and the pickers all use this one label."""
    account = FakeAccount("@a:x").add("!blank:x", "\x1b\u202e\x07")
    assert room_label(cast(Any, account), "!blank:x") == "!blank:x"
    assert summary_label(account.rooms.summaries["!blank:x"]) == "!blank:x"


# -- the resolver --------------------------------------------------------------------------------


async def test_a_room_id_known_to_an_account_is_that_accounts() -> None:
    a, b = alice(), FakeAccount("@bob:x").add("!bobs:x", "Bob's")
    assert await resolve(accounts(a, b), " !bobs:x ") == (b, "!bobs:x")


async def test_an_unknown_room_id_is_taken_as_is_when_the_account_is_clear() -> None:
    a, b = alice(), FakeAccount("@bob:x")
    assert await resolve(accounts(a), "!elsewhere:y") == (a, "!elsewhere:y")
    assert await resolve(accounts(a, b), "!elsewhere:y", b) == (b, "!elsewhere:y")
    with pytest.raises(UsageError, match="no account knows room !elsewhere:y; give --account"):
        await resolve_room(accounts(a, b), "!elsewhere:y")


async def test_an_alias_is_found_locally_before_the_server_is_asked() -> None:
    a = alice()
    assert await resolve(accounts(a), "#team:x") == (a, "!team:x")
    assert a.client.asked == []


async def test_an_alias_no_account_knows_is_asked_of_the_server() -> None:
    a = alice()
    a.aliases["#far:y"] = "!far:y"
    assert await resolve(accounts(a), "#far:y") == (a, "!far:y")
    with pytest.raises(UserError, match="cannot resolve #nowhere:y: M_NOT_FOUND") as caught:
        await resolve_room(accounts(a), "#nowhere:y")
    assert not isinstance(caught.value, UsageError)  # the server's answer, not a usage error
    with pytest.raises(UsageError, match="no account is logged in"):
        await resolve_room(accounts(), "#team:x")


async def test_a_name_matches_exactly_before_it_matches_a_part() -> None:
    a = alice()
    # "garden" is part of two names; "garden club" is one exactly (any case).
    assert await resolve(accounts(a), "GARDEN CLUB") == (a, "!garden:x")
    assert await resolve(accounts(a), "team") == (a, "!team:x")
    with pytest.raises(UsageError, match="2 rooms match 'garden'; give its id or alias"):
        await resolve_room(accounts(a), "garden")


async def test_a_name_never_matches_a_room_left_behind() -> None:
    a = alice()
    with pytest.raises(UsageError, match="no room matches 'Old room'"):
        await resolve_room(accounts(a), "Old room")
    assert await resolve(accounts(a), "invited") == (a, "!invite:x")


async def test_a_name_is_looked_for_among_the_given_accounts_rooms_only() -> None:
    a = alice()
    b = FakeAccount("@bob:x").add("!bteam:x", "Team chat")
    with pytest.raises(UsageError, match="2 rooms match 'Team chat'"):
        await resolve_room(accounts(a, b), "Team chat")
    assert await resolve(accounts(a, b), "Team chat", b) == (b, "!bteam:x")


def test_nameable_rooms_are_joined_and_invited_ones_of_the_account() -> None:
    a, b = alice(), FakeAccount("@bob:x").add("!bobs:x", "Bob's")
    everyone = accounts(a, b)
    assert {room.room_id for _, room in nameable_rooms(everyone)} == {
        "!team:x",
        "!garden:x",
        "!gardens:x",
        "!invite:x",
        "!space:x",
        "!bobs:x",
    }
    assert [r.room_id for _, r in nameable_rooms(everyone, cast(Any, b))] == ["!bobs:x"]
    assert [r.room_id for _, r in nameable_rooms(everyone, spaces_only=True)] == ["!space:x"]


# -- fuzzy matching ------------------------------------------------------------------------------


def test_fuzzy_score_prefers_a_contiguous_and_early_match() -> None:
    assert fuzzy_offsets("gc", "Garden club") == [0, 7]
    assert fuzzy_score("xyz", "Garden club") is None
    early, late = fuzzy_score("gar", "Garden club"), fuzzy_score("gar", "Community gardens")
    assert early is not None and late is not None and early > late
    spread = fuzzy_score("gc", "Garden club")
    assert spread is not None and spread < late
    assert fuzzy_score("", "anything") == 0


def test_best_score_takes_the_better_of_a_label_and_an_alias() -> None:
    assert best_score("team", ("Work", "#team:x")) == fuzzy_score("team", "#team:x")
    assert best_score("zz", ("Work", "")) is None
    assert best_score("", ("", "")) == 0  # an empty query shows every room


async def test_the_invite_and_space_windows_use_the_one_label() -> None:
    """A room named only with control characters is called by its id there too, not by
    nothing (they made their own label from the display name)."""
    from textual.app import App
    from textual.widgets import Label

    from tuimatrix.screens.invite import InviteScreen
    from tuimatrix.screens.space import SpaceScreen

    blank = "\x1b\u202e\x07"
    invite = RoomSummary("!invite:x", display_name=blank, membership="invite")
    space = RoomSummary("!space:x", display_name=blank, is_space=True)

    async def no_hierarchy(space_id: str) -> list[dict[str, Any]]:
        return []

    account = cast(Any, SimpleNamespace(user_id="@a:x", space_hierarchy=no_hierarchy))
    for screen, room_id in (
        (InviteScreen(account, invite), "!invite:x"),
        (SpaceScreen(account, space), "!space:x"),
    ):
        app: App[None] = App()
        async with app.run_test() as pilot:
            await app.push_screen(screen)
            await pilot.pause()
            title = screen.query(Label).first()
            assert room_id in str(title.render()), (type(screen).__name__, title.render())

"""Completion of mentions and paths, and emoji lookup (pure logic, a real temp directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuimatrix.core.completion import (
    Candidate,
    common_prefix,
    complete_path,
    mention_candidates,
    mention_word,
)
from tuimatrix.core.emoji_names import reaction_key, search

MEMBERS = {
    "@alice:x": "Alice",
    "@alfred:x": "Alfred",
    "@bob:x": "Bob \x1b[31m",  # a hostile name arrives clean
    "@carol:x": "Sally (Carol)",
}


def test_mention_word_is_the_at_or_hash_word_before_the_cursor() -> None:
    assert mention_word("hi @al") == "@al"
    assert mention_word("@") == "@"
    assert mention_word("see #lob") == "#lob"
    assert mention_word("mail me@al") is None
    assert mention_word("hi @al ") is None


def test_members_by_name_then_by_part_and_room() -> None:
    assert mention_candidates("@al", MEMBERS, []) == [
        Candidate("Alfred", "@alfred:x"),
        Candidate("Alice", "@alice:x"),
        Candidate("Sally (Carol)", "@carol:x"),  # contains "al": after those that start so
    ]
    # By user id too, and by a part of the name.
    assert mention_candidates("@carol", MEMBERS, []) == [Candidate("Sally (Carol)", "@carol:x")]
    assert mention_candidates("@bo", MEMBERS, []) == [Candidate("Bob", "@bob:x")]
    assert Candidate("@room", "@room") in mention_candidates("@ro", MEMBERS, [])
    assert mention_candidates("@zz", MEMBERS, []) == []


def test_aliases() -> None:
    aliases = ["#lobby:x", "#dev:x", "#lobby:x", "#random-lob:x"]
    assert mention_candidates("#lob", {}, aliases) == [
        Candidate("#lobby:x", "#lobby:x"),
        Candidate("#random-lob:x", "#random-lob:x"),
    ]


def test_path_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photo.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    base = f"{tmp_path}/"
    assert complete_path(base + "pho") == [base + "photos/", base + "photo.png"]
    assert common_prefix(complete_path(base + "pho")) == base + "photo"
    assert complete_path(base) == [base + "photos/", base + "notes.txt", base + "photo.png"]
    assert complete_path(base + ".h") == [base + ".hidden"]
    assert complete_path(base + "nothing-here/x") == []
    monkeypatch.chdir(tmp_path)
    assert complete_path("no") == ["notes.txt"]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert complete_path("~/not") == ["~/notes.txt"]


def test_emoji_search_by_name_alias_and_shortcode() -> None:
    assert search("thumbs up")[0].char == "👍"
    assert search(":+1:")[0].char == "👍"
    assert search("tada")[0].char == "🎉"
    assert search("party")[0].char == "🎉"
    assert search("")[0].char == "👍"  # the common ones before anything is typed
    assert search("qqqqq") == []
    assert reaction_key(":tada:") == "🎉"
    assert reaction_key(" lol ") == "lol"


def test_members_of_one_name_are_told_apart_by_their_id() -> None:
    members = {"@alice:x": "Alice", "@mallory:y": "alice", "@bob:x": "Bob"}
    assert mention_candidates("@ali", members, []) == [
        Candidate("Alice (@alice:x)", "@alice:x"),
        Candidate("alice (@mallory:y)", "@mallory:y"),
    ]


@pytest.mark.parametrize(
    "name", ["@room", "@ROOM", "＠room", "hi @room", "@alice:x", "Alice (@alice:x)", "  "]
)
def test_names_that_pass_for_room_or_an_id_complete_as_the_id(name: str) -> None:
    members = {"@alice:x": "Alice", "@mallory:y": name}
    candidates = mention_candidates("@", members, [])
    assert Candidate("@mallory:y", "@mallory:y") in candidates
    # Only the keyword itself mentions the room.
    assert [c for c in candidates if "room" in c.text.lower()] == [Candidate("@room", "@room")]

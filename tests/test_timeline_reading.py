"""Pure logic behind reading a room: membership runs, receipts, reactions by name, and the
per-room settings file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuimatrix.config import load_config
from tuimatrix.core.receipts import readers, receipt_label
from tuimatrix.core.timeline import build_items, membership_run, merge_runs, reaction_senders
from tuimatrix.paths import Paths
from tuimatrix.ui.room_settings import RoomSettings

TS = 1_764_000_000_000  # a fixed day, mid-morning UTC


def member(
    n: int,
    user: str,
    membership: str,
    *,
    prev: str | None = None,
    sender: str | None = None,
    name: str | None = None,
    prev_name: str | None = None,
    ts: int = TS,
) -> dict[str, Any]:
    content: dict[str, Any] = {"membership": membership}
    if name is not None:
        content["displayname"] = name
    unsigned: dict[str, Any] = {}
    if prev is not None:
        unsigned["prev_content"] = {"membership": prev}
        if prev_name is not None:
            unsigned["prev_content"]["displayname"] = prev_name
    return {
        "event_id": f"$m{n}",
        "type": "m.room.member",
        "sender": sender or user,
        "state_key": user,
        "origin_server_ts": ts + n,
        "content": content,
        "unsigned": unsigned,
    }


def msg(n: int, sender: str, body: str) -> dict[str, Any]:
    return {
        "event_id": f"$t{n}",
        "type": "m.room.message",
        "sender": sender,
        "origin_server_ts": TS + n,
        "content": {"msgtype": "m.text", "body": body},
    }


def test_a_single_membership_event_keeps_its_full_line() -> None:
    [item] = build_items([member(1, "@a:x", "invite", sender="@b:x")], {"@a:x": "Ann"})
    assert item.body.plain == "Ann was invited by @b:x"


def test_consecutive_membership_events_are_one_line_per_run() -> None:
    names = {"@a:x": "alice", "@b:x": "bob", "@c:x": "carol", "@d:x": "dave", "@e:x": "eve"}
    events = [
        member(1, "@a:x", "join"),
        member(2, "@b:x", "join"),
        member(3, "@c:x", "join"),
        member(4, "@d:x", "leave", prev="join"),
        member(5, "@e:x", "join", prev="join", name="eve2", prev_name="eve"),
        msg(6, "@a:x", "hello"),
        member(7, "@b:x", "leave", prev="join"),
    ]
    items = build_items(events, names)
    assert [i.body.plain for i in items] == [
        "3 joined (alice, bob, carol); dave left; eve changed their name",
        "hello",
        "bob left",
    ]
    run = membership_run(items[0])
    assert run is not None and run.event_ids == ["$m1", "$m2", "$m3", "$m4", "$m5"]


def test_a_run_of_five_thousand_builds_one_line_naming_three() -> None:
    # Ement.el once took minutes on a room like this: the run's line costs what its kinds
    # cost, not what its events do.
    events = [member(i, f"@u{i}:x", "join") for i in range(4_000)]
    events += [member(4_000 + i, f"@u{i}:x", "leave", prev="join") for i in range(999)]
    events.append(member(5_000, "@boss:x", "ban", sender="@mod:x"))
    [item] = build_items(events, {"@u0:x": "Zero", "\x1b[31m": "x"})
    assert item.body.plain == (
        "4,000 joined (Zero, @u1:x, @u2:x, +3997); "
        "999 left (Zero, @u1:x, @u2:x, +996); @boss:x was banned"
    )
    run = membership_run(item)
    assert run is not None and len(run.event_ids) == 5_000


def test_runs_break_at_a_new_day_and_merge_across_a_seam() -> None:
    day = 86_400_000
    items = build_items([member(1, "@a:x", "join"), member(2, "@b:x", "join", ts=TS + 2 * day)], {})
    assert len(items) == 2  # the date line between them stays
    older = build_items([member(1, "@a:x", "join"), member(2, "@b:x", "join")], {})[0]
    newer = build_items([member(3, "@c:x", "join")], {})[0]
    merged = merge_runs(older, newer, keep=newer)
    assert merged is not None and merged.key == "$m3"
    assert merged.body.plain == "3 joined (@c:x, @a:x, @b:x)"
    assert merge_runs(older, build_items([msg(9, "@a:x", "hi")], {})[0], keep=older) is None


def test_names_in_runs_and_reactions_are_sanitised() -> None:
    hostile = "\x1b]52;c;aGk=\x07evil\u202e"
    items = build_items(
        [member(1, "@a:x", "join", name=hostile), member(2, "@b:x", "join", name=hostile)], {}
    )
    line = items[0].body.plain
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    events = [
        msg(1, "@a:x", "hi"),
        {
            "event_id": "$r",
            "type": "m.reaction",
            "sender": "@b:x",
            "content": {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": "$t1", "key": "👍"}
            },
        },
        {
            "event_id": "$r2",
            "type": "m.reaction",
            "sender": "@c:x",
            "content": {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": "$t1", "key": "👍"}
            },
        },
        {"event_id": "$x", "type": "m.room.redaction", "sender": "@c:x", "redacts": "$r2"},
    ]
    assert reaction_senders(events, "$t1", {"@b:x": hostile}) == [("👍", ["evil"])]


def test_receipts_keep_each_others_newest_main_timeline_read() -> None:
    fields = ("user_id", "receipt_type", "thread_id", "event_id", "ts")
    rows = [
        dict(zip(fields, row, strict=True))
        for row in [
            ("@me:x", "m.read", "", "$9", 9),
            ("@a:x", "m.read", "", "$1", 1),
            ("@a:x", "m.read", "main", "$3", 3),
            ("@a:x", "m.read", "$root", "$8", 8),  # in a thread: not the main timeline
            ("@b:x", "m.read", "", "$2", 5),
            ("@c:x", "m.read.private", "", "$2", 6),
        ]
    ]
    assert readers(rows, "@me:x") == {"@b:x": "$2", "@a:x": "$3"}
    assert list(readers(rows, "@me:x")) == ["@b:x", "@a:x"]  # the most recent first
    assert receipt_label(["alice"]) == "✓ alice"
    assert receipt_label(["alice", "bob", "carol", "\x1b[2Jdave", "eve"]) == "✓ alice, bob +3"


def test_room_settings_survive_a_restart_and_a_corrupt_file(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")
    settings, notice = RoomSettings.load(paths)
    assert notice == "" and settings.get("@me:x", "!r", "format") is None
    settings.set("@me:x", "!r", "format", "irc")
    settings.set("@me:x", "!r", "hide-membership-events", True)
    import asyncio

    asyncio.run(settings.save())
    again, notice = RoomSettings.load(paths)
    assert notice == ""
    assert again.get("@me:x", "!r", "format") == "irc"
    assert again.get("@me:x", "!r", "hide-membership-events") is True
    assert again.get("@me:x", "!other", "format") is None
    (tmp_path / "s" / "rooms.json").write_text("{not json")
    broken, notice = RoomSettings.load(paths)
    assert "corrupt" in notice and broken.get("@me:x", "!r", "format") is None


def test_config_room_defaults_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[room]\nformat = "irc"\nhide-membership-events = true\n')
    config = load_config(path)
    assert (config.room.format, config.room.hide_membership_events) == ("irc", True)
    assert config.errors == []
    path.write_text('[room]\nformat = "fancy"\nhide-membership-events = "yes"\ncolour = 1\n')
    config = load_config(path)
    assert config.room.format == "elemental" and not config.room.hide_membership_events
    assert len(config.errors) == 3 and "config.toml:2: format" in config.errors[0]

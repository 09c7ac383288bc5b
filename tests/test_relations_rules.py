"""The relation rules every view shares (core/relations): edits, redactions, reactions, threads.

Pure logic on fake event dicts; the end-to-end behaviour is covered by the timeline, thread
and redaction tests against a real Synapse.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_import_cycles import ROOT, import_graph, import_groups

from tuimatrix.core.relations import (
    Edits,
    is_relation,
    may_redact,
    reactions,
    relates_to_any,
    relation,
    relation_targets,
    reply_target,
    shown_content,
    shown_edits,
    shown_redactions,
    thread_root,
    thread_summaries,
)
from tuimatrix.core.timeline import build_items, reaction_senders


def msg(event_id: str, sender: str = "@a:x", body: str = "hi", ts: int = 1) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": body},
    }


def edit(
    event_id: str, target: str, body: str, sender: str = "@a:x", ts: int = 2
) -> dict[str, Any]:
    evt = msg(event_id, sender, f"* {body}", ts)
    evt["content"]["m.new_content"] = {"msgtype": "m.text", "body": body}
    return related(evt, {"rel_type": "m.replace", "event_id": target})


def react(event_id: str, sender: str, target: str, key: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.reaction",
        "origin_server_ts": 3,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
    }


def redaction(event_id: str, target: str, sender: str = "@a:x") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "sender": sender,
        "type": "m.room.redaction",
        "origin_server_ts": 4,
        "redacts": target,
        "content": {},
    }


def related(evt: dict[str, Any], relates_to: dict[str, Any]) -> dict[str, Any]:
    """``evt`` with ``m.relates_to`` set (a key no keyword argument can spell)."""
    return evt | {"content": {**evt["content"], "m.relates_to": relates_to}}


def in_thread(
    event_id: str, root: str, body: str = "r", sender: str = "@b:x", ts: int = 5
) -> dict[str, Any]:
    return related(msg(event_id, sender, body, ts), {"rel_type": "m.thread", "event_id": root})


def shown(events: list[dict[str, Any]], original: dict[str, Any]) -> str:
    return str(Edits(events).shown_content(original).get("body"))


# -- edits ----------------------------------------------------------------------------------


def test_the_newest_edit_wins_and_a_tie_goes_to_the_larger_event_id() -> None:
    original = msg("$o")
    older, newer = edit("$e1", "$o", "older", ts=5), edit("$e2", "$o", "newer", ts=9)
    assert shown([newer, older], original) == "newer"  # arrival order does not matter
    tie_a, tie_b = edit("$eA", "$o", "A", ts=7), edit("$eB", "$o", "B", ts=7)
    assert shown([tie_b, tie_a], original) == "B"
    assert shown([tie_a, tie_b], original) == "B"


def test_an_edit_by_another_sender_is_ignored_even_when_newer() -> None:
    original = msg("$o", "@a:x")
    own, forged = edit("$e1", "$o", "mine", ts=5), edit("$e2", "$o", "FORGED", "@m:x", ts=9)
    assert shown([own, forged], original) == "mine"
    assert shown([forged], original) == "hi"
    # The original need not be among the events: the lookup is by its sender.
    assert Edits([forged, own]).newest("$o", "@a:x") is own


def test_an_edit_of_an_edit_replaces_nothing() -> None:
    original, first = msg("$o"), edit("$e1", "$o", "first")
    of_edit = edit("$e2", "$e1", "second", ts=9)
    edits = Edits([original, first, of_edit])
    assert edits.shown_content(original).get("body") == "first"
    assert edits.shown(first) is None


def test_a_redacted_edit_no_longer_counts() -> None:
    original = msg("$o")
    events = [edit("$e1", "$o", "v1", ts=5), edit("$e2", "$o", "v2", ts=9)]
    assert Edits(events, redacted={"$e2"}).shown_content(original).get("body") == "v1"
    [item] = build_items([original, *events, redaction("$r", "$e2")], {})
    assert (item.body.plain, item.edited) == ("v1", True)


def test_the_commands_skip_an_edit_taken_back_as_the_timeline_does() -> None:
    # The edit prefill and the media commands read the loaded events, where an edit's
    # redaction sits beside the edit (not yet pruned): they must show what the timeline shows.
    original = msg("$o")
    loaded = [original, edit("$e1", "$o", "v1", ts=5), edit("$e2", "$o", "v2", ts=9)]
    loaded.append(redaction("$r", "$e2"))
    [item] = build_items(loaded, {})
    assert item.body.plain == "v1"
    assert shown_content(original, loaded).get("body") == "v1"
    assert shown_edits(loaded).shown_content(original).get("body") == "v1"
    # A forged redaction (by someone else) takes nothing back, for the timeline or them.
    forged = [*loaded[:3], redaction("$r", "$e2", "@m:x")]
    assert shown_content(original, forged).get("body") == "v2"


def test_an_edit_without_new_content_is_not_shown() -> None:
    broken = related(msg("$e"), {"rel_type": "m.replace", "event_id": "$o"})
    assert not Edits([broken])


def test_the_bundled_edit_counts_with_the_loaded_ones_by_the_same_rule() -> None:
    bundled = edit("$e1", "$o", "bundled", ts=5)
    original = msg("$o") | {"unsigned": {"m.relations": {"m.replace": bundled}}}
    assert shown_content(original).get("body") == "bundled"
    assert shown_content(original, [edit("$e2", "$o", "loaded", ts=9)]).get("body") == "loaded"
    forged = edit("$e3", "$o", "FORGED", "@m:x", ts=99)
    assert shown_content(original, [forged]).get("body") == "bundled"


def test_the_timeline_and_the_thread_summary_show_the_same_edit() -> None:
    reply = in_thread("$t", "$root", "typo")
    edits = [
        edit("$e1", "$t", "fixed", "@b:x", ts=7),
        edit("$e0", "$t", "worse", "@b:x", ts=7),  # same ts: the larger id wins
        edit("$e2", "$t", "FORGED", "@m:x", ts=9),
    ]
    [summary] = thread_summaries([msg("$root"), reply, *edits]).values()
    assert summary.latest is not None and summary.latest["content"]["body"] == "fixed"
    [item] = build_items([reply | {"content": {"msgtype": "m.text", "body": "typo"}}, *edits], {})
    assert item.body.plain == "fixed"


# -- redactions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "target_sender", "power", "create", "allowed"),
    [
        ("@a:x", "@a:x", {"redact": 100}, None, True),  # one's own, always
        ("@m:x", "@a:x", {"users": {"@m:x": 50}}, None, True),  # the default redact level
        ("@m:x", "@a:x", {"users": {"@m:x": 49}}, None, False),
        ("@m:x", "@a:x", {"users_default": "60", "redact": 60}, None, True),  # old string levels
        ("@c:x", "@a:x", None, {"creator": "@c:x"}, True),  # no power levels: the creator
        ("@m:x", "@a:x", None, {"creator": "@c:x"}, False),
        ("@c:x", "@a:x", {"users": {}}, {"room_version": "12", "sender": "@c:x"}, True),
        (None, "@a:x", {}, None, False),
    ],
)
def test_who_may_redact_what(
    sender: Any, target_sender: str, power: Any, create: Any, allowed: bool
) -> None:
    assert may_redact(sender, target_sender, power, create) is allowed


def test_a_redaction_shows_only_when_checked_or_by_the_sender_itself() -> None:
    target = msg("$o", "@a:x")
    by_id = {"$o": target}
    assert set(shown_redactions([redaction("$r", "$o", "@a:x")], by_id)) == {"$o"}
    # Another sender's: only once the store (which knows the power levels) pruned the target.
    assert shown_redactions([redaction("$r", "$o", "@m:x")], by_id) == {}
    pruned = {**target, "content": {}, "unsigned": {"redacted_because": {"sender": "@mod:x"}}}
    assert set(shown_redactions([redaction("$r", "$o", "@m:x")], {"$o": pruned})) == {"$o"}
    # A target not in hand: the store decides when it arrives.
    assert set(shown_redactions([redaction("$r", "$gone", "@m:x")], by_id)) == {"$gone"}
    # An encrypted redaction was never checked by the server: it removes nothing.
    encrypted = redaction("$r", "$o") | {"tm_e2ee": {}}
    assert shown_redactions([encrypted], by_id) == {} and relation(encrypted) is None


# -- reactions ------------------------------------------------------------------------------


def test_who_reacted_takes_back_what_the_counts_take_back() -> None:
    # A redaction by someone who neither sent the reaction nor had it applied by the store
    # (the reaction is in hand, not pruned) removes nothing: not from the count under the
    # message, and not from the list of who reacted either.
    message, reaction = msg("$m"), react("$r", "@b:x", "$m", "👍")
    forged = redaction("$x", "$r", "@m:x")
    [item] = build_items([message, reaction, forged], {}, "@a:x")
    assert [(r.key, r.total) for r in item.reactions] == [("👍", 1)]
    assert reaction_senders([message, reaction, forged], "$m", {}) == [("👍", ["@b:x"])]
    # The reacter's own redaction takes it back from both.
    own = redaction("$y", "$r", "@b:x")
    [item] = build_items([message, reaction, own], {}, "@a:x")
    assert item.reactions == ()
    assert reaction_senders([message, reaction, own], "$m", {}) == []


def test_reactions_count_each_sender_once_and_drop_redacted_ones() -> None:
    events = [
        react("$r1", "@a:x", "$o", "👍"),
        react("$r2", "@a:x", "$o", "👍"),  # a duplicate: counted once
        react("$r3", "@b:x", "$o", "👍"),
        react("$r4", "@c:x", "$o", "🎉"),
        react("$r5", "@d:x", "$o", ""),  # no key: no reaction
        redaction("$x", "$r4", "@c:x"),
    ]
    assert reactions(events) == {"$o": {"👍": {"@a:x": None, "@b:x": None}}}
    # The caller may say which redactions hold (the timeline: those it shows).
    assert set(reactions(events, redacted=())["$o"]) == {"👍", "🎉"}


def test_only_annotations_are_reactions() -> None:
    odd = react("$r", "@a:x", "$o", "👍")
    odd["content"]["m.relates_to"]["rel_type"] = "m.reference"
    assert reactions([odd]) == {}


# -- threads --------------------------------------------------------------------------------


def test_a_thread_summary_takes_back_what_the_thread_takes_back() -> None:
    # A redaction of someone else's reply that the store did not apply (no power) removes
    # it neither from the thread's view nor from the count under the root.
    root, reply = msg("$root"), in_thread("$t", "$root", "hello", "@b:x")
    forged = redaction("$x", "$t", "@m:x")
    summary = thread_summaries([root, reply, forged]).get("$root")
    assert summary is not None and summary.count == 1
    own = redaction("$y", "$t", "@b:x")
    assert thread_summaries([root, reply, own]) == {}


def test_thread_membership() -> None:
    reply = in_thread("$t", "$root")
    assert thread_root(reply) == "$root"
    assert thread_root(reply["content"]) == "$root"  # a message's content (a local echo)
    assert thread_root(msg("$m")) is None
    assert thread_root(edit("$e", "$root", "x")) is None
    members = {"$root", "$t"}
    assert relates_to_any(edit("$e", "$t", "x"), members)
    assert relates_to_any(react("$r", "@a:x", "$root", "👍"), members)
    assert relates_to_any(redaction("$x", "$t"), members)
    assert not relates_to_any(in_thread("$u", "$root"), members)  # a reply, not a change
    assert not relates_to_any(edit("$e", "$elsewhere", "x"), members)


def test_a_thread_summary_counts_replies_and_forgets_deleted_ones() -> None:
    events = [msg("$root"), in_thread("$t1", "$root", "one"), in_thread("$t2", "$root", "two")]
    summary = thread_summaries(events)["$root"]
    assert (summary.count, summary.loaded) == (2, ["$t1", "$t2"])
    assert summary.latest is not None and summary.latest["content"]["body"] == "two"
    summary = thread_summaries([*events, redaction("$x", "$t2", "@b:x")])["$root"]
    assert (summary.count, summary.loaded) == (1, ["$t1"])
    assert thread_summaries([msg("$m")]) == {}


# -- the shape of relations -----------------------------------------------------------------


def test_relations_replies_and_what_changes_other_items() -> None:
    reply = related(msg("$p"), {"m.in_reply_to": {"event_id": "$o"}})
    assert reply_target(reply) == "$o" and relation(reply) is None and not is_relation(reply)
    changes = [
        edit("$e", "$o", "x"),
        react("$r", "@a:x", "$o2", "👍"),
        redaction("$x", "$o3"),
        in_thread("$t", "$o4"),
    ]
    assert all(is_relation(e) for e in changes)
    assert relation_targets(changes) == {"$o", "$o2", "$o3", "$o4"}
    assert not is_relation(msg("$m"))


# -- imports --------------------------------------------------------------------------------


def test_the_timeline_threads_and_relations_modules_import_no_cycle() -> None:
    """The rules come first: they import no view of them, and no cycle runs through the
    modules that show relations (the whole of core is checked in test_import_cycles.py)."""
    graph = import_graph(ROOT, "tuimatrix.core")
    ours = {"tuimatrix.core.timeline", "tuimatrix.core.threads"} | {
        name for name in graph if name.startswith("tuimatrix.core.relations")
    }
    assert "tuimatrix.core.relations.edits" in ours
    assert [group for group in import_groups(graph) if group & ours] == []
    assert not any(
        graph[name] & {"tuimatrix.core.timeline", "tuimatrix.core.threads"}
        for name in ours
        if name.startswith("tuimatrix.core.relations")
    )

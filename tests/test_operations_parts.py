"""The parts of ``Operations`` (one per spec area), as the package composes them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import tuimatrix.core.operations as operations
from tuimatrix.core.account import Account
from tuimatrix.core.operations import Operations, OperationsBase


def _parts() -> dict[str, type]:
    """Every mixin defined in a module of the package, by ``module.Class``."""
    found = {}
    for info in pkgutil.iter_modules(operations.__path__):
        module = importlib.import_module(f"{operations.__name__}.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and issubclass(value, OperationsBase)
            ):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_part_is_composed_into_operations_and_account() -> None:
    parts = _parts()
    assert len(parts) >= 10  # one per spec area, and the base
    forgotten = [name for name, part in parts.items() if part not in Operations.__mro__]
    assert forgotten == []
    assert issubclass(Account, Operations)


def test_each_operation_is_defined_by_one_part() -> None:
    """Two parts defining one name would make the order of the bases decide silently."""
    owners: dict[str, list[str]] = {}
    for name, part in _parts().items():
        for attr in vars(part):
            if not attr.startswith("__"):
                owners.setdefault(attr, []).append(name)
    assert {attr: names for attr, names in owners.items() if len(names) > 1} == {}


def test_names_used_outside_keep_resolving_from_the_package() -> None:
    from tuimatrix.core.operations import (
        CREATOR_POWER,
        NOTIFICATION_MODES,
        child_vias,
        creators_of,
        normalise_tag,
        power_level,
        server_of,
    )

    assert server_of("@a:example.org") == "example.org"
    assert normalise_tag("fav") == "m.favourite"
    assert NOTIFICATION_MODES == ("default", "all", "mentions", "none")
    assert power_level({"users_default": 5}, {"@c:x"}, "@c:x") == CREATOR_POWER
    assert creators_of({"sender": "@c:x", "content": {"room_version": "12"}}) == {"@c:x"}
    hierarchy = [{"children_state": [{"state_key": "!r:x", "content": {"via": ["x", 1]}}]}]
    assert child_vias(hierarchy) == {"!r:x": ["x"]}


def test_a_push_rule_notifies_only_with_the_notify_action() -> None:
    from tuimatrix.core.push_rules import notifies

    assert notifies({"actions": ["notify", {"set_tweak": "sound", "value": "default"}]})
    assert not notifies({"actions": []})
    assert not notifies({"actions": "notify"})  # not a list: a broken rule notifies nothing
    assert not notifies({})


class StoredEvents:
    """A store that holds only the given events (``Store.event`` is all _original reads)."""

    def __init__(self, *events: dict[str, Any]) -> None:
        self.by_id = {str(e["event_id"]): e for e in events}

    async def event(self, event_id: str) -> dict[str, Any] | None:
        return self.by_id.get(event_id)


def edit_of(event_id: str, target: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "m.room.message",
        "sender": "@a:x",
        "content": {
            "body": "* new",
            "m.new_content": {"body": "new"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": target},
        },
    }


async def test_edits_that_name_each_other_are_followed_one_step() -> None:
    """A reply or an edit given an edit's id goes to the message it edits, once: two edits
    replacing each other (a hostile sender can write them) used to recurse until Python's
    recursion limit broke the command."""
    ops = Operations.__new__(Operations)
    ops.store = StoredEvents(edit_of("$a", "$b"), edit_of("$b", "$a"))  # type: ignore[assignment]
    assert (await ops._original("!r:x", "$a"))["event_id"] == "$b"
    message = {"event_id": "$m", "type": "m.room.message", "sender": "@a:x", "content": {}}
    ops.store = StoredEvents(message, edit_of("$e", "$m"))  # type: ignore[assignment]
    assert (await ops._original("!r:x", "$e"))["event_id"] == "$m"
    assert (await ops._original("!r:x", "$m"))["event_id"] == "$m"


async def test_an_edit_mentions_the_sender_of_the_message_its_original_replies_to() -> None:
    ops = Operations.__new__(Operations)
    replied = {"event_id": "$q", "type": "m.room.message", "sender": "@b:x", "content": {}}
    reply = {
        "event_id": "$r",
        "sender": "@a:x",
        "content": {"m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}},
    }
    ops.store = StoredEvents(replied, reply)  # type: ignore[assignment]
    assert await ops._reply_sender("!r:x", reply) == ["@b:x"]
    assert await ops._reply_sender("!r:x", replied) == []

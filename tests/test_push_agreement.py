"""Our push-rule evaluation agrees with Synapse's: the same events, the same rules.

Bob sends Alice a mix of unencrypted events in a DM and in a group (plain messages, notices,
intentional and legacy mentions, @room from someone allowed and someone not, keywords Alice
added with ``PUT /pushrules``, an edit, a reaction, member events), and more in a room Alice
muted. We evaluate what Alice's ``/sync`` gives (her ``m.push_rules`` account data, the
rooms' state) and compare, event by event, with what the server notified her of
(``/notifications``: notify, highlight, sound), and our counts after her read receipt with
the server's ``unread_notifications``. Also: our default rules are the ones Synapse gives a
fresh user.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from conftest import MakeUser
from helpers import TestUser, eventually, password_login

from tuimatrix.core.push_defaults import server_default_rules
from tuimatrix.core.push_evaluator import RoomFacts, Ruleset, Verdict

#: Room versions whose creators stand above every power level (spec: room version 12).
PRIVILEGED_CREATORS = {"12"}
_txn = itertools.count()


@dataclass
class Client:
    """A user's client-server API, just what these tests send."""

    http: aiohttp.ClientSession
    base_url: str
    user_id: str
    token: str

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(
            method,
            f"{self.base_url}/_matrix/client/v3{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def send(
        self, room_id: str, content: dict[str, Any], kind: str = "m.room.message"
    ) -> str:
        path = f"/rooms/{quote(room_id)}/send/{kind}/t{next(_txn)}"
        reply = await self.call("PUT", path, content)
        event_id: str = reply["event_id"]
        return event_id

    async def say(self, room_id: str, body: str, **fields: Any) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": body, **fields})

    async def create_room(self, invite: list[str], **fields: Any) -> str:
        reply = await self.call(
            "POST", "/createRoom", {"preset": "private_chat", "invite": invite, **fields}
        )
        room_id: str = reply["room_id"]
        return room_id

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"/join/{quote(room_id)}", {})

    async def sync(self) -> dict[str, Any]:
        room_filter = {"room": {"timeline": {"limit": 200}}}
        query = f"?filter={quote(json.dumps(room_filter))}&full_state=true"
        reply: dict[str, Any] = await self.call("GET", f"/sync{query}")
        return reply


async def client_for(http: aiohttp.ClientSession, user: TestUser) -> Client:
    login = await password_login(http, user.base_url, user)
    return Client(http, user.base_url, user.user_id, login["access_token"])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def room_facts(room_id: str, room: Mapping[str, Any], user_id: str) -> RoomFacts:
    """What the conditions need, from a joined room of ``/sync`` (as the store will know it)."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for event in [*room["state"]["events"], *room["timeline"]["events"]]:
        if "state_key" in event:
            state[(event["type"], event["state_key"])] = event
    joined = sum(
        1
        for (kind, _), event in state.items()
        if kind == "m.room.member" and event["content"].get("membership") == "join"
    )
    create = state[("m.room.create", "")]
    creators: frozenset[str] = frozenset()
    if create["content"].get("room_version") in PRIVILEGED_CREATORS:
        creators = frozenset([create["sender"], *create["content"].get("additional_creators", [])])
    me = state.get(("m.room.member", user_id), {}).get("content", {})
    levels = state.get(("m.room.power_levels", ""))
    return RoomFacts(
        member_count=joined,
        display_name=me.get("displayname"),
        power_levels=levels["content"] if levels else None,
        creators=creators,
        room_id=room_id,  # sync's events do not carry it
    )


def server_verdict(actions: list[Any]) -> Verdict:
    """A ``/notifications`` entry's actions as a verdict (every entry notified)."""
    highlight = False
    sound = None
    for action in actions:
        if isinstance(action, dict) and action.get("set_tweak") == "highlight":
            highlight = action.get("value", True) is True
        if isinstance(action, dict) and action.get("set_tweak") == "sound":
            sound = action.get("value")
    return Verdict("notify" in actions, highlight, sound)


def without_rule(verdict: Verdict) -> Verdict:
    return (
        Verdict(verdict.notify, verdict.highlight, verdict.sound)
        if verdict.notify
        else Verdict(False)
    )


@dataclass
class Scene:
    alice: Client
    dm: str
    group: str
    muted: str
    invite: str
    sent: dict[str, str]  # what each sent event is, by event id (for failure messages)
    read_up_to: dict[str, str]  # room → the event Alice's receipt is on


@pytest.fixture
async def scene(make_user: MakeUser, http: aiohttp.ClientSession) -> Scene:
    alice = await client_for(http, make_user("alice", displayname="Alice Liddell"))
    bob = await client_for(http, make_user("bob", displayname="Bob"))
    carol = await client_for(http, make_user("carol", displayname="Carol"))
    sent: dict[str, str] = {}

    async def say(client: Client, room_id: str, label: str, body: str, **fields: Any) -> str:
        event_id = await client.say(room_id, body, **fields)
        sent[event_id] = label
        return event_id

    # Alice's own rules: two keywords (one a glob) and a muted room, as clients write them.
    await alice.call(
        "PUT",
        "/pushrules/global/content/cheese",
        {"pattern": "cheese", "actions": ["notify", {"set_tweak": "highlight"}]},
    )
    await alice.call(
        "PUT",
        "/pushrules/global/content/potato",
        {"pattern": "pota?o*", "actions": ["notify", {"set_tweak": "sound", "value": "chime"}]},
    )

    dm = await bob.create_room([alice.user_id], is_direct=True)
    group = await bob.create_room([alice.user_id, carol.user_id], name="Group")
    muted = await bob.create_room([alice.user_id, carol.user_id], name="Noisy")
    for room_id in (dm, group, muted):
        await alice.join(room_id)
    for room_id in (group, muted):
        await carol.join(room_id)
    await alice.call(
        "PUT",
        f"/pushrules/global/override/{quote(muted)}",
        {
            "conditions": [{"kind": "event_match", "key": "room_id", "pattern": muted}],
            "actions": [],
        },
    )

    mention_me = {"m.mentions": {"user_ids": [alice.user_id]}}
    read_up_to: dict[str, str] = {}
    for room_id in (dm, group):
        first = await say(bob, room_id, "plain", "hello there")
        await say(bob, room_id, "notice", "a bot says alice", msgtype="m.notice")
        read_up_to[room_id] = await say(bob, room_id, "before the receipt", "earlier")
        await say(bob, room_id, "plain after the receipt", "how are you")
        await say(bob, room_id, "intentional mention", "hi Alice", **mention_me)
        await say(bob, room_id, "legacy display name", "is Alice Liddell around?")
        await say(bob, room_id, "legacy localpart", "ping alice")
        await say(
            bob,
            room_id,
            "m.mentions for nobody",
            "alice, Alice Liddell, @room",
            **{"m.mentions": {}},
        )
        await say(bob, room_id, "keyword", "Cheese, anyone?")
        await say(bob, room_id, "keyword glob", "potatoes for dinner")
        await say(bob, room_id, "not a keyword", "cheesecake")
        await say(bob, room_id, "@room by the creator", "@room meeting now")
        edit = {
            "msgtype": "m.text",
            "body": "* hello here",
            "m.new_content": {"msgtype": "m.text", "body": "hello here"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": first},
        }
        sent[await bob.send(room_id, edit)] = "edit"
        sent[await bob.send(room_id, {**edit, **mention_me})] = "edit that mentions"
        reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": first, "key": "👍"}}
        sent[await bob.send(room_id, reaction, "m.reaction")] = "reaction"
        renamed = await bob.call(
            "PUT",
            f"/rooms/{quote(room_id)}/state/m.room.member/{quote(bob.user_id)}",
            {"membership": "join", "displayname": "Robert"},
        )
        sent[renamed["event_id"]] = "member event"
    await say(carol, group, "plain by carol", "hi all")
    await say(carol, group, "@room by carol, not allowed", "@room look")
    await say(carol, group, "intentional @room by carol", "look", **{"m.mentions": {"room": True}})
    await say(carol, group, "mention by carol", "alice?", **mention_me)

    read_up_to[muted] = await say(bob, muted, "muted", "noise")
    await say(bob, muted, "muted mention", "alice!", **mention_me)
    await say(bob, muted, "muted @room", "@room noise")

    for room_id, event_id in read_up_to.items():
        await alice.call("POST", f"/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}", {})

    invite = await bob.create_room([alice.user_id], name="Invitation")
    return Scene(alice, dm, group, muted, invite, sent, read_up_to)


async def test_our_evaluation_agrees_with_synapse(scene: Scene) -> None:
    alice = scene.alice
    reply = await alice.call("GET", "/notifications?limit=1000")
    notified = {n["event"].get("event_id"): n for n in reply["notifications"]}
    sync = await alice.sync()
    account_data = {e["type"]: e["content"] for e in sync["account_data"]["events"]}
    rules = Ruleset.from_account_data(alice.user_id, account_data.get("m.push_rules"))

    checked = 0
    expected_counts: dict[str, tuple[int, int]] = {}
    for room_id in (scene.dm, scene.group, scene.muted):
        room = sync["rooms"]["join"][room_id]
        assert not room["timeline"].get("limited")
        facts = room_facts(room_id, room, alice.user_id)
        notifications = highlights = 0
        after_receipt = False
        for event in room["timeline"]["events"]:
            ours = rules.evaluate(event, facts)
            label = scene.sent.get(event["event_id"])
            if label is not None:  # sent under today's rules (the rooms' setup was not)
                entry = notified.get(event["event_id"])
                theirs = server_verdict(entry["actions"]) if entry else Verdict(False)
                assert without_rule(ours) == theirs, f"{label}: ours {ours}, Synapse's {theirs}"
                checked += 1
            if after_receipt and ours.notify:
                notifications += 1
                highlights += ours.highlight
            after_receipt = after_receipt or event["event_id"] == scene.read_up_to[room_id]
        expected_counts[room_id] = (notifications, highlights)
    assert checked == len(scene.sent)
    # The mix had something of every kind: not all silent, not all loud.
    assert expected_counts[scene.muted] == (0, 0)
    assert all(n > h > 0 for n, h in (expected_counts[scene.dm], expected_counts[scene.group]))

    # The invite: the server notified it; so do we, from the stripped state sync gives.
    invite_state = sync["rooms"]["invite"][scene.invite]["invite_state"]["events"]
    [invite] = [
        e for e in invite_state if e["type"] == "m.room.member" and e["state_key"] == alice.user_id
    ]
    ours = rules.evaluate(invite, RoomFacts(member_count=1, display_name=None, power_levels=None))
    [entry] = [n for n in reply["notifications"] if n["room_id"] == scene.invite]
    assert without_rule(ours) == server_verdict(entry["actions"])
    assert ours.rule_id == ".m.rule.invite_for_me"

    async def counts_agree() -> bool:
        rooms = (await alice.sync())["rooms"]["join"]
        counts = {
            room_id: (
                rooms[room_id]["unread_notifications"].get("notification_count", 0),
                rooms[room_id]["unread_notifications"].get("highlight_count", 0),
            )
            for room_id in expected_counts
        }
        return counts == expected_counts

    await eventually(counts_agree)


async def test_default_rules_are_synapses(make_user: MakeUser, http: aiohttp.ClientSession) -> None:
    alice = await client_for(http, make_user("fresh"))
    theirs = (await alice.call("GET", "/pushrules/"))["global"]
    ours = server_default_rules(alice.user_id)
    assert list(theirs) == list(ours) or set(theirs) == set(ours)
    for kind, rules in theirs.items():
        # Synapse leaves the MSC3930 poll rules off unless configured; we keep them (in the
        # places Synapse puts them) so that polls notify as messages do.
        kept = [rule for rule in ours[kind] if "msc3930" not in rule["rule_id"]]
        assert [r["rule_id"] for r in rules] == [r["rule_id"] for r in kept], kind
        assert rules == kept, kind
    # The spec's own rules are all there, in Synapse's order.
    spec_ids = [
        r["rule_id"] for kind in ours.values() for r in kind if r["rule_id"].startswith(".m.rule")
    ]
    assert spec_ids == [
        r["rule_id"] for kind in ours for r in theirs[kind] if r["rule_id"].startswith(".m.rule")
    ]

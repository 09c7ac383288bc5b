"""``tuimatrix demo``: a local Synapse seeded with users, rooms, a space and messages.

Everything lives in a throwaway directory: the server, the demo user's profile (its own
``TUIMATRIX_HOME``, so the user's real sessions are never touched) and the other users'
sessions. Nothing is installed at run time: Synapse comes from the ``demo`` extra.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.files import ensure_private_dir
from tuimatrix.paths import Paths, get_paths

DEMO_USER = "demo"
PEOPLE = ("alice", "bob", "carol")


@dataclass(frozen=True)
class DemoServer:
    synapse: LocalSynapse
    users: dict[str, str]  # localpart -> password

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.synapse.server_name}"

    def sign_in_lines(self) -> list[str]:
        """How a second client signs in to the demo: the homeserver, then each user with
        their password (throwaway accounts on a throwaway server, so printing them is fine)."""
        lines = [f"sign in from another client at {self.synapse.base_url} as:"]
        for localpart, password in self.users.items():
            you = "  (the demo's own user)" if localpart == DEMO_USER else ""
            lines.append(f"  {self.user_id(localpart)}  password {password}{you}")
        return lines


def use_demo_profile(directory: Path) -> None:
    """Point every tuimatrix path at the demo's own profile."""
    os.environ["TUIMATRIX_HOME"] = str(directory / "home")


def start_server(directory: Path) -> DemoServer:
    """Start the demo's Synapse in ``directory`` and register its users."""
    ensure_private_dir(directory)
    synapse = LocalSynapse(directory / "synapse")
    synapse.start()
    try:
        users = {}
        for localpart in (DEMO_USER, *PEOPLE):
            password = f"{localpart}-demo-password"
            synapse.register_user(localpart, password, displayname=localpart.capitalize())
            users[localpart] = password
    except BaseException:
        synapse.stop()
        raise
    return DemoServer(synapse, users)


def _seeder_paths(directory: Path) -> Paths:
    """The demo's other users keep their sessions apart from the demo user's profile."""
    root = directory / "seeders"
    return Paths(root / "config", root / "data", root / "state", root / "cache")


async def seed(server: DemoServer, directory: Path, say: Callable[[str], None]) -> None:
    """Create the demo's rooms, space and conversation, as its users."""
    paths = _seeder_paths(directory)
    accounts: dict[str, Account] = {}
    try:
        for localpart in PEOPLE:
            result = await auth.login(
                paths, server.user_id(localpart), server.users[localpart], crypto=False
            )
            accounts[localpart] = result.account
        alice, bob, carol = (accounts[p] for p in PEOPLE)
        demo = server.user_id(DEMO_USER)
        say("seeding rooms, a space and messages…")
        general = await alice.create_room(
            "General", topic="Everything and nothing", invite=[bob.user_id, carol.user_id, demo]
        )
        await bob.join(general)
        await carol.join(general)
        random_room = await bob.create_room("Random", topic="Off topic", invite=[demo])
        space = await alice.create_space("Tuimatrix", topic="Rooms about the client")
        design = await alice.create_room("Design", topic="Screens and keys", invite=[demo])
        dev = await alice.create_room("Development", topic="Code and tests", invite=[demo])
        for child in (design, dev):
            await alice.add_space_child(space, child)
        await alice.invite(space, demo)
        await alice.create_room(is_direct=True, invite=[demo])
        await carol.create_room("Secret plans", invite=[demo])
        # Bob's chat is end-to-end encrypted; he writes once the demo user's device has keys
        # (see encrypted_hello).
        await bob.create_room(is_direct=True, invite=[demo], encrypted=True)

        hello = await alice.send_text(general, "Welcome to the tuimatrix demo!")
        hello = await alice.send_queue.wait(hello.txn_id)
        await bob.send_text(
            general,
            "It speaks **HTML** too",
            html="It speaks <b>HTML</b> too, with <code>code</code> and <i>style</i>",
        )
        assert hello.event_id is not None
        await bob.reply(general, hello.event_id, "Glad to be here.")
        await carol.react(general, hello.event_id, "👍")
        typo = await carol.send_text(general, "Teh terminal is the best place to chat")
        typo = await carol.send_queue.wait(typo.txn_id)
        assert typo.event_id is not None
        await carol.edit(general, typo.event_id, "The terminal is the best place to chat")
        for i in range(1, 31):
            await bob.send_text(random_room, f"Random thought #{i}")
        await alice.send_text(design, "Sections fold, and remember it.")
        await alice.send_text(dev, "The sync loop commits events and the token together.")
        for account in accounts.values():
            await account.send_queue.flush()
    finally:
        for account in accounts.values():
            await account.close()


async def prepare_demo_user(server: DemoServer) -> None:
    """Log the demo user in, accept most invites (one stays, to be seen), set tags."""
    paths = get_paths()
    result = await auth.login(paths, server.user_id(DEMO_USER), server.users[DEMO_USER])
    account = result.account
    try:
        await account.sync_once()
        rooms = list(account.rooms.summaries.values())
        for room in rooms:
            if room.membership == "invite" and room.display_name != "Secret plans":
                await account.join(room.room_id)
        await account.sync_once()
        by_name = {r.display_name: r.room_id for r in account.rooms.summaries.values()}
        await account.set_tag(by_name["General"], "favourite")
        await account.set_tag(by_name["Random"], "low-priority")
        await account.sync_once()
    finally:
        await account.close()


async def encrypted_hello(directory: Path) -> None:
    """Bob writes in his encrypted chat with the demo user, whose device now has keys."""
    from tuimatrix.core.session import load_sessions

    paths = _seeder_paths(directory)
    [info] = [s for s in load_sessions(paths) if s.user_id.startswith("@bob:")]
    bob = await Account.open(info, paths)
    try:
        await bob.sync_once()
        encrypted = [
            r.room_id
            for r in bob.rooms.summaries.values()
            if r.is_direct and await bob.is_encrypted(r.room_id)
        ]
        for room_id in encrypted:
            await bob.send_text(room_id, "This chat is end-to-end encrypted 🔒")
            await bob.send_text(
                room_id, "Only our devices can read it; the server sees ciphertext."
            )
        await bob.send_queue.flush()
    finally:
        await bob.close()


CHATTER = (
    "Anyone tried the new room list yet?",
    "Folding sections is oddly satisfying.",
    "Coffee break in five.",
    "The sync loop survived another kill -9.",
    "I pushed a fix for the flaky test.",
    "Who is up for a review?",
    "Reminder: standup at ten.",
    "That benchmark is twice as fast now.",
)


class DemoPeers:
    """The demo's other users, who keep talking now and then so the screen is alive."""

    def __init__(self, server: DemoServer, directory: Path, interval: tuple[float, float]) -> None:
        self.server = server
        self.paths = _seeder_paths(directory)
        self.interval = interval

    async def run(self) -> None:
        from tuimatrix.core.session import load_sessions

        # With their keys: a peer may pick Bob's encrypted chat to talk in.
        accounts = [await Account.open(info, self.paths) for info in load_sessions(self.paths)]
        rng = random.Random()
        try:
            while True:
                await asyncio.sleep(rng.uniform(*self.interval))
                speaker = rng.choice(accounts)
                await speaker.sync_once()
                joined = [
                    r.room_id
                    for r in speaker.rooms.summaries.values()
                    if r.membership == "join" and not r.is_space
                ]
                if joined:
                    await speaker.send_text(rng.choice(joined), rng.choice(CHATTER))
                    await speaker.send_queue.flush()
        finally:
            for account in accounts:
                await account.close()

"""``tuimatrix demo``: a local Synapse seeded with users, rooms, a space and messages.

The demo keeps its own profile (``TUIMATRIX_HOME`` = the demo directory) so it never touches
the user's real sessions. The server and its seed survive between runs; seeding happens once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from tuimatrix.core import auth
from tuimatrix.core.account import Account
from tuimatrix.core.files import ensure_private_dir, write_atomic
from tuimatrix.localserver import LocalSynapse
from tuimatrix.paths import APP_NAME, Paths, get_paths

DEMO_USER = "demo"
PEOPLE = ("alice", "bob", "carol")
SEED_FILE = "seed.json"


@dataclass(frozen=True)
class DemoServer:
    synapse: LocalSynapse
    users: dict[str, str]  # localpart -> password

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.synapse.server_name}"


def demo_dir() -> Path:
    override = os.environ.get("TUIMATRIX_DEMO_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME)) / "demo"


def use_demo_profile(directory: Path) -> None:
    """Point every tuimatrix path at the demo's own profile."""
    os.environ["TUIMATRIX_HOME"] = str(directory / "home")


def start_server(directory: Path) -> tuple[DemoServer, bool]:
    """Start the demo's Synapse; returns it and whether it still needs seeding."""
    ensure_private_dir(directory)
    synapse = LocalSynapse(directory / "synapse")
    synapse.start()
    seed_path = directory / SEED_FILE
    if seed_path.exists():
        users = json.loads(seed_path.read_text("utf-8"))["users"]
        return DemoServer(synapse, users), False
    users = {}
    for localpart in (DEMO_USER, *PEOPLE):
        password = f"{localpart}-demo-password"
        synapse.register_user(localpart, password, displayname=localpart.capitalize())
        users[localpart] = password
    return DemoServer(synapse, users), True


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


async def login_demo_user(server: DemoServer) -> Account:
    """The demo user's session: resumed if saved, else a password login."""
    from tuimatrix.core.session import load_sessions

    paths = get_paths()
    user_id = server.user_id(DEMO_USER)
    for info in load_sessions(paths):
        if info.user_id == user_id:
            return await Account.open(info, paths)
    result = await auth.login(paths, user_id, server.users[DEMO_USER])
    return result.account


def mark_seeded(directory: Path, server: DemoServer) -> None:
    write_atomic(directory / SEED_FILE, json.dumps({"users": server.users}, indent=2) + "\n")

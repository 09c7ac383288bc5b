"""``tuimatrix demo`` says how a second client signs in to it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from tuimatrix.cli.demo_seed import DEMO_USER, DemoServer


def test_the_demo_names_its_server_and_every_users_password() -> None:
    synapse = SimpleNamespace(base_url="http://127.0.0.1:8448", server_name="localhost:8448")
    server = DemoServer(cast(Any, synapse), {DEMO_USER: "d-pw", "alice": "a-pw"})
    lines = server.sign_in_lines()
    assert lines[0] == "sign in from another client at http://127.0.0.1:8448 as:"
    assert lines[1] == "  @demo:localhost:8448  password d-pw  (the demo's own user)"
    assert lines[2] == "  @alice:localhost:8448  password a-pw"

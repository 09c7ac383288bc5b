"""What a homeserver offers to sign in with (core/login_flows.py), and a login against a server
that takes no password: one clear line before any password is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tuimatrix.cli.accounts import ask_login_values
from tuimatrix.cli.localserver import LocalSynapse
from tuimatrix.core import auth
from tuimatrix.core.errors import UserError
from tuimatrix.core.login_flows import (
    MAX_PROVIDERS,
    SignInMethods,
    is_oauth_metadata,
    no_password_line,
    parse_flows,
)
from tuimatrix.paths import get_paths

#: GET /login of a Synapse with OIDC single sign-on and passwords (1.163)
SYNAPSE_SSO = {
    "flows": [
        {"type": "m.login.sso", "identity_providers": [{"id": "oidc-idp", "name": "Company"}]},
        {"type": "m.login.token"},
        {"type": "m.login.password"},
        {"type": "m.login.application_service"},
    ]
}


def test_password_and_single_sign_on_with_its_providers() -> None:
    methods = parse_flows(SYNAPSE_SSO)
    assert methods.known and methods.password and not methods.oauth
    assert methods.sso is not None and [(p.id, p.name) for p in methods.sso] == [
        ("oidc-idp", "Company")
    ]
    assert methods.offered() == ["single sign-on (Company)", "password"]


def test_a_provider_name_from_the_server_is_one_safe_line() -> None:
    hostile = "[b]Evil[/b]\x1b[2J\nline two\u202e" + "x" * 500
    flows = {
        "flows": [{"type": "m.login.sso", "identity_providers": [{"id": "e", "name": hostile}]}]
    }
    methods = parse_flows(flows)
    assert methods.sso is not None
    [shown] = methods.sso
    assert "\x1b" not in shown.name and "\n" not in shown.name
    assert "\u202e" not in shown.name and len(shown.name) <= 80
    # Nameless providers go by their id; junk entries are dropped; a flood is capped.
    flood = [{"id": f"p{i}"} for i in range(MAX_PROVIDERS * 3)] + [{"name": "no id"}, "junk"]
    sso = parse_flows({"flows": [{"type": "m.login.sso", "identity_providers": flood}]}).sso
    assert sso is not None and len(sso) == MAX_PROVIDERS and sso[0].name == "p0"


@pytest.mark.parametrize("answer", [None, [], {"flows": "password"}, {"no": "flows"}, "x"])
def test_an_answer_that_says_nothing_rules_nothing_out(answer: Any) -> None:
    assert parse_flows(answer) == SignInMethods()


def test_oauth_metadata_needs_an_issuer_and_an_authorization_endpoint() -> None:
    assert is_oauth_metadata({"issuer": "https://a/", "authorization_endpoint": "https://a/x"})
    assert not is_oauth_metadata({"issuer": "https://a/"})
    assert not is_oauth_metadata({"errcode": "M_UNRECOGNIZED"})


def test_the_line_for_a_server_without_passwords_names_what_it_offers() -> None:
    methods = SignInMethods(known=True, sso=(), oauth=True)
    line = no_password_line("https://matrix.example\x1b[31m", methods)
    assert "\x1b" not in line and "\n" not in line
    assert "OAuth 2.0" in line and "single sign-on" in line and "password" in line
    bare = no_password_line("https://m.example", SignInMethods(known=True))
    assert (
        bare
        == "https://m.example does not sign in with a password, nor any other way tuimatrix knows"
    )


async def test_a_server_without_passwords_is_refused_before_any_password_is_sent(
    tmp_path: Path,
) -> None:
    pytest.importorskip("synapse")
    server = LocalSynapse(tmp_path / "hs", extra_config={"password_config": {"enabled": False}})
    server.start(timeout=90)
    try:
        with pytest.raises(UserError, match="does not sign in with a password") as caught:
            await auth.login(get_paths(), "@alice:localhost", "pw", server.base_url)
        assert "\n" not in str(caught.value)
        accounts = get_paths().accounts_dir
        assert not accounts.exists() or not any(accounts.iterdir())  # nothing was written
        # `tuimatrix login` does not even ask for the password: the input holds none, and
        # the line comes instead of the prompt (which would end at the end of input).
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            pipe.send_text("\x04")
            with pytest.raises(UserError, match="does not sign in with a password"):
                await ask_login_values("alice", server.base_url, interactive=True)
    finally:
        server.stop()

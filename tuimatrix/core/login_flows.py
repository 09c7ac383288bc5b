"""How a homeserver lets people sign in (spec "Login": ``GET /login``; "OAuth 2.0 API":
``GET /auth_metadata``), read before a login so that the user hears what the server offers
instead of a password error from a server that takes no passwords.

Pure parsing of the answers is kept apart from the requests, so hostile or broken answers are
tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuimatrix.core.sanitize import clean_line

if TYPE_CHECKING:
    from mautrix.api import HTTPAPI

PASSWORD = "m.login.password"
SSO = "m.login.sso"
TOKEN = "m.login.token"
#: at most this many identity providers are kept (a server could list thousands)
MAX_PROVIDERS = 50


@dataclass(frozen=True)
class IdentityProvider:
    """One single sign-on provider (``identity_providers`` of the SSO flow)."""

    id: str
    name: str  # one safe line


@dataclass(frozen=True)
class SignInMethods:
    """What the server offers. ``known`` is False when it did not say (an error, a timeout):
    then nothing is ruled out and the login simply tries."""

    known: bool = False
    password: bool = False
    sso: tuple[IdentityProvider, ...] | None = None  # None: no SSO; (): SSO, no providers named
    oauth: bool = False

    def offered(self) -> list[str]:
        """The ways in, for a user to read."""
        ways = []
        if self.oauth:
            ways.append("OAuth 2.0 (next-generation auth)")
        if self.sso is not None:
            names = ", ".join(p.name for p in self.sso[:5])
            ways.append(f"single sign-on ({names})" if names else "single sign-on")
        if self.password:
            ways.append("password")
        return ways


def parse_flows(answer: Any) -> SignInMethods:
    """The ``GET /login`` answer; anything malformed counts as "not said"."""
    flows = answer.get("flows") if isinstance(answer, dict) else None
    if not isinstance(flows, list):
        return SignInMethods()
    types = {f.get("type") for f in flows if isinstance(f, dict)}
    sso: tuple[IdentityProvider, ...] | None = None
    for flow in flows:
        if isinstance(flow, dict) and flow.get("type") == SSO:
            sso = _providers(flow.get("identity_providers"))
    return SignInMethods(known=True, password=PASSWORD in types, sso=sso)


def _providers(raw: Any) -> tuple[IdentityProvider, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for entry in raw[:MAX_PROVIDERS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        name = entry.get("name")
        label = clean_line(name if isinstance(name, str) and name.strip() else entry["id"])
        found.append(IdentityProvider(entry["id"], label[:80]))
    return tuple(found)


def is_oauth_metadata(answer: Any) -> bool:
    """An ``auth_metadata`` answer that names an issuer and an authorization endpoint."""
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("issuer"), str)
        and isinstance(answer.get("authorization_endpoint"), str)
    )


async def sign_in_methods(api: HTTPAPI) -> SignInMethods:
    """Ask the server (two small requests); "not said" if it cannot answer."""
    from mautrix.api import Method, Path

    try:
        methods = parse_flows(await api.request(Method.GET, Path.v3.login))
    except Exception:
        return SignInMethods()
    try:
        metadata = await api.request(Method.GET, Path.v1.auth_metadata)
    except Exception:
        metadata = None  # 404 M_UNRECOGNIZED: the server has no OAuth 2.0 API
    if is_oauth_metadata(metadata):
        return SignInMethods(True, methods.password, methods.sso, oauth=True)
    return methods


def no_password_line(server: str, methods: SignInMethods) -> str:
    """The one line for a server that takes no password."""
    where, ways = clean_line(server), methods.offered()
    if not ways:
        return f"{where} does not sign in with a password, nor any other way tuimatrix knows"
    return (
        f"{where} does not sign in with a password; it offers "
        f"{'; '.join(ways)}, which tuimatrix cannot use yet"
    )

"""User-interactive authentication (spec "User-interactive authentication API"), password only.

Some requests (deleting a device, replacing cross-signing keys) first answer 401 with a
session and the flows the server accepts; the same request again with an ``auth`` dict for the
password stage completes it.
"""

from __future__ import annotations

from typing import Any

from tuimatrix.core.errors import UserError


def uia_session(error: BaseException) -> str | None:
    """The session of a 401 that asks for auth ("" if it names none), else None.

    Raises UserError when the server accepts no password-only flow.
    """
    body = getattr(error, "body", None)
    if getattr(error, "http_status", None) != 401 or not isinstance(body, dict):
        return None
    if "flows" not in body:
        return None
    flows = body.get("flows")
    stages = (
        [f.get("stages") for f in flows if isinstance(f, dict)] if isinstance(flows, list) else []
    )
    if not any(s == ["m.login.password"] for s in stages):
        raise UserError("the server asks for a kind of sign-in tuimatrix cannot do here")
    session = body.get("session")
    return session if isinstance(session, str) else ""


def password_auth(user_id: str, password: str, session: str) -> dict[str, Any]:
    """The ``auth`` dict of the password stage."""
    auth: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    }
    if session:
        auth["session"] = session
    return auth

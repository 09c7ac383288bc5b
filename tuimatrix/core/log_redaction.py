"""Secrets never reach a log: secret-bearing requests are logged without their body, and every
log line is scrubbed of secret shapes as a second line of defence.

mautrix logs each request's JSON body at debug level unless the call is marked ``sensitive``,
and some of its own calls that carry the account password (the user-interactive auth of a
cross-signing upload) cannot be marked by us: :func:`carries_secret` lets our HTTP layer mark
them. The shapes :func:`redact` knows cover what a bug elsewhere could still let through: JSON
or ``repr`` fields named for secrets, ``Authorization`` headers, ``?access_token=`` query
strings, Synapse's access and refresh tokens, and recovery keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["SECRET_FIELDS", "RedactingFormatter", "carries_secret", "redact"]

REDACTED: Final = "<redacted>"

#: Field names whose value is a secret, in request bodies and in anything logged.
SECRET_FIELDS: Final = frozenset(
    {
        "password",
        "new_password",
        "access_token",
        "refresh_token",
        "login_token",
        "loginToken",
        "token",
        "passphrase",
        "recovery_key",
        "private_key",
        "session_key",
    }
)

_NAMES: Final = "|".join(sorted(SECRET_FIELDS, key=len, reverse=True))
_BASE58: Final = "1-9A-HJ-NP-Za-km-z"
_SECRET_RE: Final = re.compile(
    # "password": "…" in JSON, 'password': '…' in a repr (the quoted value may hold escapes).
    rf"""(?P<field>(?P<q>["'])(?i:{_NAMES})(?P=q)\s*:\s*)(?:"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+')"""
    # ?access_token=… and friends in a URL.
    rf"|(?P<param>[?&;](?i:{_NAMES})=)[^&;#\s\"']*+"
    # An Authorization header, whatever the scheme.
    r"|(?P<scheme>\b(?i:Bearer|Basic)\s+)[^\s\"',;]++"
    # Synapse's access (syt_) and refresh (syr_) tokens anywhere.
    r"|\bsy[tr]_[A-Za-z0-9_]++"
    # A recovery key: 48 base58 characters from the two prefix bytes "Es", in groups of four.
    rf"|\bEs[{_BASE58}]{{2}}(?:\s?[{_BASE58}]{{4}}){{11}}\b"
)


def _replace(match: re.Match[str]) -> str:
    for prefix in ("field", "param", "scheme"):
        kept = match.group(prefix)
        if kept is not None:
            quote = '"' if prefix == "field" else ""
            return f"{kept}{quote}{REDACTED}{quote}"
    return REDACTED


def redact(text: str) -> str:
    """``text`` with every secret shape it holds replaced by ``<redacted>``."""
    return _SECRET_RE.sub(_replace, text)


def carries_secret(content: Any) -> bool:
    """Whether a request body holds a secret field (at the top, or in its UIA ``auth``)."""
    if not isinstance(content, Mapping):
        return False
    if any(name in content for name in SECRET_FIELDS):
        return True
    auth = content.get("auth")
    return isinstance(auth, Mapping) and any(name in auth for name in SECRET_FIELDS)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output, traceback included, has every secret shape redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

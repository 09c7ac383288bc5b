"""Transaction ids of the messages we send: drawn at random, or a caller's idempotency key.

Apart from the send queue so that ``tuimatrix exec --txn-id`` can check a key with nothing
heavy imported (a client of a running owner imports as little as it can).
"""

from __future__ import annotations

import secrets
import time

from tuimatrix.core.errors import UsageError, UserError

#: what a caller's idempotency key may be: it becomes part of a URL path, as it is
TXN_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-")
TXN_KEY_MAX = 64


def new_txn_id() -> str:
    return f"tm{int(time.time() * 1000)}.{secrets.token_hex(6)}"


def check_txn_key(key: str) -> str:
    """``key`` if it can be a transaction id, else a UserError saying why."""
    if not key or len(key) > TXN_KEY_MAX or not set(key) <= TXN_KEY_CHARS:
        raise UserError(
            f"a transaction key is 1 to {TXN_KEY_MAX} of the characters A-Z a-z 0-9 . _ ~ -"
        )
    return key


def check_txn_key_option(key: str) -> str:
    """``exec --txn-id KEY``'s key, checked where the command line is (exec) and where the
    request is run (the owner) alike: a usage error naming the option."""
    try:
        return check_txn_key(key)
    except UserError as e:
        raise UsageError(f"--txn-id: {e}") from e

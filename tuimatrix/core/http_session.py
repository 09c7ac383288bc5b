"""The aiohttp session an account's requests (and a login's) go through, with finite deadlines.

Apart from ``account.py`` because logging in and checking a signed-out session need one too,
before or without an account; aiohttp is imported on first use (core/lazy.py says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

#: The HTTP read timeout (s): it must exceed the long-poll time of a live sync
#: (account.SYNC_TIMEOUT_MS).
READ_TIMEOUT = 90.0
#: The total deadline of any request made on an account's session without one of its own
#: (discovery, media downloads): long enough for a large download (media.MAX_DOWNLOAD)
#: on a slow link, finite so that a server trickling bytes cannot hold it forever. Matrix API
#: requests get tighter ones (core.http).
SESSION_DEADLINE = 1800.0


def make_http_session() -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=SESSION_DEADLINE, connect=20, sock_read=READ_TIMEOUT),
        headers={"User-Agent": "tuimatrix"},
    )

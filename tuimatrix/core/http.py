"""mautrix's HTTP layer, with what it drops put back.

mautrix turns an error response into an exception that keeps only ``errcode`` and ``error``:
the ``Retry-After`` header, ``retry_after_ms`` and ``soft_logout`` are lost, and a 429 is not
retried. This subclass keeps them as attributes of the exception and waits out rate limits.
Responses are parsed with orjson, which is several times faster than json on large syncs.

Every request has a total deadline: aiohttp's ``sock_read`` timeout starts again on every
byte, so a server (or anything between) that trickles a byte every few seconds would
otherwise hold a request, and the sync loop, forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import ClientResponse, ClientTimeout
from mautrix.api import HTTPAPI, Method, PathBuilder
from mautrix.errors import MatrixResponseError, make_request_error
from yarl import URL

from tuimatrix.core.errors import server_delay
from tuimatrix.core.log_redaction import carries_secret

log = logging.getLogger(__name__)

#: How many 429s in a row one request waits out before giving up.
MAX_RATE_LIMIT_RETRIES = 5
#: The longest wait a request sits out by itself; a longer one goes back to the caller (the
#: sync loop shows it as a countdown, the send queue retries later) rather than hang unseen.
MAX_RETRY_AFTER = 120.0
#: The wait when a 429 names none (doubled at each attempt).
DEFAULT_RETRY_AFTER = 2.0
#: The total deadline of a request (seconds), answer included.
REQUEST_DEADLINE = 120.0
#: A long-poll (``/sync?timeout=``) may take its timeout plus this (seconds): an initial sync
#: of a large account can take the server a minute to prepare.
LONG_POLL_MARGIN = 90.0
#: Uploads get more time with their size: this many bytes a second at the slowest.
MIN_UPLOAD_RATE = 16 * 1024


def parse_retry_after(header: str | None, body: Mapping[str, Any] | None) -> float | None:
    """The wait a 429 asks for, in seconds and clamped to a sane range: the ``Retry-After``
    header first (seconds or an HTTP date), then ``retry_after_ms``. None if neither is usable
    (missing, not finite, not a number)."""
    if header:
        wait = server_delay(header)
        if wait is not None:
            return wait
    if body is not None:
        ms = body.get("retry_after_ms")
        if isinstance(ms, int | float) and not isinstance(ms, bool):
            return server_delay(ms, scale=0.001)
    return None


class TuiHTTPAPI(HTTPAPI):
    #: per-instance overrides of the module's deadlines (tests lower them)
    request_deadline: float = REQUEST_DEADLINE
    long_poll_margin: float = LONG_POLL_MARGIN

    def deadline(self, content: Any, query_params: Mapping[str, str] | None) -> float:
        """The total time a request may take (seconds)."""
        poll = (query_params or {}).get("timeout")
        if poll is not None:
            try:
                poll_ms = float(poll)
            except ValueError:
                poll_ms = 0.0
            return max(0.0, min(poll_ms, 3_600_000.0)) / 1000 + self.long_poll_margin
        size = len(content) if isinstance(content, bytes | bytearray | str) else 0
        return self.request_deadline + size / MIN_UPLOAD_RATE

    async def _send(
        self,
        method: Method,
        url: URL,
        content: Any,
        query_params: dict[str, str],
        headers: dict[str, str],
    ) -> tuple[Any, ClientResponse]:
        request = self.session.request(
            str(method),
            url,
            data=content,
            params=query_params,
            headers=headers,
            # Only ``total`` is replaced: the session's connect and per-read timeouts still apply.
            timeout=ClientTimeout(
                total=self.deadline(content, query_params),
                connect=self.session.timeout.connect,
                sock_connect=self.session.timeout.sock_connect,
                sock_read=self.session.timeout.sock_read,
            ),
        )
        async with request as response:
            raw = await response.read()
            if response.status < 200 or response.status >= 300:
                body: dict[str, Any] | None = None
                try:
                    parsed = orjson.loads(raw)
                    body = parsed if isinstance(parsed, dict) else None
                except orjson.JSONDecodeError:
                    pass
                err = make_request_error(
                    http_status=response.status,
                    text=raw.decode("utf-8", "replace"),
                    errcode=body.get("errcode") if body else None,
                    message=body.get("error") if body else None,
                    unstable_errcode=(
                        body.get("org.matrix.msc3848.unstable.errcode") if body else None
                    ),
                )
                err.retry_after = (  # type: ignore[attr-defined]
                    parse_retry_after(response.headers.get("Retry-After"), body)
                    if response.status == 429
                    else None
                )
                err.soft_logout = bool(body and body.get("soft_logout"))  # type: ignore[attr-defined]
                err.body = body  # type: ignore[attr-defined]
                raise err
            try:
                return orjson.loads(raw), response
            except orjson.JSONDecodeError as e:
                raise MatrixResponseError("the server's answer is not JSON") from e

    async def request(
        self,
        method: Method,
        path: PathBuilder | str,
        content: Any = None,
        headers: dict[str, str] | None = None,
        query_params: Mapping[str, str] | None = None,
        retry_count: int | None = None,
        metrics_method: str = "",
        min_iter_size: int = 25 * 1024 * 1024,
        sensitive: bool = False,
    ) -> Any:
        # mautrix logs request bodies at debug level; some of its own calls carry the password
        # (the UIA of a cross-signing upload) and cannot be marked by their callers.
        sensitive = sensitive or carries_secret(content)
        # One deadline for the whole request, rate-limit waits and mautrix's own retries of
        # a dropped connection included: five 429s must not stretch it to five deadlines.
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + self.deadline(content, query_params)
        attempt = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline_at):
                    return await super().request(
                        method,
                        path,
                        content,
                        # mautrix mutates the headers dict (Authorization); give it a fresh one.
                        headers=dict(headers) if headers else None,
                        query_params=query_params,
                        retry_count=retry_count,
                        metrics_method=metrics_method,
                        min_iter_size=min_iter_size,
                        sensitive=sensitive,
                    )
            except Exception as e:
                if getattr(e, "http_status", None) != 429 or attempt >= MAX_RATE_LIMIT_RETRIES:
                    raise
                wait = server_delay(getattr(e, "retry_after", None))
                wait = DEFAULT_RETRY_AFTER * (2**attempt) if wait is None else wait
                if wait > MAX_RETRY_AFTER or loop.time() + wait >= deadline_at:
                    raise
                attempt += 1
                log.info("rate limited on %s; waiting %.1fs", path, wait)
                await asyncio.sleep(wait)

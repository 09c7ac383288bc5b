"""A loopback HTTP reverse proxy that injects faults between a client and Synapse.

Tests put it in front of the session's Synapse to make the homeserver rate-limit on demand
(``inject_429``) or vanish and come back on the same address (``go_down`` / ``come_up``),
which a real Synapse cannot be asked to do.

Everything else is forwarded faithfully: method, raw path and query (percent-encoding kept,
since room and event ids are escaped in paths), headers minus hop-by-hop ones and ``Host``,
and the body. Responses are streamed back as they arrive and never decompressed, so a
long-poll ``/sync`` costs nothing while it waits and a gzip body passes through untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# RFC 9110 §7.6.1 hop-by-hop headers, plus Host (the upstream's own is set by the client) and
# Content-Length (recomputed by aiohttp from the body it sends).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED_UP = _HOP_BY_HOP | {"host", "content-length"}

# How long go_down lets in-flight requests finish before cutting them off: a simulated crash
# should be abrupt, but aiohttp treats a timeout of 0 as "wait forever".
_SHUTDOWN_GRACE = 0.01


@dataclass
class _Fault:
    path_contains: str
    remaining: int
    retry_after: float | None
    retry_after_ms: int | None
    #: for inject_error: the status and JSON body to answer instead of a 429
    status: int = 429
    body: dict[str, object] | None = None


@dataclass
class _Cut:
    """A fault that cuts the connection: before forwarding, after, or mid-answer."""

    path_contains: str
    remaining: int
    #: "before": the server never sees the request; "after": it handles it, the answer is
    #: lost; "truncate": the status, headers and half the body arrive, then the cut;
    #: "stall": it handles it, and no answer ever comes
    when: str


def _forwardable(headers: CIMultiDictProxy[str], drop: frozenset[str]) -> CIMultiDict[str]:
    """Copy ``headers`` without ``drop`` and without any header the Connection header names."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    return CIMultiDict(
        (key, value)
        for key, value in headers.items()
        if key.lower() not in drop and key.lower() not in named
    )


class FaultProxy:
    """A reverse proxy on ``127.0.0.1`` in front of ``upstream`` (e.g. ``synapse.base_url``).

    Usable as ``async with FaultProxy(url) as proxy:``. ``requests`` records
    ``(time.monotonic(), method, path)`` for every request received, injected faults included;
    ``path`` is the decoded path without the query string, the same string ``inject_429``
    matches against.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.port = 0
        self.requests: list[tuple[float, str, str]] = []
        #: the raw path and query of every request, in order (to check query parameters)
        self.raw_paths: list[str] = []
        self._faults: list[_Fault] = []
        self._cuts: list[_Cut] = []
        self._session: aiohttp.ClientSession | None = None
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        """Open the upstream session and start listening on a free loopback port."""
        if self._session is None:
            # auto_decompress=False: forward bytes as received, Content-Encoding and all.
            # limit=0: many concurrent long-polls must not queue behind a connection cap.
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        await self.come_up()

    async def stop(self) -> None:
        """Stop listening, close every connection and the upstream session. Idempotent."""
        await self.go_down()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def inject_429(
        self,
        path_contains: str,
        count: int = 1,
        *,
        retry_after: float | None = 1.0,
        retry_after_ms: int | None = None,
    ) -> None:
        """Answer the next ``count`` requests whose path contains ``path_contains`` with 429.

        The body is a Matrix ``M_LIMIT_EXCEEDED`` error. ``retry_after`` (seconds) becomes a
        ``Retry-After`` header, written as an integer when it is whole; ``retry_after_ms``
        becomes the JSON field of that name. Pass ``retry_after=None`` to omit the header.
        Faults are consumed in the order they were injected.
        """
        self._faults.append(_Fault(path_contains, count, retry_after, retry_after_ms))

    def inject_error(
        self, path_contains: str, status: int, body: dict[str, object], count: int = 1
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and the JSON ``body``."""
        self._faults.append(_Fault(path_contains, count, None, None, status, body))

    def inject_reset(self, path_contains: str, count: int = 1, *, after_upstream: bool) -> None:
        """Cut the connection of the next ``count`` matching requests with no answer at all.

        ``after_upstream=False``: before forwarding, so the server never sees the request.
        ``after_upstream=True``: after the server has handled it (an event it stored stays
        stored) and before a byte of its answer reaches the client.
        """
        self._cuts.append(_Cut(path_contains, count, "after" if after_upstream else "before"))

    def inject_truncated(self, path_contains: str, count: int = 1) -> None:
        """Forward the next ``count`` matching requests, then send the answer's status and
        headers (its full Content-Length) and only half of its body before cutting."""
        self._cuts.append(_Cut(path_contains, count, "truncate"))

    def inject_stall(self, path_contains: str, count: int = 1) -> None:
        """Forward the next ``count`` matching requests (the server handles them), then never
        answer: the client hears nothing until it gives up or the proxy stops."""
        self._cuts.append(_Cut(path_contains, count, "stall"))

    def clear_faults(self) -> None:
        """Forget every fault not yet consumed: from now on, everything is forwarded."""
        self._faults.clear()
        self._cuts.clear()

    def _take_cut(self, path: str) -> _Cut | None:
        for cut in self._cuts:
            if cut.remaining > 0 and cut.path_contains in path:
                cut.remaining -= 1
                return cut
        return None

    async def _cut(self, request: web.BaseRequest, cut: _Cut) -> web.StreamResponse:
        assert self._session is not None and request.transport is not None
        body = await request.content.read()
        if cut.when != "before":
            async with self._session.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),
                headers=_forwardable(request.headers, _NOT_FORWARDED_UP),
                data=body,
                allow_redirects=False,
            ) as upstream:
                answer = await upstream.read()
                status = upstream.status
        if cut.when == "stall":
            await asyncio.Event().wait()  # until the client hangs up (handler cancellation)
        if cut.when == "truncate":
            response = web.StreamResponse(status=status)
            response.content_type = "application/json"
            response.content_length = len(answer)
            await response.prepare(request)
            await response.write(answer[: len(answer) // 2])
        request.transport.abort()
        # The connection is gone: nothing more can be written; end the handler quietly.
        raise asyncio.CancelledError

    async def go_down(self) -> None:
        """Stop listening and cut every open connection, like a server that has stopped.

        New connections are refused; requests in flight (a long-poll ``/sync``) are aborted.
        """
        listener, self._listener = self._listener, None
        server, self._server = self._server, None
        if listener is not None:
            listener.close()
        if server is not None:
            await server.shutdown(_SHUTDOWN_GRACE)
        if listener is not None:
            await listener.wait_closed()

    async def come_up(self) -> None:
        """Listen again, on the same port as before (a free one the first time)."""
        if self._listener is not None:
            return
        if self._session is None:
            raise RuntimeError("FaultProxy.start() was not called")
        # A fresh low-level server each time: aiohttp's is not meant to be reused after
        # shutdown. handler_cancellation: a client that hangs up cancels the upstream request.
        self._server = web.Server(self._handle, handler_cancellation=True)
        loop = asyncio.get_running_loop()
        # reuse_address lets us rebind the same port although the connections we cut are
        # still in TIME_WAIT.
        self._listener = await loop.create_server(
            self._server, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.method, request.path))
        self.raw_paths.append(request.raw_path)
        cut = self._take_cut(request.path)
        if cut is not None:
            return await self._cut(request, cut)
        fault = self._take_fault(request.path)
        if fault is not None:
            return self._rate_limited(fault)
        assert self._session is not None
        # Read the whole body: Matrix request bodies are small, and sending bytes keeps a real
        # Content-Length (and avoids the 1 MiB cap of request.read()).
        body = await request.content.read()
        try:
            upstream = await self._session.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),
                headers=_forwardable(request.headers, _NOT_FORWARDED_UP),
                data=body if body or request.body_exists else None,
                allow_redirects=False,
                # Send only what the client sent: no User-Agent/Accept-Encoding of our own.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        except aiohttp.ClientError as err:
            return web.json_response(
                {"errcode": "M_UNKNOWN", "error": f"FaultProxy: upstream unreachable: {err}"},
                status=502,
            )
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            response.headers.extend(_forwardable(upstream.headers, _HOP_BY_HOP))
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        return response

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.path_contains in path:
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _rate_limited(fault: _Fault) -> web.Response:
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status)
        payload: dict[str, object] = {
            "errcode": "M_LIMIT_EXCEEDED",
            "error": "Too many requests (injected by FaultProxy)",
        }
        if fault.retry_after_ms is not None:
            payload["retry_after_ms"] = fault.retry_after_ms
        headers = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = (
                str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            )
        return web.Response(
            status=429,
            text=json.dumps(payload),
            content_type="application/json",
            headers=headers,
        )

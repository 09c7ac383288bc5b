"""A loopback HTTP reverse proxy that injects faults between a client and Synapse.

Tests put it in front of the session's Synapse to make the homeserver rate-limit on demand
(``inject_429``) or vanish and come back on the same address (``go_down`` / ``come_up``),
which a real Synapse cannot be asked to do. Transport faults (``inject_reset``,
``inject_truncated``, ``inject_trickle``, ``inject_stall``) and any raw answer
(``inject_raw``) misbehave the way networks and broken middleboxes do.

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


#: what a transport fault does with a matching request
RESET = "reset"  # close the connection without an answer
TRUNCATED = "truncated"  # forward the real answer, but cut it off halfway
TRICKLE = "trickle"  # forward the real answer one byte at a time, slowly
STALL = "stall"  # never answer
RAW = "raw"  # answer with the given status, headers and bytes


@dataclass
class _StreamFault:
    path_contains: str
    remaining: int
    kind: str
    #: TRICKLE: seconds between bytes
    interval: float = 1.0
    #: RAW: the answer
    status: int = 200
    headers: dict[str, str] | None = None
    body: bytes = b""
    #: RESET and STALL: let the server handle the request first (an event it stores stays
    #: stored), so that only its answer is lost
    after_upstream: bool = False


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
        self._stream_faults: list[_StreamFault] = []
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
        # Matched against the path and query: a fault can single out the live syncs (timeout=).
        stream_fault = self._take_stream_fault(request.path_qs)
        if stream_fault is not None:
            return await self._misbehave(request, stream_fault)
        fault = self._take_fault(request.path_qs)
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

    # -- transport faults ------------------------------------------------------------------

    def inject_reset(
        self, path_contains: str, count: int = 1, *, after_upstream: bool = False
    ) -> None:
        """Close the connection of the next ``count`` matching requests without an answer.

        ``after_upstream=False``: before forwarding, so the server never sees the request.
        ``after_upstream=True``: after the server has handled it (an event it stored stays
        stored) and before a byte of its answer reaches the client.
        """
        self._stream_faults.append(
            _StreamFault(path_contains, count, RESET, after_upstream=after_upstream)
        )

    def inject_truncated(self, path_contains: str, count: int = 1) -> None:
        """Forward the next ``count`` matching requests, but send only the status, headers
        (the real Content-Length) and the first half of the body, then close the connection."""
        self._stream_faults.append(_StreamFault(path_contains, count, TRUNCATED))

    def inject_trickle(self, path_contains: str, count: int = 1, *, interval: float = 1.0) -> None:
        """Forward the next ``count`` matching requests' real answers one byte every
        ``interval`` seconds: a connection that is never idle long enough for a read timeout."""
        self._stream_faults.append(_StreamFault(path_contains, count, TRICKLE, interval=interval))

    def inject_stall(
        self, path_contains: str, count: int = 1, *, after_upstream: bool = False
    ) -> None:
        """Accept the next ``count`` matching requests and never answer them (with
        ``after_upstream``, the server handles them first)."""
        self._stream_faults.append(
            _StreamFault(path_contains, count, STALL, after_upstream=after_upstream)
        )

    def inject_raw(
        self,
        path_contains: str,
        status: int,
        body: bytes | str,
        *,
        headers: dict[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests with exactly these status, headers and
        body (e.g. ``Retry-After: inf``, or JSON cut short with a correct Content-Length)."""
        data = body.encode() if isinstance(body, str) else body
        self._stream_faults.append(
            _StreamFault(path_contains, count, RAW, status=status, headers=headers, body=data)
        )

    def clear_faults(self) -> None:
        """Forget every fault not yet used up (of every kind)."""
        self._faults.clear()
        self._stream_faults.clear()

    def _take_stream_fault(self, path: str) -> _StreamFault | None:
        for fault in self._stream_faults:
            if fault.remaining > 0 and fault.path_contains in path:
                fault.remaining -= 1
                return fault
        return None

    async def _misbehave(self, request: web.BaseRequest, fault: _StreamFault) -> web.StreamResponse:
        if fault.kind == RAW:
            raw = web.Response(status=fault.status, body=fault.body)
            raw.headers.update(fault.headers or {"Content-Type": "application/json"})
            return raw
        if fault.after_upstream and fault.kind in (RESET, STALL):
            await self._fetch(request)
        if fault.kind == STALL:
            # Cancelled when the client hangs up or the proxy goes down.
            await asyncio.Event().wait()
        if fault.kind == RESET:
            return self._abort(request)
        status, headers, body = await self._fetch(request)
        response = web.StreamResponse(status=status)
        response.headers.extend(headers)
        if fault.kind == TRUNCATED:
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            return self._abort(request)
        # TRICKLE: no Content-Length, so that the client cannot know when it will end.
        response.headers.popall("Content-Length", None)
        response.headers.popall("Content-Encoding", None)
        await response.prepare(request)
        for i in range(len(body)):
            await response.write(body[i : i + 1])
            await asyncio.sleep(fault.interval)
        await response.write_eof()
        return response

    async def _fetch(self, request: web.BaseRequest) -> tuple[int, CIMultiDict[str], bytes]:
        """The upstream's whole (decoded) answer to ``request``."""
        assert self._session is not None
        async with self._session.request(
            request.method,
            URL(self.upstream + request.raw_path, encoded=True),
            headers=_forwardable(request.headers, _NOT_FORWARDED_UP | {"accept-encoding"}),
            data=await request.content.read() or None,
            allow_redirects=False,
            # Plain bytes, so that a byte-wise trickle or a cut is of the JSON itself.
            skip_auto_headers=("Accept-Encoding",),
        ) as upstream:
            body = await upstream.read()
            headers = _forwardable(upstream.headers, _HOP_BY_HOP | {"content-length"})
            return upstream.status, headers, body

    @staticmethod
    def _abort(request: web.BaseRequest) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        # Never written: the connection is gone. aiohttp wants a response object all the same.
        return web.Response(status=500)

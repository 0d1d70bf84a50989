"""Pure-ASGI middlewares (cheaper than ``BaseHTTPMiddleware`` on every request).

In the order a request meets them:

- ``RequestContextMiddleware`` (outside even Starlette's error middleware, so a
  500 carries it too): the request id (a sane incoming ``X-Request-ID``, else a
  new one) bound to every log line written while the request runs
  (``structlog.contextvars``) and returned in the ``X-Request-ID`` header; then
  one access line per request (method, route template, status, duration, client
  address), sampled by ``ORBITPAY_ACCESS_LOG_SAMPLE`` or off with
  ``ORBITPAY_ACCESS_LOG=off``.
- ``MetricsMiddleware``: request counts and latency by route template.
- ``ClientAddressMiddleware``: the client's address (``security.clientip``:
  forwarding headers only from ``ORBITPAY_TRUSTED_PROXIES``) replaces
  ``scope["client"]``, so limits, caps and logs all see the same one.
- ``RateLimitMiddleware``: the limiter (per API key for a valid key, else per
  client address) stamps the ``X-RateLimit-*`` headers on every response and
  answers 429 with ``Retry-After`` and the JSON error body when over the limit.
  It runs before anything else costs work, so it bounds all of that too.
- ``InputGuardMiddleware``: refuses what must never reach a route, before any
  of it is read: a NUL character in the path or a query value (PostgreSQL
  cannot store it: a 422 naming the parameter), and for requests with a body
  (``POST``/``PUT``/``PATCH`` under ``/api/``) a missing, invalid or read-only
  ``X-API-Key`` (401/403: every such route needs a write key), then a body
  larger than ``ORBITPAY_MAX_BODY_BYTES`` (413 from ``Content-Length`` at once,
  or as soon as a chunked body passes the limit). The body, at most the limit,
  is read here and replayed to the route: memory per request stays bounded.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from structlog.contextvars import bind_contextvars, reset_contextvars

from orbitpay.api.errors import RETRY_AFTER_SECONDS
from orbitpay.db.errors import is_connection_error
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import (
    HTTP_LATENCY,
    HTTP_REFUSED,
    HTTP_REQUESTS,
    RATE_LIMITED,
)
from orbitpay.security.apikeys import KeyIdentity, KeyVerifier
from orbitpay.security.clientip import Network, client_address
from orbitpay.security.ratelimit import Decision, RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Polled by load balancers and Prometheus: never limited, never counted.
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
API_KEY_HEADER = b"x-api-key"
REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept when it is short printable ASCII without spaces, quotes or
# separators a log reader could trip on (a UUID, a hex trace id, "lb-7f3a:42");
# anything else is replaced, so a client cannot forge log structure or grow lines.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
ACCESS_LOGGER = "orbitpay.access"


def client_ip(scope: Scope) -> str:
    """The client's address as ``ClientAddressMiddleware`` resolved it."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    details: Any | None = None,
) -> None:
    """The JSON error shape of ``api.errors``, sent straight from a middleware."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def new_request_id() -> str:
    """A fresh request id: 128 random bits as 32 hex characters (UUID-sized)."""
    return os.urandom(16).hex()


def request_id_for(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when sane (a proxy's trace id), else a new one."""
    incoming = _header(scope, REQUEST_ID_HEADER)
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming.decode("ascii")
    return new_request_id()


class RequestContextMiddleware:
    """Request id in every log line and the response header; one access line per request.

    Added outermost (``api.app.OrbitPayAPI``): the 500 that Starlette's error
    middleware answers, and the ``unhandled_error`` line it logs, carry the id too.
    The access line is written after the response (and its status) is known, at
    INFO on the ``orbitpay.access`` logger: its level (``ORBITPAY_LOG_LEVEL``) and
    ``ORBITPAY_ACCESS_LOG`` turn it off, ``ORBITPAY_ACCESS_LOG_SAMPLE`` keeps that
    fraction of the 1xx-4xx lines; 5xx lines are always written while it is on.
    """

    def __init__(self, app: ASGIApp, access_log: bool = True, sample: float = 1.0) -> None:
        self.app = app
        self._access_log = access_log
        self._sample = sample
        self._log = get_logger(ACCESS_LOGGER)
        self._stdlib = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_for(scope)
        # Routes read it as ``request.state.request_id`` (e.g. to put it in an error body).
        scope.setdefault("state", {})["request_id"] = request_id
        tokens = bind_contextvars(request_id=request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # Left bound: the server logs the exception after this frame, in this
            # request's own task (a copied context), and that line needs the id too.
            self._access(scope, status, started)
            raise
        self._access(scope, status, started)
        reset_contextvars(**tokens)

    def _access(self, scope: Scope, status: int, started: float) -> None:
        if not self._access_log or not self._stdlib.isEnabledFor(logging.INFO):
            return
        if status < 500 and self._sample < 1.0 and random.random() >= self._sample:
            return
        # The template of an API route; a page or asset served without one (/docs, its
        # scripts, /metrics) by its path; anything refused without one is "unmatched"
        # (a client's junk paths are not copied into the log).
        template = getattr(scope.get("route"), "path", None)
        if template is None:
            template = scope.get("path", "")[:200] if status < 400 else "unmatched"
        self._log.info(
            "http_request",
            method=scope.get("method", ""),
            route=template,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            client_ip=client_ip(scope),
        )


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self._trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            address = client_address(
                str(peer[0]) if peer else None, scope.get("headers", ()), self._trusted
            )
            scope["client"] = (address, int(peer[1]) if peer and address == peer[0] else 0)
        await self.app(scope, receive, send)


def _nul_parameter(scope: Scope) -> tuple[str, str] | None:
    """``(where, name)`` of the first path or query value holding a NUL character."""
    if "\x00" in scope.get("path", ""):
        return "path", "path"
    raw = scope.get("query_string", b"")
    if b"%00" not in raw.lower() and b"\x00" not in raw:
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return "query", name.replace("\x00", "\\0")[:100]
    return None


class InputGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        verifier: Callable[[Scope], KeyVerifier | None],
    ) -> None:
        self.app = app
        self._max_body = max_body
        self._verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _nul_parameter(scope)
        if bad is not None:
            where, name = bad
            HTTP_REFUSED.labels("unstorable_text").inc()
            await send_error(
                send,
                422,
                "invalid_input",
                f"invalid {where} parameter '{name}': contains a NUL character, "
                "which cannot be stored",
                details=[{"in": where, "name": name, "message": "contains a NUL character"}],
            )
            return
        if scope.get("method") not in BODY_METHODS or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return
        limit = self._max_body
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(send, 400, "bad_request", "invalid Content-Length")
                return
            if size > limit:
                await _too_large(send, limit)
                return
        identity = await self._authenticate(scope, send)
        if identity is None:
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _authenticate(self, scope: Scope, send: Send) -> KeyIdentity | None:
        """The write key of a request with a body, checked before the body is read."""
        verifier = self._verifier(scope)
        if verifier is None:
            await send_error(send, 503, "service_unavailable", "the API is starting")
            return None
        key = _header(scope, API_KEY_HEADER)
        if not key:
            await send_error(
                send, 401, "unauthorized", "missing API key: send it in the X-API-Key header"
            )
            return None
        try:
            identity = await verifier.verify(key.decode("latin-1"), "write")
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            # Outside the app's exception handlers here: the same 503 they would give.
            await send_error(
                send,
                503,
                "service_unavailable",
                "the database is unavailable",
                headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
            )
            return None
        if identity is None:
            await send_error(send, 401, "unauthorized", "invalid or revoked API key")
            return None
        if not identity.allows("write"):
            await send_error(
                send, 403, "forbidden", f"this API key has scope '{identity.scope}', not 'write'"
            )
            return None
        # The route's own write check reuses this answer (same request: no cache involved).
        scope.setdefault("state", {})["write_key"] = identity
        return identity


async def _too_large(send: Send, limit: int) -> None:
    HTTP_REFUSED.labels("body_too_large").inc()
    await send_error(
        send,
        413,
        "payload_too_large",
        f"the request body is larger than {limit} bytes",
        headers=[(b"connection", b"close")],
    )


class Limiters:
    """What ``RateLimitMiddleware`` needs from the app: the two limiters and the verifier."""

    def __init__(self, by_address: RateLimiter, by_key: RateLimiter, verifier: KeyVerifier) -> None:
        self.by_address = by_address
        self.by_key = by_key
        self.verifier = verifier


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiters: Callable[[Scope], Limiters | None]) -> None:
        self.app = app
        self._limiters = limiters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        limiters = self._limiters(scope)
        if limiters is None:
            await self.app(scope, receive, send)
            return
        decision = await self._decide(scope, limiters)
        headers = [(k.lower().encode(), v.encode()) for k, v in decision.headers.items()]
        if not decision.allowed:
            RATE_LIMITED.inc()
            retry = decision.headers["Retry-After"]
            await send_error(
                send,
                429,
                "rate_limited",
                f"rate limit of {decision.limit} requests exceeded; retry in {retry}s",
                headers=headers,
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _decide(scope: Scope, limiters: Limiters) -> Decision:
        """A valid API key is limited by its own quota; anything else by the address."""
        key = _header(scope, API_KEY_HEADER)
        if key:
            try:
                identity = await limiters.verifier.verify(key.decode("latin-1"))
            except Exception:
                identity = None  # the database is down: the route answers 503 itself
            else:
                # The route's read check reuses this answer (same request, same key version).
                scope.setdefault("state", {})["read_key"] = identity
            if identity is not None:
                return await limiters.by_key.hit(f"key:{identity.id}")
        return await limiters.by_address.hit(client_ip(scope))


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_LATENCY.labels(template).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(template, scope.get("method", ""), str(status)).inc()

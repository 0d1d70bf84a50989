"""Pure-ASGI middlewares (cheaper than ``BaseHTTPMiddleware`` on every request).

- ``RateLimitMiddleware``: applies the per-IP limiter and stamps the
  ``X-RateLimit-*`` headers on every response; answers 429 with
  ``Retry-After`` and the JSON error body when a client is over its limit.
- ``MetricsMiddleware``: request counts and latency by route template.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from orbitpay.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS, RATE_LIMITED
from orbitpay.security.ratelimit import Decision, RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Polled by load balancers and Prometheus: never limited, never counted.
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, limiter_factory: Callable[[Scope], RateLimiter | None]
    ) -> None:
        self.app = app
        self._limiter_factory = limiter_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        limiter = self._limiter_factory(scope)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await limiter.hit(_client_ip(scope))
        except Exception:
            # A broken limiter backend must not take the API down: fail open.
            await self.app(scope, receive, send)
            return
        headers = [(k.lower().encode(), v.encode()) for k, v in decision.headers.items()]
        if not decision.allowed:
            RATE_LIMITED.inc()
            await _reject(send, decision, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _reject(send: Send, decision: Decision, headers: list[tuple[bytes, bytes]]) -> None:
    retry = decision.headers["Retry-After"]
    body = json.dumps(
        {
            "error": {
                "code": "rate_limited",
                "message": f"rate limit of {decision.limit} requests exceeded; retry in {retry}s",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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

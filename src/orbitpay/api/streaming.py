"""Long responses (CSV exports, SSE) that a slow or stalled client cannot turn into an outage.

Three guards, all per API process:

- the body generators read the database in batches and give the connection back
  before each batch is sent (``csv_export``, ``routers.events``), so a client that
  stops reading holds a coroutine and a socket buffer, never a read-pool connection;
- :class:`StreamSlots` caps how many such responses run at once, in total
  (``ORBITPAY_EXPORT_CONCURRENCY``, ``ORBITPAY_STREAM_CONCURRENCY``: 503 beyond)
  and per client address (``..._PER_CLIENT``: 429 beyond), both with ``Retry-After``;
- :class:`BoundedStream` gives every chunk ``ORBITPAY_SEND_TIMEOUT`` seconds to
  be accepted (uvicorn's ``send`` waits while the socket's buffer is full); a
  client slower than that is dropped and its slot freed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from orbitpay.api.errors import ApiError
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import HTTP_REFUSED

log = get_logger(__name__)

RETRY_AFTER_SECONDS = 10


class SendTimeout(Exception):
    """The client did not accept a chunk within the send timeout."""


@dataclass
class Slot:
    """One running long response; ``release`` is idempotent."""

    owner: StreamSlots
    client: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.owner._release(self.client)


class StreamSlots:
    """At most ``total`` long responses at once, at most ``per_client`` per address."""

    def __init__(self, name: str, total: int, per_client: int) -> None:
        self.name = name
        self.total = total
        self.per_client = per_client
        self._by_client: dict[str, int] = {}
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def acquire(self, client: str) -> Slot:
        """A slot for ``client``, or ``ApiError`` 503 (process full) / 429 (client's share)."""
        if self._by_client.get(client, 0) >= self.per_client:
            HTTP_REFUSED.labels(f"{self.name}_per_client").inc()
            raise ApiError(
                429,
                "rate_limited",
                f"at most {self.per_client} {self.name} at once per client; "
                "finish or close one first",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if self._running >= self.total:
            HTTP_REFUSED.labels(f"{self.name}_full").inc()
            raise ApiError(
                503,
                "service_unavailable",
                f"too many {self.name} in progress; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._running += 1
        self._by_client[client] = self._by_client.get(client, 0) + 1
        return Slot(self, client)

    def _release(self, client: str) -> None:
        self._running -= 1
        left = self._by_client.get(client, 1) - 1
        if left > 0:
            self._by_client[client] = left
        else:
            self._by_client.pop(client, None)


def slot_for(request: Request, kind: str) -> Slot:
    """A slot of the app's ``kind`` (``exports`` or ``streams``) for the request's client."""
    slots: StreamSlots = getattr(request.app.state, kind)
    client = request.client.host if request.client else "unknown"
    return slots.acquire(client)


class BoundedStream(StreamingResponse):
    """A ``StreamingResponse`` holding a slot, with a deadline on each send."""

    def __init__(
        self,
        content: AsyncIterator[str],
        *,
        slot: Slot,
        send_timeout: float,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._content = content
        self._slot = slot
        self._send_timeout = send_timeout

    async def stream_response(self, send: Send) -> None:
        async def timed(message: Message) -> None:
            try:
                async with asyncio.timeout(self._send_timeout):
                    await send(message)
            except TimeoutError:
                raise SendTimeout from None

        await super().stream_response(timed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeout:
            # The response stays incomplete: the server closes the connection.
            HTTP_REFUSED.labels("send_timeout").inc()
            log.info(
                "stream_dropped",
                reason="send_timeout",
                seconds=self._send_timeout,
                client=self._slot.client,
            )
        finally:
            self._slot.release()
            close = getattr(self._content, "aclose", None)
            if close is not None:
                await close()

"""The RPC client against a local fake HTTP server: retries, backoff, Retry-After, shapes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from orbitpay.retry import Backoff
from orbitpay.stellar.rpc import (
    EventPage,
    RawEvent,
    RpcClient,
    RpcError,
    RpcUnavailable,
    cursor_ledger,
    filters_for,
)

Handler = Callable[[dict[str, Any], int], Any]


class FakeRpc:
    """Answers from a script: a list of behaviours, one per request, then the last forever."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.requests.append(body)
        self.times.append(time.monotonic())
        step = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        if step == "503":
            return web.Response(status=503, text="busy")
        if isinstance(step, tuple) and step[0] == "429":
            return web.Response(status=429, headers={"Retry-After": step[1]}, text="slow down")
        if step == "malformed":
            return web.Response(
                text='{"jsonrpc":"2.0","result":{"ev', content_type="application/json"
            )
        if step == "timeout":
            await asyncio.sleep(2)
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": {}})
        if isinstance(step, tuple) and step[0] == "error":
            return web.json_response(
                {"jsonrpc": "2.0", "id": body["id"], "error": {"code": step[1], "message": "nope"}}
            )
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": step})


@pytest.fixture
async def fake() -> AsyncIterator[FakeRpc]:
    rpc = FakeRpc()
    app = web.Application()
    app.router.add_post("/", rpc.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rpc.url = f"http://127.0.0.1:{port}/"
    yield rpc
    await runner.cleanup()


HEALTH = {"status": "healthy", "latestLedger": 50, "oldestLedger": 10, "ledgerRetentionWindow": 41}


def client(url: str, retries: int = 5, timeout: float = 0.5) -> RpcClient:
    return RpcClient(
        url,
        timeout=timeout,
        retry=Backoff(max_retries=retries, base_delay=0.01, max_delay=0.05),
    )


async def test_transient_failures_are_retried_until_success(fake: FakeRpc) -> None:
    fake.script = ["503", "malformed", "timeout", HEALTH]
    async with client(fake.url) as rpc:
        health = await rpc.get_health()
    assert health.latest_ledger == 50 and health.oldest_ledger == 10
    assert len(fake.requests) == 4
    assert rpc.stats.retries == 3


async def test_429_waits_for_retry_after(fake: FakeRpc) -> None:
    fake.script = [("429", "1"), HEALTH]
    async with client(fake.url) as rpc:
        await rpc.get_health()
    assert len(fake.requests) == 2
    assert fake.times[1] - fake.times[0] >= 0.95  # Retry-After: 1 wins over the 10 ms backoff


async def test_gives_up_after_max_retries(fake: FakeRpc) -> None:
    fake.script = ["503"]
    async with client(fake.url, retries=3) as rpc:
        with pytest.raises(RpcUnavailable, match="gave up after 4 attempts"):
            await rpc.get_health()
    assert len(fake.requests) == 4


async def test_request_errors_are_not_retried(fake: FakeRpc) -> None:
    fake.script = [("error", -32600), HEALTH]
    async with client(fake.url) as rpc:
        with pytest.raises(RpcError) as info:
            await rpc.get_health()
    assert info.value.code == -32600
    assert len(fake.requests) == 1


async def test_internal_json_rpc_errors_are_retried(fake: FakeRpc) -> None:
    fake.script = [("error", -32603), HEALTH]
    async with client(fake.url) as rpc:
        await rpc.get_health()
    assert len(fake.requests) == 2


def test_backoff_grows_and_is_capped() -> None:
    # Full jitter (the docstring's promise): anywhere in [0, ceiling], not [ceiling/2, ceiling].
    policy = Backoff(max_retries=10, base_delay=0.1, max_delay=2.0)
    for attempt in range(10):
        d = policy.delay(attempt)
        ceiling = min(2.0, 0.1 * 2**attempt)
        assert 0 <= d <= ceiling
    assert policy.delay(0, retry_after=3) == 3
    assert policy.delay(0, retry_after=10_000) == 60  # Retry-After is capped too


P22_EVENT = {
    "type": "contract",
    "ledger": 12,
    "ledgerClosedAt": "2026-01-01T00:00:05Z",
    "contractId": "CA",
    "id": f"{(12 << 32) | (3 << 12) | 1:019d}-0000000002",
    "pagingToken": "x",
    "topic": ["AAAADwAAAARpbml0"],
    "value": "AAAAAQ==",
    "inSuccessfulContractCall": False,
    "txHash": "ff" * 32,
}


def test_protocol_22_and_23_event_shapes() -> None:
    old = RawEvent.from_json(P22_EVENT)
    assert old.transaction_index == 3 and old.operation_index == 1  # from the TOID
    assert old.in_successful_contract_call is False
    new = dict(P22_EVENT)
    del new["pagingToken"], new["inSuccessfulContractCall"]
    new.update(transactionIndex=3, operationIndex=1)
    ev = RawEvent.from_json(new)
    assert ev.in_successful_contract_call is True  # absent since protocol 23: only successes
    assert ev.ledger_closed_at.timestamp() == 1767225605


async def test_get_events_paging_fields(fake: FakeRpc) -> None:
    fake.script = [
        {
            "events": [P22_EVENT],
            "cursor": f"{(20 << 32) | 0xFFFFF000 & 0xFFFFFFFF:019d}-4294967295",
            "latestLedger": 30,
            "oldestLedger": 5,
            "latestLedgerCloseTime": "1767225700",
        }
    ]
    async with client(fake.url) as rpc:
        page = await rpc.get_events(filters_for(["CA"]), start_ledger=5, limit=10)
    assert fake.requests[0]["params"]["startLedger"] == 5
    assert fake.requests[0]["params"]["filters"] == [{"type": "contract", "contractIds": ["CA"]}]
    assert not page.full and page.scanned_to == 20
    full = EventPage(page.events, page.events[0].id, 30, 5, None, limit=1)
    assert full.full and full.scanned_to == 11  # ledger 12 may hold more events


def test_filters_split_by_five() -> None:
    ids = [f"C{i}" for i in range(12)]
    fs = filters_for(ids)
    assert [len(f.contract_ids) for f in fs] == [5, 5, 2]
    with pytest.raises(ValueError):
        filters_for([f"C{i}" for i in range(26)])


def test_cursor_ledger() -> None:
    assert cursor_ledger(f"{(77 << 32) | 5:019d}-0000000001") == 77
    assert cursor_ledger("") is None and cursor_ledger("garbage") is None

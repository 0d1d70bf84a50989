"""The devnet over real HTTP, read with stellar-sdk's SorobanServer and SorobanServerAsync."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stellar_sdk import SorobanServer, SorobanServerAsync, TransactionEnvelope, scval, xdr
from stellar_sdk.client import aiohttp_client
from stellar_sdk.client.base_async_client import BaseAsyncClient
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import SorobanRpcErrorResponse
from stellar_sdk.soroban_rpc import EventFilter, EventFilterType

from orbitpay.devnet.faults import FaultConfig
from orbitpay.devnet.server import DevnetHandle, start_background_devnet
from orbitpay.stellar import scval as sv
from orbitpay.stellar.datalake import LakeConfig


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetHandle]:
    with start_background_devnet("demo", seed=1, live=False) as dn:
        yield dn


def test_sync_client_reads_every_method(devnet: DevnetHandle) -> None:
    chain = devnet.chain
    with SorobanServer(devnet.url) as s:
        health = s.get_health()
        assert health.latest_ledger == chain.latest_ledger
        assert s.get_network().passphrase == chain.network_passphrase
        assert s.get_latest_ledger().sequence == chain.latest_ledger
        org = chain.organizations()[0]
        ids = list(org["contracts"].values())
        flt = [EventFilter(event_type=EventFilterType.CONTRACT, contract_ids=ids)]
        page = s.get_events(start_ledger=health.oldest_ledger, filters=flt, limit=25)
        seen, empty = list(page.events), 0
        while True:
            if not page.events and int(page.cursor.split("-")[0]) >> 32 >= page.latest_ledger:
                break
            page = s.get_events(cursor=page.cursor, filters=flt, limit=25)
            seen.extend(page.events)
            empty += not page.events
        expected = sum(1 for r in chain.ledgers.values() for e in r.events if e.contract_id in ids)
        assert len(seen) == expected and empty > 0
        claim = next(e for e in seen if sv.decode_scval_b64(e.topic[0]) == "claim")
        tx = s.get_transaction(claim.transaction_hash)
        env = TransactionEnvelope.from_xdr(tx.envelope_xdr, chain.network_passphrase)
        args = env.transaction.operations[0].host_function.invoke_contract.args
        inner = args
        if (
            env.transaction.operations[0].host_function.invoke_contract.function_name.sc_symbol
            == b"exec"
        ):
            inner = list(args[3].vec.sc_vec)  # routed: the real call is the router's argument
        stream_id = sv.decode_scval(inner[1])
        stream = chain.contracts[org["contracts"]["payroll"]].persistent[("Stream", stream_id)]
        assert stream["recipient"] == sv.decode_scval_b64(claim.topic[1])
        meta = xdr.TransactionMeta.from_xdr(tx.result_meta_xdr)
        assert sv.decode_scval(meta.v4.soroban_meta.return_value) == sv.decode_scval_b64(
            claim.value
        )
        assert s.get_transactions(start_ledger=health.oldest_ledger, limit=3).transactions
        entry = s.get_contract_data(
            org["contracts"]["payroll"], scval.to_enum("Stream", scval.to_uint32(stream_id))
        )
        assert entry is not None
        decoded = sv.decode_scval(xdr.LedgerEntryData.from_xdr(entry.xdr).contract_data.val)
        assert decoded["claimed_amount"] == stream["claimed_amount"]
        with pytest.raises(SorobanRpcErrorResponse) as err:
            s.get_events(start_ledger=chain.latest_ledger + 5)
        assert err.value.code == -32600


class HttpxAsyncClient(BaseAsyncClient):
    """SorobanServerAsync over httpx (stellar-sdk's AiohttpClient also needs aiohttp-sse-client)."""

    def __init__(self) -> None:
        self._c = httpx.AsyncClient(timeout=30)

    async def get(self, url, params=None, max_content_size=None):  # type: ignore[no-untyped-def]
        r = await self._c.get(url, params=params)
        return Response(r.status_code, r.text, dict(r.headers), str(r.url))

    async def post(self, url, data=None, json_data=None):  # type: ignore[no-untyped-def]
        r = await self._c.post(url, data=data, json=json_data)
        return Response(r.status_code, r.text, dict(r.headers), str(r.url))

    def stream(self, url, params=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    async def close(self) -> None:
        await self._c.aclose()


def _async_clients() -> list[object]:
    clients: list[object] = [pytest.param(HttpxAsyncClient, id="httpx")]
    mark = (
        []
        if aiohttp_client._AIOHTTP_DEPS_INSTALLED
        else [pytest.mark.skip(reason="stellar-sdk[aiohttp] extras missing")]
    )
    clients.append(pytest.param(lambda: aiohttp_client.AiohttpClient(), id="aiohttp", marks=mark))
    return clients


@pytest.mark.parametrize("make_client", _async_clients())
async def test_async_client_reads(devnet: DevnetHandle, make_client) -> None:  # type: ignore[no-untyped-def]
    async with SorobanServerAsync(devnet.url, client=make_client()) as s:
        health = await s.get_health()
        res = await s.get_events(start_ledger=health.oldest_ledger, limit=100)
        assert res.events
        tx = await s.get_transaction(res.events[0].transaction_hash)
        assert tx.status.value == "SUCCESS"
        assert (await s.get_latest_ledger()).sequence == devnet.chain.latest_ledger
        assert (await s.get_network()).protocol_version == 23
        txs = await s.get_transactions(start_ledger=health.oldest_ledger, limit=5)
        assert len(txs.transactions) == 5


def test_state_dump_route_and_batch(devnet: DevnetHandle) -> None:
    dump = httpx.get(f"{devnet.url}/devnet/state").json()
    assert dump == json.loads(json.dumps(devnet.chain.state_dump()))
    gov = dump["organizations"][0]["governance"]
    assert any(f["silent"] for f in gov["finalizations"])
    batch = httpx.post(
        devnet.url,
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            {"jsonrpc": "2.0", "id": 2, "method": "getNetwork"},
        ],
    ).json()
    assert [r["id"] for r in batch] == [1, 2]
    assert httpx.post(devnet.url, content=b"{not json").json()["error"]["code"] == -32700


def test_live_mode_closes_ledgers_with_activity() -> None:
    with start_background_devnet("demo", seed=2, ledger_interval=0.05, live=True) as dn:
        first = dn.chain.latest_ledger
        tx_before = dn.chain.tx_count
        time.sleep(1.0)
        with SorobanServer(dn.url) as s:
            assert s.get_latest_ledger().sequence >= first + 5
        assert dn.chain.tx_count > tx_before


def test_faults_are_injected() -> None:
    faults = FaultConfig(rate_503=0.25, rate_429=0.25, rate_malformed=0.25, seed=4)
    with start_background_devnet("empty", seed=1, live=False, faults=faults) as dn:
        seen: dict[str, int] = {}
        for _ in range(60):
            r = httpx.post(dn.url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "1"
                kind = "429"
            elif r.status_code == 503:
                kind = "503"
            else:
                try:
                    r.json()
                    kind = "ok"
                except ValueError:
                    kind = "malformed"
            seen[kind] = seen.get(kind, 0) + 1
        assert set(seen) == {"429", "503", "malformed", "ok"}
    slow = FaultConfig(rate_timeout=1.0, timeout_seconds=2.0)
    with start_background_devnet("empty", seed=1, live=False, faults=slow) as dn:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(dn.url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=0.3)


def test_cli_devnet_with_retention_and_archive(tmp_path: Path) -> None:
    """``orbitpay devnet --retention N --archive DIR``: a short RPC window, a lake of it all."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lake = tmp_path / "lake"
    cmd = [
        sys.executable, "-m", "orbitpay.cli", "devnet", "--port", str(port),
        "--ledger-interval", "0", "--retention", "1000",
        "--archive", str(lake), "--archive-ledgers-per-file", "5000",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                health = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the devnet did not start"
                time.sleep(0.2)
        h = health.json()["result"]
        assert h["latestLedger"] - h["oldestLedger"] + 1 == 1000 == h["ledgerRetentionWindow"]
        config = httpx.get(f"{url}/lake/.config.json").json()
        assert config["ledgersPerBatch"] == 5000 and config["batchesPerPartition"] == 64_000
        assert json.loads((lake / ".config.json").read_text()) == config
        first = LakeConfig(config["networkPassphrase"], 5000, 64_000).object_key(2_000_000)
        assert httpx.get(f"{url}/lake/{first}").content == (lake / first).read_bytes()
        old = httpx.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "getEvents",
                "params": {"startLedger": 2_000_000},
            },
        ).json()
        assert old["error"]["code"] == -32600
    finally:
        proc.terminate()
        proc.wait(timeout=20)

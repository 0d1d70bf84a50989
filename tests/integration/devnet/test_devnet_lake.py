"""The devnet's ledger data lake end to end: written by the devnet, read over HTTP and file://.

The archive and the RPC must be two views of one chain: every event the RPC
serves in its retention window comes out of the lake with the same id, topics,
value and transaction hash, and the lake also holds what the RPC no longer
serves (which the RPC refuses with stellar-rpc's error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from orbitpay.devnet.scenarios import build_chain
from orbitpay.devnet.server import DevnetHandle, serve_chain, start_background_devnet
from orbitpay.stellar.datalake import (
    ArchiveSlice,
    CorruptObject,
    DataLake,
    GapError,
    LakeBatch,
    PassphraseMismatch,
    contract_id_bytes,
    decompress,
    read_archive,
)
from orbitpay.stellar.ledgermeta import LedgerDecodeError, decode_batch
from orbitpay.stellar.rpc import RawEvent, RpcClient, RpcError, filters_for

RETENTION = 150_000


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    lake = tmp_path_factory.mktemp("lake")
    with start_background_devnet(
        "demo",
        seed=1,
        live=False,
        retention_ledgers=RETENTION,
        archive=lake,
        archive_ledgers_per_file=1000,
    ) as dn:
        yield dn


def _watched(dn: DevnetHandle) -> list[str]:
    return sorted({c for org in dn.chain.organizations() for c in org["contracts"].values()})


async def _lake_events(url: str, dn: DevnetHandle, watch: list[str]) -> list[RawEvent]:
    chain = dn.chain
    assert dn.lake is not None
    # Objects are written whole: the newest ledgers wait for their batch to fill.
    first, last = chain.genesis_ledger, dn.lake.next_ledger - 1
    assert chain.latest_ledger - 1000 < last <= chain.latest_ledger
    out: list[RawEvent] = []
    kept = 0
    async with DataLake(url, network_passphrase=chain.network_passphrase) as lake:
        async for batch in lake.batches(first, last, watch=contract_id_bytes(watch)):
            assert isinstance(batch, LakeBatch)
            if batch.xdr is None:
                continue
            kept += 1
            for ledger in decode_batch(
                batch.xdr, chain.network_passphrase, set(watch), first=first, last=last
            ):
                out.extend(ledger.events)
    assert 0 < kept < (last - first) // 1000  # the prefilter skipped most objects
    return out


async def _rpc_events(url: str, watch: list[str], start: int) -> list[RawEvent]:
    out: list[RawEvent] = []
    async with RpcClient(url) as rpc:
        page = await rpc.get_events(filters_for(watch), start_ledger=start, limit=1000)
        out.extend(page.events)
        while page.scanned_to < page.latest_ledger:
            page = await rpc.get_events(filters_for(watch), cursor=page.cursor, limit=1000)
            out.extend(page.events)
    return out


@pytest.mark.parametrize("via", ["http", "file"])
async def test_lake_and_rpc_are_the_same_rows(devnet: DevnetHandle, via: str) -> None:
    chain = devnet.chain
    assert devnet.lake is not None and devnet.lake_url is not None
    url = devnet.lake_url if via == "http" else devnet.lake.root.as_uri()
    watch = _watched(devnet)
    from_lake = await _lake_events(url, devnet, watch)
    last = devnet.lake.next_ledger - 1
    everything = [
        (e.id, e.contract_id, list(e.topics), e.value, e.tx_hash)
        for seq in sorted(chain.ledgers)
        if seq <= last
        for e in chain.ledgers[seq].events
        if e.contract_id in watch
    ]
    assert [(e.id, e.contract_id, e.topic_xdr, e.value_xdr, e.tx_hash) for e in from_lake] == (
        everything
    )
    oldest = chain.oldest_ledger
    assert oldest > chain.genesis_ledger and any(e.ledger < oldest for e in from_lake)
    from_rpc = await _rpc_events(devnet.url, watch, oldest)
    from_rpc = [e for e in from_rpc if e.ledger <= last]
    assert from_rpc and [e for e in from_lake if e.ledger >= oldest] == from_rpc
    async with RpcClient(devnet.url) as rpc:
        with pytest.raises(RpcError) as err:
            await rpc.get_events(filters_for(watch), start_ledger=chain.genesis_ledger)
    assert err.value.code == -32600
    assert err.value.rpc_message == (
        f"startLedger must be within the ledger range: {oldest} - {chain.latest_ledger}"
    )


def test_lake_route_serves_objects_and_404s(devnet: DevnetHandle) -> None:
    assert devnet.lake is not None
    config = devnet.lake.config
    key = config.object_key(devnet.chain.genesis_ledger)
    with httpx.Client(base_url=devnet.url) as client:
        got = client.get(f"/lake/{key}")
        assert got.status_code == 200
        assert got.content == (devnet.lake.root / key).read_bytes()
        assert client.get("/lake/.config.json").json()["ledgersPerBatch"] == 1000
        assert client.get(f"/lake/{config.object_key(1)}").status_code == 404
        (devnet.lake.root / ".half-written.tmp").write_bytes(b"x")
        assert client.get("/lake/.half-written.tmp").status_code == 404
        assert client.get("/lake/%2E%2E/%2E%2E/etc/hostname").status_code == 404


async def test_live_devnet_writes_one_ledger_per_object_as_ledgers_close(tmp_path: Path) -> None:
    chain = build_chain("load", 1, organizations=1, events=100)
    with serve_chain(chain, ledger_interval=0.05, archive=tmp_path) as dn:
        assert dn.lake is not None and dn.lake_url is not None
        start_latest = chain.latest_ledger
        deadline = time.monotonic() + 20
        while dn.lake.next_ledger <= start_latest + 5:
            assert time.monotonic() < deadline, "the live devnet did not write new ledgers"
            await asyncio.sleep(0.05)
        newest = dn.lake.next_ledger - 1
        part = f"{0xFFFF_FFFF - 1_984_000:08X}--1984000-2047999"  # 64,000 objects per folder
        assert (tmp_path / part / f"{0xFFFF_FFFF - newest:08X}--{newest}.xdr.zst").is_file()
        async with DataLake(dn.lake_url, network_passphrase=chain.network_passphrase) as lake:
            got = [b async for b in lake.batches(chain.genesis_ledger, newest)]
    assert [b.first_ledger for b in got] == list(range(chain.genesis_ledger, newest + 1))
    decoded = [
        d
        for b in got
        if isinstance(b, LakeBatch) and b.xdr is not None
        for d in decode_batch(b.xdr, chain.network_passphrase)
    ]
    assert [d.sequence for d in decoded] == list(range(chain.genesis_ledger, newest + 1))
    # Every contract event, plus the native asset's fee events the RPC would also serve.
    ours = [e.id for d in decoded for e in d.events if e.contract_id != chain.native_sac]
    assert ours == [e.id for seq in sorted(chain.ledgers) for e in chain.ledgers[seq].events]
    assert any(e.contract_id == chain.native_sac for d in decoded for e in d.events)


async def test_bad_lake_input_is_an_error_or_a_reported_gap(tmp_path: Path) -> None:
    """The issue's bad inputs, through ``read_archive`` over HTTP from a devnet lake."""
    chain = build_chain("load", 1, organizations=1, events=100)
    watch = sorted({c for o in chain.organizations() for c in o["contracts"].values()})
    busy = sorted(chain.ledgers)
    quiet = next(s for s in range(chain.genesis_ledger, chain.latest_ledger) if s not in busy)
    first, last = chain.genesis_ledger, chain.latest_ledger
    with serve_chain(chain, archive=tmp_path) as dn:
        assert dn.lake is not None and dn.lake_url is not None
        config, url = dn.lake.config, dn.lake_url

        async def read(**kw: Any) -> list[ArchiveSlice]:
            async with DataLake(url, network_passphrase=chain.network_passphrase) as lake:
                return [s async for s in read_archive(lake, first, last, watch, **kw)]

        clean = await read()
        assert sum(len(s.events) for s in clean) > 0

        def patch(ledger: int, edit: Callable[[bytes], bytes]) -> Callable[[], object]:
            path = tmp_path / config.object_key(ledger)
            original = path.read_bytes()
            path.write_bytes(edit(original))
            return lambda: path.write_bytes(original)

        # an unknown XDR arm (LedgerCloseMeta v9): fine where nothing is watched...
        def arm9(raw: bytes) -> bytes:
            data = decompress(raw, "x")
            return zstandard.ZstdCompressor(write_checksum=True).compress(
                data[:12] + b"\x00\x00\x00\x09" + data[16:]
            )

        undo = patch(quiet, arm9)
        assert [s.events for s in await read()] == [s.events for s in clean]
        undo()
        # ...and a stop naming the ledger where a watched contract is
        undo = patch(busy[1], arm9)
        with pytest.raises(LedgerDecodeError) as decode_err:
            await read()
        assert decode_err.value.ledger == busy[1] and f"ledger {busy[1]}" in str(decode_err.value)
        undo()
        # a truncated object and a corrupt one: errors naming the object
        for edit in (
            lambda raw: raw[: len(raw) // 2],
            lambda raw: raw[:20] + b"\xff" * 40 + raw[60:],
        ):
            undo = patch(busy[0], edit)
            with pytest.raises(CorruptObject) as corrupt:
                await read()
            assert corrupt.value.key == config.object_key(busy[0])
            undo()
        # a missing object: a gap naming its ledgers (an error, or a slice when asked)
        (tmp_path / config.object_key(busy[2])).unlink()
        with pytest.raises(GapError, match=f"ledgers {busy[2]}-{busy[2]} are missing"):
            await read()
        slices = await read(on_gap="yield")
        assert [s.first_ledger for s in slices if s.gap] == [busy[2]]
        assert len(slices) == last - first + 1
        # a lake of another network
        other = DataLake(dn.lake_url, network_passphrase="Test SDF Network ; September 2015")
        with pytest.raises(PassphraseMismatch, match="OrbitPay Devnet"):
            await other.open()
        await other.close()

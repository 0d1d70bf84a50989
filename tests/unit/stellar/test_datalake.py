"""SEP-54 lake reading: keys, manifest, stores, gaps, corruption and the prefilter."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import StrKey

from orbitpay.devnet.chain import Chain
from orbitpay.devnet.lake import LakeWriter
from orbitpay.devnet.scenarios import build_chain
from orbitpay.retry import Backoff
from orbitpay.stellar.datalake import (
    CorruptObject,
    DataLake,
    Gap,
    GapError,
    HttpStore,
    LakeBatch,
    LakeConfig,
    LakeConfigError,
    LakeError,
    LakeUnavailable,
    PassphraseMismatch,
    contract_id_bytes,
    decompress,
    ledger_at,
    process_object,
    read_archive,
)

FIXTURE = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pubnet-53312000.xdr.zstd"
PUBNET = "Public Global Stellar Network ; September 2015"


# ── keys ─────────────────────────────────────────────────────────────────────


def test_keys_match_the_sep_examples() -> None:
    cfg = LakeConfig("x", ledgers_per_batch=2, batches_per_partition=8)
    assert cfg.object_key(2) == "FFFFFFFF--0-15/FFFFFFFD--2-3.xdr.zst"
    assert cfg.object_key(3) == "FFFFFFFF--0-15/FFFFFFFD--2-3.xdr.zst"
    assert cfg.object_key(19) == "FFFFFFEF--16-31/FFFFFFED--18-19.xdr.zst"
    assert cfg.object_key(14, "zstd") == "FFFFFFFF--0-15/FFFFFFF1--14-15.xdr.zstd"
    one = LakeConfig("x", ledgers_per_batch=1, batches_per_partition=1)
    assert one.object_key(2) == "FFFFFFFD--2.xdr.zst"  # no partition, no end ledger


def test_pubnet_fixture_key() -> None:
    cfg = LakeConfig(PUBNET, ledgers_per_batch=1, batches_per_partition=64_000)
    assert cfg.object_key(53_312_000) == "FCD285FF--53312000-53375999/FCD285FF--53312000.xdr.zst"


@given(
    ledger=st.integers(0, 0xFFFF_FFFF - 200_000),
    per_batch=st.integers(1, 100),
    per_partition=st.integers(1, 1000),
)
def test_key_names_the_range_holding_the_ledger(
    ledger: int, per_batch: int, per_partition: int
) -> None:
    cfg = LakeConfig("x", ledgers_per_batch=per_batch, batches_per_partition=per_partition)
    key = cfg.object_key(ledger)
    name = key.rsplit("/", 1)[-1].removesuffix(".xdr.zst")
    rev, span = name.split("--")
    bounds = [int(v) for v in span.split("-")]
    start, end = bounds[0], bounds[-1]
    assert start <= ledger <= end and end - start + 1 == per_batch
    assert int(rev, 16) == 0xFFFF_FFFF - start
    assert ("/" in key) == (per_partition > 1)
    if "/" in key:
        prev, pspan = key.split("/")[0].split("--")
        pstart, pend = (int(v) for v in pspan.split("-"))
        assert pstart <= start and end <= pend and int(prev, 16) == 0xFFFF_FFFF - pstart
        assert pend - pstart + 1 == per_batch * per_partition
    assert list(cfg.batch_starts(ledger, ledger)) == [start]


# ── manifest ─────────────────────────────────────────────────────────────────


def test_manifest_round_trip_and_errors() -> None:
    cfg = LakeConfig(PUBNET, ledgers_per_batch=1, batches_per_partition=64_000, version="1.0")
    assert LakeConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(LakeConfigError, match="missing ledgersPerBatch"):
        LakeConfig.from_json(b'{"networkPassphrase": "x", "batchesPerPartition": 1}')
    with pytest.raises(LakeConfigError, match="not JSON"):
        LakeConfig.from_json(b"{")
    with pytest.raises(LakeConfigError, match="only zstd"):
        LakeConfig.from_json(
            json.dumps(
                {
                    "networkPassphrase": "x",
                    "ledgersPerBatch": 1,
                    "batchesPerPartition": 1,
                    "compression": "gzip",
                }
            ).encode()
        )
    with pytest.raises(PassphraseMismatch) as err:
        cfg.check_passphrase("Test SDF Network ; September 2015")
    assert PUBNET in str(err.value) and "Test SDF Network" in str(err.value)


# ── decompression and prefilter ──────────────────────────────────────────────


def test_fixture_decompresses_and_prefilters() -> None:
    raw = FIXTURE.read_bytes()
    data = decompress(raw, "k")
    assert len(data) == 372_492
    # The Soroban call in this ledger is to CALI2BYU...: kept when watched, skipped otherwise.
    watched = contract_id_bytes(["CALI2BYU2JE6WVRUFYTS6MSBNEHGJ35P4AVCZYF3B6QOE3QKOB2PLE6M"])
    kept = process_object(raw, "k", 53_312_000, 53_312_000, watched)
    assert not kept.skipped and kept.xdr == data
    other = contract_id_bytes([StrKey.encode_contract(b"\x01" * 32)])
    assert process_object(raw, "k", 53_312_000, 53_312_000, other).skipped


def test_truncated_and_corrupt_objects_are_named() -> None:
    raw = FIXTURE.read_bytes()
    with pytest.raises(CorruptObject, match="truncated") as err:
        decompress(raw[:-1000], "FCD285FF--53312000.xdr.zst")
    assert err.value.key == "FCD285FF--53312000.xdr.zst"
    with pytest.raises(CorruptObject, match="zstd"):
        decompress(b"\x28\xb5\x2f\xfd" + b"\xff" * 64, "bad.xdr.zst")
    with pytest.raises(CorruptObject, match="zstd"):
        decompress(b"not zstd at all", "bad.xdr.zst")
    with pytest.raises(CorruptObject, match="holds ledgers 53312000-53312000, its key says 7-7"):
        process_object(raw, "k", 7, 7, None)


# ── a lake on disk, written by the devnet ────────────────────────────────────


@pytest.fixture(scope="module")
def small_chain() -> Chain:
    # 8 ledgers with transactions among 21 (ledgers 2,000,000 .. 2,000,020).
    return build_chain("load", 1, organizations=1, events=300)


@pytest.fixture
def lake_dir(small_chain: Chain, tmp_path: Path) -> Iterator[Path]:
    writer = LakeWriter(small_chain, tmp_path / "lake", ledgers_per_batch=1)
    assert writer.sync() == small_chain.latest_ledger - small_chain.genesis_ledger + 1
    yield tmp_path / "lake"


def _watched(chain: Chain) -> list[str]:
    return [cid for cid, name in chain.contract_names.items() if name != "router"]


async def _collect(
    lake: DataLake,
    first: int,
    last: int,
    watch: Sequence[bytes] | None = None,
    on_gap: Literal["raise", "yield"] = "raise",
) -> list[LakeBatch | Gap]:
    return [b async for b in lake.batches(first, last, watch=watch, on_gap=on_gap)]


async def test_file_lake_reads_every_ledger_and_prefilters(
    small_chain: Chain, lake_dir: Path
) -> None:
    first, last = small_chain.genesis_ledger, small_chain.latest_ledger
    needles = contract_id_bytes(_watched(small_chain))
    async with DataLake(
        lake_dir.as_uri(), network_passphrase=small_chain.network_passphrase
    ) as lake:
        assert lake.config.batches_per_partition == 64_000
        some = (lake_dir / lake.config.object_key(first)).read_bytes()
        assert zstandard.get_frame_parameters(some).has_checksum  # as Galexie writes them
        got = await _collect(lake, first, last, watch=needles)
    batches = [b for b in got if isinstance(b, LakeBatch)]
    assert [b.first_ledger for b in batches] == list(range(first, last + 1))
    kept = {b.first_ledger for b in batches if not b.skipped}
    assert kept == set(small_chain.ledgers)  # exactly the ledgers with transactions


async def test_wrong_passphrase_is_refused(small_chain: Chain, lake_dir: Path) -> None:
    lake = DataLake(lake_dir.as_uri(), network_passphrase="Test SDF Network ; September 2015")
    with pytest.raises(PassphraseMismatch, match="OrbitPay Devnet"):
        await lake.open()
    await lake.close()


async def test_missing_config_says_where(tmp_path: Path) -> None:
    lake = DataLake(tmp_path.as_uri())
    with pytest.raises(LakeConfigError, match=r"no \.config\.json at .*ledgers path"):
        await lake.open()


async def test_missing_object_is_a_gap_never_skipped(small_chain: Chain, lake_dir: Path) -> None:
    first, last = small_chain.genesis_ledger, small_chain.latest_ledger
    async with DataLake(lake_dir.as_uri()) as lake:
        victim = lake_dir / lake.config.object_key(first + 5)
        victim.unlink()
        with pytest.raises(GapError) as err:
            await _collect(lake, first, last)
        assert err.value.gap == Gap(first + 5, first + 5, lake.config.object_key(first + 5))
        assert f"ledgers {first + 5}-{first + 5} are missing" in str(err.value)
        got = await _collect(lake, first, last, on_gap="yield")
    gaps = [g for g in got if isinstance(g, Gap)]
    assert [g.first_ledger for g in gaps] == [first + 5]
    assert len(got) == last - first + 1


async def test_corrupt_object_stops_the_read(small_chain: Chain, lake_dir: Path) -> None:
    first = small_chain.genesis_ledger
    async with DataLake(lake_dir.as_uri()) as lake:
        path = lake_dir / lake.config.object_key(first + 2)
        path.write_bytes(path.read_bytes()[:-5])
        with pytest.raises(CorruptObject, match="truncated") as err:
            await _collect(lake, first, first + 4)
    assert err.value.key == lake.config.object_key(first + 2)


async def test_old_zstd_extension_is_read(small_chain: Chain, lake_dir: Path) -> None:
    for path in sorted(lake_dir.rglob("*.xdr.zst"))[::2]:  # noqa: ASYNC240  # half old-style, half new
        shutil.move(path, path.with_suffix(".zstd"))
    first, last = small_chain.genesis_ledger, small_chain.latest_ledger
    async with DataLake(lake_dir.as_uri()) as lake:
        got = await _collect(lake, first, last)
    keys = [b.key for b in got if isinstance(b, LakeBatch)]
    assert len(keys) == last - first + 1
    assert {k.rsplit(".", 1)[1] for k in keys} == {"zst", "zstd"}


async def test_batches_with_many_ledgers_and_no_partition(
    small_chain: Chain, tmp_path: Path
) -> None:
    LakeWriter(small_chain, tmp_path, ledgers_per_batch=4, batches_per_partition=1).sync()
    names = sorted(p.name for p in tmp_path.iterdir())  # noqa: ASYNC240  (a test's own tmp dir)
    assert f"{0xFFFF_FFFF - 2_000_000:08X}--2000000-2000003.xdr.zst" in names
    async with DataLake(str(tmp_path)) as lake:
        got = await _collect(lake, 2_000_002, 2_000_009)
    assert [(b.first_ledger, b.last_ledger) for b in got if isinstance(b, LakeBatch)] == [
        (2_000_000, 2_000_003),
        (2_000_004, 2_000_007),
        (2_000_008, 2_000_011),
    ]


# ── HTTP: faults injected at the transport ───────────────────────────────────


def _object(first: int) -> bytes:
    body = first.to_bytes(4, "big") * 2 + b"\x00\x00\x00\x00"
    return zstandard.ZstdCompressor().compress(body)


async def test_http_retries_transient_errors_and_reports_404_as_gap() -> None:
    cfg = LakeConfig("net", ledgers_per_batch=1, batches_per_partition=1)
    hits: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.path.removeprefix("/lake/")
        hits[key] = hits.get(key, 0) + 1
        if key == ".config.json":
            return httpx.Response(200, content=cfg.to_json())
        if key == cfg.object_key(11) and hits[key] < 3:
            return httpx.Response(503 if hits[key] == 1 else 429, headers={"retry-after": "0"})
        if key in (cfg.object_key(10), cfg.object_key(11)):
            return httpx.Response(200, content=_object(int(key.split("--")[1].split(".")[0])))
        return httpx.Response(404)

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    store = HttpStore("http://lake.test/lake", transport=httpx.MockTransport(handler), sleep=sleep)
    async with DataLake("http://lake.test/lake", network_passphrase="net", store=store) as lake:
        got = await _collect(lake, 10, 12, on_gap="yield")
    assert [type(b).__name__ for b in got] == ["LakeBatch", "LakeBatch", "Gap"]
    assert hits[cfg.object_key(11)] == 3 and len(sleeps) == 2
    # the missing object was looked up under both extensions before being called a gap
    assert hits[cfg.object_key(12, "zstd")] == 1
    assert isinstance(got[2], Gap) and got[2].key == cfg.object_key(12)


async def test_http_gives_up_and_refuses_forbidden() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403 if request.url.path.endswith("forbidden") else 500)

    async def sleep(seconds: float) -> None:
        return None

    store = HttpStore(
        "https://bucket.test/ledgers",
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        backoff=Backoff(max_retries=2),
    )
    with pytest.raises(LakeUnavailable, match=r"HTTP 500 \(gave up after 3 attempts\)"):
        await store.get("x")
    with pytest.raises(LakeError, match=r"https://bucket\.test/ledgers/forbidden: HTTP 403"):
        await store.get("forbidden")
    await store.close()


# ── slices for a source, dates to ledgers ────────────────────────────────────


async def test_read_archive_accounts_for_every_ledger(small_chain: Chain, lake_dir: Path) -> None:
    first, last = small_chain.genesis_ledger + 1, small_chain.latest_ledger - 1
    watch = _watched(small_chain)
    (lake_dir / LakeConfig("x").object_key(first + 3)).unlink()
    async with DataLake(lake_dir.as_uri()) as lake:
        slices = [s async for s in read_archive(lake, first, last, watch, on_gap="yield")]
        with pytest.raises(GapError):
            _ = [s async for s in read_archive(lake, first, last, watch)]
    assert [(s.first_ledger, s.last_ledger) for s in slices] == [
        (n, n) for n in range(first, last + 1)
    ]
    assert [s.first_ledger for s in slices if s.gap is not None] == [first + 3]
    assert all(
        s.closed_at is not None and s.closed_at.timestamp() == small_chain.close_time(s.last_ledger)
        for s in slices
        if s.gap is None
    )
    expected = [
        e.id
        for seq in sorted(small_chain.ledgers)
        if first <= seq <= last and seq != first + 3
        for e in small_chain.ledgers[seq].events
    ]
    assert [e.id for s in slices for e in s.events] == expected
    hashes = {
        t.hash
        for seq, r in small_chain.ledgers.items()
        if first <= seq <= last and seq != first + 3
        for t in r.txs
    }
    assert {h for s in slices for h in s.transactions} == hashes


@pytest.mark.parametrize("per_batch", [1, 4])
async def test_ledger_at_finds_the_first_ledger_closed_at_or_after(
    small_chain: Chain, tmp_path: Path, per_batch: int
) -> None:
    LakeWriter(small_chain, tmp_path, ledgers_per_batch=per_batch).sync()
    written_last = (
        small_chain.latest_ledger
        - (small_chain.latest_ledger - small_chain.genesis_ledger + 1) % per_batch
    )
    lo, hi = small_chain.genesis_ledger + 1, written_last - 1
    async with DataLake(str(tmp_path)) as lake:
        for offset in range(-7, (hi - lo + 3) * 5, 3):
            ts = small_chain.close_time(lo) + offset
            when = datetime.fromtimestamp(ts, UTC)
            brute = next((n for n in range(lo, hi + 1) if small_chain.close_time(n) >= ts), hi + 1)
            assert await ledger_at(lake, when, lo, hi) == brute, offset


def test_a_restarted_devnet_lake_holds_one_chain_only(tmp_path: Path) -> None:
    longer = build_chain("empty", ledgers=40)
    LakeWriter(longer, tmp_path, ledgers_per_batch=4, batches_per_partition=2).sync()
    (tmp_path / "notes.txt").write_text("not ours")
    shorter = build_chain("empty", ledgers=10)
    writer = LakeWriter(shorter, tmp_path, ledgers_per_batch=4, batches_per_partition=2)
    assert writer.objects_removed == 10
    writer.sync()
    objects = sorted(p.name for p in tmp_path.rglob("*.xdr.zst"))
    assert objects == sorted(
        writer.config.object_key(s).split("/")[1] for s in (2_000_000, 2_000_004)
    )
    assert (tmp_path / "notes.txt").read_text() == "not ours"
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1  # emptied partitions removed

"""Backfill benchmark: the SEP-54 lake reader's prefilter against full XDR decoding.

Run: ``.venv/bin/python bench/backfill.py [--ledgers 2000] [--watched-every 50] [--keep DIR]``

Generates a lake of ``--ledgers`` single-ledger objects (zstd level 3, like
Galexie) whose ledgers weigh about 350 KB decompressed, as on pubnet: ~250
Soroban transactions of other contracts (devnet ``load`` organizations that are
not watched), and one transaction of the watched OrbitPay organization in every
``--watched-every``-th ledger. Then, side by side:

- the prefilter pass: ``DataLake.batches`` over ``file://`` with the watched
  contract ids (read, decompress, byte search), ledgers per second of wall time
  and per CPU second (one core), with the process RSS sampled during the pass
  (flat memory means the reader holds a bounded window of objects);
- full decoding: ``decode_batch`` of the kept ledgers (watched contracts only)
  and of unfiltered ledgers (every transaction), ledgers per second;
- the real pubnet object (``../shared/fixtures/pubnet-53312000.xdr.zstd``):
  decompression and decoding times.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from orbitpay.devnet.chain import Chain, LedgerRec, TxRec
from orbitpay.devnet.lake import LakeWriter, ledger_close_meta
from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar.datalake import (
    DataLake,
    LakeBatch,
    LakeConfig,
    contract_id_bytes,
    decompress,
)
from orbitpay.stellar.ledgermeta import decode_batch

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pubnet-53312000.xdr.zstd"
PUBNET = "Public Global Stellar Network ; September 2015"
TARGET_BYTES = 350_000


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_lake(root: Path, ledgers: int, watched_every: int, seed: int) -> tuple[Chain, set[str]]:
    """A chain whose ledgers are filled from a pool of devnet transactions, written as a lake."""
    t0 = time.perf_counter()
    pool_chain = build_chain("load", seed, organizations=12, events=9000)
    org = pool_chain.organizations()[0]
    watched = set(org["contracts"].values())
    needles = contract_id_bytes(sorted(watched))
    mine = [t for t in pool_chain.txs.values() if t.contract in watched and t.success]
    # Other contracts only: no transaction that so much as names a watched contract.
    other = [
        t
        for t in pool_chain.txs.values()
        if not any(n in base64.b64decode(t.envelope_xdr + t.meta_xdr) for n in needles)
        and t.contract not in watched
    ]
    print(
        f"transaction pool: {len(other)} of other contracts, {len(mine)} of the watched "
        f"organization ({time.perf_counter() - t0:.1f}s)"
    )
    chain = Chain(seed=seed, network_passphrase=pool_chain.network_passphrase)
    rng = random.Random(seed)
    first = chain.genesis_ledger
    sizes: list[int] = []
    for i in range(ledgers):
        seq = first + i
        picked: list[TxRec] = []
        size = 0
        order = rng.sample(range(len(other)), len(other))
        for j in order:
            if size >= TARGET_BYTES:
                break
            tx = other[j]
            picked.append(tx)
            size += (len(tx.envelope_xdr) + len(tx.result_xdr) + len(tx.meta_xdr)) * 3 // 4
        if i % watched_every == watched_every // 2:
            picked.insert(rng.randrange(len(picked) + 1), mine[i % len(mine)])
        chain.ledgers[seq] = LedgerRec(seq, chain.close_time(seq), picked)
        if i < 20:
            sizes.append(len(ledger_close_meta(chain, seq)))
    chain.open_seq = first + ledgers
    t1 = time.perf_counter()
    writer = LakeWriter(chain, root, ledgers_per_batch=1)
    writer.sync()
    on_disk = sum(p.stat().st_size for p in root.rglob("*.xdr.zst"))
    print(
        f"lake: {ledgers} ledgers, {statistics.mean(sizes) / 1000:.0f} KB decompressed and "
        f"{on_disk / ledgers / 1000:.0f} KB compressed per ledger on average, "
        f"written in {time.perf_counter() - t1:.1f}s"
    )
    return chain, watched


async def prefilter_pass(root: Path, chain: Chain, watched: set[str]) -> list[str]:
    """Keys of the kept objects (not their bytes: the RSS samples show the reader alone)."""
    first, last = chain.genesis_ledger, chain.latest_ledger
    needles = contract_id_bytes(sorted(watched))
    kept: list[str] = []
    skipped = 0
    rss: list[float] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    async with DataLake(root.as_uri(), network_passphrase=chain.network_passphrase) as lake:
        async for batch in lake.batches(first, last, watch=needles):
            assert isinstance(batch, LakeBatch)
            if batch.xdr is None:
                skipped += 1
            else:
                kept.append(batch.key)
            if (skipped + len(kept)) % 100 == 0:
                rss.append(_rss_mib())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    total = skipped + len(kept)
    print(
        f"prefilter ({len(needles)} watched contracts): {total} ledgers ({skipped} skipped, "
        f"{len(kept)} kept) in {wall:.2f}s wall, "
        f"{cpu:.2f}s CPU: {total / wall:,.0f} ledgers/s wall, {total / cpu:,.0f} ledgers per "
        f"CPU-second; RSS during the pass {min(rss):.0f}-{max(rss):.0f} MiB"
    )
    return kept


def decode_pass(kept: list[str], chain: Chain, watched: set[str], root: Path) -> None:
    t0 = time.perf_counter()
    events = 0
    for key in kept:
        data = decompress((root / key).read_bytes(), key)
        for ledger in decode_batch(data, chain.network_passphrase, watched):
            events += len(ledger.events)
    wall = time.perf_counter() - t0
    print(
        f"full decode of the kept ledgers (read, decompress, decode for the watched contracts): "
        f"{len(kept)} ledgers, "
        f"{events} events in {wall:.2f}s: {len(kept) / wall:,.1f} ledgers/s"
    )
    sample = [chain.genesis_ledger + i for i in range(0, 20)]
    lake_cfg = LakeConfig(chain.network_passphrase)
    t0 = time.perf_counter()
    txs = 0
    for seq in sample:
        data = decompress((root / lake_cfg.object_key(seq)).read_bytes(), str(seq))
        for ledger in decode_batch(data, chain.network_passphrase):
            txs += ledger.tx_count
    wall = time.perf_counter() - t0
    print(
        f"full decode without a filter (every transaction): {len(sample)} ledgers, {txs} "
        f"transactions in {wall:.2f}s: {len(sample) / wall:,.1f} ledgers/s"
    )


def pubnet_fixture() -> None:
    raw = FIXTURE.read_bytes()
    times: dict[str, list[float]] = {"decompress": [], "decode all": [], "decode watched": []}
    for _ in range(5):
        t0 = time.perf_counter()
        data = decompress(raw, FIXTURE.name)
        t1 = time.perf_counter()
        [ledger] = decode_batch(data, PUBNET)
        t2 = time.perf_counter()
        decode_batch(data, PUBNET, {"CALI2BYU2JE6WVRUFYTS6MSBNEHGJ35P4AVCZYF3B6QOE3QKOB2PLE6M"})
        t3 = time.perf_counter()
        times["decompress"].append(t1 - t0)
        times["decode all"].append(t2 - t1)
        times["decode watched"].append(t3 - t2)
    print(
        f"pubnet ledger {ledger.sequence} ({len(raw):,} bytes compressed, {len(data):,} "
        f"decompressed, {ledger.tx_count} transactions), median of 5: "
        + ", ".join(f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in times.items())
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ledgers", type=int, default=2000)
    ap.add_argument("--watched-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="Write the lake here and keep it.")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="orbitpay-bench-lake-"))
    try:
        chain, watched = build_lake(root, args.ledgers, args.watched_every, args.seed)
        rss0 = _rss_mib()
        kept = asyncio.run(prefilter_pass(root, chain, watched))
        decode_pass(kept, chain, watched, root)
        pubnet_fixture()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"RSS before reading {rss0:.0f} MiB; peak RSS of the process {peak:.0f} MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

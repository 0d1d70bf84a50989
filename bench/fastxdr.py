"""Narrow XDR readers against stellar-sdk, on the same inputs: envelopes, metas, events, entries.

    .venv/bin/python bench/fastxdr.py --events 20000

Builds a devnet ``load`` chain whose metas are as the network writes them
(``metas="full"``: every written entry before and after, TTLs, the source
account, fees), then times, per input kind, the stellar-sdk decode the
indexer used to do and the narrow reader it uses now, over the same bytes:

- envelope -> contract calls: ``fastxdr.envelope_calls_fast`` vs
  ``TransactionEnvelope.from_xdr`` + ``tx.envelope_calls``;
- transaction meta -> return value and events: ``metaread.read_meta`` vs
  ``TransactionMeta.from_xdr`` + ``metaread.view_of``;
- transaction meta -> watched contract data changes (the archive path):
  ``metaread.storage_changes`` vs ``TransactionMeta.from_xdr`` + ``ledgermeta``'s
  reading;
- contract event -> typed event: ``registry.decode_event`` vs
  ``registry.decode_event_sdk``;
- ledger entry (getLedgerEntries) -> key and value: ``ledger.decode_entry`` vs
  ``ledger.decode_entry_sdk``.

Each pair is checked equal on every input before it is timed.
"""

from __future__ import annotations

import argparse
import base64
import time
from collections.abc import Callable, Sequence
from typing import Any

from stellar_sdk import xdr


def _time(fn: Callable[[Any], Any], inputs: Sequence[Any], repeat: int) -> float:
    """Best of ``repeat`` passes, in microseconds per input."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for item in inputs:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return best / len(inputs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--meta-version", type=int, default=4, choices=(3, 4))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--organizations",
        type=int,
        default=10,
        help="organizations on the load chain (fewer: longer index vectors, heavier metas)",
    )
    args = parser.parse_args()

    from orbitpay.contracts.registry import decode_event, decode_event_sdk
    from orbitpay.devnet import xdr as dx
    from orbitpay.devnet.chain import CONTRACT_KINDS
    from orbitpay.devnet.scenarios import build_chain
    from orbitpay.runtime import tune_gc
    from orbitpay.stellar import ledger, ledgermeta, metaread
    from orbitpay.stellar import scval as sv
    from orbitpay.stellar.fastxdr import envelope_calls_fast
    from orbitpay.stellar.tx import Call, dedupe, envelope_calls

    tune_gc()
    t0 = time.perf_counter()
    chain = build_chain(
        "load",
        args.seed,
        events=args.events,
        meta_version=args.meta_version,
        metas="full",
        organizations=args.organizations,
    )
    txs = list(chain.txs.values())
    mean_meta = sum(len(t.meta_xdr) for t in txs) * 3 // 4 // len(txs)
    print(
        f"devnet load chain: {chain.event_count} events, {len(txs)} transactions, "
        f"meta v{args.meta_version}, mean meta {mean_meta} bytes, "
        f"built in {time.perf_counter() - t0:.1f}s"
    )
    kind_of = {cls: kind for kind, cls in CONTRACT_KINDS.items()}
    kinds = {cid: kind_of[type(c)] for cid, c in chain.contracts.items()}
    events = [
        (kinds[e.contract_id], list(e.topics), e.value)
        for rec in chain.ledgers.values()
        for e in rec.events
        if kinds[e.contract_id] in ("treasury", "payroll", "vesting", "governance")
    ]
    entries: list[str] = []
    for cid, contract in chain.contracts.items():
        keys = [dx.instance_key_scval()]
        keys += [
            sv.enum_tuple(k[0], sv.u32(k[1]))
            for k in contract.persistent
            if isinstance(k, tuple) and len(k) == 2 and isinstance(k[1], int)
        ]
        for key in keys:
            found = chain.ledger_entry(dx.contract_data_key(cid, key))
            if found is not None:
                entries.append(base64.b64encode(found[0].to_xdr_bytes()).decode())

    def sdk_calls(b64: str) -> Any:
        return envelope_calls(xdr.TransactionEnvelope.from_xdr(b64))

    def fast_calls(b64: str) -> Any:  # as parse_tx does it
        return dedupe([Call(c, f, a, top) for c, f, a, top in envelope_calls_fast(b64)])

    watch = set(kinds)

    def sdk_changes(b64: str) -> Any:
        meta = xdr.TransactionMeta.from_xdr(b64)
        return [
            c
            for op, changes in ledgermeta._change_groups(meta)
            for c in ledgermeta._storage_changes(changes, watch, (1, "", 1, op))
        ]

    def fast_changes(b64: str) -> Any:
        return metaread.storage_changes(b64, watch, 1, "", 1)

    def sdk_meta(b64: str) -> Any:
        return metaread.view_of(xdr.TransactionMeta.from_xdr(b64))

    rows: list[tuple[str, int, Callable[[Any], Any], Callable[[Any], Any], list[Any]]] = [
        (
            "envelope -> calls",
            len(txs),
            sdk_calls,
            fast_calls,
            [t.envelope_xdr for t in txs],
        ),
        (
            "meta -> return value, events",
            len(txs),
            sdk_meta,
            metaread.read_meta,
            [t.meta_xdr for t in txs],
        ),
        (
            "meta -> storage changes (archive)",
            len(txs),
            sdk_changes,
            fast_changes,
            [t.meta_xdr for t in txs],
        ),
        (
            "event -> typed event",
            len(events),
            lambda e: decode_event_sdk(*e),
            lambda e: decode_event(*e),
            events,
        ),
        (
            "ledger entry -> key, value",
            len(entries),
            ledger.decode_entry_sdk,
            ledger.decode_entry,
            entries,
        ),
    ]
    for name, _, slow, fast, inputs in rows:  # same answers first
        for item in inputs:
            if slow(item) != fast(item):
                raise SystemExit(f"{name}: readers differ on {str(item)[:60]}")
    print()
    print("| input | n | stellar-sdk µs each | narrow reader µs each | speedup |")
    print("|---|---|---|---|---|")
    for name, n, slow, fast, inputs in rows:
        s = _time(slow, inputs, args.repeat)
        f = _time(fast, inputs, args.repeat)
        print(f"| {name} | {n} | {s:,.1f} | {f:,.1f} | {s / f:,.1f}x |")


if __name__ == "__main__":
    main()

"""Fetching the transactions behind a page's thin events, each hash once.

Two strategies, chosen per page:

- ``getTransactions`` over the page's ledgers: the needed transactions are
  located by the (ledger, application order) their event ids carry, split into
  up to ``parallel`` runs, and each run pages ``getTransactions`` from just
  before its first needed transaction. This is one request per 200
  transactions instead of one per transaction, and is what makes a dense chain
  (every transaction ours) fast.
- ``getTransaction`` per hash, concurrently (bounded by the RPC client): used
  for whatever the ranges did not find, when a run wastes too many unrelated
  transactions (a busy public network), or when the RPC lacks
  ``getTransactions``.

Transactions already seen recently (a transaction's events split over two
pages) come from a small LRU.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from orbitpay.stellar.rpc import RpcClient, RpcError, TxInfo
from orbitpay.stellar.tx import TxContext, TxDecodeError, parse_tx

TX_PAGE_LIMIT = 200
YIELD_EVERY = 50  # transactions parsed between yields to the event loop


@dataclass(frozen=True, slots=True)
class TxRef:
    hash: str
    ledger: int
    order: int  # application order in the ledger (from the event id's TOID), 1-based


def _toid(ledger: int, order: int, op: int = 0) -> int:
    return (ledger << 32) | ((order & 0xFFFFF) << 12) | (op & 0xFFF)


class TxFetcher:
    def __init__(self, rpc: RpcClient, *, parallel: int = 8, cache_size: int = 4096) -> None:
        self.rpc = rpc
        self.parallel = parallel
        self.cache_size = cache_size
        self._cache: OrderedDict[str, TxContext] = OrderedDict()
        self.use_ranges = True
        self.fetched_unrelated = 0
        self.fetched_needed = 0

    def _remember(self, ctx: TxContext) -> None:
        self._cache[ctx.hash] = ctx
        self._cache.move_to_end(ctx.hash)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def fetch(self, refs: list[TxRef]) -> tuple[dict[str, TxContext], dict[str, str]]:
        """Contexts by hash, and the reason for each hash that could not be read."""
        found: dict[str, TxContext] = {}
        errors: dict[str, str] = {}
        wanted: dict[str, TxRef] = {}
        for r in refs:
            if r.hash in found or r.hash in wanted:
                continue
            cached = self._cache.get(r.hash)
            if cached is not None:
                found[r.hash] = cached
            else:
                wanted[r.hash] = r
        if not wanted:
            return found, errors
        infos: dict[str, TxInfo] = {}
        if self.use_ranges and len(wanted) > 1:
            try:
                infos = await self._by_ranges(
                    sorted(wanted.values(), key=lambda r: (r.ledger, r.order))
                )
            except RpcError as exc:
                if exc.code == -32601:  # method not found: an RPC without getTransactions
                    self.use_ranges = False
                infos = {}
        missing = [h for h in wanted if h not in infos]
        refused: dict[str, str] = {}
        if missing:
            results = await asyncio.gather(*(self._get_one(h) for h in missing))
            for h, got in zip(missing, results, strict=True):
                if isinstance(got, str):
                    refused[h] = got
                else:
                    infos[got.hash or h] = got
        for n, h in enumerate(wanted, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # see pipeline.YIELD_EVERY
            info = infos.get(h)
            if info is None or info.status == "NOT_FOUND":
                errors[h] = refused.get(h) or (
                    f"transaction {h} not found by the RPC (NOT_FOUND: outside its "
                    "retention window?)"
                )
                continue
            try:
                ctx = parse_tx(
                    h,
                    info.status,
                    info.ledger,
                    info.envelope_xdr,
                    info.result_meta_xdr,
                    info.contract_events_xdr,
                )
            except TxDecodeError as exc:
                errors[h] = str(exc)
                continue
            found[h] = ctx
            self._remember(ctx)
        return found, errors

    async def _get_one(self, tx_hash: str) -> TxInfo | str:
        """``getTransaction``; a JSON-RPC error about this hash is a reason, not a crash."""
        try:
            return await self.rpc.get_transaction(tx_hash)
        except RpcError as exc:
            return f"transaction {tx_hash}: {exc}"

    async def _by_ranges(self, refs: list[TxRef]) -> dict[str, TxInfo]:
        n_runs = max(1, min(self.parallel, len(refs) // 50 or 1))
        size = -(-len(refs) // n_runs)
        if size > TX_PAGE_LIMIT:  # whole pages per run: no short tail request per run
            size = -(-size // TX_PAGE_LIMIT) * TX_PAGE_LIMIT
        runs = [refs[i : i + size] for i in range(0, len(refs), size)]
        parts = await asyncio.gather(*(self._run(run) for run in runs))
        out: dict[str, TxInfo] = {}
        for part in parts:
            out.update(part)
        return out

    async def _run(self, run: list[TxRef]) -> dict[str, TxInfo]:
        need = {r.hash for r in run}
        last = (run[-1].ledger, run[-1].order)
        first = run[0]
        cursor = str(_toid(first.ledger, first.order - 1))
        out: dict[str, TxInfo] = {}
        fetched = 0
        budget = 4 * len(run) + TX_PAGE_LIMIT
        while need and fetched < budget:
            limit = min(TX_PAGE_LIMIT, max(10, len(need) + len(need) // 8))
            page = await self.rpc.get_transactions(cursor=cursor, limit=limit, only=need)
            if not page.transactions:
                break
            for info in page.transactions:
                fetched += 1
                if info.hash in need:
                    out[info.hash] = info
                    need.discard(info.hash)
                    self.fetched_needed += 1
                else:
                    self.fetched_unrelated += 1
            tail = page.transactions[-1]
            if tail.ledger is not None and (tail.ledger, tail.application_order or 0) >= last:
                break
            if not page.cursor or page.cursor == cursor:
                break
            cursor = page.cursor
        if fetched >= budget and need:
            # Mostly other people's transactions here: per-hash lookups are cheaper.
            self.use_ranges = False
        return out

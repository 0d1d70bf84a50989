"""ENRICH: the transaction context of thin events, and the typed call each came from.

Many events lack fields only their call has (``claim`` has no stream id,
``vote`` no choice, ``v_create`` no schedule id: CONTRACTS.md). For each such
*thin* event (its class names a call record in ``ContractEvent.call``):

1. the transactions are fetched, each once, for a whole round of pages
   (:class:`~orbitpay.indexer.txfetch.TxFetcher`: ``getTransactions`` ranges,
   ``getTransaction`` fallback);
2. :func:`resolve` chooses, among the transaction's calls to the emitting
   contract's function (top-level or found in the authorization tree), the one
   that emitted the event: its arguments must parse into the function's typed
   record (a misshapen call is rejected here, once) and agree with the event's
   own fields; when a transaction makes several such calls, the n-th event of
   that kind came from the n-th call. The record goes to ``item.call``;
   anything that cannot be resolved goes to ``item.problem`` and becomes a
   ``discrepancies`` row when the page is projected (the event is stored, its
   effects are not applied, nothing is guessed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orbitpay.contracts.base import CallError, ContractCall
from orbitpay.indexer.model import Item
from orbitpay.indexer.txfetch import TxFetcher, TxRef
from orbitpay.stellar.rpc import toid_parts
from orbitpay.stellar.tx import Call, TxContext

# Items resolved between yields to the event loop (see pipeline.YIELD_EVERY).
YIELD_EVERY = 100


@dataclass(frozen=True, slots=True)
class EnrichTimes:
    """Where enrichment spent its time (seconds): fetching, then matching calls."""

    fetch: float
    resolve: float


def needs_transaction(item: Item) -> bool:
    """True when the event is thin (its class names a call) and its call succeeded."""
    ev = item.decoded.event
    return ev is not None and ev.call is not None and item.raw.in_successful_contract_call


async def enrich(
    items: Sequence[Item], fetcher: TxFetcher, known: Mapping[str, TxContext] | None = None
) -> EnrichTimes:
    """Fetch the transactions behind ``items``' thin events (one fetch), then resolve calls.

    ``known``: transaction contexts by hash that the source already has (the
    ledger data lake reads whole transactions); those are not fetched.
    """
    t0 = time.perf_counter()
    refs: list[TxRef] = []
    thin: list[Item] = []
    for it in items:
        if needs_transaction(it) and it.raw.tx_hash:
            ctx = known.get(it.raw.tx_hash) if known else None
            if ctx is not None:
                it.tx = ctx
                continue
            thin.append(it)
            order = it.raw.transaction_index
            if order is None:
                order = toid_parts(int(it.raw.id.split("-")[0]))[1]
            refs.append(TxRef(it.raw.tx_hash, it.raw.ledger, order))
    if refs:
        txs, errors = await fetcher.fetch(refs)
        for it in thin:
            it.tx = txs.get(it.raw.tx_hash)
            it.tx_error = errors.get(it.raw.tx_hash)
    t1 = time.perf_counter()
    for n, it in enumerate(items, 1):
        resolve(it)
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return EnrichTimes(t1 - t0, time.perf_counter() - t1)


def resolve(item: Item) -> None:
    """Attach the call behind a thin event (``item.call``) or say why not (``item.problem``)."""
    ev = item.decoded.event
    if ev is None or ev.call is None or not item.raw.in_successful_contract_call:
        return
    record_type = ev.call
    function = record_type.function
    contract_id = item.contract.contract_id
    tx = item.tx
    if tx is None:
        item.problem = item.tx_error or f"transaction {item.raw.tx_hash} not available"
        return
    if not tx.successful:
        return  # a failed transaction changes nothing; applies is False
    candidates: list[tuple[Call, ContractCall]] = []
    malformed: str | None = None
    for call in tx.calls_to(contract_id, function):
        try:
            record = record_type.parse(call.args)
        except CallError as exc:
            malformed = malformed or str(exc)
            continue
        if ev.agrees(record):
            candidates.append((call, record))
    if not candidates:
        if malformed is not None:
            item.problem = (
                f"the {function} call to {contract_id} in transaction {item.raw.tx_hash} "
                f"is malformed: {malformed}"
            )
        else:
            item.problem = (
                f"no {function} call to {contract_id} in transaction "
                f"{item.raw.tx_hash} matches the {ev.symbol} event"
            )
        return
    if len(candidates) > 1:
        chosen = _by_order(item, ev.symbol, candidates)
        if chosen is None:
            item.problem = (
                f"{len(candidates)} {function} calls in transaction {item.raw.tx_hash} could "
                f"have emitted {item.raw.id}; cannot tell which"
            )
            return
        call, record = chosen
    else:
        call, record = candidates[0]
    item.call = record
    item.call_top_level = call.top_level


def _event_index(event_id: str) -> int | None:
    tail = event_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _by_order(
    item: Item, symbol: str, candidates: list[tuple[Call, ContractCall]]
) -> tuple[Call, ContractCall] | None:
    """The n-th event of this kind in the transaction came from the n-th matching call."""
    assert item.tx is not None
    refs = [
        r
        for r in item.tx.contract_events()
        if r.contract == item.contract.contract_id and r.topic0 == symbol
    ]
    if len(refs) != len(candidates):
        return None
    idx = _event_index(item.raw.id)
    op = item.raw.operation_index or 0
    legacy = item.raw.legacy_ids
    for n, ref in enumerate(refs):
        if ref.matches_id(op, idx, legacy):
            return candidates[n]
    return None

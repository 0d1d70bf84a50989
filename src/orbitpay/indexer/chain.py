"""Network resets: the RPC behind the configured URL now serves a different chain.

Testnet is reset to genesis a few times a year, and the built-in devnet is a
new chain on every ``make run``. Indexing on would stitch two chains into one
database, so the indexer checks, before each catch-up, that the RPC still
serves the chain its rows come from:

- no stored cursor may be ahead of the RPC's latest ledger (a young chain);
- the *anchor* (``indexer_chain``: one ledger's sequence and hash, moved to
  the RPC's latest ledger after every check that passes) must still hash the
  same: ``getLatestLedger`` returns the latest ledger's hash (``id``), and
  ``getLedgers`` any ledger's in the RPC's window. An anchor older than the
  window cannot be checked (a long stop); the cursor check still applies.

The full check (with ``getLedgers``, whose answer carries the ledger's whole
meta) runs once per process and after RPC errors; the cycles in between
compare the cursors with the latest ledger only, which every getEvents window
error (``startLedger must be within the ledger range``) also triggers.

``ORBITPAY_ON_NETWORK_RESET=stop`` stops with one line; ``reindex`` deletes
every indexed row of the old chain (:func:`wipe`: organizations, contracts
and API keys stay) and the indexer starts over on the new one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.cache import NAMESPACE_OF
from orbitpay.config import ConfigError
from orbitpay.db.schema import api_keys, contracts, metadata, organizations
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import NETWORK_RESETS
from orbitpay.stellar.rpc import RpcClient, RpcError

log = get_logger(__name__)

ANCHOR = "default"
# What a network reset leaves in place: who is indexed and who may read.
KEPT: frozenset[str] = frozenset({organizations.name, contracts.name, api_keys.name})


class NetworkReset(ConfigError):
    """The RPC serves a different chain than the one the indexed rows come from.

    A :class:`ConfigError`: the configured RPC URL no longer names the indexed
    chain, and every entry point already turns one into a single line on
    stderr and a stop (exit 2)."""


@dataclass(frozen=True, slots=True)
class Head:
    sequence: int
    hash: str


async def latest(rpc: RpcClient) -> Head:
    """The RPC's latest ledger and its hash (``getLatestLedger``'s ``id``)."""
    r = await rpc.call("getLatestLedger")
    return Head(int(r["sequence"]), str(r.get("id") or ""))  # "": an RPC without the hash


async def ledger_hash(rpc: RpcClient, sequence: int) -> str | None:
    """The hash of ledger ``sequence`` per ``getLedgers`` (``None``: outside the RPC's window
    or the method is not offered, so it cannot be checked)."""
    try:
        r = await rpc.call("getLedgers", {"startLedger": sequence, "pagination": {"limit": 1}})
    except RpcError:
        return None
    for ledger in r.get("ledgers") or []:
        if int(ledger.get("sequence", -1)) == sequence and ledger.get("hash"):
            return str(ledger["hash"])
    return None


async def _indexed_to(conn: AsyncConnection) -> int | None:
    """The newest ledger any cursor passed (``None``: nothing indexed yet)."""
    value = await conn.scalar(text("SELECT max(last_ledger) FROM indexer_cursors"))
    return int(value) if value is not None else None


async def check(engine: AsyncEngine, rpc: RpcClient, *, full: bool) -> Head:
    """Raise :class:`NetworkReset` when the RPC's chain is not the indexed one; otherwise
    move the anchor to the RPC's latest ledger and return it. ``full`` also checks the
    anchor's hash with ``getLedgers`` when it is not the latest ledger."""
    head = await latest(rpc)
    async with engine.connect() as conn:
        indexed_to = await _indexed_to(conn)
        anchor = (
            await conn.execute(
                text("SELECT ledger, ledger_hash FROM indexer_chain WHERE name = :n"),
                {"n": ANCHOR},
            )
        ).first()
    if indexed_to is not None and indexed_to > head.sequence:
        raise NetworkReset(
            f"network reset: the RPC's latest ledger {head.sequence} is below ledger "
            f"{indexed_to}, already indexed: it serves a different chain"
        )
    if anchor is not None:
        ledger, stored = int(anchor[0]), str(anchor[1])
        if ledger > head.sequence:
            raise NetworkReset(
                f"network reset: the RPC's latest ledger {head.sequence} is below ledger "
                f"{ledger}, seen before: it serves a different chain"
            )
        now: str | None = head.hash if ledger == head.sequence else None  # "": unknown
        if now is None and full:
            now = await ledger_hash(rpc, ledger)
        if now and stored and now != stored:
            raise NetworkReset(
                f"network reset: ledger {ledger} hashes {now[:16]}... on the RPC, "
                f"{stored[:16]}... when indexed: it serves a different chain"
            )
    async with engine.begin() as conn:
        await save_anchor(conn, head)
    return head


async def save_anchor(conn: AsyncConnection, head: Head) -> None:
    await conn.execute(
        text(
            "INSERT INTO indexer_chain (name, ledger, ledger_hash, updated_at) "
            "VALUES (:n, :l, :h, now()) ON CONFLICT (name) DO UPDATE "
            "SET ledger = EXCLUDED.ledger, ledger_hash = EXCLUDED.ledger_hash, updated_at = now()"
        ),
        {"n": ANCHOR, "l": head.sequence, "h": head.hash},
    )


def indexed_tables() -> list[Table]:
    """Every table holding rows of the indexed chain (all but :data:`KEPT`)."""
    return [t for t in metadata.sorted_tables if t.name not in KEPT]


async def wipe(conn: AsyncConnection) -> None:
    """Delete every indexed row of the old chain (cursors, status, coverage and the anchor
    included); organizations, contracts and API keys stay, the contracts' learnt state
    (admin, parameters, initialize ledger) is cleared: it came from the old chain."""
    names = ", ".join(t.name for t in indexed_tables())
    await conn.execute(text(f"TRUNCATE {names}"))
    await conn.execute(
        text(
            "UPDATE contracts SET admin = NULL, params = '{}'::jsonb, "
            "initialized_ledger = NULL, last_ledger = NULL"
        )
    )


__all__ = [
    "KEPT",
    "Head",
    "NetworkReset",
    "check",
    "guard",
    "indexed_tables",
    "latest",
    "ledger_hash",
    "save_anchor",
    "wipe",
]


async def guard(
    engine: AsyncEngine,
    rpc: RpcClient,
    *,
    policy: str,
    full: bool,
    cache: Any = None,
) -> bool:
    """:func:`check`, then the policy on a reset: ``stop`` re-raises :class:`NetworkReset`
    (its message ends with the policy, one line for the operator), ``reindex`` wipes the
    old chain's rows and returns True (the caller starts over)."""
    try:
        await check(engine, rpc, full=full)
        return False
    except NetworkReset as exc:
        NETWORK_RESETS.labels(policy).inc()
        if policy != "reindex":
            raise NetworkReset(
                f"{exc}; ORBITPAY_ON_NETWORK_RESET=stop: indexing stopped, nothing of the new "
                "chain written (reindex deletes the old chain's rows and starts over)"
            ) from None
        line = (
            f"{exc}; ORBITPAY_ON_NETWORK_RESET=reindex: the old chain's indexed rows are "
            "deleted, indexing the new chain from the start"
        )
    print(line, file=sys.stderr, flush=True)
    log.warning("network_reset_reindex", message=line)
    async with engine.begin() as conn:
        await wipe(conn)
    if cache is not None:
        await cache.invalidate(*sorted({ns for nss in NAMESPACE_OF.values() for ns in nss}))
    await check(engine, rpc, full=False)
    return True

"""What every source hands the pipeline: ledger-ordered batches with a resumable position.

A source walks groups of contracts forward through the chain and yields
*rounds*: at most one :class:`Batch` per group, all covering the same stretch
of chain, so one enrichment pass (one transaction fetch) serves the whole
round. A batch's :class:`Position` is what the pipeline stores with the
batch's rows in one transaction; handing the same position back to a source
continues exactly after the batch, nothing skipped and nothing twice.

Sources: ``rpc`` (``getEvents``, today's path). The ledger data lake
(SEP-54) fits the same shape: it reads whole ledgers, so its batches can
carry the watched transactions' contexts (``Batch.txs``) and enrichment does
not have to ask ``getTransactions`` for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from orbitpay.enums import CoverageSource
from orbitpay.indexer.sources.groups import Group
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import TxContext


@dataclass(frozen=True, slots=True)
class Position:
    """Where a group resumes: the columns ``cursor`` and ``last_ledger`` of its cursor row.

    ``scanned_to`` is the newest ledger whose events (of the group's contracts)
    are all handed over; ``cursor`` is the source's own token for the exact
    event after which to continue (for the RPC, a ``getEvents`` cursor, i.e.
    an event id or the end of a scanned window; ``None`` means start from
    ledger ``scanned_to + 1``). A cursor may point into ledger
    ``scanned_to + 1`` when a ledger holds more events than one page.
    Every source writes cursors in the RPC's format (an event id, or the end
    of a scanned ledger), so one source can continue where another stopped.
    """

    cursor: str | None
    scanned_to: int


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The ledgers a source serves, as of one response (for status, lag and progress)."""

    latest_ledger: int
    oldest_ledger: int | None = None
    latest_ledger_close_time: datetime | None = None


@dataclass(slots=True)
class Batch:
    """One group's raw events over a stretch of chain, in ledger (event id) order.

    The batch completes ledgers ``first_ledger`` to ``position.scanned_to``
    (an empty range when a single ledger spans several batches); its events
    may also include the first part of ledger ``position.scanned_to + 1``.
    ``txs`` holds transaction contexts the source already has, keyed by hash:
    enrichment uses them instead of fetching those transactions.
    """

    group: Group
    events: list[RawEvent]
    first_ledger: int
    position: Position
    head: ChainHead
    txs: Mapping[str, TxContext] = field(default_factory=dict)
    scanned_closed_at: datetime | None = None  # close time of ``position.scanned_to``, if known
    # Which source read the batch: the store records ``first_ledger .. scanned_to`` as covered
    # by it, for every contract of the group (orbitpay.indexer.coverage).
    source: CoverageSource = CoverageSource.RPC

    @property
    def last_ledger(self) -> int:
        return self.position.scanned_to

    @property
    def closed_at(self) -> datetime | None:
        """Close time of the last ledger scanned (for ``lag_seconds``), best known.

        The exact time when the source knows it or the batch reaches the head;
        otherwise the newest event's ledger, which is at most one ledger later.
        """
        if self.scanned_closed_at is not None:
            return self.scanned_closed_at
        head = self.head
        if self.last_ledger >= head.latest_ledger and head.latest_ledger_close_time is not None:
            return head.latest_ledger_close_time
        if self.events:
            return max(e.ledger_closed_at for e in self.events)
        return None


class Source(Protocol):
    """A producer of rounds of batches (see the module docstring)."""

    async def head(self) -> ChainHead:
        """The ledgers this source can serve now (``oldest_ledger`` is where it starts)."""
        ...

    def rounds(
        self,
        starts: Sequence[tuple[Group, Position]],
        *,
        head: ChainHead,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[list[Batch], None]:
        """Rounds of batches from each group's stored position up to the source's head.

        ``head`` is what :meth:`head` returned just before; the positions were
        checked against it (a position older than ``head.oldest_ledger`` is a
        gap the caller handles before). The iterator ends when every group has
        caught up, or, once ``stop`` is set, after the round in progress. The
        caller closes it (``contextlib.aclosing``) to cancel requests in flight.
        """
        ...

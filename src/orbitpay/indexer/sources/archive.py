"""The archive source: groups' contract events from a SEP-54 ledger data lake.

The lake holds whole ledgers, so one read serves every group: the source reads
``[min position + 1, head.latest_ledger]`` once (:func:`read_archive`: objects
downloaded ``concurrency`` ahead, the prefilter skipping those that mention no
watched contract before any XDR decoding) and cuts it into rounds of at most
``round_ledgers`` ledgers or ``round_events`` events, each round handing every
group the events of its contracts past its own position. A batch completes
whole ledgers; its position is in the RPC's format (the maximal cursor of its
last ledger, as ``getEvents`` returns after a window that was not full), so
the RPC source continues exactly after it. Batches carry the transactions'
contexts (``Batch.txs``): enrichment fetches none.

Nothing is skipped silently. An object missing inside the range stops the
source with :class:`ArchiveGap` naming the ledgers, after handing over every
ledger before it; with ``gap_policy="resume"`` the hole is recorded in
:attr:`ArchiveSource.gaps` (the pipeline writes a ``gap`` discrepancy) and
the walk continues after it, as the RPC path does with its retention gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from orbitpay.enums import CoverageSource
from orbitpay.indexer.sources.base import Batch, ChainHead, Position
from orbitpay.indexer.sources.groups import Group
from orbitpay.indexer.sources.lockstep import chain_point
from orbitpay.stellar.datalake import ArchiveSlice, DataLake, Gap, read_archive
from orbitpay.stellar.ledgermeta import OP_MASK, TX_MASK, StorageChange, toid
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import TxContext

MAX_EVENT_INDEX = (1 << 32) - 1
DEFAULT_ROUND_LEDGERS = 10_000
DEFAULT_ROUND_EVENTS = 2_000


def end_of_ledger(ledger: int) -> str:
    """The RPC's cursor after every event of ``ledger`` (stellar-rpc's max cursor)."""
    return f"{toid(ledger, TX_MASK, OP_MASK):019d}-{MAX_EVENT_INDEX:010d}"


@dataclass(slots=True)
class ArchiveBatch(Batch):
    """A batch read from the lake, with its contracts' storage changes (the silent paths)."""

    storage_changes: list[StorageChange] = field(default_factory=list)


class ArchiveGap(Exception):
    """An object is missing from the lake inside the range being read."""

    def __init__(self, gap: Gap) -> None:
        super().__init__(f"{gap}; nothing after ledger {gap.first_ledger - 1} was indexed")
        self.gap = gap


@dataclass(slots=True)
class _Lane:
    group: Group
    scanned_to: int
    after: tuple[int, int] | None  # the stored cursor's chain point inside scanned_to + 1


@dataclass(slots=True)
class _Pending:
    """Slices read and not yet handed over."""

    first: int
    last: int = 0
    closed_at: datetime | None = None
    events: list[RawEvent] = field(default_factory=list)
    txs: dict[str, TxContext] = field(default_factory=dict)
    changes: list[StorageChange] = field(default_factory=list)

    def add(self, piece: ArchiveSlice) -> None:
        self.last = piece.last_ledger
        self.closed_at = piece.closed_at
        for led in piece.ledgers:
            self.events.extend(led.events)
            self.txs.update(led.transactions)
            self.changes.extend(led.storage_changes)


class ArchiveSource:
    """Rounds of batches read from a ledger data lake (see the module docstring).

    ``head()`` is the last ledger to read (``until``): the archive phase of
    ``orbitpay index`` stops where the RPC takes over; a backfill where its
    range ends.
    """

    def __init__(
        self,
        lake: DataLake,
        *,
        until: int,
        gap_policy: Literal["stop", "resume"] = "stop",
        round_ledgers: int = DEFAULT_ROUND_LEDGERS,
        round_events: int = DEFAULT_ROUND_EVENTS,
    ) -> None:
        self.lake = lake
        self.until = until
        self.gap_policy = gap_policy
        self.round_ledgers = max(1, round_ledgers)
        self.round_events = max(1, round_events)
        self.gaps: list[Gap] = []
        self.ledgers_read = 0

    async def head(self) -> ChainHead:
        return ChainHead(self.until, None)

    @staticmethod
    def _lane(group: Group, position: Position) -> _Lane:
        after = None
        if position.cursor:
            point = chain_point(position.cursor)
            if point[0] >> 32 == position.scanned_to + 1:
                after = point  # a page that ended inside the next ledger
        return _Lane(group, position.scanned_to, after)

    def _round(self, lanes: Sequence[_Lane], pending: _Pending, head: ChainHead) -> list[Batch]:
        batches: list[Batch] = []
        position = Position(end_of_ledger(pending.last), pending.last)
        for lane in lanes:
            if lane.scanned_to >= pending.last:
                continue
            contracts = lane.group.contracts
            events = [
                e
                for e in pending.events
                if e.contract_id in contracts
                and e.ledger > lane.scanned_to
                and (lane.after is None or chain_point(e.id) > lane.after)
            ]
            hashes = {e.tx_hash for e in events}
            batches.append(
                ArchiveBatch(
                    group=lane.group,
                    events=events,
                    first_ledger=lane.scanned_to + 1,
                    position=position,
                    head=head,
                    txs={h: tx for h, tx in pending.txs.items() if h in hashes},
                    scanned_closed_at=pending.closed_at,
                    source=CoverageSource.ARCHIVE,
                    storage_changes=[
                        c
                        for c in pending.changes
                        if c.contract_id in contracts and c.ledger > lane.scanned_to
                    ],
                )
            )
            lane.scanned_to = pending.last
            lane.after = None
        return batches

    async def rounds(
        self,
        starts: Sequence[tuple[Group, Position]],
        *,
        head: ChainHead,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[list[Batch], None]:
        """Rounds of batches up to ``head.latest_ledger`` (see :class:`~.base.Source`)."""
        lanes = [self._lane(g, p) for g, p in starts]
        if not lanes:
            return
        first = min(ln.scanned_to for ln in lanes) + 1
        last = head.latest_ledger
        if last < first:
            return
        watch = sorted({cid for ln in lanes for cid in ln.group.contracts})
        pending = _Pending(first)
        async for piece in read_archive(self.lake, first, last, watch, on_gap="yield"):
            if piece.gap is not None:
                if pending.last:
                    yield self._round(lanes, pending, head)
                if self.gap_policy == "stop":
                    raise ArchiveGap(piece.gap)
                self.gaps.append(piece.gap)
                skipped = _Pending(piece.first_ledger, piece.last_ledger)
                batches = self._round(lanes, skipped, head)
                pending = _Pending(piece.last_ledger + 1)
                if batches:
                    yield batches
                continue
            pending.add(piece)
            self.ledgers_read += piece.last_ledger - piece.first_ledger + 1
            full = len(pending.events) >= self.round_events
            if full or pending.last - pending.first + 1 >= self.round_ledgers:
                yield self._round(lanes, pending, head)
                pending = _Pending(pending.last + 1)
                if stop is not None and stop.is_set():
                    return
        if pending.last:
            yield self._round(lanes, pending, head)


__all__ = ["ArchiveBatch", "ArchiveGap", "ArchiveSource", "end_of_ledger"]

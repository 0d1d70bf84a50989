"""The RPC source: ``getEvents`` pages of every group, walked in lockstep, prefetched.

A group is caught up by paging ``getEvents`` from its stored cursor (or from a
start ledger) until a page that is not full reaches the latest ledger; empty
pages are normal (one call scans at most 10,000 ledgers) and never end the
catch-up. All groups page forward together and each round is cut at their
common frontier (:mod:`.lockstep`). The next pages are requested as soon as a
round is cut, so they arrive while the pipeline enriches the round.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from orbitpay.indexer.sources.base import Batch, ChainHead, Position
from orbitpay.indexer.sources.groups import Group
from orbitpay.indexer.sources.lockstep import END, Buffered, ChainPoint, cut, page_frontier
from orbitpay.stellar.rpc import (
    EventFilter,
    EventPage,
    Health,
    RawEvent,
    cursor_ledger,
    filters_for,
)

DEFAULT_PAGE_LIMIT = 2000


class EventsRpc(Protocol):
    """The two RPC methods this source needs (:class:`~orbitpay.stellar.rpc.RpcClient`)."""

    async def get_health(self) -> Health: ...

    async def get_events(
        self,
        filters: Sequence[EventFilter],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> EventPage: ...


@dataclass(slots=True)
class _Lane:
    """One group's place in the lockstep walk."""

    group: Group
    cursor: str | None  # where the next getEvents request starts
    start_ledger: int  # used while there is no cursor
    scanned_to: int  # handed over up to here
    buffer: list[RawEvent] = field(default_factory=list)  # fetched, not yet handed over
    page: EventPage | None = None  # the page the buffer came from
    frontier: ChainPoint = (0, 0)  # every event of the group up to here is fetched
    done: bool = False  # caught up (or stopped): no more requests


def _buffered(lane: _Lane) -> Buffered:
    page = lane.page
    assert page is not None
    return Buffered(lane.buffer, lane.frontier, Position(page.cursor, page.scanned_to))


def _head_of(page: EventPage) -> ChainHead:
    return ChainHead(page.latest_ledger, page.oldest_ledger, page.latest_ledger_close_time)


class RpcSource:
    """Groups' contract events from a Stellar RPC's ``getEvents``."""

    def __init__(self, rpc: EventsRpc, *, page_limit: int = DEFAULT_PAGE_LIMIT) -> None:
        self.rpc = rpc
        self.page_limit = page_limit

    async def head(self) -> ChainHead:
        health = await self.rpc.get_health()
        oldest = int(health.oldest_ledger) if health.oldest_ledger else None
        latest = int(health.latest_ledger) if health.latest_ledger else (oldest or 1)
        return ChainHead(latest, oldest)

    def _lane(self, group: Group, position: Position, oldest: int) -> _Lane:
        cursor = position.cursor or None
        if cursor is not None:
            at = cursor_ledger(cursor)
            if at is not None and at < oldest:
                # The cursor's ledger (fully scanned) just left the retention window: a
                # real RPC rejects it (-32600), so resume from the next ledger, retained.
                cursor = None
        return _Lane(group, cursor, position.scanned_to + 1, position.scanned_to)

    async def _fetch(self, lane: _Lane) -> EventPage:
        return await self.rpc.get_events(
            filters_for(lane.group.ids),
            cursor=lane.cursor,
            start_ledger=None if lane.cursor else lane.start_ledger,
            limit=self.page_limit,
        )

    async def rounds(
        self,
        starts: Sequence[tuple[Group, Position]],
        *,
        head: ChainHead,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[list[Batch], None]:
        """Rounds of lockstep batches (see :class:`~.base.Source`)."""
        oldest = head.oldest_ledger or 1
        lanes = [self._lane(group, position, oldest) for group, position in starts]
        ahead: dict[str, asyncio.Task[EventPage]] = {}
        try:
            while True:
                todo = [ln for ln in lanes if ln.page is None and not ln.done]
                if todo:
                    pages = await asyncio.gather(
                        *(
                            ahead.pop(ln.group.name) if ln.group.name in ahead else self._fetch(ln)
                            for ln in todo
                        )
                    )
                    stopping = stop is not None and stop.is_set()
                    for ln, page in zip(todo, pages, strict=True):
                        caught_up = not page.full and page.scanned_to >= page.latest_ledger
                        stuck = not page.cursor or page.cursor == ln.cursor
                        ln.page = page
                        ln.buffer = page.events
                        ln.cursor = page.cursor
                        ln.done = caught_up or stuck or stopping
                        ln.frontier = END if ln.done else page_frontier(page)
                active = [ln for ln in lanes if ln.page is not None]
                if not active:
                    return
                shares = cut([_buffered(ln) for ln in active])
                batches: list[Batch] = []
                for ln, share in zip(active, shares, strict=True):
                    current = ln.page
                    assert current is not None
                    ln.buffer = share.left
                    if share.drained:
                        ln.page = None
                    if share.position is None:
                        continue  # nothing of this group before the common frontier
                    batches.append(
                        Batch(
                            group=ln.group,
                            events=share.events,
                            first_ledger=ln.scanned_to + 1,
                            position=share.position,
                            head=_head_of(current),
                        )
                    )
                    ln.scanned_to = share.position.scanned_to
                # The next pages travel while the caller enriches this round.
                if stop is None or not stop.is_set():
                    for ln in lanes:
                        if ln.page is None and not ln.done:
                            ahead[ln.group.name] = asyncio.ensure_future(self._fetch(ln))
                yield batches
        finally:
            for task in ahead.values():
                task.cancel()
            for task in ahead.values():
                with suppress(asyncio.CancelledError, Exception):
                    await task

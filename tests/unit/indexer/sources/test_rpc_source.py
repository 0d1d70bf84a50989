"""The RPC source: lockstep rounds, in ledger order, resumable, prefetched, closable.

Random layouts of events run against a model of ``getEvents`` (what the RPC
answers for a cursor or start ledger, a page limit and a scan window); the
real devnet checks the same properties over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.sources import Batch, ChainHead, Group, Position, RpcSource
from orbitpay.indexer.sources.lockstep import ChainPoint, chain_point
from orbitpay.stellar.rpc import (
    EventFilter,
    EventPage,
    Health,
    RawEvent,
    RpcClient,
    RpcError,
    cursor_ledger,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def toid(ledger: int, tx: int, op: int) -> int:
    return (ledger << 32) | (tx << 12) | op


def event(contract: str, ledger: int, tx: int, op: int, index: int) -> RawEvent:
    return RawEvent(
        id=f"{toid(ledger, tx, op):019d}-{index:010d}",
        type="contract",
        ledger=ledger,
        ledger_closed_at=T0 + timedelta(seconds=5 * ledger),
        contract_id=contract,
        topic_xdr=[],
        value_xdr="",
        in_successful_contract_call=True,
        tx_hash=f"{ledger:032x}{tx:032x}",
        transaction_index=tx,
        operation_index=op,
    )


def end_cursor(ledger: int) -> str:
    """The cursor an RPC returns after scanning its window up to ``ledger``."""
    return f"{toid(ledger, 0xFFFFF, 0xFFF):019d}-{0xFFFFFFFF:010d}"


class ModelRpc:
    """``getEvents`` and ``getHealth`` over a fixed set of events, as the RPC answers them."""

    def __init__(self, events: list[RawEvent], latest: int, *, oldest: int = 1, scan: int) -> None:
        self.events = sorted(events, key=lambda e: chain_point(e.id))
        self.latest = latest
        self.oldest = oldest
        self.scan = scan  # ledgers one request scans at most, from the cursor's own ledger
        self.calls: list[tuple[str | None, int | None]] = []
        self.hold: asyncio.Event | None = None  # when set up, requests after the first wait
        self.cancelled = 0

    async def get_health(self) -> Health:
        return Health("healthy", self.latest, self.oldest, None)

    async def get_events(
        self,
        filters: Sequence[EventFilter],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> EventPage:
        self.calls.append((cursor, start_ledger))
        if self.hold is not None and len(self.calls) > 1:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        ids = {c for f in filters for c in f.contract_ids}
        if cursor:
            first = cursor_ledger(cursor)
            after = chain_point(cursor)
        else:
            first = start_ledger
            after = (int(start_ledger or 0) << 32, -1)
        assert first is not None
        if not self.oldest <= first <= self.latest:
            raise RpcError("getEvents", -32600, "startLedger must be within the ledger range")
        end = min(first + self.scan, self.latest + 1)
        found = [
            e
            for e in self.events
            if e.contract_id in ids and chain_point(e.id) > after and e.ledger < end
        ][:limit]
        next_cursor = found[-1].id if len(found) == limit else end_cursor(end - 1)
        return EventPage(found, next_cursor, self.latest, self.oldest, None, limit)


def groups_of(contracts: list[list[str]]) -> list[Group]:
    return [
        Group(f"g{i}", {c: ContractInfo(c, "payroll", 1) for c in members})
        for i, members in enumerate(contracts)
    ]


async def collect(
    source: RpcSource, starts: list[tuple[Group, Position]], head: ChainHead
) -> list[list[Batch]]:
    async with aclosing(source.rounds(starts, head=head)) as rounds:
        return [r async for r in rounds]


def check_rounds(
    rounds: list[list[Batch]],
    starts: list[tuple[Group, Position]],
    expected: dict[str, list[RawEvent]],
    latest: int,
) -> None:
    """Nothing skipped or twice, ledger order across groups, positions that resume exactly."""
    got: dict[str, list[RawEvent]] = {g.name: [] for g, _ in starts}
    position = {g.name: p for g, p in starts}
    previous_max: ChainPoint | None = None
    for batches in rounds:
        assert len({b.group.name for b in batches}) == len(batches)  # one batch per group
        points = [chain_point(e.id) for b in batches for e in b.events]
        if points and previous_max is not None:
            assert min(points) > previous_max  # a round starts after everything before it
        if points:
            previous_max = max(points)
        for b in batches:
            name = b.group.name
            assert b.first_ledger == position[name].scanned_to + 1
            assert b.position.scanned_to >= position[name].scanned_to
            assert [chain_point(e.id) for e in b.events] == sorted(
                chain_point(e.id) for e in b.events
            )
            got[name].extend(b.events)
            position[name] = b.position
            # Everything the group has not handed over yet lies past its position.
            rest = expected[name][len(got[name]) :]
            assert all(e.ledger > b.position.scanned_to for e in rest)
    assert got == expected
    assert all(p.scanned_to == latest for p in position.values())  # caught up


spots = st.tuples(st.integers(1, 25), st.integers(0, 3), st.integers(0, 2), st.integers(0, 2))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[list[str]], list[RawEvent], int]:
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    contracts: list[list[str]] = []
    for g, size in enumerate(shape):
        contracts.append([f"C{g}x{i}" for i in range(size)])
    every = [c for members in contracts for c in members]
    taken = draw(st.lists(spots, unique=True, max_size=40))
    events = [event(draw(st.sampled_from(every)), *s) for s in taken]
    latest = draw(st.integers(max([e.ledger for e in events], default=1), 30))
    return contracts, events, latest


def expected_by_group(
    groups: list[Group], events: list[RawEvent], after: int = 0
) -> dict[str, list[RawEvent]]:
    ordered = sorted(events, key=lambda e: chain_point(e.id))
    return {
        g.name: [e for e in ordered if e.contract_id in g.contracts and e.ledger > after]
        for g in groups
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts(), st.integers(1, 4), st.integers(2, 8), st.data())
async def test_rounds_hand_over_every_event_once_in_ledger_order_and_resume_exactly(
    layout: tuple[list[list[str]], list[RawEvent], int], limit: int, scan: int, data: st.DataObject
) -> None:
    contracts, events, latest = layout
    groups = groups_of(contracts)
    rpc = ModelRpc(events, latest, scan=scan)
    source = RpcSource(rpc, page_limit=limit)
    head = await source.head()
    starts = [(g, Position(None, 0)) for g in groups]
    rounds = await collect(source, starts, head)
    expected = expected_by_group(groups, events)
    check_rounds(rounds, starts, expected, latest)

    # Restart after any round from the positions committed so far: the rest, exactly.
    k = data.draw(st.integers(0, len(rounds)), label="restart after round")
    resumed = {g.name: p for g, p in starts}
    handed = {g.name: 0 for g in groups}
    for batches in rounds[:k]:
        for b in batches:
            resumed[b.group.name] = b.position
            handed[b.group.name] += len(b.events)
    restarts = [(g, resumed[g.name]) for g in groups]
    again = await collect(RpcSource(rpc, page_limit=limit), restarts, head)
    rest = {name: evs[handed[name] :] for name, evs in expected.items()}
    check_rounds(again, restarts, rest, latest)


def test_check_rounds_notices_a_skipped_event() -> None:
    """The checker above fails when an event is missing (so its passing means something)."""
    g = groups_of([["A"]])
    evs = [event("A", 2, 1, 0, 0), event("A", 3, 1, 0, 0)]
    batch = Batch(g[0], evs[:1], 1, Position(evs[1].id, 3), ChainHead(3))
    with pytest.raises(AssertionError):
        check_rounds([[batch]], [(g[0], Position(None, 0))], {"g0": evs}, 3)


async def test_a_cursor_that_left_the_retention_window_restarts_at_the_next_ledger() -> None:
    evs = [event("A", 9, 1, 0, 0), event("A", 10, 1, 0, 0), event("A", 12, 2, 0, 0)]
    rpc = ModelRpc(evs, 20, oldest=10, scan=100)
    (group,) = groups_of([["A"]])
    source = RpcSource(rpc, page_limit=10)
    start = (group, Position(evs[0].id, 9))  # the model refuses a cursor in ledger 9
    rounds = await collect(source, [start], await source.head())
    assert rpc.calls[0] == (None, 10)
    assert [e for r in rounds for b in r for e in b.events] == evs[1:]


async def test_the_next_pages_are_requested_before_the_round_is_enriched() -> None:
    evs = [event(c, ledger, 1, 0, i) for i, c in enumerate("AB") for ledger in range(1, 9)]
    rpc = ModelRpc(evs, 10, scan=100)
    source = RpcSource(rpc, page_limit=2)
    groups = groups_of([["A"], ["B"]])
    head = await source.head()
    async with aclosing(source.rounds([(g, Position(None, 0)) for g in groups], head=head)) as it:
        first = await anext(it)
        assert len(rpc.calls) == 2
        await asyncio.sleep(0)  # the caller is busy with `first`; the prefetch runs meanwhile
        # A's page (ledgers 1-2) is handed over whole, so A's next page is on its way;
        # B's event in ledger 2 comes after A's last one and waits in B's buffer.
        assert [len(b.events) for b in first] == [2, 1]
        assert len(rpc.calls) == 3 and rpc.calls[2] == (first[0].events[-1].id, None)
        # The prefetched pages are the ones the next round uses: no request twice.
        rest = [r async for r in it]
    cursors = [c for c, _ in rpc.calls if c]
    assert len(cursors) == len(set(cursors))
    handed = sorted((e for r in [first, *rest] for b in r for e in b.events), key=lambda e: e.id)
    assert handed == sorted(evs, key=lambda e: e.id)


async def test_closing_the_source_cancels_requests_in_flight() -> None:
    evs = [event("A", ledger, 1, 0, 0) for ledger in range(1, 9)]
    rpc = ModelRpc(evs, 10, scan=100)
    rpc.hold = asyncio.Event()  # every request after the first waits forever
    source = RpcSource(rpc, page_limit=2)
    (group,) = groups_of([["A"]])
    async with aclosing(source.rounds([(group, Position(None, 0))], head=ChainHead(10, 1))) as it:
        await anext(it)
        await asyncio.sleep(0)
        assert len(rpc.calls) == 2  # the prefetch is waiting
    assert rpc.cancelled == 1


async def test_a_stop_ends_after_the_round_in_progress_without_prefetching() -> None:
    evs = [event(c, ledger, 1, 0, i) for i, c in enumerate("AB") for ledger in range(1, 9)]
    rpc = ModelRpc(evs, 10, scan=100)
    stop = asyncio.Event()
    stop.set()
    source = RpcSource(rpc, page_limit=2)
    groups = groups_of([["A"], ["B"]])
    starts = [(g, Position(None, 0)) for g in groups]
    async with aclosing(source.rounds(starts, head=ChainHead(10, 1), stop=stop)) as it:
        rounds = [r async for r in it]
    assert len(rpc.calls) == 2 and len(rounds) == 1
    # Both first pages are handed over whole (no lockstep cut once stopping).
    assert [len(b.events) for b in rounds[0]] == [2, 2]


# ── against the devnet, over HTTP ─────────────────────────────────────────────────


@pytest.fixture(scope="module")
def demo() -> Iterator[Any]:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=2, live=False)
    yield handle
    handle.stop()


async def test_devnet_groups_in_lockstep_see_what_one_walk_per_contract_sees(demo: Any) -> None:
    every = sorted(c for org in demo.chain.organizations() for c in org["contracts"].values())
    async with RpcClient(demo.url) as rpc:
        head = await RpcSource(rpc).head()
        origin = Position(None, (head.oldest_ledger or 1) - 1)
        # The reference: one walk per contract, nothing to cut.
        alone: dict[str, list[RawEvent]] = {}
        for group in groups_of([[cid] for cid in every]):
            rounds = await collect(RpcSource(rpc, page_limit=500), [(group, origin)], head)
            (cid,) = group.contracts
            alone[cid] = [e for r in rounds for b in r for e in b.events]
        # The same contracts in uneven groups with small pages: many lockstep cuts.
        groups = groups_of([every[start : start + size] for start, size in _chunks(len(every))])
        starts = [(g, origin) for g in groups]
        limit = 7
        rounds = await collect(RpcSource(rpc, page_limit=limit), starts, head)
    expected = {
        g.name: sorted((e for c in g.contracts for e in alone[c]), key=lambda e: chain_point(e.id))
        for g in groups
    }
    assert len(groups) >= 3 and sum(len(v) for v in expected.values()) > 100
    cuts = [
        b for r in rounds for b in r if b.events and b.position.cursor == b.events[-1].id
        and len(b.events) < limit
    ]  # fmt: skip
    assert cuts  # the walk really was cut at common frontiers
    check_rounds(rounds, starts, expected, head.latest_ledger)


def _chunks(n: int) -> list[tuple[int, int]]:
    """Uneven group sizes 1, 2, 3, 1, 2, 3, ... covering ``n`` contracts."""
    out: list[tuple[int, int]] = []
    start, size = 0, 1
    while start < n:
        out.append((start, size))
        start += size
        size = size % 3 + 1
    return out

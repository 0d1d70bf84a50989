"""The lockstep cut: what each group hands over in a round, what it keeps, where it resumes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay.indexer.sources import Position
from orbitpay.indexer.sources.lockstep import (
    END,
    Buffered,
    ChainPoint,
    Handover,
    chain_point,
    cut,
    page_frontier,
)
from orbitpay.stellar.rpc import EventPage, RawEvent, RpcError

T0 = datetime(2026, 1, 1, tzinfo=UTC)

Spot = tuple[int, int, int, int]  # (ledger, transaction order, operation, event index)


def toid(ledger: int, tx: int, op: int) -> int:
    return (ledger << 32) | (tx << 12) | op


def event(ledger: int, tx: int = 1, op: int = 0, index: int = 0) -> RawEvent:
    return RawEvent(
        id=f"{toid(ledger, tx, op):019d}-{index:010d}",
        type="contract",
        ledger=ledger,
        ledger_closed_at=T0 + timedelta(seconds=5 * ledger),
        contract_id="C",
        topic_xdr=[],
        value_xdr="",
        in_successful_contract_call=True,
        tx_hash=f"{ledger:032x}{tx:032x}",
        transaction_index=tx,
        operation_index=op,
    )


def window_end(ledger: int) -> ChainPoint:
    """The frontier of a page that scanned every ledger up to ``ledger``."""
    return (ledger + 1) << 32, -1


def points(events: list[RawEvent]) -> list[ChainPoint]:
    return [chain_point(e.id) for e in events]


# ── hand-written cases ─────────────────────────────────────────────────────────


def test_a_full_page_is_cut_at_the_window_of_a_slower_group() -> None:
    fast = [event(3), event(5), event(9), event(12)]  # full page: frontier at its last event
    slow = [event(4)]  # scanned up to ledger 7 only
    a, b = cut(
        [
            Buffered(fast, chain_point(fast[-1].id), Position("fast-page", 11)),
            Buffered(slow, window_end(7), Position("slow-page", 7)),
        ]
    )
    assert a.events == fast[:2] and a.left == fast[2:]
    # Resumes right after its last handed event; ledgers 6..8 hold none of its events.
    assert a.position == Position(fast[1].id, 8)
    assert b == Handover(slow, [], Position("slow-page", 7))


def test_a_group_with_nothing_before_the_common_frontier_hands_over_nothing() -> None:
    later = [event(20), event(21)]
    a, b = cut(
        [
            Buffered(later, window_end(30), Position("p", 30)),
            Buffered([event(2)], window_end(10), Position("q", 10)),
        ]
    )
    assert a == Handover([], later, None)
    assert not a.drained
    assert b.drained and b.position == Position("q", 10)


def test_a_group_with_no_events_still_hands_over_its_scanned_window() -> None:
    a, b = cut(
        [
            Buffered([], window_end(50), Position("empty", 50)),
            Buffered([event(1)], window_end(10), Position("q", 10)),
        ]
    )
    # Its page is consumed and its position moves on: the next request starts at 51.
    assert a == Handover([], [], Position("empty", 50))
    assert b == Handover([event(1)], [], Position("q", 10))


def test_a_cut_inside_one_ledger_leaves_that_ledger_incomplete() -> None:
    # The other group's full page ends at transaction 5 of ledger 40.
    other = [event(40, tx=1), event(40, tx=5)]
    mine = [event(40, tx=2), event(40, tx=5, index=1), event(40, tx=7)]
    a, b = cut(
        [
            Buffered(mine, window_end(45), Position("mine", 45)),
            Buffered(other, chain_point(other[-1].id), Position(other[-1].id, 39)),
        ]
    )
    # Event index 1 of tx 5 comes after the other group's event index 0 of tx 5.
    assert a.events == mine[:1] and a.left == mine[1:]
    assert a.position == Position(mine[0].id, 39)
    assert b.events == other


def test_caught_up_groups_hand_over_everything() -> None:
    evs = [event(7), event(8)]
    (a,) = cut([Buffered(evs, END, Position("end", 99))])
    assert a == Handover(evs, [], Position("end", 99))


def test_no_lanes_no_handovers() -> None:
    assert cut([]) == []


def test_unexpected_event_ids_are_an_rpc_error() -> None:
    odd = replace(event(5), id="abc-1")
    with pytest.raises(RpcError, match="unexpected event id"):
        cut(
            [
                Buffered([odd], window_end(9), Position("p", 9)),
                Buffered([], window_end(1), Position("q", 1)),
            ]
        )


def test_page_frontier() -> None:
    evs = [event(3), event(4, tx=2, index=3)]
    full = EventPage(evs, evs[-1].id, latest_ledger=100, oldest_ledger=1,
                     latest_ledger_close_time=None, limit=2)  # fmt: skip
    assert page_frontier(full) == (toid(4, 2, 0), 3)
    cursor = f"{toid(60, 0xFFFFF, 0xFFF):019d}-{0xFFFFFFFF:010d}"  # end of window: ledger 60
    partial = EventPage(evs, cursor, latest_ledger=100, oldest_ledger=1,
                        latest_ledger_close_time=None, limit=10)  # fmt: skip
    assert page_frontier(partial) == window_end(60)
    # The window's frontier sorts before any event of the next ledger, after all of 60.
    assert chain_point(event(60, tx=9, op=9, index=9).id) < window_end(60)
    assert window_end(60) < chain_point(event(61, tx=0).id)


# ── properties over random lanes ─────────────────────────────────────────────────

spots = st.tuples(
    st.integers(1, 30), st.integers(0, 3), st.integers(0, 2), st.integers(0, 3)
)  # fmt: skip


@st.composite
def lanes(draw: st.DrawFn) -> list[Buffered]:
    """1-5 groups, each with a page of buffered events (all ids distinct) and a frontier."""
    n = draw(st.integers(1, 5))
    taken = draw(st.lists(spots, unique=True, max_size=40))
    owner = [draw(st.integers(0, n - 1)) for _ in taken]
    out: list[Buffered] = []
    for g in range(n):
        evs = [event(*s) for s, o in sorted(zip(taken, owner, strict=True)) if o == g]
        kind = draw(st.sampled_from(["full", "window", "end"] if evs else ["window", "end"]))
        if kind == "full":
            last = evs[-1]
            out.append(Buffered(evs, chain_point(last.id), Position(last.id, last.ledger - 1)))
        elif kind == "window":
            scanned = draw(st.integers(evs[-1].ledger if evs else 0, 40))
            out.append(Buffered(evs, window_end(scanned), Position(f"w{g}", scanned)))
        else:
            out.append(Buffered(evs, END, Position(f"e{g}", draw(st.integers(30, 40)))))
    return out


@given(lanes())
def test_cut_skips_nothing_duplicates_nothing_and_respects_the_common_frontier(
    lns: list[Buffered],
) -> None:
    shares = cut(lns)
    common = min(ln.frontier for ln in lns)
    assert len(shares) == len(lns)
    for ln, share in zip(lns, shares, strict=True):
        # Nothing skipped, nothing twice, order kept.
        assert share.events + share.left == list(ln.events)
        assert all(p <= common for p in points(share.events))
        assert all(p > common for p in points(share.left))
        if not share.left:
            assert share.position == ln.position  # the whole page: its own position
        elif not share.events:
            assert share.position is None  # nothing to commit this round
        else:
            assert share.position == Position(share.events[-1].id, share.left[0].ledger - 1)
        if share.position is not None and share.left:
            # Resuming from the position would fetch exactly the events left over: they all
            # come after the cursor and lie past the ledgers it claims complete.
            cursor = share.position.cursor
            assert cursor is not None
            assert all(p > chain_point(cursor) for p in points(share.left))
            assert all(e.ledger > share.position.scanned_to for e in share.left)
    # Progress: every group at the common frontier is drained.
    assert any(s.drained for s in shares)
    for ln, share in zip(lns, shares, strict=True):
        if ln.frontier == common:
            assert share.drained


@given(lanes())
def test_the_handed_over_events_of_a_round_precede_everything_left_over(
    lns: list[Buffered],
) -> None:
    shares = cut(lns)
    handed = [p for s in shares for p in points(s.events)]
    left = [p for s in shares for p in points(s.left)]
    if handed and left:
        assert max(handed) < min(left)

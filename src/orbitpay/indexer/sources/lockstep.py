"""The lockstep cut: which of each group's fetched events a round hands over (pure).

Groups page the chain separately (one ``getEvents`` request covers at most 25
contracts), but their events must be enriched together: one
``getTransactions`` sweep over a stretch of chain serves every group's thin
events, where separate sweeps would each download the other groups'
transactions too. So each round hands over, for every group, its fetched
events up to the *common frontier*: the lowest point up to which every group
knows all of its events.

A group's *frontier* is the chain point up to which its events are known: the
last event of a full page (the next page starts right after it), or the start
of the first ledger past the page's scanned window when the page was not
full, or :data:`END` once the group is caught up. Events past the common
frontier stay buffered for the next round; the group requests its next page
only when its buffer is drained, so nothing is fetched twice. A group whose
events were cut resumes, if restarted, right after its last handed-over event
(the cursor a smaller page ``limit`` would have returned), and has completely
scanned the ledgers before its first left-over event.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from orbitpay.indexer.sources.base import Position
from orbitpay.stellar.rpc import EventPage, RawEvent, RpcError

ChainPoint = tuple[int, int]
"""A place in the chain comparable across contracts: (TOID of the operation, event index)."""

END: ChainPoint = (1 << 62, 0)
"""A frontier past every event: the group is caught up."""


def chain_point(event_id: str) -> ChainPoint:
    """An event id (``<TOID>-<index>``) -> its chain point."""
    head, _, tail = event_id.partition("-")
    if not head.isdigit() or not tail.isdigit():
        raise RpcError("getEvents", 0, f"unexpected event id {event_id!r}")
    return int(head), int(tail)


def page_frontier(page: EventPage) -> ChainPoint:
    """Up to where a (not final) page makes its group's events known.

    A full page stops at its last event; a page that was not full scanned its
    whole window, so every event before ledger ``scanned_to + 1`` is known
    (``-1`` sorts before the first event of that ledger, whose TOID may be the
    ledger's own).
    """
    if page.full:
        return chain_point(page.events[-1].id)
    return (page.scanned_to + 1) << 32, -1


@dataclass(frozen=True, slots=True)
class Buffered:
    """A group's fetched, not yet handed over events, and what its page says after them.

    ``position`` is where the group resumes once all of ``events`` is handed over
    (the page's own cursor and scanned ledger).
    """

    events: Sequence[RawEvent]
    frontier: ChainPoint
    position: Position


@dataclass(frozen=True, slots=True)
class Handover:
    """A group's share of a round.

    ``position`` is None when the group hands over nothing this round (all its
    buffered events lie past the common frontier); otherwise it is where the
    group resumes after ``events``. ``left`` stays buffered for the next round.
    """

    events: list[RawEvent]
    left: list[RawEvent]
    position: Position | None

    @property
    def drained(self) -> bool:
        """True when nothing is left buffered (the group needs its next page)."""
        return not self.left


def cut(lanes: Sequence[Buffered]) -> list[Handover]:
    """Each group's handover for one round, in the order of ``lanes``.

    At least the group(s) at the common frontier hand over their whole buffer,
    so repeated rounds always make progress.
    """
    if not lanes:
        return []
    common = min(lane.frontier for lane in lanes)
    out: list[Handover] = []
    for lane in lanes:
        events = list(lane.events)
        if lane.frontier <= common:
            out.append(Handover(events, [], lane.position))
            continue
        at = bisect_right(events, common, key=lambda ev: chain_point(ev.id))
        keep, left = events[:at], events[at:]
        if not left:
            out.append(Handover(keep, [], lane.position))
        elif not keep:
            out.append(Handover([], left, None))
        else:
            out.append(Handover(keep, left, Position(keep[-1].id, left[0].ledger - 1)))
    return out

"""PROJECT: (events with their typed calls, current rows) -> rows to write. No I/O.

1. :func:`needs` lists the rows a page touches, so the store loads them.
2. :func:`apply_page` applies the events in chain order to the snapshot and
   returns the rows to write (:class:`~orbitpay.indexer.model.Changes`).

One module per contract (``treasury``, ``payroll``, ``vesting``,
``governance``) exports ``RULES``, a mapping from a decoded event class to the
rule that applies it, and ``NEEDS`` for the events that read existing rows.
:data:`RULES` merges them; :func:`check_rules` (run at import) refuses a
decoder registry with an event class that has no rule, so a new event cannot
be skipped silently.

The rules mirror the contracts (CONTRACTS.md). Only chain-data problems
become ``discrepancies`` rows (a call that could not be resolved, an event
about an entity that is not indexed, an event older than the row, a value
beyond BIGINT, amounts that disagree with the contract's formula); any other
error in a rule is a bug and raises.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from orbitpay.contracts import governance as gov
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts import vesting as ves
from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import EVENT_TYPES
from orbitpay.enums import ContractKind, DiscrepancyEntity
from orbitpay.indexer.model import Changes, Item, Key, Needs, Snapshot
from orbitpay.indexer.project import governance, payroll, treasury, vesting
from orbitpay.indexer.project.page import Need, Page, Rule

RULES: Mapping[type[ContractEvent], Rule] = {
    **treasury.RULES,
    **payroll.RULES,
    **vesting.RULES,
    **governance.RULES,
}
NEEDS: Mapping[type[ContractEvent], Need] = {
    **treasury.NEEDS,
    **payroll.NEEDS,
    **vesting.NEEDS,
    **governance.NEEDS,
}


class MissingRule(RuntimeError):
    """An event class the decoders produce has no projection rule."""


def check_rules(
    rules: Mapping[type[ContractEvent], object], events: Iterable[type[ContractEvent]]
) -> None:
    """Raise :class:`MissingRule` naming every event class in ``events`` without a rule."""
    missing = sorted(f"{e.kind}.{e.__name__}" for e in events if e not in rules)
    if missing:
        raise MissingRule(f"event classes without a projection rule: {', '.join(missing)}")


check_rules(RULES, EVENT_TYPES.values())


def needs(items: Iterable[Item]) -> Needs:
    """The rows applying ``items`` reads (keys only; the store loads them)."""
    n = Needs()
    for it in items:
        ev = it.decoded.event
        if ev is None or not it.applies:
            continue
        fn = NEEDS.get(type(ev))
        if fn is not None:
            fn(n, it, ev)
    return n


def unindexed(items: Iterable[Item], snapshot: Snapshot, need: Needs) -> dict[str, set[Key]]:
    """Entities the page's events refer to that neither the snapshot nor the page creates.

    By entity (``withdrawal``, ``stream``, ``schedule``, ``proposal``): the ids to
    read from ledger state before the page is applied
    (:func:`orbitpay.indexer.bootstrap.bootstrap_entities`), instead of recording
    "refers to stream 14, which is not indexed".
    """
    created: set[Key] = set()
    for it in items:
        ev = it.decoded.event
        c = it.contract.contract_id
        if isinstance(ev, pay.StreamCreated):
            created.add((c, ev.stream_id))
        elif isinstance(ev, pay.BatchCreated):
            created.update((c, i) for i in ev.stream_ids)
        elif isinstance(ev, tre.WithdrawalCreated):
            created.add((c, ev.withdrawal_id))
        elif isinstance(ev, gov.ProposalCreated):
            created.add((c, ev.proposal_id))
        elif isinstance(ev, ves.ScheduleCreated):
            sid = vesting.returned_id(it)
            if sid is not None:
                created.add((c, sid))
    out: dict[str, set[Key]] = {}
    for entity, wanted, have in (
        ("withdrawal", need.withdrawals, snapshot.withdrawals),
        ("stream", need.streams, snapshot.streams),
        ("schedule", need.schedules, snapshot.schedules),
        ("proposal", need.proposals, snapshot.proposals),
    ):
        absent = {k for k in wanted if k not in have and k not in created}
        if absent:
            out[entity] = absent
    return out


def apply_page(items: Iterable[Item], snapshot: Snapshot, *, history: bool = False) -> Changes:
    """Apply ``items`` (in chain order) to ``snapshot``; return the rows to write.

    ``history``: a backfill of ledgers below the groups' cursors. Every history
    row is written, but rows whose state is newer than an event keep it: entity
    rows through :meth:`Page.fresh`, the contract row and governance members
    here (:func:`_keep_newer`), where only values still unknown are filled in.
    """
    out = Changes()
    page = Page(snapshot, out, history=history)
    for item in items:
        if history:
            _keep_newer(page, item)
        else:
            _apply(page, item)
    return out


def _keep_newer(page: Page, item: Item) -> None:
    """Apply ``item`` in a backfill: contract and member state newer than it is restored.

    Whatever a worker does must not depend on the order ranges are read in (several
    workers read them side by side): the contract's parameters are restored whole
    (the reconciliation reads them from the instance entry), its admin and init
    ledger only filled in when unknown, its ``last_ledger`` the maximum.
    """
    ledger = item.raw.ledger
    cid = item.contract.contract_id
    crow = page.s.contracts.get(cid)
    saved = None
    if crow is not None:
        saved = (crow.admin, crow.initialized_ledger, crow.last_ledger, copy.copy(crow.params))
    members = {
        k: copy.copy(m)
        for k, m in page.s.members.items()
        if k[0] == cid and (m.last_ledger > ledger or (m.state_ledger or 0) >= ledger)
    }
    _apply(page, item)
    if crow is not None and saved is not None:
        admin, initialized, last, params = saved
        crow.admin = admin if admin is not None else crow.admin
        crow.initialized_ledger = (
            initialized if initialized is not None else crow.initialized_ledger
        )
        crow.last_ledger = max(last or 0, crow.last_ledger or 0) or None
        crow.params = params
    for key, member in members.items():
        page.s.members[key] = member


def _apply(page: Page, item: Item) -> None:
    page.event_row(item)
    ev = item.decoded.event
    if ev is None:
        if item.contract.kind == ContractKind.TREASURY:
            treasury.unrecognised(page, item)
        return
    if not item.applies:
        return
    if item.problem:
        page.discrepancy(
            item,
            DiscrepancyEntity.EVENT,
            f"{item.decoded.type} event {item.raw.id} not applied: {item.problem}",
            entity_id=item.raw.id,
        )
        return
    crow = page.contract_row(item)
    if crow.last_ledger is None or crow.last_ledger < item.raw.ledger:
        crow.last_ledger = item.raw.ledger
        page.out.dirty_contracts.add(item.contract.contract_id)
    RULES[type(ev)](page, item, ev)


__all__ = ["NEEDS", "RULES", "MissingRule", "apply_page", "check_rules", "needs", "unindexed"]

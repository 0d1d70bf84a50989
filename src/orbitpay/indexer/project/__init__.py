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

from collections.abc import Iterable, Mapping

from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import EVENT_TYPES
from orbitpay.enums import ContractKind, DiscrepancyEntity
from orbitpay.indexer.model import Changes, Item, Needs, Snapshot
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


def apply_page(items: Iterable[Item], snapshot: Snapshot) -> Changes:
    """Apply ``items`` (in chain order) to ``snapshot``; return the rows to write."""
    out = Changes()
    page = Page(snapshot, out)
    for item in items:
        _apply(page, item)
    return out


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


__all__ = ["NEEDS", "RULES", "MissingRule", "apply_page", "check_rules", "needs"]

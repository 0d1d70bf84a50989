"""What every projection rule shares: the page being applied and its checks.

A :class:`Page` holds the snapshot (current rows, mutated in place) and the
changes being collected. Its helpers record chain-data problems as
``discrepancies`` rows (:meth:`Page.discrepancy`): an event about an entity
that is not indexed, an event older than the row it would change, a value
beyond PostgreSQL's BIGINT. Anything else that goes wrong in a rule is a bug
and raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar, cast

from orbitpay.contracts.base import ContractCall, ContractEvent
from orbitpay.enums import ContractKind, DiscrepancyEntity, DiscrepancySource
from orbitpay.indexer.model import (
    Changed,
    Changes,
    ContractRow,
    Discrepancy,
    EventRow,
    Item,
    Needs,
    Snapshot,
)

BIGINT_MAX = 2**63 - 1

E = TypeVar("E", bound=ContractEvent)
C = TypeVar("C", bound=ContractCall)
K = TypeVar("K")

Rule = Callable[["Page", Item, ContractEvent], None]
"""Applies one event (of the class it is registered for) to the page."""
Need = Callable[[Needs, Item, ContractEvent], None]
"""Adds the keys of the rows an event (of the class it is registered for) reads."""


def rule(event: type[E], fn: Callable[[Page, Item, E], None]) -> tuple[type[ContractEvent], Rule]:
    """A registry entry: ``fn`` applies events of class ``event``.

    The cast is sound because :func:`orbitpay.indexer.project.apply_page` calls a
    rule only with an event whose class is exactly the one it is registered for.
    """
    return event, cast(Rule, fn)


def need(event: type[E], fn: Callable[[Needs, Item, E], None]) -> tuple[type[ContractEvent], Need]:
    """A ``needs`` entry; sound for the same reason as :func:`rule`."""
    return event, cast(Need, fn)


class _Created(Protocol):
    created_ledger: int
    created_tx_hash: str
    created_at: datetime


class _Stamped(Protocol):
    last_ledger: int
    state_ledger: int | None


class Page:
    """Applies one page's items to a snapshot, collecting the changes."""

    __slots__ = ("history", "out", "s")

    def __init__(self, snap: Snapshot, out: Changes, *, history: bool = False) -> None:
        self.s = snap
        self.out = out
        # A backfill below the groups' cursors: the rows' state is newer than the events,
        # which write their history rows only (see :meth:`fresh`).
        self.history = history

    # recording -------------------------------------------------------------------
    def discrepancy(
        self,
        item: Item,
        entity: DiscrepancyEntity,
        message: str,
        *,
        source: DiscrepancySource = DiscrepancySource.ENRICH,
        entity_id: object = None,
        field: str | None = None,
        indexed: object = None,
        chain: object = None,
    ) -> None:
        """Record a chain-data problem found while applying ``item``."""
        self.out.discrepancies.append(
            Discrepancy.of(
                source,
                entity,
                message,
                contract_id=item.contract.contract_id,
                entity_id=entity_id,
                field=field,
                indexed=indexed,
                chain=chain,
                ledger=item.raw.ledger,
                details={"event_id": item.raw.id, "tx_hash": item.raw.tx_hash},
            )
        )

    def missing(self, item: Item, entity: DiscrepancyEntity, entity_id: object) -> None:
        """The event refers to an entity the index does not have."""
        self.discrepancy(
            item,
            entity,
            f"{item.decoded.type} event {item.raw.id} refers to {entity} {entity_id}, "
            "which is not indexed (created before the indexed range?)",
            entity_id=entity_id,
        )

    # checks ----------------------------------------------------------------------
    def bigint(
        self, item: Item, value: int, entity: DiscrepancyEntity, entity_id: object, name: str
    ) -> int:
        """``value`` for a BIGINT column: beyond it, clamped (and recorded)."""
        if value > BIGINT_MAX:
            self.discrepancy(
                item,
                entity,
                f"{name} {value} exceeds BIGINT; stored clamped to {BIGINT_MAX}",
                entity_id=entity_id,
                field=name,
                chain=value,
                indexed=BIGINT_MAX,
            )
            return BIGINT_MAX
        return value

    def fresh(
        self, item: Item, row: _Stamped, entity: DiscrepancyEntity, entity_id: object
    ) -> bool:
        """May ``item`` change the row's state? (Its history rows are written either way.)

        No, silently, when the row's state was read from a ledger entry at or after the
        event's ledger (``state_ledger``: the entry already holds the event's effect), and
        in a backfill when the row is newer. No, recorded as a discrepancy, when the row
        is newer otherwise: an event older than the row's newest applied ledger must not
        overwrite it.
        """
        ledger = item.raw.ledger
        if row.state_ledger is not None and ledger <= row.state_ledger:
            return False
        if row.last_ledger > ledger:
            if self.history:
                return False
            self.discrepancy(
                item,
                entity,
                f"event {item.raw.id} (ledger {ledger}) is older than the row "
                f"(ledger {row.last_ledger}); state not overwritten",
                entity_id=entity_id,
            )
            return False
        return True

    @staticmethod
    def creation(item: Item, row: _Created, key: K, dirty: set[K]) -> None:
        """A creation event for a row that already exists (written from a ledger entry).

        Its state stays; the creating transaction, unknown to a ledger-entry read
        (``created_ledger`` 0), is filled in from the event: a backfill gives
        bootstrapped rows the provenance a run with full history gives them.
        """
        if row.created_ledger == 0:
            row.created_ledger = item.raw.ledger
            row.created_tx_hash = item.raw.tx_hash
            row.created_at = item.raw.ledger_closed_at
            dirty.add(key)

    @staticmethod
    def call(item: Item, record: type[C]) -> C:
        """The typed call enrichment attached to ``item`` (a rule runs only when it did)."""
        call = item.call
        if not isinstance(call, record):
            raise TypeError(
                f"{item.decoded.type} event {item.raw.id}: expected a {record.__name__} call, "
                f"got {type(call).__name__}"
            )
        return call

    # rows ------------------------------------------------------------------------
    def contract_row(self, item: Item) -> ContractRow:
        cid = item.contract.contract_id
        row = self.s.contracts.get(cid)
        if row is None:
            row = ContractRow(cid, item.contract.kind, item.contract.organization_id)
            self.s.contracts[cid] = row
        return row

    def initialized(self, item: Item, admin: str) -> ContractRow:
        """The contract's ``init``: its admin (also the organization's, when it has none)."""
        crow = self.contract_row(item)
        crow.admin = admin
        crow.initialized_ledger = item.raw.ledger
        self.out.dirty_contracts.add(item.contract.contract_id)
        org_id = item.contract.organization_id
        org = self.s.organizations.get(org_id)
        if org is not None and not org.admin:
            org.admin = admin
            self.out.dirty_organizations.add(org_id)
        return crow

    def event_row(self, item: Item) -> None:
        """The ``events`` row every event gets, recognised or not (with its metrics)."""
        raw, d = item.raw, item.decoded
        self.out.events.append(
            EventRow(
                raw.id,
                raw.contract_id,
                raw.ledger,
                raw.ledger_closed_at,
                raw.tx_hash,
                raw.transaction_index,
                raw.operation_index,
                raw.type,
                d.type,
                d.topic_symbols,
                d.topics,
                d.value,
                raw.topic_xdr,
                raw.value_xdr,
                d.recognised,
                raw.in_successful_contract_call,
                d.error,
            )
        )
        kind = item.contract.kind
        counts = self.out.indexed if d.recognised else self.out.unrecognised
        key = (kind, (d.type or "?") if d.recognised else (d.reason or "unknown"))
        counts[key] = counts.get(key, 0) + 1
        if not d.recognised:
            self.discrepancy(
                item,
                DiscrepancyEntity.EVENT,
                f"event stored raw: {d.error}",
                source=DiscrepancySource.DECODE,
                entity_id=raw.id,
            )
        self.out.changed.add(Changed.EVENTS)
        self.out.changed.add(_FAMILY[kind])


_FAMILY: Mapping[str, Changed] = {
    ContractKind.TREASURY: Changed.TREASURY,
    ContractKind.PAYROLL: Changed.PAYROLL,
    ContractKind.VESTING: Changed.VESTING,
    ContractKind.GOVERNANCE: Changed.GOVERNANCE,
}


def now(item: Item) -> int:
    """The ledger's close time in unix seconds: the contracts' ``env.ledger().timestamp()``."""
    return int(item.raw.ledger_closed_at.timestamp())

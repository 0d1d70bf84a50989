"""Vesting rules: schedules, their claims, full claims and revocations.

``v_create`` carries no schedule id: it is the call's return value when the
call is top-level, else the contract's schedule count before the call (exact
when every ``v_create`` since ``init`` is indexed). A revoke caps the
schedule's total at what had vested (``formulas.vesting_vested``); the
event's unvested amount wins, a disagreement is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

from orbitpay.contracts import vesting as ves
from orbitpay.contracts.base import ContractEvent
from orbitpay.enums import DiscrepancyEntity, ScheduleStatus
from orbitpay.formulas import vesting_vested
from orbitpay.indexer.model import Item, Needs, ScheduleRow, VestingClaimRow
from orbitpay.indexer.project.page import Need, Page, Rule, need, now, rule

SCHEDULE = DiscrepancyEntity.SCHEDULE


def initialized(page: Page, item: Item, ev: ves.Initialized) -> None:
    page.initialized(item, ev.admin).params.schedule_count = 0


def returned_id(item: Item) -> int | None:
    """The schedule id ``create_schedule`` returned, when the call is top-level."""
    rv = item.tx.return_value if (item.tx is not None and item.call_top_level) else None
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else None


def schedule_created(page: Page, item: Item, ev: ves.ScheduleCreated) -> None:
    call = page.call(item, ves.CreateSchedule)
    c = item.contract.contract_id
    crow = page.contract_row(item)
    params = crow.params
    sid = returned_id(item)
    if sid is None and crow.initialized_ledger is not None and params.schedule_count is not None:
        # Reached through another contract: the id is the schedule count before the
        # call, which is exact because every v_create since init has been indexed.
        sid = params.schedule_count
    if sid is None:
        page.discrepancy(
            item,
            SCHEDULE,
            f"v_create {item.raw.id}: schedule id unknown (no top-level return value and "
            "the contract was not indexed from its init)",
        )
        return
    key = (c, sid)
    params.schedule_count = max(params.schedule_count or 0, sid + 1)
    page.out.dirty_contracts.add(c)
    if key in page.s.schedules:
        page.creation(item, page.s.schedules[key], key, page.out.dirty_schedules)
        return
    start, cliff, duration = call.start_time, call.cliff_duration, call.total_duration
    start_time = page.bigint(item, start, SCHEDULE, sid, "start_time")
    cliff_duration = page.bigint(item, cliff, SCHEDULE, sid, "cliff_duration")
    cliff_time = page.bigint(item, start + cliff, SCHEDULE, sid, "cliff_time")
    total_duration = page.bigint(item, duration, SCHEDULE, sid, "total_duration")
    end_time = page.bigint(item, start + duration, SCHEDULE, sid, "end_time")
    raw = item.raw
    page.s.schedules[key] = ScheduleRow(
        contract_id=c,
        schedule_id=sid,
        grantor=ev.grantor,
        beneficiary=ev.beneficiary,
        token=call.token,
        total_amount=ev.total_amount,
        original_total_amount=ev.total_amount,
        claimed_amount=0,
        start_time=start_time,
        cliff_duration=cliff_duration,
        cliff_time=cliff_time,
        cliff_amount=call.cliff_amount,
        total_duration=total_duration,
        end_time=end_time,
        label=call.label,
        revocable=call.revocable,
        status=ScheduleStatus.ACTIVE,
        revoked_at=None,
        revoked_amount=None,
        created_ledger=raw.ledger,
        created_tx_hash=raw.tx_hash,
        created_at=raw.ledger_closed_at,
        last_ledger=raw.ledger,
    )
    page.out.dirty_schedules.add(key)


def schedule_claimed(page: Page, item: Item, ev: ves.ScheduleClaimed) -> None:
    key = (item.contract.contract_id, ev.schedule_id)
    row = page.s.schedules.get(key)
    if row is None:
        page.missing(item, SCHEDULE, ev.schedule_id)
        return
    page.out.vesting_claims.append(
        VestingClaimRow(
            item.raw.id,
            row.contract_id,
            ev.schedule_id,
            ev.beneficiary,
            row.token,
            ev.amount,
            item.raw.ledger,
            item.raw.tx_hash,
            item.raw.ledger_closed_at,
        )
    )
    if not page.fresh(item, row, SCHEDULE, ev.schedule_id):
        return
    claimed = row.claimed_amount + ev.amount
    if claimed > row.total_amount:
        page.discrepancy(
            item,
            SCHEDULE,
            "claims exceed the schedule total; claimed capped at total",
            entity_id=ev.schedule_id,
            field="claimed_amount",
            indexed=row.total_amount,
            chain=claimed,
        )
        claimed = row.total_amount
    row.claimed_amount = claimed
    row.last_ledger = item.raw.ledger
    page.out.dirty_schedules.add(key)


def schedule_fully_claimed(page: Page, item: Item, ev: ves.ScheduleFullyClaimed) -> None:
    key = (item.contract.contract_id, ev.schedule_id)
    row = page.s.schedules.get(key)
    if row is None:
        page.missing(item, SCHEDULE, ev.schedule_id)
        return
    if not page.fresh(item, row, SCHEDULE, ev.schedule_id):
        return
    row.status = ScheduleStatus.FULLY_CLAIMED
    row.last_ledger = item.raw.ledger
    page.out.dirty_schedules.add(key)


def schedule_revoked(page: Page, item: Item, ev: ves.ScheduleRevoked) -> None:
    key = (item.contract.contract_id, ev.schedule_id)
    row = page.s.schedules.get(key)
    if row is None:
        page.missing(item, SCHEDULE, ev.schedule_id)
        return
    if not page.fresh(item, row, SCHEDULE, ev.schedule_id):
        # A ledger-state row (storage keeps only the reduced total): the event gives
        # the unvested amount, hence the total before the revocation.
        if row.status == ScheduleStatus.REVOKED and row.revoked_amount is None:
            row.revoked_amount = ev.unvested_amount
            row.original_total_amount = row.total_amount + ev.unvested_amount
            page.out.dirty_schedules.add(key)
        return
    vested = vesting_vested(
        row.total_amount,
        row.cliff_amount,
        row.start_time,
        row.cliff_duration,
        row.total_duration,
        now(item),
    )
    capped = row.total_amount - ev.unvested_amount
    if capped != vested:
        page.discrepancy(
            item,
            SCHEDULE,
            "revoked amount disagrees with the vesting formula; the event's amount wins",
            entity_id=ev.schedule_id,
            field="total_amount",
            indexed=vested,
            chain=capped,
        )
    row.total_amount = capped
    row.status = ScheduleStatus.REVOKED
    row.revoked_at = item.raw.ledger_closed_at
    row.revoked_amount = ev.unvested_amount
    row.last_ledger = item.raw.ledger
    page.out.dirty_schedules.add(key)


RULES: Mapping[type[ContractEvent], Rule] = dict(
    [
        rule(ves.Initialized, initialized),
        rule(ves.ScheduleCreated, schedule_created),
        rule(ves.ScheduleClaimed, schedule_claimed),
        rule(ves.ScheduleFullyClaimed, schedule_fully_claimed),
        rule(ves.ScheduleRevoked, schedule_revoked),
    ]
)


def _schedule(
    n: Needs,
    item: Item,
    ev: ves.ScheduleClaimed | ves.ScheduleFullyClaimed | ves.ScheduleRevoked,
) -> None:
    n.schedules.add((item.contract.contract_id, ev.schedule_id))


def _created(n: Needs, item: Item, ev: ves.ScheduleCreated) -> None:
    # A row read from ledger state gets its creating transaction (Page.creation).
    sid = returned_id(item)
    if sid is not None:
        n.schedules.add((item.contract.contract_id, sid))


NEEDS: Mapping[type[ContractEvent], Need] = dict(
    [
        need(ves.ScheduleCreated, _created),
        need(ves.ScheduleClaimed, _schedule),
        need(ves.ScheduleFullyClaimed, _schedule),
        need(ves.ScheduleRevoked, _schedule),
    ]
)

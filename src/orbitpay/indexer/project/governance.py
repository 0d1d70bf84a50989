"""Governance rules: members and weights, proposals, votes and status changes.

Every initial and added member has weight 1 until ``w_set``; a vote counts
the voter's weight at voting time (the choice comes from the call, as the
``vote`` event carries neither choice nor weight). ``finalize`` carries no
proposal id: the call has it. A removed member keeps its stored weight (the
contract never deletes ``VotingWeight``), so a re-added member votes with it.
"""

from __future__ import annotations

from collections.abc import Mapping

from orbitpay.contracts import governance as gov
from orbitpay.contracts.base import ContractEvent
from orbitpay.enums import DiscrepancyEntity, ProposalStatus, VoteChoice
from orbitpay.indexer.model import Item, MemberRow, Needs, ProposalRow, VoteRow
from orbitpay.indexer.project.page import Need, Page, Rule, need, now, rule

PROPOSAL = DiscrepancyEntity.PROPOSAL
VOTE = DiscrepancyEntity.VOTE


def _member(page: Page, item: Item, member: str) -> MemberRow:
    key = (item.contract.contract_id, member)
    row = page.s.members.get(key)
    if row is None:
        ledger = item.raw.ledger
        row = MemberRow(key[0], member, 1, True, ledger, None, ledger)
        page.s.members[key] = row
    page.out.dirty_members.add(key)
    return row


def _joined(page: Page, item: Item, member: str) -> None:
    row = _member(page, item, member)
    row.active = True
    row.added_ledger = item.raw.ledger
    row.removed_ledger = None
    row.last_ledger = item.raw.ledger


def initialized(page: Page, item: Item, ev: gov.Initialized) -> None:
    call = page.call(item, gov.Initialize)
    params = page.initialized(item, ev.admin).params
    params.quorum_percentage = call.quorum_percentage
    params.voting_duration = call.voting_duration
    params.grace_period = call.grace_period
    params.total_weight = len(call.members)
    params.proposal_count = 0
    for m in call.members:
        _joined(page, item, m)


def member_added(page: Page, item: Item, ev: gov.MemberAdded) -> None:
    # A re-added member keeps its stored VotingWeight (the contract never deletes it).
    _joined(page, item, ev.member)
    params = page.contract_row(item).params
    if params.total_weight is not None:
        params.total_weight += 1
    page.out.dirty_contracts.add(item.contract.contract_id)


def member_removed(page: Page, item: Item, ev: gov.MemberRemoved) -> None:
    row = _member(page, item, ev.member)
    row.active = False
    row.removed_ledger = item.raw.ledger
    row.last_ledger = item.raw.ledger
    params = page.contract_row(item).params
    if params.total_weight is not None:
        params.total_weight -= row.weight
    page.out.dirty_contracts.add(item.contract.contract_id)


def weight_set(page: Page, item: Item, ev: gov.WeightSet) -> None:
    row = _member(page, item, ev.member)
    old = row.weight
    row.weight = ev.weight
    row.last_ledger = item.raw.ledger
    params = page.contract_row(item).params
    if params.total_weight is not None:
        params.total_weight += ev.weight - old
    page.out.dirty_contracts.add(item.contract.contract_id)


def proposal_created(page: Page, item: Item, ev: gov.ProposalCreated) -> None:
    call = page.call(item, gov.CreateProposal)
    c = item.contract.contract_id
    key = (c, ev.proposal_id)
    params = page.contract_row(item).params
    params.proposal_count = max(params.proposal_count or 0, ev.proposal_id + 1)
    page.out.dirty_contracts.add(c)
    if key in page.s.proposals:
        page.creation(item, page.s.proposals[key], key, page.out.dirty_proposals)
        return
    start = now(item)
    duration = params.voting_duration
    if duration is None:
        page.discrepancy(
            item,
            PROPOSAL,
            "voting_duration unknown (init not indexed); end_time set to start_time "
            "until reconciliation reads it from the chain",
            entity_id=ev.proposal_id,
        )
        duration = 0
    raw = item.raw
    page.s.proposals[key] = ProposalRow(
        contract_id=c,
        proposal_id=ev.proposal_id,
        proposer=ev.proposer,
        title=call.title,
        token=call.token,
        amount=call.amount,
        recipient=call.recipient,
        status=ProposalStatus.ACTIVE,
        yes_votes=0,
        no_votes=0,
        abstain_votes=0,
        start_time=start,
        end_time=page.bigint(item, start + duration, PROPOSAL, ev.proposal_id, "end_time"),
        finalized_at=None,
        executed_at=None,
        created_ledger=raw.ledger,
        created_tx_hash=raw.tx_hash,
        created_at=raw.ledger_closed_at,
        last_ledger=raw.ledger,
    )
    page.out.dirty_proposals.add(key)


def voted(page: Page, item: Item, ev: gov.Voted) -> None:
    choice = page.call(item, gov.Vote).choice
    c = item.contract.contract_id
    key = (c, ev.proposal_id)
    row = page.s.proposals.get(key)
    if row is None:
        page.missing(item, PROPOSAL, ev.proposal_id)
        return
    member = page.s.members.get((c, ev.voter))
    if member is None:
        page.discrepancy(
            item,
            VOTE,
            "voter's weight unknown (membership not indexed); vote not counted, "
            "reconciliation reads the tallies from the chain",
            entity_id=f"{ev.proposal_id}:{ev.voter}",
        )
        return
    weight = member.weight
    vkey = (c, ev.proposal_id, ev.voter)
    if vkey in page.s.voted:
        return
    page.s.voted.add(vkey)
    raw = item.raw
    page.out.votes.append(
        VoteRow(
            c,
            ev.proposal_id,
            ev.voter,
            choice,
            weight,
            raw.id,
            raw.ledger,
            raw.tx_hash,
            raw.ledger_closed_at,
        )
    )
    if not page.fresh(item, row, PROPOSAL, ev.proposal_id):
        return
    if choice == VoteChoice.YES:
        row.yes_votes += weight
    elif choice == VoteChoice.NO:
        row.no_votes += weight
    else:
        row.abstain_votes += weight
    row.last_ledger = raw.ledger
    page.out.dirty_proposals.add(key)


def _status(
    page: Page,
    item: Item,
    pid: int,
    status: ProposalStatus,
    *,
    finalized: bool = False,
    executed: bool = False,
) -> None:
    key = (item.contract.contract_id, pid)
    row = page.s.proposals.get(key)
    if row is None:
        page.missing(item, PROPOSAL, pid)
        return
    if not page.fresh(item, row, PROPOSAL, pid):
        # The row's state holds this event (read from ledger state): only the times
        # storage does not record are filled in, once.
        when = item.raw.ledger_closed_at
        if finalized and row.finalized_at is None and row.status != ProposalStatus.ACTIVE:
            row.finalized_at = when
            page.out.dirty_proposals.add(key)
        if executed and row.executed_at is None and row.status == ProposalStatus.EXECUTED:
            row.executed_at = when
            page.out.dirty_proposals.add(key)
        return
    row.status = status
    if finalized:
        row.finalized_at = item.raw.ledger_closed_at
    if executed:
        row.executed_at = item.raw.ledger_closed_at
    row.last_ledger = item.raw.ledger
    page.out.dirty_proposals.add(key)


def finalized(page: Page, item: Item, ev: gov.Finalized) -> None:
    pid = page.call(item, gov.Finalize).proposal_id
    _status(page, item, pid, ProposalStatus(ev.status), finalized=True)


def executed(page: Page, item: Item, ev: gov.ProposalExecuted) -> None:
    _status(page, item, ev.proposal_id, ProposalStatus.EXECUTED, executed=True)


def cancelled(page: Page, item: Item, ev: gov.ProposalCancelled) -> None:
    _status(page, item, ev.proposal_id, ProposalStatus.CANCELLED)


RULES: Mapping[type[ContractEvent], Rule] = dict(
    [
        rule(gov.Initialized, initialized),
        rule(gov.ProposalCreated, proposal_created),
        rule(gov.Voted, voted),
        rule(gov.Finalized, finalized),
        rule(gov.ProposalExecuted, executed),
        rule(gov.ProposalCancelled, cancelled),
        rule(gov.MemberAdded, member_added),
        rule(gov.MemberRemoved, member_removed),
        rule(gov.WeightSet, weight_set),
    ]
)


def _proposal(
    n: Needs, item: Item, ev: gov.ProposalCreated | gov.ProposalExecuted | gov.ProposalCancelled
) -> None:
    n.proposals.add((item.contract.contract_id, ev.proposal_id))


def _vote(n: Needs, item: Item, ev: gov.Voted) -> None:
    c = item.contract.contract_id
    n.proposals.add((c, ev.proposal_id))
    n.members.add((c, ev.voter))
    n.votes.add((c, ev.proposal_id, ev.voter))


def _finalize(n: Needs, item: Item, ev: gov.Finalized) -> None:
    if isinstance(item.call, gov.Finalize):
        n.proposals.add((item.contract.contract_id, item.call.proposal_id))


def _membership(
    n: Needs, item: Item, ev: gov.MemberAdded | gov.MemberRemoved | gov.WeightSet
) -> None:
    n.members.add((item.contract.contract_id, ev.member))


def _members(n: Needs, item: Item, ev: gov.Initialized) -> None:
    if isinstance(item.call, gov.Initialize):
        c = item.contract.contract_id
        n.members.update((c, m) for m in item.call.members)


NEEDS: Mapping[type[ContractEvent], Need] = dict(
    [
        need(gov.ProposalCreated, _proposal),
        need(gov.ProposalExecuted, _proposal),
        need(gov.ProposalCancelled, _proposal),
        need(gov.Voted, _vote),
        need(gov.Finalized, _finalize),
        need(gov.MemberAdded, _membership),
        need(gov.MemberRemoved, _membership),
        need(gov.WeightSet, _membership),
        need(gov.Initialized, _members),
    ]
)

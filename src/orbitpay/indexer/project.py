"""Projection rules: (events with their transaction context, current rows) -> rows to write.

Pure functions, no I/O. The pipeline is:

1. :func:`resolve` attaches to each thin event the contract call it came from
   (named arguments), choosing among the transaction's calls to the emitting
   contract by function name, consistency with the event's own fields, and
   order when a transaction calls the same function several times. Anything
   that cannot be resolved is a ``problem``, later a ``discrepancies`` row.
2. :func:`needs` lists the rows the page touches, so the store loads them.
3. :func:`apply_page` applies the events in chain order to the snapshot and
   returns the rows to write. A state change whose event is older than the
   row's ``last_ledger`` is not applied (and is recorded).

The rules mirror the contracts (CONTRACTS.md): e.g. a withdrawal is approved
when its approvals reach the treasury's threshold; a cancel pays the
recipient what had accrued (a ``stream_claims`` row of kind ``cancel``); a
revoke caps the schedule's total at what had vested; a vote counts the
voter's weight at voting time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from orbitpay.contracts import governance as gov
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts import vesting as ves
from orbitpay.contracts.registry import named_args
from orbitpay.formulas import stream_claimable, vesting_vested
from orbitpay.indexer.model import Changes, Item, Needs, Snapshot

BIGINT_MAX = 2**63 - 1

# Thin events and the contract function whose call fills them in.
CALL_OF: dict[tuple[str, str], str] = {
    ("treasury", "init"): "initialize",
    ("treasury", "deposit"): "deposit",
    ("treasury", "w_create"): "create_withdrawal",
    ("treasury", "w_exec"): "execute_withdrawal",
    ("payroll", "init"): "initialize",
    ("payroll", "s_create"): "create_stream",
    ("payroll", "b_create"): "create_batch_streams",
    ("payroll", "claim"): "claim",
    ("vesting", "v_create"): "create_schedule",
    ("governance", "init"): "initialize",
    ("governance", "p_create"): "create_proposal",
    ("governance", "vote"): "vote",
    ("governance", "finalize"): "finalize",
}

TREASURY_TYPES = {
    "init": "initialized",
    "deposit": "deposit",
    "w_create": "withdrawal_created",
    "approve": "withdrawal_approved",
    "w_exec": "withdrawal_executed",
    "s_add": "signer_added",
    "s_remove": "signer_removed",
    "t_upd": "threshold_updated",
}
NAMESPACE_OF = {
    "treasury": ("treasury", "events", "analytics"),
    "payroll": ("streams", "events", "analytics"),
    "vesting": ("vesting", "events", "analytics"),
    "governance": ("proposals", "events", "analytics"),
}


def needs_transaction(item: Item) -> bool:
    """True when the event is thin and its transaction must be read."""
    ev = item.decoded.event
    if ev is None or not item.raw.in_successful_contract_call:
        return False
    return (item.contract.kind, ev.symbol) in CALL_OF


# ── 1. resolve ──────────────────────────────────────────────────────────────


def _consistent(kind: str, ev: Any, a: dict[str, Any]) -> bool:
    """Does call ``a`` agree with what event ``ev`` itself says?"""
    if isinstance(ev, tre.Initialized | pay.Initialized | gov.Initialized):
        return a.get("admin") == ev.admin
    if isinstance(ev, tre.Deposited):
        return a.get("from") == ev.from_ and a.get("amount") == ev.amount
    if isinstance(ev, tre.WithdrawalCreated):
        return a.get("proposer") == ev.proposer
    if isinstance(ev, pay.StreamCreated):
        return a.get("sender") == ev.sender
    if isinstance(ev, pay.BatchCreated):
        streams = a.get("streams")
        return (
            a.get("sender") == ev.sender
            and isinstance(streams, list)
            and len(streams) == len(ev.stream_ids)
        )
    if isinstance(ev, pay.StreamClaimed):
        return a.get("recipient") == ev.recipient
    if isinstance(ev, ves.ScheduleCreated):
        return (
            a.get("grantor") == ev.grantor
            and a.get("beneficiary") == ev.beneficiary
            and a.get("total_amount") == ev.total_amount
            and a.get("cliff_duration") == ev.cliff_duration
            and a.get("total_duration") == ev.total_duration
        )
    if isinstance(ev, gov.ProposalCreated):
        return a.get("proposer") == ev.proposer
    if isinstance(ev, gov.Voted):
        return a.get("voter") == ev.voter and a.get("proposal_id") == ev.proposal_id
    return True


def _event_index(event_id: str) -> int | None:
    tail = event_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def resolve(item: Item) -> None:
    """Attach the call behind a thin event (``item.call``) or say why not (``item.problem``)."""
    ev = item.decoded.event
    if ev is None or not needs_transaction(item):
        return
    kind = item.contract.kind
    function = CALL_OF[(kind, ev.symbol)]
    if item.tx is None:
        item.problem = item.tx_error or f"transaction {item.raw.tx_hash} not available"
        return
    if not item.tx.successful:
        return  # a failed transaction changes nothing; applies is False
    candidates = []
    for call in item.tx.calls_to(item.contract.contract_id, function):
        args = named_args(kind, function, call.args)
        if args is not None and _consistent(kind, ev, args):
            candidates.append((call, args))
    if not candidates:
        item.problem = (
            f"no {function} call to {item.contract.contract_id} in transaction "
            f"{item.raw.tx_hash} matches the {ev.symbol} event"
        )
        return
    if len(candidates) > 1:
        chosen = _by_order(item, ev.symbol, candidates)
        if chosen is None:
            item.problem = (
                f"{len(candidates)} {function} calls in transaction {item.raw.tx_hash} could "
                f"have emitted {item.raw.id}; cannot tell which"
            )
            return
        call, args = chosen
    else:
        call, args = candidates[0]
    item.call = args
    item.call_top_level = call.top_level


def _by_order(item: Item, symbol: str, candidates: list[Any]) -> Any:
    """The n-th event of this kind in the transaction came from the n-th matching call."""
    assert item.tx is not None
    refs = [
        r
        for r in item.tx.contract_events()
        if r.contract == item.contract.contract_id and r.topic0 == symbol
    ]
    if len(refs) != len(candidates):
        return None
    idx = _event_index(item.raw.id)
    op = item.raw.operation_index or 0
    legacy = getattr(item.raw, "legacy_ids", False)
    for n, ref in enumerate(refs):
        if ref.matches_id(op, idx, legacy):
            return candidates[n]
    return None


# ── 2. needs ────────────────────────────────────────────────────────────────


def needs(items: Iterable[Item]) -> Needs:
    n = Needs()
    for it in items:
        ev = it.decoded.event
        if ev is None or not it.applies:
            continue
        c = it.contract.contract_id
        a = it.call or {}
        if isinstance(ev, tre.WithdrawalCreated | tre.WithdrawalApproved):
            n.withdrawals.add((c, ev.withdrawal_id))
        elif isinstance(ev, tre.WithdrawalExecuted) and isinstance(a.get("id"), int):
            n.withdrawals.add((c, a["id"]))
        elif isinstance(ev, pay.StreamCreated | pay.StreamCancelled):
            n.streams.add((c, ev.stream_id))
        elif isinstance(ev, pay.BatchCreated):
            n.streams.update((c, i) for i in ev.stream_ids)
        elif isinstance(ev, pay.StreamClaimed) and isinstance(a.get("stream_id"), int):
            n.streams.add((c, a["stream_id"]))
        elif isinstance(ev, ves.ScheduleClaimed | ves.ScheduleFullyClaimed | ves.ScheduleRevoked):
            n.schedules.add((c, ev.schedule_id))
        elif isinstance(ev, gov.ProposalCreated | gov.ProposalExecuted | gov.ProposalCancelled):
            n.proposals.add((c, ev.proposal_id))
        elif isinstance(ev, gov.Voted):
            n.proposals.add((c, ev.proposal_id))
            n.members.add((c, ev.voter))
            n.votes.add((c, ev.proposal_id, ev.voter))
        elif isinstance(ev, gov.Finalized) and isinstance(a.get("proposal_id"), int):
            n.proposals.add((c, a["proposal_id"]))
        elif isinstance(ev, gov.MemberAdded | gov.MemberRemoved | gov.WeightSet):
            n.members.add((c, ev.member))
        elif isinstance(ev, gov.Initialized) and isinstance(a.get("members"), list):
            n.members.update((c, m) for m in a["members"] if isinstance(m, str))
    return n


# ── 3. apply ────────────────────────────────────────────────────────────────


class _Page:
    """Applies one page's items to a snapshot, collecting the changes."""

    def __init__(self, snap: Snapshot, out: Changes) -> None:
        self.s = snap
        self.out = out

    # helpers ---------------------------------------------------------------
    def discrepancy(
        self,
        item: Item | None,
        source: str,
        entity: str,
        message: str,
        *,
        entity_id: Any = None,
        field: str | None = None,
        indexed: Any = None,
        chain: Any = None,
        contract_id: str | None = None,
        ledger: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.out.discrepancies.append(
            {
                "source": source,
                "contract_id": contract_id or (item.contract.contract_id if item else None),
                "entity": entity,
                "entity_id": None if entity_id is None else str(entity_id),
                "field": field,
                "indexed_value": None if indexed is None else str(indexed),
                "chain_value": None if chain is None else str(chain),
                "ledger": ledger if ledger is not None else (item.raw.ledger if item else None),
                "message": message,
                "details": details
                if details is not None
                else ({"event_id": item.raw.id, "tx_hash": item.raw.tx_hash} if item else None),
                "corrected": False,
            }
        )

    def bigint(self, item: Item, value: Any, entity: str, entity_id: Any, name: str) -> int:
        v = int(value)
        if v > BIGINT_MAX:
            self.discrepancy(
                item,
                "enrich",
                entity,
                f"{name} {v} exceeds BIGINT; stored clamped to {BIGINT_MAX}",
                entity_id=entity_id,
                field=name,
                chain=v,
                indexed=BIGINT_MAX,
            )
            return BIGINT_MAX
        return v

    def fresh(self, item: Item, row: dict[str, Any], entity: str, entity_id: Any) -> bool:
        """An event older than the row's newest applied ledger must not overwrite it."""
        if row["last_ledger"] > item.raw.ledger:
            self.discrepancy(
                item,
                "enrich",
                entity,
                f"event {item.raw.id} (ledger {item.raw.ledger}) is older than the row "
                f"(ledger {row['last_ledger']}); state not overwritten",
                entity_id=entity_id,
            )
            return False
        return True

    def touch(self, item: Item, row: dict[str, Any]) -> None:
        row["last_ledger"] = item.raw.ledger

    def contract_row(self, item: Item) -> dict[str, Any]:
        cid = item.contract.contract_id
        row = self.s.contracts.setdefault(
            cid,
            {
                "contract_id": cid,
                "kind": item.contract.kind,
                "organization_id": item.contract.organization_id,
                "admin": None,
                "params": {},
                "initialized_ledger": None,
                "last_ledger": None,
            },
        )
        if row.get("params") is None:
            row["params"] = {}
        return row

    def missing(self, item: Item, entity: str, entity_id: Any) -> None:
        self.discrepancy(
            item,
            "enrich",
            entity,
            f"{item.decoded.type} event {item.raw.id} refers to {entity} {entity_id}, "
            "which is not indexed (created before the indexed range?)",
            entity_id=entity_id,
        )

    # event rows --------------------------------------------------------------
    def event_row(self, item: Item) -> None:
        raw, d = item.raw, item.decoded
        self.out.events.append(
            {
                "id": raw.id,
                "contract_id": raw.contract_id,
                "ledger": raw.ledger,
                "ledger_closed_at": raw.ledger_closed_at,
                "tx_hash": raw.tx_hash,
                "transaction_index": raw.transaction_index,
                "operation_index": raw.operation_index,
                "event_type": raw.type,
                "type": d.type,
                "topic_symbols": d.topic_symbols,
                "topics": d.topics,
                "value": d.value,
                "topics_xdr": raw.topic_xdr,
                "value_xdr": raw.value_xdr,
                "recognised": d.recognised,
                "in_successful_contract_call": raw.in_successful_contract_call,
                "decode_error": d.error,
            }
        )
        kind = item.contract.kind
        if d.recognised:
            key = (kind, d.type or "?")
            self.out.indexed[key] = self.out.indexed.get(key, 0) + 1
        else:
            key = (kind, d.reason or "unknown")
            self.out.unrecognised[key] = self.out.unrecognised.get(key, 0) + 1
            self.discrepancy(
                item,
                "decode",
                "event",
                f"event stored raw: {d.error}",
                entity_id=raw.id,
            )
        self.out.namespaces.update(NAMESPACE_OF.get(kind, ("events",)))

    def treasury_event(
        self,
        item: Item,
        type_: str,
        *,
        address: str | None = None,
        amount: int | None = None,
        token: str | None = None,
        withdrawal_id: int | None = None,
    ) -> None:
        self.out.treasury_events.append(
            {
                "event_id": item.raw.id,
                "contract_id": item.contract.contract_id,
                "type": type_,
                "address": address,
                "amount": amount,
                "token": token,
                "withdrawal_id": withdrawal_id,
                "ledger": item.raw.ledger,
                "tx_hash": item.raw.tx_hash,
                "timestamp": item.raw.ledger_closed_at,
            }
        )

    def ref(self, item: Item) -> dict[str, Any]:
        return {
            "created_ledger": item.raw.ledger,
            "created_tx_hash": item.raw.tx_hash,
            "created_at": item.raw.ledger_closed_at,
            "last_ledger": item.raw.ledger,
        }

    # dispatch ------------------------------------------------------------------
    def apply(self, item: Item) -> None:
        self.event_row(item)
        ev = item.decoded.event
        if ev is None:
            if item.contract.kind == "treasury":
                self.treasury_event(item, "unknown")
            return
        if not item.applies:
            return
        if item.problem:
            self.discrepancy(
                item,
                "enrich",
                "event",
                f"{item.decoded.type} event {item.raw.id} not applied: {item.problem}",
                entity_id=item.raw.id,
            )
            return
        crow = self.contract_row(item)
        if crow["last_ledger"] is None or crow["last_ledger"] < item.raw.ledger:
            crow["last_ledger"] = item.raw.ledger
            self.out.dirty_contracts.add(item.contract.contract_id)
        handler = getattr(self, f"on_{item.contract.kind}_{ev.symbol}", None)
        if handler is None:
            return
        try:
            handler(item, ev, item.call or {})
        except (KeyError, TypeError, ValueError) as exc:
            # A call whose arguments have an unexpected shape (an upgraded contract?).
            self.discrepancy(
                item,
                "enrich",
                "event",
                f"{item.decoded.type} event {item.raw.id} not applied: unexpected call "
                f"arguments ({type(exc).__name__}: {exc})",
                entity_id=item.raw.id,
            )

    # init (all kinds) ------------------------------------------------------------
    def _init(self, item: Item, admin: str, params: dict[str, Any]) -> None:
        crow = self.contract_row(item)
        crow["admin"] = admin
        crow["params"] = {**crow["params"], **params}
        crow["initialized_ledger"] = item.raw.ledger
        self.out.dirty_contracts.add(item.contract.contract_id)
        org_id = item.contract.organization_id
        org = self.s.organizations.get(org_id)
        if org is not None and not org.get("admin"):
            org["admin"] = admin
            self.out.dirty_organizations.add(org_id)

    # treasury ----------------------------------------------------------------------
    def on_treasury_init(self, item: Item, ev: tre.Initialized, a: dict[str, Any]) -> None:
        self._init(
            item,
            ev.admin,
            {"signers": list(a["signers"]), "threshold": a["threshold"], "withdrawal_count": 0},
        )
        self.treasury_event(item, "initialized", address=ev.admin)

    def on_treasury_deposit(self, item: Item, ev: tre.Deposited, a: dict[str, Any]) -> None:
        self.treasury_event(item, "deposit", address=ev.from_, amount=ev.amount, token=a["token"])

    def on_treasury_w_create(
        self, item: Item, ev: tre.WithdrawalCreated, a: dict[str, Any]
    ) -> None:
        c = item.contract.contract_id
        key = (c, ev.withdrawal_id)
        self.treasury_event(
            item,
            "withdrawal_created",
            address=ev.proposer,
            amount=a["amount"],
            token=a["token"],
            withdrawal_id=ev.withdrawal_id,
        )
        if key not in self.s.withdrawals:
            self.s.withdrawals[key] = {
                "contract_id": c,
                "withdrawal_id": ev.withdrawal_id,
                "proposer": ev.proposer,
                "token": a["token"],
                "recipient": a["recipient"],
                "amount": a["amount"],
                "memo": a.get("memo") if isinstance(a.get("memo"), str) else None,
                "status": "pending",
                "executed_ledger": None,
                "executed_at": None,
                **self.ref(item),
            }
            self.out.dirty_withdrawals.add(key)
        params = self.contract_row(item)["params"]
        params["withdrawal_count"] = max(
            int(params.get("withdrawal_count") or 0), ev.withdrawal_id + 1
        )
        self._approve(item, key, ev.proposer)

    def _approve(self, item: Item, key: tuple[str, int], signer: str) -> None:
        row = self.s.withdrawals.get(key)
        if row is None:
            self.missing(item, "withdrawal", key[1])
            return
        approvals = self.s.approvals.setdefault(key, set())
        if signer not in approvals:
            approvals.add(signer)
            self.out.approvals.append(
                {
                    "contract_id": key[0],
                    "withdrawal_id": key[1],
                    "signer": signer,
                    "ledger": item.raw.ledger,
                    "tx_hash": item.raw.tx_hash,
                    "approved_at": item.raw.ledger_closed_at,
                }
            )
        if not self.fresh(item, row, "withdrawal", key[1]):
            return
        self.touch(item, row)
        self.out.dirty_withdrawals.add(key)
        threshold = self.contract_row(item)["params"].get("threshold")
        # The contract re-checks the threshold only inside approve_withdrawal.
        if item.decoded.type == "approve" and row["status"] == "pending":
            if threshold is None:
                self.discrepancy(
                    item,
                    "enrich",
                    "withdrawal",
                    "treasury threshold unknown (init not indexed); status left to reconciliation",
                    entity_id=key[1],
                )
            elif len(approvals) >= int(threshold):
                row["status"] = "approved"

    def on_treasury_approve(
        self, item: Item, ev: tre.WithdrawalApproved, a: dict[str, Any]
    ) -> None:
        self.treasury_event(
            item, "withdrawal_approved", address=ev.signer, withdrawal_id=ev.withdrawal_id
        )
        self._approve(item, (item.contract.contract_id, ev.withdrawal_id), ev.signer)

    def on_treasury_w_exec(self, item: Item, ev: tre.WithdrawalExecuted, a: dict[str, Any]) -> None:
        wid = a["id"]
        key = (item.contract.contract_id, wid)
        row = self.s.withdrawals.get(key)
        self.treasury_event(
            item,
            "withdrawal_executed",
            address=ev.recipient,
            amount=ev.amount,
            token=row["token"] if row else None,
            withdrawal_id=wid,
        )
        if row is None:
            self.missing(item, "withdrawal", wid)
            return
        if row["recipient"] != ev.recipient or row["amount"] != ev.amount:
            self.discrepancy(
                item,
                "enrich",
                "withdrawal",
                "w_exec recipient/amount differ from the indexed request",
                entity_id=wid,
                indexed=f"{row['recipient']}:{row['amount']}",
                chain=f"{ev.recipient}:{ev.amount}",
            )
        if not self.fresh(item, row, "withdrawal", wid):
            return
        row["status"] = "executed"
        row["executed_ledger"] = item.raw.ledger
        row["executed_at"] = item.raw.ledger_closed_at
        self.touch(item, row)
        self.out.dirty_withdrawals.add(key)

    def on_treasury_s_add(self, item: Item, ev: tre.SignerAdded, a: dict[str, Any]) -> None:
        params = self.contract_row(item)["params"]
        signers = list(params.get("signers") or [])
        if ev.signer not in signers:
            signers.append(ev.signer)
        params["signers"] = signers
        self.out.dirty_contracts.add(item.contract.contract_id)
        self.treasury_event(item, "signer_added", address=ev.signer)

    def on_treasury_s_remove(self, item: Item, ev: tre.SignerRemoved, a: dict[str, Any]) -> None:
        params = self.contract_row(item)["params"]
        params["signers"] = [s for s in params.get("signers") or [] if s != ev.signer]
        self.out.dirty_contracts.add(item.contract.contract_id)
        self.treasury_event(item, "signer_removed", address=ev.signer)

    def on_treasury_t_upd(self, item: Item, ev: tre.ThresholdUpdated, a: dict[str, Any]) -> None:
        self.contract_row(item)["params"]["threshold"] = ev.threshold
        self.out.dirty_contracts.add(item.contract.contract_id)
        self.treasury_event(item, "threshold_updated")

    # payroll -----------------------------------------------------------------------
    def on_payroll_init(self, item: Item, ev: pay.Initialized, a: dict[str, Any]) -> None:
        self._init(item, ev.admin, {"stream_count": 0})

    def _new_stream(
        self, item: Item, sid: int, sender: str, p: dict[str, Any], batch: bool
    ) -> None:
        c = item.contract.contract_id
        key = (c, sid)
        if key in self.s.streams:
            return
        start = self.bigint(item, p["start_time"], "stream", sid, "start_time")
        end = self.bigint(item, p["end_time"], "stream", sid, "end_time")
        total = int(p["total_amount"])
        duration = int(p["end_time"]) - int(p["start_time"])
        self.s.streams[key] = {
            "contract_id": c,
            "stream_id": sid,
            "sender": sender,
            "recipient": p["recipient"],
            "token": p["token"],
            "total_amount": total,
            "claimed_amount": 0,
            "refunded_amount": 0,
            "rate_per_second": total // duration if duration > 0 else None,
            "start_time": start,
            "end_time": end,
            "last_claim_time": start,
            "status": "active",
            "batch": batch,
            "cancelled_at": None,
            **self.ref(item),
        }
        self.out.dirty_streams.add(key)
        params = self.contract_row(item)["params"]
        params["stream_count"] = max(int(params.get("stream_count") or 0), sid + 1)
        self.out.dirty_contracts.add(c)

    def on_payroll_s_create(self, item: Item, ev: pay.StreamCreated, a: dict[str, Any]) -> None:
        self._new_stream(item, ev.stream_id, ev.sender, a, batch=False)

    def on_payroll_b_create(self, item: Item, ev: pay.BatchCreated, a: dict[str, Any]) -> None:
        for sid, p in zip(ev.stream_ids, a["streams"], strict=True):
            if not isinstance(p, dict) or not {
                "recipient",
                "token",
                "total_amount",
                "start_time",
                "end_time",
            } <= set(p):
                self.discrepancy(
                    item, "enrich", "stream", "batch item has an unexpected shape", entity_id=sid
                )
                continue
            self._new_stream(item, sid, ev.sender, p, batch=True)

    def _payout(self, item: Item, row: dict[str, Any], kind: str, amount: int) -> None:
        self.out.stream_claims.append(
            {
                "event_id": item.raw.id,
                "contract_id": row["contract_id"],
                "stream_id": row["stream_id"],
                "kind": kind,
                "recipient": row["recipient"],
                "token": row["token"],
                "amount": amount,
                "ledger": item.raw.ledger,
                "tx_hash": item.raw.tx_hash,
                "claimed_at": item.raw.ledger_closed_at,
            }
        )

    def on_payroll_claim(self, item: Item, ev: pay.StreamClaimed, a: dict[str, Any]) -> None:
        sid = a["stream_id"]
        key = (item.contract.contract_id, sid)
        row = self.s.streams.get(key)
        if row is None:
            self.missing(item, "stream", sid)
            return
        self._payout(item, row, "claim", ev.amount)
        if not self.fresh(item, row, "stream", sid):
            return
        now = int(item.raw.ledger_closed_at.timestamp())
        claimed = row["claimed_amount"] + ev.amount
        if claimed > row["total_amount"]:
            self.discrepancy(
                item,
                "enrich",
                "stream",
                "claims exceed the stream total; claimed capped at total",
                entity_id=sid,
                field="claimed_amount",
                indexed=row["total_amount"],
                chain=claimed,
            )
            claimed = row["total_amount"]
        row["claimed_amount"] = claimed
        row["last_claim_time"] = min(now, row["end_time"])
        if claimed >= row["total_amount"]:
            row["status"] = "completed"
        self.touch(item, row)
        self.out.dirty_streams.add(key)

    def on_payroll_cancel(self, item: Item, ev: pay.StreamCancelled, a: dict[str, Any]) -> None:
        key = (item.contract.contract_id, ev.stream_id)
        row = self.s.streams.get(key)
        if row is None:
            self.missing(item, "stream", ev.stream_id)
            return
        now = int(item.raw.ledger_closed_at.timestamp())
        owed = stream_claimable(
            row["total_amount"], row["claimed_amount"], row["start_time"], row["end_time"], now
        )
        if owed > 0:
            self._payout(item, row, "cancel", owed)
        if not self.fresh(item, row, "stream", ev.stream_id):
            return
        row["claimed_amount"] += owed
        row["refunded_amount"] = row["total_amount"] - row["claimed_amount"]
        row["last_claim_time"] = min(now, row["end_time"])
        row["status"] = "cancelled"
        row["cancelled_at"] = item.raw.ledger_closed_at
        self.touch(item, row)
        self.out.dirty_streams.add(key)

    # vesting -------------------------------------------------------------------------
    def on_vesting_init(self, item: Item, ev: ves.Initialized, a: dict[str, Any]) -> None:
        self._init(item, ev.admin, {"schedule_count": 0})

    def on_vesting_v_create(self, item: Item, ev: ves.ScheduleCreated, a: dict[str, Any]) -> None:
        c = item.contract.contract_id
        crow = self.contract_row(item)
        params = crow["params"]
        sid: int | None = None
        rv = item.tx.return_value if (item.tx is not None and item.call_top_level) else None
        if isinstance(rv, int) and not isinstance(rv, bool):
            sid = rv
        elif crow.get("initialized_ledger") is not None and "schedule_count" in params:
            # Reached through another contract: the id is the schedule count before the
            # call, which is exact because every v_create since init has been indexed.
            sid = int(params["schedule_count"])
        if sid is None:
            self.discrepancy(
                item,
                "enrich",
                "schedule",
                f"v_create {item.raw.id}: schedule id unknown (no top-level return value and "
                "the contract was not indexed from its init)",
            )
            return
        key = (c, sid)
        params["schedule_count"] = max(int(params.get("schedule_count") or 0), sid + 1)
        self.out.dirty_contracts.add(c)
        if key in self.s.schedules:
            return
        start = int(a["start_time"])
        cliff = int(a["cliff_duration"])
        duration = int(a["total_duration"])
        label = a.get("label")
        self.s.schedules[key] = {
            "contract_id": c,
            "schedule_id": sid,
            "grantor": ev.grantor,
            "beneficiary": ev.beneficiary,
            "token": a["token"],
            "total_amount": ev.total_amount,
            "original_total_amount": ev.total_amount,
            "claimed_amount": 0,
            "start_time": self.bigint(item, start, "schedule", sid, "start_time"),
            "cliff_duration": self.bigint(item, cliff, "schedule", sid, "cliff_duration"),
            "cliff_time": self.bigint(item, start + cliff, "schedule", sid, "cliff_time"),
            "cliff_amount": int(a["cliff_amount"]),
            "total_duration": self.bigint(item, duration, "schedule", sid, "total_duration"),
            "end_time": self.bigint(item, start + duration, "schedule", sid, "end_time"),
            "label": label if isinstance(label, str) else None,
            "revocable": bool(a["revocable"]),
            "status": "active",
            "revoked_at": None,
            "revoked_amount": None,
            **self.ref(item),
        }
        self.out.dirty_schedules.add(key)

    def on_vesting_v_claim(self, item: Item, ev: ves.ScheduleClaimed, a: dict[str, Any]) -> None:
        key = (item.contract.contract_id, ev.schedule_id)
        row = self.s.schedules.get(key)
        if row is None:
            self.missing(item, "schedule", ev.schedule_id)
            return
        self.out.vesting_claims.append(
            {
                "event_id": item.raw.id,
                "contract_id": row["contract_id"],
                "schedule_id": ev.schedule_id,
                "beneficiary": ev.beneficiary,
                "token": row["token"],
                "amount": ev.amount,
                "ledger": item.raw.ledger,
                "tx_hash": item.raw.tx_hash,
                "claimed_at": item.raw.ledger_closed_at,
            }
        )
        if not self.fresh(item, row, "schedule", ev.schedule_id):
            return
        claimed = row["claimed_amount"] + ev.amount
        if claimed > row["total_amount"]:
            self.discrepancy(
                item,
                "enrich",
                "schedule",
                "claims exceed the schedule total; claimed capped at total",
                entity_id=ev.schedule_id,
                field="claimed_amount",
                indexed=row["total_amount"],
                chain=claimed,
            )
            claimed = row["total_amount"]
        row["claimed_amount"] = claimed
        self.touch(item, row)
        self.out.dirty_schedules.add(key)

    def on_vesting_v_fully(
        self, item: Item, ev: ves.ScheduleFullyClaimed, a: dict[str, Any]
    ) -> None:
        key = (item.contract.contract_id, ev.schedule_id)
        row = self.s.schedules.get(key)
        if row is None:
            self.missing(item, "schedule", ev.schedule_id)
            return
        if not self.fresh(item, row, "schedule", ev.schedule_id):
            return
        row["status"] = "fully_claimed"
        self.touch(item, row)
        self.out.dirty_schedules.add(key)

    def on_vesting_v_revoke(self, item: Item, ev: ves.ScheduleRevoked, a: dict[str, Any]) -> None:
        key = (item.contract.contract_id, ev.schedule_id)
        row = self.s.schedules.get(key)
        if row is None:
            self.missing(item, "schedule", ev.schedule_id)
            return
        if not self.fresh(item, row, "schedule", ev.schedule_id):
            return
        now = int(item.raw.ledger_closed_at.timestamp())
        vested = vesting_vested(
            row["total_amount"],
            row["cliff_amount"],
            row["start_time"],
            row["cliff_duration"],
            row["total_duration"],
            now,
        )
        capped = row["total_amount"] - ev.unvested_amount
        if capped != vested:
            self.discrepancy(
                item,
                "enrich",
                "schedule",
                "revoked amount disagrees with the vesting formula; the event's amount wins",
                entity_id=ev.schedule_id,
                field="total_amount",
                indexed=vested,
                chain=capped,
            )
        row["total_amount"] = capped
        row["status"] = "revoked"
        row["revoked_at"] = item.raw.ledger_closed_at
        row["revoked_amount"] = ev.unvested_amount
        self.touch(item, row)
        self.out.dirty_schedules.add(key)

    # governance ------------------------------------------------------------------------
    def _member(self, item: Item, member: str) -> dict[str, Any]:
        key = (item.contract.contract_id, member)
        row = self.s.members.get(key)
        if row is None:
            row = {
                "contract_id": key[0],
                "member": member,
                "weight": 1,
                "active": True,
                "added_ledger": item.raw.ledger,
                "removed_ledger": None,
                "last_ledger": item.raw.ledger,
            }
            self.s.members[key] = row
        self.out.dirty_members.add(key)
        return row

    def on_governance_init(self, item: Item, ev: gov.Initialized, a: dict[str, Any]) -> None:
        members = [m for m in a["members"] if isinstance(m, str)]
        self._init(
            item,
            ev.admin,
            {
                "quorum_percentage": a["quorum_percentage"],
                "voting_duration": a["voting_duration"],
                "grace_period": a["grace_period"],
                "total_weight": len(members),
                "proposal_count": 0,
            },
        )
        for m in members:
            row = self._member(item, m)
            row.update(active=True, added_ledger=item.raw.ledger, removed_ledger=None)
            row["last_ledger"] = item.raw.ledger

    def on_governance_m_add(self, item: Item, ev: gov.MemberAdded, a: dict[str, Any]) -> None:
        row = self._member(item, ev.member)
        # A re-added member keeps its stored VotingWeight (the contract never deletes it).
        row.update(active=True, added_ledger=item.raw.ledger, removed_ledger=None)
        row["last_ledger"] = item.raw.ledger
        params = self.contract_row(item)["params"]
        if "total_weight" in params:
            params["total_weight"] = int(params["total_weight"]) + 1
        self.out.dirty_contracts.add(item.contract.contract_id)

    def on_governance_m_remove(self, item: Item, ev: gov.MemberRemoved, a: dict[str, Any]) -> None:
        row = self._member(item, ev.member)
        row.update(active=False, removed_ledger=item.raw.ledger)
        row["last_ledger"] = item.raw.ledger
        params = self.contract_row(item)["params"]
        if "total_weight" in params:
            params["total_weight"] = int(params["total_weight"]) - int(row["weight"])
        self.out.dirty_contracts.add(item.contract.contract_id)

    def on_governance_w_set(self, item: Item, ev: gov.WeightSet, a: dict[str, Any]) -> None:
        row = self._member(item, ev.member)
        old = int(row["weight"])
        row["weight"] = ev.weight
        row["last_ledger"] = item.raw.ledger
        params = self.contract_row(item)["params"]
        if "total_weight" in params:
            params["total_weight"] = int(params["total_weight"]) - old + ev.weight
        self.out.dirty_contracts.add(item.contract.contract_id)

    def on_governance_p_create(
        self, item: Item, ev: gov.ProposalCreated, a: dict[str, Any]
    ) -> None:
        c = item.contract.contract_id
        key = (c, ev.proposal_id)
        params = self.contract_row(item)["params"]
        params["proposal_count"] = max(int(params.get("proposal_count") or 0), ev.proposal_id + 1)
        self.out.dirty_contracts.add(c)
        if key in self.s.proposals:
            return
        now = int(item.raw.ledger_closed_at.timestamp())
        duration = params.get("voting_duration")
        if duration is None:
            self.discrepancy(
                item,
                "enrich",
                "proposal",
                "voting_duration unknown (init not indexed); end_time set to start_time "
                "until reconciliation reads it from the chain",
                entity_id=ev.proposal_id,
            )
            duration = 0
        title = a.get("title")
        self.s.proposals[key] = {
            "contract_id": c,
            "proposal_id": ev.proposal_id,
            "proposer": ev.proposer,
            "title": title if isinstance(title, str) else None,
            "token": a["token"],
            "amount": a["amount"],
            "recipient": a["recipient"],
            "status": "active",
            "yes_votes": 0,
            "no_votes": 0,
            "abstain_votes": 0,
            "start_time": now,
            "end_time": self.bigint(
                item, now + int(duration), "proposal", ev.proposal_id, "end_time"
            ),
            "finalized_at": None,
            "executed_at": None,
            **self.ref(item),
        }
        self.out.dirty_proposals.add(key)

    def on_governance_vote(self, item: Item, ev: gov.Voted, a: dict[str, Any]) -> None:
        c = item.contract.contract_id
        key = (c, ev.proposal_id)
        row = self.s.proposals.get(key)
        if row is None:
            self.missing(item, "proposal", ev.proposal_id)
            return
        choice = _choice(a.get("choice"))
        if choice is None:
            self.discrepancy(
                item,
                "enrich",
                "vote",
                f"vote choice {a.get('choice')!r} not understood",
                entity_id=f"{ev.proposal_id}:{ev.voter}",
            )
            return
        member = self.s.members.get((c, ev.voter))
        if member is None:
            self.discrepancy(
                item,
                "enrich",
                "vote",
                "voter's weight unknown (membership not indexed); vote not counted, "
                "reconciliation reads the tallies from the chain",
                entity_id=f"{ev.proposal_id}:{ev.voter}",
            )
            return
        weight = int(member["weight"])
        vkey = (c, ev.proposal_id, ev.voter)
        if vkey in self.s.voted:
            return
        self.s.voted.add(vkey)
        self.out.votes.append(
            {
                "contract_id": c,
                "proposal_id": ev.proposal_id,
                "voter": ev.voter,
                "choice": choice,
                "weight": weight,
                "event_id": item.raw.id,
                "ledger": item.raw.ledger,
                "tx_hash": item.raw.tx_hash,
                "voted_at": item.raw.ledger_closed_at,
            }
        )
        if not self.fresh(item, row, "proposal", ev.proposal_id):
            return
        row[f"{choice}_votes"] = int(row[f"{choice}_votes"]) + weight
        self.touch(item, row)
        self.out.dirty_proposals.add(key)

    def _proposal_status(self, item: Item, pid: int, status: str, stamp: str | None = None) -> None:
        key = (item.contract.contract_id, pid)
        row = self.s.proposals.get(key)
        if row is None:
            self.missing(item, "proposal", pid)
            return
        if not self.fresh(item, row, "proposal", pid):
            return
        row["status"] = status
        if stamp:
            row[stamp] = item.raw.ledger_closed_at
        self.touch(item, row)
        self.out.dirty_proposals.add(key)

    def on_governance_finalize(self, item: Item, ev: gov.Finalized, a: dict[str, Any]) -> None:
        self._proposal_status(item, a["proposal_id"], ev.status, "finalized_at")

    def on_governance_execute(
        self, item: Item, ev: gov.ProposalExecuted, a: dict[str, Any]
    ) -> None:
        self._proposal_status(item, ev.proposal_id, "executed", "executed_at")

    def on_governance_p_cancel(
        self, item: Item, ev: gov.ProposalCancelled, a: dict[str, Any]
    ) -> None:
        self._proposal_status(item, ev.proposal_id, "cancelled")


def _choice(value: Any) -> str | None:
    """``VoteChoice`` as decoded (``["Yes"]``, ``"Yes"`` or a U32 index) -> ``"yes"``."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and value in gov.VOTE_CHOICES:
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 3:
        return gov.VOTE_CHOICES[value].lower()
    return None


def apply_page(items: Iterable[Item], snapshot: Snapshot) -> Changes:
    """Apply ``items`` (in chain order) to ``snapshot``; return the rows to write."""
    out = Changes()
    page = _Page(snapshot, out)
    for item in items:
        page.apply(item)
    return out


def timestamp(dt: datetime) -> int:
    return int(dt.timestamp())

"""Factories that insert realistic rows straight into the indexer's tables.

Rows look like what the indexer writes: every entity has its creating event
in ``events`` (the child tables reference it), ledgers close every 5 s from
``BASE_TIME``, amounts are base units, addresses are valid strkeys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from stellar_sdk import Keypair, StrKey

from orbitpay.db import schema as s
from orbitpay.stellar import scval

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
BASE_UNIX = int(BASE_TIME.timestamp())


def account(n: int | str) -> str:
    seed = hashlib.sha256(f"account-{n}".encode()).digest()
    return Keypair.from_raw_ed25519_seed(seed).public_key


def contract(n: int | str) -> str:
    return StrKey.encode_contract(hashlib.sha256(f"contract-{n}".encode()).digest())


def ledger_time(ledger: int) -> datetime:
    return BASE_TIME + timedelta(seconds=5 * ledger)


def tx_hash(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class Factory:
    """Inserts rows on one connection; ``ledger`` only grows unless given explicitly."""

    conn: AsyncConnection
    ledger: int = 100
    _event_seq: dict[int, int] = field(default_factory=dict)

    def next_ledger(self, step: int = 1) -> int:
        self.ledger += step
        return self.ledger

    async def event(
        self,
        contract_id: str,
        type: str | None,
        ledger: int | None = None,
        *,
        topics: Any = None,
        value: Any = None,
        topics_xdr: list[str] | None = None,
        value_xdr: str | None = None,
        recognised: bool = True,
    ) -> dict[str, Any]:
        ledger = ledger if ledger is not None else self.next_ledger()
        seq = self._event_seq.get(ledger, 0) + 1
        self._event_seq[ledger] = seq
        event_id = f"{(ledger << 32) | (seq << 12):019d}-{seq:010d}"
        row = {
            "id": event_id,
            "contract_id": contract_id,
            "ledger": ledger,
            "ledger_closed_at": ledger_time(ledger),
            "tx_hash": tx_hash(event_id),
            "transaction_index": seq,
            "operation_index": 0,
            "event_type": "contract",
            "type": type,
            "topic_symbols": [type] if type else [],
            "topics": topics if topics is not None else ([type] if type else []),
            "value": value,
            # The XDR the JSON above was decoded from (the API renders raw values from it).
            "topics_xdr": topics_xdr
            if topics_xdr is not None
            else [scval.to_b64(scval.symbol(type))]
            if type
            else [],
            "value_xdr": value_xdr if value_xdr is not None else scval.to_b64(scval.void()),
            "recognised": recognised,
            "in_successful_contract_call": True,
        }
        await self.conn.execute(insert(s.events).values(**row))
        return row

    async def organization(self, name: str, admin: str | None, contracts: dict[str, str]) -> int:
        org_id = (
            await self.conn.execute(
                insert(s.organizations)
                .values(name=name, admin=admin)
                .returning(s.organizations.c.id)
            )
        ).scalar_one()
        for kind, cid in contracts.items():
            await self.conn.execute(
                insert(s.contracts).values(contract_id=cid, kind=kind, organization_id=org_id)
            )
        return int(org_id)

    def _ref(self, ev: dict[str, Any]) -> dict[str, Any]:
        return {
            "created_ledger": ev["ledger"],
            "created_tx_hash": ev["tx_hash"],
            "created_at": ev["ledger_closed_at"],
            "last_ledger": ev["ledger"],
        }

    # ---------------------------------------------------------------- payroll

    async def stream(
        self,
        contract_id: str,
        stream_id: int,
        *,
        sender: str,
        recipient: str,
        token: str,
        total: int,
        start: int,
        end: int,
        claimed: int = 0,
        status: str = "active",
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "s_create", ledger, value=stream_id)
        row = {
            "contract_id": contract_id,
            "stream_id": stream_id,
            "sender": sender,
            "recipient": recipient,
            "token": token,
            "total_amount": total,
            "claimed_amount": claimed,
            "rate_per_second": total // (end - start),
            "start_time": start,
            "end_time": end,
            "status": status,
            **self._ref(ev),
        }
        await self.conn.execute(insert(s.streams).values(**row))
        return row

    async def stream_claim(
        self,
        contract_id: str,
        stream_id: int,
        *,
        recipient: str,
        token: str,
        amount: int,
        kind: str = "claim",
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "claim" if kind == "claim" else "cancel", ledger)
        row = {
            "event_id": ev["id"],
            "contract_id": contract_id,
            "stream_id": stream_id,
            "kind": kind,
            "recipient": recipient,
            "token": token,
            "amount": amount,
            "ledger": ev["ledger"],
            "tx_hash": ev["tx_hash"],
            "claimed_at": ev["ledger_closed_at"],
        }
        await self.conn.execute(insert(s.stream_claims).values(**row))
        return row

    # ---------------------------------------------------------------- treasury

    async def treasury_event(
        self,
        contract_id: str,
        type: str,
        *,
        address: str | None = None,
        amount: int | None = None,
        token: str | None = None,
        withdrawal_id: int | None = None,
        ledger: int | None = None,
    ) -> dict[str, Any]:
        symbol = {
            "initialized": "init",
            "deposit": "deposit",
            "withdrawal_created": "w_create",
            "withdrawal_approved": "approve",
            "withdrawal_executed": "w_exec",
            "signer_added": "s_add",
            "signer_removed": "s_remove",
            "threshold_updated": "t_upd",
        }.get(type, "mystery")
        ev = await self.event(contract_id, symbol, ledger, recognised=type != "unknown")
        row = {
            "event_id": ev["id"],
            "contract_id": contract_id,
            "type": type,
            "address": address,
            "amount": amount,
            "token": token,
            "withdrawal_id": withdrawal_id,
            "ledger": ev["ledger"],
            "tx_hash": ev["tx_hash"],
            "timestamp": ev["ledger_closed_at"],
        }
        await self.conn.execute(insert(s.treasury_events).values(**row))
        return row

    async def withdrawal(
        self,
        contract_id: str,
        withdrawal_id: int,
        *,
        proposer: str,
        token: str,
        recipient: str,
        amount: int,
        memo: str | None = "payroll",
        status: str = "pending",
        approvals: list[str] | None = None,
        executed: bool = False,
    ) -> dict[str, Any]:
        created = await self.treasury_event(
            contract_id,
            "withdrawal_created",
            address=proposer,
            token=token,
            amount=amount,
            withdrawal_id=withdrawal_id,
        )
        row = {
            "contract_id": contract_id,
            "withdrawal_id": withdrawal_id,
            "proposer": proposer,
            "token": token,
            "recipient": recipient,
            "amount": amount,
            "memo": memo,
            "status": status,
            "created_ledger": created["ledger"],
            "created_tx_hash": created["tx_hash"],
            "created_at": created["timestamp"],
            "last_ledger": created["ledger"],
        }
        await self.conn.execute(insert(s.withdrawals).values(**row))
        for signer in approvals or [proposer]:
            if signer == proposer:
                ledger, tx, at = created["ledger"], created["tx_hash"], created["timestamp"]
            else:
                ev = await self.treasury_event(
                    contract_id, "withdrawal_approved", address=signer, withdrawal_id=withdrawal_id
                )
                ledger, tx, at = ev["ledger"], ev["tx_hash"], ev["timestamp"]
            await self.conn.execute(
                insert(s.withdrawal_approvals).values(
                    contract_id=contract_id,
                    withdrawal_id=withdrawal_id,
                    signer=signer,
                    ledger=ledger,
                    tx_hash=tx,
                    approved_at=at,
                )
            )
        if executed:
            ev = await self.treasury_event(
                contract_id,
                "withdrawal_executed",
                address=recipient,
                amount=amount,
                token=token,
                withdrawal_id=withdrawal_id,
            )
            await self.conn.execute(
                s.withdrawals.update()
                .where(
                    s.withdrawals.c.contract_id == contract_id,
                    s.withdrawals.c.withdrawal_id == withdrawal_id,
                )
                .values(executed_ledger=ev["ledger"], executed_at=ev["timestamp"])
            )
            row["executed_at"] = ev["timestamp"]
        return row

    # ---------------------------------------------------------------- vesting

    async def schedule(
        self,
        contract_id: str,
        schedule_id: int,
        *,
        grantor: str,
        beneficiary: str,
        token: str,
        total: int,
        start: int,
        cliff_duration: int,
        cliff_amount: int,
        total_duration: int,
        claimed: int = 0,
        status: str = "active",
        label: str | None = "team",
        revocable: bool = True,
        original_total: int | None = None,
        revoked_at: datetime | None = None,
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "v_create", ledger)
        row = {
            "contract_id": contract_id,
            "schedule_id": schedule_id,
            "grantor": grantor,
            "beneficiary": beneficiary,
            "token": token,
            "total_amount": total,
            "original_total_amount": original_total if original_total is not None else total,
            "claimed_amount": claimed,
            "start_time": start,
            "cliff_duration": cliff_duration,
            "cliff_time": start + cliff_duration,
            "cliff_amount": cliff_amount,
            "total_duration": total_duration,
            "end_time": start + total_duration,
            "label": label,
            "revocable": revocable,
            "status": status,
            "revoked_at": revoked_at,
            **self._ref(ev),
        }
        await self.conn.execute(insert(s.vesting_schedules).values(**row))
        return row

    async def vesting_claim(
        self,
        contract_id: str,
        schedule_id: int,
        *,
        beneficiary: str,
        token: str,
        amount: int,
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "v_claim", ledger)
        row = {
            "event_id": ev["id"],
            "contract_id": contract_id,
            "schedule_id": schedule_id,
            "beneficiary": beneficiary,
            "token": token,
            "amount": amount,
            "ledger": ev["ledger"],
            "tx_hash": ev["tx_hash"],
            "claimed_at": ev["ledger_closed_at"],
        }
        await self.conn.execute(insert(s.vesting_claims).values(**row))
        return row

    # ---------------------------------------------------------------- governance

    async def proposal(
        self,
        contract_id: str,
        proposal_id: int,
        *,
        proposer: str,
        token: str,
        amount: int,
        recipient: str,
        title: str = "budget",
        status: str = "active",
        start: int = BASE_UNIX,
        end: int = BASE_UNIX + 7 * 86400,
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "p_create", ledger)
        row = {
            "contract_id": contract_id,
            "proposal_id": proposal_id,
            "proposer": proposer,
            "title": title,
            "token": token,
            "amount": amount,
            "recipient": recipient,
            "status": status,
            "start_time": start,
            "end_time": end,
            **self._ref(ev),
        }
        await self.conn.execute(insert(s.proposals).values(**row))
        return row

    async def vote(
        self,
        contract_id: str,
        proposal_id: int,
        *,
        voter: str,
        choice: str,
        weight: int = 1,
        ledger: int | None = None,
    ) -> dict[str, Any]:
        ev = await self.event(contract_id, "vote", ledger)
        row = {
            "contract_id": contract_id,
            "proposal_id": proposal_id,
            "voter": voter,
            "choice": choice,
            "weight": weight,
            "event_id": ev["id"],
            "ledger": ev["ledger"],
            "tx_hash": ev["tx_hash"],
            "voted_at": ev["ledger_closed_at"],
        }
        await self.conn.execute(insert(s.votes).values(**row))
        column = {"yes": "yes_votes", "no": "no_votes", "abstain": "abstain_votes"}[choice]
        table = s.proposals
        await self.conn.execute(
            table.update()
            .where(table.c.contract_id == contract_id, table.c.proposal_id == proposal_id)
            .values({column: table.c[column] + weight, "last_ledger": ev["ledger"]})
        )
        return row

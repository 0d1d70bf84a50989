"""The devnet's ground truth as plain JSON, for comparing with an indexer's tables.

``Chain.state_dump()`` returns (all amounts/weights/tallies are decimal strings,
all times int unix seconds, enum values lowercase snake case, addresses strkeys)::

    {
      "network_passphrase": str, "latest_ledger": int, "latest_ledger_close_time": int,
      "oldest_ledger": int,
      "counts": {"transactions": int, "failed_transactions": int, "events": int},
      "tokens": [{"contract_id", "name", "symbol", "decimals", "balances": {addr: amount}}],
      "organizations": [{
        "name", "admin", "contracts": {"treasury", "payroll", "vesting", "governance"},
        "treasury": {
          "contract_id", "admin", "signers": [addr], "threshold": int, "proposal_count": int,
          "withdrawals": [{"id", "proposer", "token", "recipient", "amount", "memo",
                           "approvals": [addr], "status": "pending|approved|executed|cancelled",
                           "created_at"}],
          "history": [{"type": "initialized|deposit|withdrawal_created|withdrawal_approved|
                                  withdrawal_executed|signer_added|signer_removed|threshold_updated",
                       "address", "amount", "token", "withdrawal_id", "threshold",
                       "ledger", "tx_hash", "timestamp", "event_id"}]},
        "payroll": {
          "contract_id", "admin", "stream_count",
          "streams": [{"id", "sender", "recipient", "token", "total_amount", "claimed_amount",
                       "start_time", "end_time", "last_claim_time",
                       "status": "active|paused|cancelled|completed", "rate_per_second",
                       "claimable_amount" (at the latest closed ledger)}],
          "claims": [{"stream_id", "recipient", "amount", "ledger", "tx_hash", "timestamp",
                      "event_id"}],
          "cancellations": [{"stream_id", "sender", "paid_to_recipient", "refunded",
                             "ledger", "tx_hash", "timestamp", "event_id"}]},
        "vesting": {
          "contract_id", "admin", "schedule_count",
          "schedules": [{"id", "grantor", "beneficiary", "token", "total_amount",
                         "claimed_amount", "start_time", "cliff_duration", "cliff_amount",
                         "total_duration", "cliff_time", "end_time", "label",
                         "status": "active|revoked|fully_claimed", "revocable",
                         "revoked_at": int|null, "vested_amount" (at the latest ledger)}],
          "claims": [{"schedule_id", "beneficiary", "amount", "fully_claimed", "ledger",
                      "tx_hash", "timestamp", "event_id"}],
          "revocations": [{"schedule_id", "grantor", "unvested", "ledger", "tx_hash",
                           "timestamp", "event_id"}]},
        "governance": {
          "contract_id", "admin",
          "members": [{"address", "weight"}],
          "params": {"quorum": int (percent), "voting_duration", "grace_period",
                     "total_weight", "proposal_count"},
          "proposals": [{"id", "proposer", "title", "token", "amount", "recipient",
                         "yes_votes", "no_votes", "abstain_votes",
                         "status": "active|approved|rejected|executed|cancelled|expired",
                         "start_time", "end_time", "vote_count"}],
          "votes": [{"proposal_id", "voter", "choice": "yes|no|abstain", "weight",
                     "ledger", "tx_hash", "timestamp", "event_id"}],
          "finalizations": [{"proposal_id", "status", "silent": null|"quorum"|"grace",
                             "ledger", "tx_hash", "timestamp", "event_id" (null if silent)}]}
      }]
    }

``event_id`` is the RPC event id of the event the history row came from (null for
the silent ``finalize`` paths).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from orbitpay.devnet.contracts.payroll import stream_claimable
from orbitpay.devnet.contracts.vesting import vested_amount

if TYPE_CHECKING:
    from orbitpay.devnet.chain import Chain

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(variant: str) -> str:
    """``FullyClaimed`` -> ``fully_claimed``."""
    return _CAMEL.sub("_", variant).lower()


def _amt(v: int | None) -> str | None:
    return None if v is None else str(v)


def _hist(
    rows: list[dict[str, Any]], keep: tuple[str, ...], amounts: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = {k: r.get(k) for k in keep}
        for k in amounts:
            d[k] = _amt(d[k])
        for k in ("ledger", "tx_hash", "timestamp", "event_id"):
            d[k] = r[k]
        out.append(d)
    return out


def _treasury(c: Any) -> dict[str, Any]:
    ws = []
    for key in sorted(k for k in c.persistent if k[0] == "Withdrawal"):
        w = c.persistent[key]
        ws.append(
            {
                **w,
                "amount": str(w["amount"]),
                "approvals": list(w["approvals"]),
                "status": snake(w["status"]),
            }
        )
    hist = []
    for r in c.history:
        hist.append(
            {
                "type": r["type"],
                "address": r["address"],
                "amount": _amt(r["amount"]),
                "token": r["token"],
                "withdrawal_id": r["withdrawal_id"],
                "threshold": r["threshold"],
                "ledger": r["ledger"],
                "tx_hash": r["tx_hash"],
                "timestamp": r["timestamp"],
                "event_id": r["event_id"],
            }
        )
    return {
        "contract_id": c.contract_id,
        "admin": c.instance.get("Admin"),
        "signers": list(c.instance.get("Signers", [])),
        "threshold": c.instance.get("Threshold"),
        "proposal_count": c.instance.get("ProposalCount", 0),
        "withdrawals": ws,
        "history": hist,
    }


def _payroll(c: Any, now: int) -> dict[str, Any]:
    streams = []
    for key in sorted(k for k in c.persistent if k[0] == "Stream"):
        s = c.persistent[key]
        claimable = 0
        if s["status"] == "Active":
            claimable = stream_claimable(
                s["total_amount"], s["claimed_amount"], s["start_time"], s["end_time"], now
            )
        streams.append(
            {
                **s,
                "total_amount": str(s["total_amount"]),
                "claimed_amount": str(s["claimed_amount"]),
                "rate_per_second": str(s["rate_per_second"]),
                "status": snake(s["status"]),
                "claimable_amount": str(claimable),
            }
        )
    claims = [r for r in c.history if r["kind"] == "claim"]
    cancels = [r for r in c.history if r["kind"] == "cancel"]
    return {
        "contract_id": c.contract_id,
        "admin": c.instance.get("Admin"),
        "stream_count": c.instance.get("StreamCount", 0),
        "streams": streams,
        "claims": _hist(claims, ("stream_id", "recipient", "amount"), ("amount",)),
        "cancellations": _hist(
            cancels,
            ("stream_id", "sender", "paid_to_recipient", "refunded"),
            ("paid_to_recipient", "refunded"),
        ),
    }


def _vesting(c: Any, now: int) -> dict[str, Any]:
    schedules = []
    for key in sorted(k for k in c.persistent if k[0] == "Schedule"):
        s = c.persistent[key]
        vested = vested_amount(
            s["total_amount"],
            s["cliff_amount"],
            s["start_time"],
            s["cliff_duration"],
            s["total_duration"],
            now,
        )
        schedules.append(
            {
                **s,
                "total_amount": str(s["total_amount"]),
                "claimed_amount": str(s["claimed_amount"]),
                "cliff_amount": str(s["cliff_amount"]),
                "cliff_time": s["start_time"] + s["cliff_duration"],
                "end_time": s["start_time"] + s["total_duration"],
                "status": snake(s["status"]),
                "vested_amount": str(vested),
            }
        )
    claims = [r for r in c.history if r["kind"] == "claim"]
    revokes = [r for r in c.history if r["kind"] == "revoke"]
    return {
        "contract_id": c.contract_id,
        "admin": c.instance.get("Admin"),
        "schedule_count": c.instance.get("ScheduleCount", 0),
        "schedules": schedules,
        "claims": _hist(
            claims, ("schedule_id", "beneficiary", "amount", "fully_claimed"), ("amount",)
        ),
        "revocations": _hist(revokes, ("schedule_id", "grantor", "unvested"), ("unvested",)),
    }


def _governance(c: Any) -> dict[str, Any]:
    members = [{"address": m, "weight": str(c.weight(m))} for m in c.instance.get("Members", [])]
    proposals = []
    for key in sorted(k for k in c.persistent if k[0] == "Proposal"):
        p = c.persistent[key]
        proposals.append(
            {
                "id": p["id"],
                "proposer": p["proposer"],
                "title": p["title"],
                "token": p["token"],
                "amount": str(p["amount"]),
                "recipient": p["recipient"],
                "yes_votes": str(p["yes_votes"]),
                "no_votes": str(p["no_votes"]),
                "abstain_votes": str(p["abstain_votes"]),
                "status": snake(p["status"]),
                "start_time": p["start_time"],
                "end_time": p["end_time"],
                "vote_count": len(p["votes"]),
            }
        )
    votes = [r for r in c.history if r["kind"] == "vote"]
    fins = [r for r in c.history if r["kind"] == "finalize"]
    vote_rows = _hist(votes, ("proposal_id", "voter", "choice", "weight"), ("weight",))
    for v in vote_rows:
        v["choice"] = snake(v["choice"])
    fin_rows = _hist(fins, ("proposal_id", "status", "silent"))
    for f in fin_rows:
        f["status"] = snake(f["status"])
    return {
        "contract_id": c.contract_id,
        "admin": c.instance.get("Admin"),
        "members": members,
        "params": {
            "quorum": c.instance.get("QuorumPercentage"),
            "voting_duration": c.instance.get("VotingDuration"),
            "grace_period": c.instance.get("GracePeriod"),
            "total_weight": str(c.instance.get("TotalWeight", 0)),
            "proposal_count": c.instance.get("ProposalCount", 0),
        },
        "proposals": proposals,
        "votes": vote_rows,
        "finalizations": fin_rows,
    }


def state_dump(chain: Chain) -> dict[str, Any]:
    """Build the JSON-serialisable dump described in the module docstring."""
    now = chain.close_time(chain.latest_ledger)
    orgs = []
    for org in chain.organizations():
        cs = org["contracts"]
        entry: dict[str, Any] = {**org}
        if "treasury" in cs:
            entry["treasury"] = _treasury(chain.contracts[cs["treasury"]])
        if "payroll" in cs:
            entry["payroll"] = _payroll(chain.contracts[cs["payroll"]], now)
        if "vesting" in cs:
            entry["vesting"] = _vesting(chain.contracts[cs["vesting"]], now)
        if "governance" in cs:
            entry["governance"] = _governance(chain.contracts[cs["governance"]])
        orgs.append(entry)
    tokens = []
    for cid, c in chain.contracts.items():
        if c.kind == "token":
            tokens.append(
                {
                    "contract_id": cid,
                    "name": c.instance.get("Name"),
                    "symbol": c.instance.get("Symbol"),
                    "decimals": c.instance.get("Decimals"),
                    "balances": {
                        k[1]: str(v) for k, v in sorted(c.persistent.items()) if k[0] == "Balance"
                    },
                }
            )
    return {
        "network_passphrase": chain.network_passphrase,
        "latest_ledger": chain.latest_ledger,
        "latest_ledger_close_time": now,
        "oldest_ledger": chain.oldest_ledger,
        "counts": {
            "transactions": chain.tx_count,
            "failed_transactions": chain.failed_tx_count,
            "events": chain.event_count,
        },
        "tokens": tokens,
        "organizations": orgs,
    }

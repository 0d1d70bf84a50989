"""Governance (budget proposals, weighted votes), following CONTRACTS.md and
``contracts/governance`` of xqcxx/OrbitPay.

Events: ``("init",) admin``, ``("p_create", proposer) id``, ``("vote", voter) id``,
``("finalize",) status`` (no id), ``("execute",) id``, ``("p_cancel", proposer) id``,
``("m_add",) member``, ``("m_remove",) member``, ``("w_set", member) weight``.

``finalize`` is silent (status Rejected, no event) when quorum is not met or the
grace period has passed. A vote adds the voter's weight at voting time
(``VotingWeight(member)``, default 1) to the tallies; quorum is
``total_weight * quorum_percentage // 100`` of voted weight.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.base import Contract, Env, addr_vec, admin_checked, error_enum
from orbitpay.stellar import scval as sv

CHOICES = ("Yes", "No", "Abstain")
TALLY = {"Yes": "yes_votes", "No": "no_votes", "Abstain": "abstain_votes"}


class GovernanceContract(Contract):
    kind = "governance"
    errors = error_enum(
        "AlreadyInitialized",
        "NotInitialized",
        "Unauthorized",
        "NotAMember",
        "ProposalNotFound",
        "VotingNotActive",
        "VotingPeriodExpired",
        "AlreadyVoted",
        "ProposalStillActive",
        "ProposalNotApproved",
        "InvalidAmount",
    )

    def weight(self, member: str) -> int:
        return int(self.persistent.get(("VotingWeight", member), 1))

    def fn_initialize(
        self,
        env: Env,
        admin: str,
        members: list[str],
        quorum: int,
        voting_duration: int,
        grace: int,
    ) -> xdr.SCVal:
        self._refuse_reinit()
        env.require_auth(admin)
        env.set_instance("Admin", admin)
        env.set_instance("Members", list(members))
        env.set_instance("QuorumPercentage", quorum)
        env.set_instance("VotingDuration", voting_duration)
        env.set_instance("GracePeriod", grace)
        env.set_instance("ProposalCount", 0)
        env.set_instance("TotalWeight", len(members))
        env.emit([sv.symbol("init")], sv.address(admin))
        return sv.void()

    def fn_create_proposal(
        self, env: Env, proposer: str, title: str, token: str, amount: int, recipient: str
    ) -> xdr.SCVal:
        self._require_init()
        env.require_auth(proposer)
        if proposer not in self.instance["Members"]:
            raise self.err("NotAMember")
        if amount <= 0:
            raise self.err("InvalidAmount")
        pid = self.instance["ProposalCount"]
        now = env.now
        prop = {
            "id": pid,
            "proposer": proposer,
            "title": title,
            "token": token,
            "amount": amount,
            "recipient": recipient,
            "yes_votes": 0,
            "no_votes": 0,
            "abstain_votes": 0,
            "votes": [],
            "status": "Active",
            "start_time": now,
            "end_time": now + self.instance["VotingDuration"],
        }
        env.set_persistent(("Proposal", pid), prop)
        env.set_instance("ProposalCount", pid + 1)
        env.emit([sv.symbol("p_create"), sv.address(proposer)], sv.u32(pid))
        return sv.u32(pid)

    def fn_vote(self, env: Env, voter: str, pid: int, choice: list[str]) -> xdr.SCVal:
        self._require_init()
        env.require_auth(voter)
        if voter not in self.instance["Members"]:
            raise self.err("NotAMember")
        p = self.persistent.get(("Proposal", pid))
        if p is None:
            raise self.err("ProposalNotFound")
        if p["status"] != "Active":
            raise self.err("VotingNotActive")
        if env.now > p["end_time"]:
            raise self.err("VotingPeriodExpired")
        if any(v["voter"] == voter for v in p["votes"]):
            raise self.err("AlreadyVoted")
        name = choice[0] if isinstance(choice, list) and choice else None
        if name not in CHOICES:
            raise self.err("VotingNotActive")
        w = self.weight(voter)
        new = dict(p, votes=[*p["votes"], {"voter": voter, "choice": name, "timestamp": env.now}])
        new[TALLY[name]] = p[TALLY[name]] + w
        env.set_persistent(("Proposal", pid), new)
        i = env.emit([sv.symbol("vote"), sv.address(voter)], sv.u32(pid))
        env.record(
            {"kind": "vote", "proposal_id": pid, "voter": voter, "choice": name, "weight": w}, i
        )
        return sv.void()

    def fn_finalize(self, env: Env, caller: str, pid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(caller)
        p = self.persistent.get(("Proposal", pid))
        if p is None:
            raise self.err("ProposalNotFound")
        if p["status"] != "Active":
            raise self.err("VotingNotActive")
        now = env.now
        if now <= p["end_time"]:
            raise self.err("ProposalStillActive")
        voted = p["yes_votes"] + p["no_votes"] + p["abstain_votes"]
        threshold = self.instance["TotalWeight"] * self.instance["QuorumPercentage"] // 100
        if voted < threshold:
            env.set_persistent(("Proposal", pid), dict(p, status="Rejected"))
            env.record(
                {"kind": "finalize", "proposal_id": pid, "status": "Rejected", "silent": "quorum"}
            )
            return sv.enum_unit("Rejected")
        if now > p["end_time"] + self.instance["GracePeriod"]:
            env.set_persistent(("Proposal", pid), dict(p, status="Rejected"))
            env.record(
                {"kind": "finalize", "proposal_id": pid, "status": "Rejected", "silent": "grace"}
            )
            return sv.enum_unit("Rejected")
        status = "Approved" if p["yes_votes"] > p["no_votes"] else "Rejected"
        env.set_persistent(("Proposal", pid), dict(p, status=status))
        i = env.emit([sv.symbol("finalize")], sv.enum_unit(status))
        env.record({"kind": "finalize", "proposal_id": pid, "status": status, "silent": None}, i)
        return sv.enum_unit(status)

    def fn_execute(self, env: Env, admin: str, pid: int) -> xdr.SCVal:
        self._require_init()
        admin_checked(env, self, admin)
        p = self.persistent.get(("Proposal", pid))
        if p is None:
            raise self.err("ProposalNotFound")
        if p["status"] != "Approved":
            raise self.err("ProposalNotApproved")
        env.token_transfer(p["token"], self.contract_id, p["recipient"], p["amount"])
        env.set_persistent(("Proposal", pid), dict(p, status="Executed"))
        env.emit([sv.symbol("execute")], sv.u32(pid))
        return sv.void()

    def fn_cancel_proposal(self, env: Env, proposer: str, pid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(proposer)
        p = self.persistent.get(("Proposal", pid))
        if p is None:
            raise self.err("ProposalNotFound")
        if p["proposer"] != proposer:
            raise self.err("Unauthorized")
        if p["status"] != "Active":
            raise self.err("VotingNotActive")
        env.set_persistent(("Proposal", pid), dict(p, status="Cancelled"))
        env.emit([sv.symbol("p_cancel"), sv.address(proposer)], sv.u32(pid))
        return sv.void()

    def fn_add_member(self, env: Env, admin: str, member: str) -> xdr.SCVal:
        admin_checked(env, self, admin)
        members = self.instance["Members"]
        if member in members:
            raise self.err("AlreadyVoted")  # upstream reuses this code for "already a member"
        env.set_instance("Members", [*members, member])
        env.set_instance("TotalWeight", self.instance["TotalWeight"] + 1)
        env.emit([sv.symbol("m_add")], sv.address(member))
        return sv.void()

    def fn_remove_member(self, env: Env, admin: str, member: str) -> xdr.SCVal:
        admin_checked(env, self, admin)
        members = self.instance["Members"]
        if member not in members:
            raise self.err("NotAMember")
        env.set_instance("Members", [m for m in members if m != member])
        env.set_instance("TotalWeight", self.instance["TotalWeight"] - self.weight(member))
        env.emit([sv.symbol("m_remove")], sv.address(member))
        return sv.void()

    def fn_set_voting_weight(self, env: Env, admin: str, member: str, weight: int) -> xdr.SCVal:
        admin_checked(env, self, admin)
        if member not in self.instance["Members"]:
            raise self.err("NotAMember")
        old = self.weight(member)
        env.set_persistent(("VotingWeight", member), weight)
        env.set_instance("TotalWeight", self.instance["TotalWeight"] - old + weight)
        env.emit([sv.symbol("w_set"), sv.address(member)], sv.u128(weight))
        return sv.void()

    def fn_get_proposal(self, env: Env, pid: int) -> xdr.SCVal:
        p = self.persistent.get(("Proposal", pid))
        if p is None:
            raise self.err("ProposalNotFound")
        return self.encode_value(("Proposal", pid), p)

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        if key == "Admin":
            return sv.address(value)
        if key == "Members":
            return addr_vec(value)
        if key in ("QuorumPercentage", "ProposalCount"):
            return sv.u32(value)
        if key in ("VotingDuration", "GracePeriod"):
            return sv.u64(value)
        if key == "TotalWeight":
            return sv.u128(value)
        if key[0] == "VotingWeight":
            return sv.u128(value)
        p = value
        return sv.struct(
            {
                "id": sv.u32(p["id"]),
                "proposer": sv.address(p["proposer"]),
                "title": sv.symbol(p["title"]),
                "token": sv.address(p["token"]),
                "amount": sv.i128(p["amount"]),
                "recipient": sv.address(p["recipient"]),
                "yes_votes": sv.u128(p["yes_votes"]),
                "no_votes": sv.u128(p["no_votes"]),
                "abstain_votes": sv.u128(p["abstain_votes"]),
                "votes": sv.vec(
                    [
                        sv.struct(
                            {
                                "voter": sv.address(v["voter"]),
                                "choice": sv.enum_unit(v["choice"]),
                                "timestamp": sv.u64(v["timestamp"]),
                            }
                        )
                        for v in p["votes"]
                    ]
                ),
                "status": sv.enum_unit(p["status"]),
                "start_time": sv.u64(p["start_time"]),
                "end_time": sv.u64(p["end_time"]),
            }
        )

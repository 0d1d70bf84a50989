"""Treasury (multi-sig vault), following ``contracts/treasury`` of xqcxx/OrbitPay.

Events (CONTRACTS.md): ``("init",) admin``, ``("deposit", from) amount``,
``("w_create", proposer) id``, ``("approve", signer) id``,
``("w_exec", recipient) amount``, ``("s_add",) signer``, ``("s_remove",) signer``,
``("t_upd",) threshold``. Pending -> Approved happens silently inside ``approve``.
``deposit`` does not move tokens (upstream TODO); ``execute_withdrawal`` does.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.base import Contract, Env, addr_vec, admin_checked, error_enum
from orbitpay.stellar import scval as sv


class TreasuryContract(Contract):
    kind = "treasury"
    errors = error_enum(
        "AlreadyInitialized",
        "NotInitialized",
        "Unauthorized",
        "InvalidThreshold",
        "NotASigner",
        "AlreadyASigner",
        "ProposalNotFound",
        "ProposalNotPending",
        "ProposalNotApproved",
        "AlreadyApproved",
        "InsufficientBalance",
        "InvalidAmount",
    )

    def _h(self, env: Env, type_: str, idx: int, **fields: Any) -> None:
        entry = {
            "type": type_,
            "address": None,
            "amount": None,
            "token": None,
            "withdrawal_id": None,
            "threshold": None,
        }
        entry.update(fields)
        env.record(entry, idx)

    def fn_initialize(self, env: Env, admin: str, signers: list[str], threshold: int) -> xdr.SCVal:
        self._refuse_reinit()
        if threshold == 0 or threshold > len(signers):
            raise self.err("InvalidThreshold")
        env.require_auth(admin)
        env.set_instance("Admin", admin)
        env.set_instance("Signers", list(signers))
        env.set_instance("Threshold", threshold)
        env.set_instance("ProposalCount", 0)
        i = env.emit([sv.symbol("init")], sv.address(admin))
        self._h(env, "initialized", i, address=admin)
        return sv.void()

    def fn_deposit(self, env: Env, from_: str, token: str, amount: int) -> xdr.SCVal:
        self._require_init()
        if amount <= 0:
            raise self.err("InvalidAmount")
        env.require_auth(from_)
        i = env.emit([sv.symbol("deposit"), sv.address(from_)], sv.i128(amount))
        self._h(env, "deposit", i, address=from_, amount=amount, token=token)
        return sv.void()

    def fn_create_withdrawal(
        self, env: Env, proposer: str, token: str, recipient: str, amount: int, memo: str
    ) -> xdr.SCVal:
        self._require_init()
        env.require_auth(proposer)
        if proposer not in self.instance["Signers"]:
            raise self.err("NotASigner")
        if amount <= 0:
            raise self.err("InvalidAmount")
        wid = self.instance["ProposalCount"]
        req = {
            "id": wid,
            "proposer": proposer,
            "token": token,
            "recipient": recipient,
            "amount": amount,
            "memo": memo,
            "approvals": [proposer],
            "status": "Pending",
            "created_at": env.now,
        }
        env.set_persistent(("Withdrawal", wid), req)
        env.set_instance("ProposalCount", wid + 1)
        i = env.emit([sv.symbol("w_create"), sv.address(proposer)], sv.u32(wid))
        self._h(
            env,
            "withdrawal_created",
            i,
            address=proposer,
            amount=amount,
            token=token,
            withdrawal_id=wid,
        )
        return sv.u32(wid)

    def fn_approve_withdrawal(self, env: Env, signer: str, wid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(signer)
        if signer not in self.instance["Signers"]:
            raise self.err("NotASigner")
        cur = self.persistent.get(("Withdrawal", wid))
        if cur is None:
            raise self.err("ProposalNotFound")
        if cur["status"] != "Pending":
            raise self.err("ProposalNotPending")
        if signer in cur["approvals"]:
            raise self.err("AlreadyApproved")
        req = dict(cur, approvals=[*cur["approvals"], signer])
        if len(req["approvals"]) >= self.instance["Threshold"]:
            req["status"] = "Approved"
        env.set_persistent(("Withdrawal", wid), req)
        i = env.emit([sv.symbol("approve"), sv.address(signer)], sv.u32(wid))
        self._h(env, "withdrawal_approved", i, address=signer, withdrawal_id=wid)
        return sv.void()

    def fn_execute_withdrawal(self, env: Env, executor: str, wid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(executor)
        cur = self.persistent.get(("Withdrawal", wid))
        if cur is None:
            raise self.err("ProposalNotFound")
        if cur["status"] != "Approved":
            raise self.err("ProposalNotApproved")
        if env.token_balance(cur["token"], self.contract_id) < cur["amount"]:
            raise self.err("InsufficientBalance")
        env.token_transfer(cur["token"], self.contract_id, cur["recipient"], cur["amount"])
        env.set_persistent(("Withdrawal", wid), dict(cur, status="Executed"))
        i = env.emit([sv.symbol("w_exec"), sv.address(cur["recipient"])], sv.i128(cur["amount"]))
        self._h(
            env,
            "withdrawal_executed",
            i,
            address=cur["recipient"],
            amount=cur["amount"],
            token=cur["token"],
            withdrawal_id=wid,
        )
        return sv.void()

    def fn_add_signer(self, env: Env, admin: str, new_signer: str) -> xdr.SCVal:
        self._require_init()
        admin_checked(env, self, admin)
        signers = self.instance["Signers"]
        if new_signer in signers:
            raise self.err("AlreadyASigner")
        env.set_instance("Signers", [*signers, new_signer])
        i = env.emit([sv.symbol("s_add")], sv.address(new_signer))
        self._h(env, "signer_added", i, address=new_signer)
        return sv.void()

    def fn_remove_signer(self, env: Env, admin: str, signer: str) -> xdr.SCVal:
        self._require_init()
        admin_checked(env, self, admin)
        signers = self.instance["Signers"]
        if len(signers) <= self.instance["Threshold"]:
            raise self.err("InvalidThreshold")
        if signer not in signers:
            raise self.err("NotASigner")
        env.set_instance("Signers", [s for s in signers if s != signer])
        i = env.emit([sv.symbol("s_remove")], sv.address(signer))
        self._h(env, "signer_removed", i, address=signer)
        return sv.void()

    def fn_update_threshold(self, env: Env, admin: str, new_threshold: int) -> xdr.SCVal:
        self._require_init()
        admin_checked(env, self, admin)
        if new_threshold == 0 or new_threshold > len(self.instance["Signers"]):
            raise self.err("InvalidThreshold")
        env.set_instance("Threshold", new_threshold)
        i = env.emit([sv.symbol("t_upd")], sv.u32(new_threshold))
        self._h(env, "threshold_updated", i, threshold=new_threshold)
        return sv.void()

    def fn_get_withdrawal(self, env: Env, wid: int) -> xdr.SCVal:
        cur = self.persistent.get(("Withdrawal", wid))
        if cur is None:
            raise self.err("ProposalNotFound")
        return self.encode_value(("Withdrawal", wid), cur)

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        if key == "Admin":
            return sv.address(value)
        if key == "Signers":
            return addr_vec(value)
        if key in ("Threshold", "ProposalCount"):
            return sv.u32(value)
        w = value
        return sv.struct(
            {
                "id": sv.u32(w["id"]),
                "proposer": sv.address(w["proposer"]),
                "token": sv.address(w["token"]),
                "recipient": sv.address(w["recipient"]),
                "amount": sv.i128(w["amount"]),
                "memo": sv.symbol(w["memo"]),
                "approvals": addr_vec(w["approvals"]),
                "status": sv.enum_unit(w["status"]),
                "created_at": sv.u64(w["created_at"]),
            }
        )

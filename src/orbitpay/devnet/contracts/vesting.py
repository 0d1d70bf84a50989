"""Vesting (cliff + linear), following ``contracts/vesting`` of xqcxx/OrbitPay and CONTRACTS.md.

Events: ``("init",) admin``,
``("v_create", grantor, beneficiary) (total_amount, cliff_duration, total_duration)``
(no schedule id: it is the return value), ``("v_claim", beneficiary, id) amount``,
``("v_fully", id) ()`` right after the claim that completes a schedule,
``("v_revoke", grantor, id) unvested``.
``VestingStatus`` is ``Active | Revoked | FullyClaimed``.

The amounts come from :mod:`orbitpay.devnet.contracts.arithmetic` (the
contract's i128 arithmetic), never from the indexer's ``orbitpay.formulas``.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.arithmetic import (
    vested_amount,
    vesting_claimable,
    vesting_claimed_after,
    vesting_unvested,
)
from orbitpay.devnet.contracts.base import Contract, Env, error_enum, u32_vec
from orbitpay.stellar import scval as sv

__all__ = ["VestingContract", "vested_amount"]


class VestingContract(Contract):
    kind = "vesting"
    errors = error_enum(
        "AlreadyInitialized",
        "NotInitialized",
        "Unauthorized",
        "InvalidAmount",
        "InvalidSchedule",
        "InvalidCliffDuration",
        "ScheduleNotFound",
        "ScheduleRevoked",
        "AlreadyFullyClaimed",
        "NothingToClaim",
        "InsufficientBalance",
    )

    def fn_initialize(self, env: Env, admin: str) -> xdr.SCVal:
        self._refuse_reinit()
        env.require_auth(admin)
        env.set_instance("Admin", admin)
        env.set_instance("ScheduleCount", 0)
        env.emit([sv.symbol("init")], sv.address(admin))
        return sv.void()

    @staticmethod
    def vested(s: dict[str, Any], now: int) -> int:
        return vested_amount(
            s["total_amount"],
            s["cliff_amount"],
            s["start_time"],
            s["cliff_duration"],
            s["total_duration"],
            now,
        )

    def fn_create_schedule(
        self,
        env: Env,
        grantor: str,
        beneficiary: str,
        token: str,
        total: int,
        start: int,
        cliff_duration: int,
        cliff_amount: int,
        total_duration: int,
        label: str,
        revocable: bool,
    ) -> xdr.SCVal:
        self._require_init()
        env.require_auth(grantor)
        if total <= 0:
            raise self.err("InvalidAmount")
        if total_duration == 0:
            raise self.err("InvalidSchedule")
        if cliff_duration >= total_duration:
            raise self.err("InvalidCliffDuration")
        if cliff_amount < 0 or cliff_amount > total:
            raise self.err("InvalidAmount")
        if env.token_balance(token, grantor) < total:
            raise self.err("InsufficientBalance")
        env.token_transfer(token, grantor, self.contract_id, total)
        sid = self.instance.get("ScheduleCount", 0)
        sched = {
            "id": sid,
            "grantor": grantor,
            "beneficiary": beneficiary,
            "token": token,
            "total_amount": total,
            "claimed_amount": 0,
            "start_time": start,
            "cliff_duration": cliff_duration,
            "cliff_amount": cliff_amount,
            "total_duration": total_duration,
            "label": label,
            "status": "Active",
            "revocable": bool(revocable),
            "revoked_at": None,
        }
        env.set_persistent(("Schedule", sid), sched)
        env.set_instance("ScheduleCount", sid + 1)
        for key, who in (("GrantorSchedules", grantor), ("BeneficiarySchedules", beneficiary)):
            env.set_persistent((key, who), [*self.persistent.get((key, who), []), sid])
        env.emit(
            [sv.symbol("v_create"), sv.address(grantor), sv.address(beneficiary)],
            sv.vec([sv.i128(total), sv.u64(cliff_duration), sv.u64(total_duration)]),
        )
        return sv.u32(sid)

    def fn_claim(self, env: Env, beneficiary: str, sid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(beneficiary)
        s = self.persistent.get(("Schedule", sid))
        if s is None:
            raise self.err("ScheduleNotFound")
        if s["beneficiary"] != beneficiary:
            raise self.err("Unauthorized")
        if s["status"] == "Revoked":
            raise self.err("ScheduleRevoked")
        if s["status"] == "FullyClaimed":
            raise self.err("AlreadyFullyClaimed")
        amount = vesting_claimable(self.vested(s, env.now), s["claimed_amount"])
        if amount <= 0:
            raise self.err("NothingToClaim")
        new = dict(s, claimed_amount=vesting_claimed_after(s["claimed_amount"], amount))
        if new["claimed_amount"] >= new["total_amount"]:
            new["status"] = "FullyClaimed"
        if env.token_balance(s["token"], self.contract_id) < amount:
            raise self.err("InsufficientBalance")
        env.token_transfer(s["token"], self.contract_id, beneficiary, amount)
        env.set_persistent(("Schedule", sid), new)
        history = self.persistent.get(("ClaimHistory", sid), [])
        env.set_persistent(
            ("ClaimHistory", sid), [*history, {"amount": amount, "timestamp": env.now}]
        )
        i = env.emit([sv.symbol("v_claim"), sv.address(beneficiary), sv.u32(sid)], sv.i128(amount))
        if new["status"] == "FullyClaimed":
            env.emit([sv.symbol("v_fully"), sv.u32(sid)], sv.void())
        env.record(
            {
                "kind": "claim",
                "schedule_id": sid,
                "beneficiary": beneficiary,
                "amount": amount,
                "fully_claimed": new["status"] == "FullyClaimed",
            },
            i,
        )
        return sv.i128(amount)

    def fn_revoke(self, env: Env, grantor: str, sid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(grantor)
        s = self.persistent.get(("Schedule", sid))
        if s is None:
            raise self.err("ScheduleNotFound")
        if s["grantor"] != grantor:
            raise self.err("Unauthorized")
        if s["status"] == "Revoked":
            raise self.err("ScheduleRevoked")
        if not s["revocable"]:
            raise self.err("Unauthorized")
        vested = self.vested(s, env.now)
        unvested = vesting_unvested(s["total_amount"], vested)
        new = dict(s, status="Revoked", total_amount=vested, revoked_at=env.now)
        if unvested > 0:
            if env.token_balance(s["token"], self.contract_id) < unvested:
                raise self.err("InsufficientBalance")
            env.token_transfer(s["token"], self.contract_id, grantor, unvested)
        env.set_persistent(("Schedule", sid), new)
        i = env.emit([sv.symbol("v_revoke"), sv.address(grantor), sv.u32(sid)], sv.i128(unvested))
        env.record(
            {"kind": "revoke", "schedule_id": sid, "grantor": grantor, "unvested": unvested}, i
        )
        return sv.i128(unvested)

    def fn_get_schedule(self, env: Env, sid: int) -> xdr.SCVal:
        s = self.persistent.get(("Schedule", sid))
        if s is None:
            raise self.err("ScheduleNotFound")
        return self.encode_value(("Schedule", sid), s)

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        if key == "Admin":
            return sv.address(value)
        if key == "ScheduleCount":
            return sv.u32(value)
        if key[0] in ("GrantorSchedules", "BeneficiarySchedules"):
            return u32_vec(value)
        if key[0] == "ClaimHistory":
            return sv.vec(
                [
                    sv.struct({"amount": sv.i128(r["amount"]), "timestamp": sv.u64(r["timestamp"])})
                    for r in value
                ]
            )
        s = value
        return sv.struct(
            {
                "id": sv.u32(s["id"]),
                "grantor": sv.address(s["grantor"]),
                "beneficiary": sv.address(s["beneficiary"]),
                "token": sv.address(s["token"]),
                "total_amount": sv.i128(s["total_amount"]),
                "claimed_amount": sv.i128(s["claimed_amount"]),
                "start_time": sv.u64(s["start_time"]),
                "cliff_duration": sv.u64(s["cliff_duration"]),
                "cliff_amount": sv.i128(s["cliff_amount"]),
                "total_duration": sv.u64(s["total_duration"]),
                "label": sv.symbol(s["label"]),
                "status": sv.enum_unit(s["status"]),
                "revocable": sv.boolean(s["revocable"]),
                "revoked_at": sv.option(s["revoked_at"], sv.u64),
            }
        )

"""Payroll streams (linear), following ``contracts/payroll_stream`` of xqcxx/OrbitPay.

Events: ``("init",) admin``, ``("s_create", sender) id``,
``("b_create", sender) Vec<u32>`` (no per-stream ``s_create``),
``("claim", recipient) amount`` (no stream id), ``("cancel", sender) id``.

Token movements: ``create_stream`` / ``create_batch_streams`` pull the total from
the sender into the contract, ``claim`` pays the recipient, ``cancel_stream`` pays
what is owed and refunds the rest. (Upstream currently calls ``transfer`` twice in
``create_stream`` and ``claim``; the devnet moves the amount once, the intended
behaviour, which keeps balances meaningful.)

The amounts come from :mod:`orbitpay.devnet.contracts.arithmetic` (the
contract's i128 arithmetic), never from the indexer's ``orbitpay.formulas``.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.arithmetic import (
    ResultErr,
    cancel_settlement,
    claimed_after,
    rate_per_second,
    stream_claimable,
)
from orbitpay.devnet.contracts.base import Contract, Env, error_enum, u32_vec
from orbitpay.stellar import scval as sv

__all__ = ["PayrollContract", "stream_claimable"]


class PayrollContract(Contract):
    kind = "payroll"
    errors = error_enum(
        "AlreadyInitialized",
        "NotInitialized",
        "Unauthorized",
        "InvalidAmount",
        "InvalidDuration",
        "InvalidRecipient",
        "InvalidStartTime",
        "StreamNotFound",
        "StreamAlreadyCancelled",
        "StreamCompleted",
        "NothingToClaim",
        "InsufficientBalance",
        "ArithmeticError",
    )

    def fn_initialize(self, env: Env, admin: str) -> xdr.SCVal:
        self._refuse_reinit()
        env.require_auth(admin)
        env.set_instance("Admin", admin)
        env.set_instance("StreamCount", 0)
        env.emit([sv.symbol("init")], sv.address(admin))
        return sv.void()

    def _new_stream(
        self,
        env: Env,
        sid: int,
        sender: str,
        recipient: str,
        token: str,
        total: int,
        start: int,
        end: int,
    ) -> None:
        if sender == recipient:
            raise self.err("InvalidRecipient")
        if total <= 0:
            raise self.err("InvalidAmount")
        if end <= start:
            raise self.err("InvalidDuration")
        if start < env.now:
            raise self.err("InvalidStartTime")
        if env.token_balance(token, sender) < total:
            raise self.err("InsufficientBalance")
        env.token_transfer(token, sender, self.contract_id, total)
        stream = {
            "id": sid,
            "sender": sender,
            "recipient": recipient,
            "token": token,
            "total_amount": total,
            "claimed_amount": 0,
            "start_time": start,
            "end_time": end,
            "last_claim_time": start,
            "status": "Active",
            "rate_per_second": rate_per_second(total, start, end),
        }
        env.set_persistent(("Stream", sid), stream)
        for key, who in (("SenderStreams", sender), ("RecipientStreams", recipient)):
            env.set_persistent((key, who), [*self.persistent.get((key, who), []), sid])

    def fn_create_stream(
        self, env: Env, sender: str, recipient: str, token: str, total: int, start: int, end: int
    ) -> xdr.SCVal:
        self._require_init()
        env.require_auth(sender)
        sid = self.instance.get("StreamCount", 0)
        self._new_stream(env, sid, sender, recipient, token, total, start, end)
        env.set_instance("StreamCount", sid + 1)
        env.emit([sv.symbol("s_create"), sv.address(sender)], sv.u32(sid))
        return sv.u32(sid)

    def fn_create_batch_streams(
        self, env: Env, sender: str, streams: list[dict[str, Any]]
    ) -> xdr.SCVal:
        self._require_init()
        env.require_auth(sender)
        count = self.instance.get("StreamCount", 0)
        ids: list[int] = []
        for p in streams:
            self._new_stream(
                env,
                count,
                sender,
                p["recipient"],
                p["token"],
                p["total_amount"],
                p["start_time"],
                p["end_time"],
            )
            ids.append(count)
            count += 1
        env.set_instance("StreamCount", count)
        env.emit([sv.symbol("b_create"), sv.address(sender)], u32_vec(ids))
        return u32_vec(ids)

    def _claimable(self, env: Env, s: dict[str, Any]) -> int:
        try:
            return stream_claimable(
                s["total_amount"], s["claimed_amount"], s["start_time"], s["end_time"], env.now
            )
        except ResultErr as exc:
            raise self.err(exc.variant) from None

    def _claimed_after(self, s: dict[str, Any], amount: int) -> int:
        try:
            return claimed_after(s["total_amount"], s["claimed_amount"], amount)
        except ResultErr as exc:
            raise self.err(exc.variant) from None

    def fn_claim(self, env: Env, recipient: str, sid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(recipient)
        s = self.persistent.get(("Stream", sid))
        if s is None:
            raise self.err("StreamNotFound")
        if s["recipient"] != recipient:
            raise self.err("Unauthorized")
        if s["status"] == "Cancelled":
            raise self.err("StreamAlreadyCancelled")
        if s["status"] == "Completed":
            raise self.err("StreamCompleted")
        amount = self._claimable(env, s)
        if amount <= 0:
            raise self.err("NothingToClaim")
        if env.token_balance(s["token"], self.contract_id) < amount:
            raise self.err("InsufficientBalance")
        new = dict(
            s,
            claimed_amount=self._claimed_after(s, amount),
            last_claim_time=min(env.now, s["end_time"]),
        )
        if new["claimed_amount"] >= new["total_amount"]:
            new["status"] = "Completed"
        env.token_transfer(s["token"], self.contract_id, recipient, amount)
        env.set_persistent(("Stream", sid), new)
        i = env.emit([sv.symbol("claim"), sv.address(recipient)], sv.i128(amount))
        env.record({"kind": "claim", "stream_id": sid, "recipient": recipient, "amount": amount}, i)
        return sv.i128(amount)

    def fn_cancel_stream(self, env: Env, sender: str, sid: int) -> xdr.SCVal:
        self._require_init()
        env.require_auth(sender)
        s = self.persistent.get(("Stream", sid))
        if s is None:
            raise self.err("StreamNotFound")
        if s["sender"] != sender:
            raise self.err("Unauthorized")
        if s["status"] == "Cancelled":
            raise self.err("StreamAlreadyCancelled")
        owed = self._claimable(env, s)
        try:
            owed, refund, settlement = cancel_settlement(
                s["total_amount"], s["claimed_amount"], owed
            )
        except ResultErr as exc:
            raise self.err(exc.variant) from None
        if env.token_balance(s["token"], self.contract_id) < settlement:
            raise self.err("InsufficientBalance")
        new = dict(
            s,
            claimed_amount=self._claimed_after(s, owed),
            last_claim_time=min(env.now, s["end_time"]),
            status="Cancelled",
        )
        env.set_persistent(("Stream", sid), new)
        if owed > 0:
            env.token_transfer(s["token"], self.contract_id, s["recipient"], owed)
        if refund > 0:
            env.token_transfer(s["token"], self.contract_id, sender, refund)
        i = env.emit([sv.symbol("cancel"), sv.address(sender)], sv.u32(sid))
        env.record(
            {
                "kind": "cancel",
                "stream_id": sid,
                "sender": sender,
                "paid_to_recipient": owed,
                "refunded": refund,
            },
            i,
        )
        return sv.void()

    def fn_get_stream(self, env: Env, sid: int) -> xdr.SCVal:
        s = self.persistent.get(("Stream", sid))
        if s is None:
            raise self.err("StreamNotFound")
        return self.encode_value(("Stream", sid), s)

    def fn_get_claimable(self, env: Env, sid: int) -> xdr.SCVal:
        s = self.persistent.get(("Stream", sid))
        if s is None:
            raise self.err("StreamNotFound")
        return sv.i128(self._claimable(env, s))

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        if key == "Admin":
            return sv.address(value)
        if key == "StreamCount":
            return sv.u32(value)
        if key[0] in ("SenderStreams", "RecipientStreams"):
            return u32_vec(value)
        s = value
        return sv.struct(
            {
                "id": sv.u32(s["id"]),
                "sender": sv.address(s["sender"]),
                "recipient": sv.address(s["recipient"]),
                "token": sv.address(s["token"]),
                "total_amount": sv.i128(s["total_amount"]),
                "claimed_amount": sv.i128(s["claimed_amount"]),
                "start_time": sv.u64(s["start_time"]),
                "end_time": sv.u64(s["end_time"]),
                "last_claim_time": sv.u64(s["last_claim_time"]),
                "status": sv.enum_unit(s["status"]),
                "rate_per_second": sv.i128(s["rate_per_second"]),
            }
        )

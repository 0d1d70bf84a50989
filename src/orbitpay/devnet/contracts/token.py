"""A minimal SEP-41 token contract (what the OrbitPay contracts move around).

Events follow SEP-41: ``("transfer", from, to) -> i128`` and ``("mint", to) -> i128``.
Storage: ``Admin``, ``Name``, ``Symbol``, ``Decimals`` (instance) and
``Balance(Address) -> i128`` (persistent).
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.base import Contract, Env, admin_checked, error_enum
from orbitpay.stellar import scval as sv


class TokenContract(Contract):
    kind = "token"
    errors = error_enum("InsufficientBalance", "InvalidAmount", "Unauthorized")

    def setup(self, admin: str, name: str, symbol: str, decimals: int = 7) -> None:
        self.instance.update({"Admin": admin, "Name": name, "Symbol": symbol, "Decimals": decimals})

    def balance(self, owner: str) -> int:
        return int(self.persistent.get(("Balance", owner), 0))

    def do_transfer(self, env: Env, from_: str, to: str, amount: int) -> None:
        if amount < 0:
            raise self.err("InvalidAmount")
        env.require_auth(from_)
        bal = self.balance(from_)
        if bal < amount:
            raise self.err("InsufficientBalance")
        env.set_persistent(("Balance", from_), bal - amount)
        env.set_persistent(("Balance", to), self.balance(to) + amount)
        env.emit([sv.symbol("transfer"), sv.address(from_), sv.address(to)], sv.i128(amount))

    def fn_mint(self, env: Env, to: str, amount: int) -> xdr.SCVal:
        admin_checked(env, self, self.instance["Admin"])
        if amount < 0:
            raise self.err("InvalidAmount")
        env.set_persistent(("Balance", to), self.balance(to) + amount)
        env.emit([sv.symbol("mint"), sv.address(to)], sv.i128(amount))
        return sv.void()

    def fn_transfer(self, env: Env, from_: str, to: str, amount: int) -> xdr.SCVal:
        self.do_transfer(env, from_, to, amount)
        return sv.void()

    def fn_balance(self, env: Env, owner: str) -> xdr.SCVal:
        return sv.i128(self.balance(owner))

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        if key == "Admin":
            return sv.address(value)
        if key in ("Name", "Symbol"):
            return sv.string(value)
        if key == "Decimals":
            return sv.u32(value)
        return sv.i128(value)

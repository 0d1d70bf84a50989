"""A small "multicall" router: ``exec(caller, contract, function, args)``.

It requires ``caller``'s authorization and forwards the call, so the OrbitPay
call is not the transaction's top-level host function: it only appears as a
sub-invocation in the authorization tree (``root = router.exec``,
``sub_invocations = [orbitpay call]``). The router emits no events.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr

from orbitpay.devnet.contracts.base import Contract, ContractError, Env
from orbitpay.stellar.scval import decode_scval


class RouterContract(Contract):
    kind = "router"

    def invoke(self, env: Env, function: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        if function != "exec" or len(args) != 4:
            raise ContractError(0, f"WasmVm(MissingValue): no function {function}")
        caller = decode_scval(args[0])
        env.require_auth(caller)
        target = decode_scval(args[1])
        fn = decode_scval(args[2])
        inner = list(args[3].vec.sc_vec) if args[3].vec is not None else []
        return env.call(target, fn, inner)

    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        raise KeyError(key)

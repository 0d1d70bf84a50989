"""The execution model shared by the simulated contracts.

A contract keeps its storage as Python values: ``instance`` (unit ``DataKey``
name -> value, stored inside the contract instance entry) and ``persistent``
(``DataKey`` tuple such as ``("Stream", 3)`` -> value, one ledger entry each).
Each contract knows how to encode its values as ``#[contracttype]`` ScVals
(:meth:`Contract.encode_value`).

A call runs inside an :class:`Env` bound to one transaction. Every write goes
through the env's journal, so a failing call (a :class:`ContractError` or an
auth failure) is rolled back completely: no state change and no events, like a
trapped host function on the real network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stellar_sdk import xdr

from orbitpay.stellar import scval as sv

if TYPE_CHECKING:
    from orbitpay.devnet.chain import Chain

_MISSING = object()


class ContractError(Exception):
    """A contract returned ``Err(code)``: the transaction fails."""

    def __init__(self, code: int, name: str) -> None:
        super().__init__(name)
        self.code = code
        self.name = name


class AuthError(ContractError):
    """``require_auth`` failed: no authorization entry (or source account) for the address."""

    def __init__(self, address: str) -> None:
        super().__init__(0, f"Auth(InvalidAction): {address} did not authorize")


def error_enum(*names: str) -> dict[str, ContractError]:
    """``#[contracterror]`` enum: variants numbered from 1 in declaration order."""
    return {n: ContractError(i, n) for i, n in enumerate(names, start=1)}


def key_to_scval(key: tuple[Any, ...] | str) -> xdr.SCVal:
    """A ``DataKey`` variant: unit (``"Admin"``) or tuple (``("Stream", 3)``)."""
    if isinstance(key, str):
        return sv.enum_unit(key)
    name, *args = key
    enc: list[xdr.SCVal] = []
    for a in args:
        if isinstance(a, int):
            enc.append(sv.u32(a))
        elif isinstance(a, str):
            enc.append(sv.address(a))
        else:  # pragma: no cover - contracts only key by u32 or Address
            raise TypeError(f"unsupported DataKey argument {a!r}")
    return sv.enum_tuple(name, *enc)


@dataclass
class TxContext:
    """Per-transaction scratch: who authorized, the events, the undo log, the history."""

    source: str
    authorized: set[str]
    events: list[tuple[str, list[xdr.SCVal], xdr.SCVal]] = field(default_factory=list)
    undo: list[tuple[dict[Any, Any], Any, Any]] = field(default_factory=list)
    touched: list[tuple[Contract, Any]] = field(default_factory=list)
    history: list[tuple[Contract, dict[str, Any], int | None]] = field(default_factory=list)

    def rollback(self) -> None:
        for container, key, old in reversed(self.undo):
            if old is _MISSING:
                container.pop(key, None)
            else:
                container[key] = old
        self.undo.clear()
        self.events.clear()
        self.history.clear()
        self.touched.clear()


class Env:
    """What a contract function sees: ledger time, auth, storage writes, events, other contracts."""

    def __init__(
        self, chain: Chain, contract: Contract, tx: TxContext, invoker: str | None = None
    ) -> None:
        self.chain = chain
        self.contract = contract
        self.tx = tx
        # A contract calling another one authorizes its own address implicitly.
        self.invoker = invoker

    @property
    def address(self) -> str:
        return self.contract.contract_id

    @property
    def now(self) -> int:
        return self.chain.now

    def require_auth(self, address: str) -> None:
        if address != self.invoker and address not in self.tx.authorized:
            raise AuthError(address)

    # storage ------------------------------------------------------------------
    def _write(self, container: dict[Any, Any], key: Any, value: Any) -> None:
        self.tx.undo.append((container, key, container.get(key, _MISSING)))
        container[key] = value
        self.tx.touched.append((self.contract, key))

    def set_instance(self, key: str, value: Any) -> None:
        self._write(self.contract.instance, key, value)

    def set_persistent(self, key: tuple[Any, ...], value: Any) -> None:
        self._write(self.contract.persistent, key, value)

    # events and history -----------------------------------------------------
    def emit(self, topics: list[xdr.SCVal], data: xdr.SCVal) -> int:
        self.tx.events.append((self.address, topics, data))
        return len(self.tx.events) - 1

    def record(self, entry: dict[str, Any], event_index: int | None = None) -> None:
        """History for the state dump (kept only if the transaction succeeds)."""
        self.tx.history.append((self.contract, entry, event_index))

    # tokens -----------------------------------------------------------------
    def token_balance(self, token: str, owner: str) -> int:
        return self.chain.token(token).balance(owner)

    def token_transfer(self, token: str, from_: str, to: str, amount: int) -> None:
        tok = self.chain.token(token)
        tok.do_transfer(Env(self.chain, tok, self.tx, self.address), from_, to, amount)

    def call(self, contract: str, function: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        target = self.chain.contract(contract)
        return target.invoke(Env(self.chain, target, self.tx, self.address), function, args)


Handler = Callable[..., xdr.SCVal]


class Contract:
    """Base of the simulated contracts: storage, dispatch and ScVal encoding."""

    kind = "contract"
    errors: dict[str, ContractError] = {}

    def __init__(self, contract_id: str, wasm_hash: bytes) -> None:
        self.contract_id = contract_id
        self.wasm_hash = wasm_hash
        self.instance: dict[str, Any] = {}
        self.persistent: dict[tuple[Any, ...], Any] = {}
        self.modified: dict[Any, int] = {}
        self.instance_modified = 0
        self.history: list[dict[str, Any]] = []

    def err(self, name: str) -> ContractError:
        return self.errors[name]

    def _require_init(self) -> None:
        """Every OrbitPay contract refuses calls before ``initialize`` (``NotInitialized``)."""
        if "Admin" not in self.instance:
            raise self.err("NotInitialized")

    def _refuse_reinit(self) -> None:
        """``initialize`` runs once (``AlreadyInitialized``)."""
        if "Admin" in self.instance:
            raise self.err("AlreadyInitialized")

    def invoke(self, env: Env, function: str, args: list[xdr.SCVal]) -> xdr.SCVal:
        handler = getattr(self, f"fn_{function}", None)
        if handler is None:
            raise ContractError(0, f"WasmVm(MissingValue): no function {function}")
        decoded = [sv.decode_scval(a) for a in args]
        try:
            result: xdr.SCVal = handler(env, *decoded)
        except TypeError as exc:  # wrong arity / argument shape
            raise ContractError(0, f"WasmVm(UnexpectedType): {exc}") from exc
        return result

    # ScVal encodings of the stored values ----------------------------------
    def encode_value(self, key: tuple[Any, ...] | str, value: Any) -> xdr.SCVal:
        raise NotImplementedError

    def instance_storage(self) -> list[tuple[xdr.SCVal, xdr.SCVal]]:
        # Instance keys are all unit variants: Vec[Symbol]; the host orders them by symbol.
        return [
            (key_to_scval(k), self.encode_value(k, self.instance[k])) for k in sorted(self.instance)
        ]


def admin_checked(env: Env, contract: Contract, admin: str, err: str = "Unauthorized") -> None:
    if contract.instance.get("Admin") != admin:
        raise contract.err(err)
    env.require_auth(admin)


def addr_vec(items: list[str]) -> xdr.SCVal:
    return sv.vec([sv.address(a) for a in items])


def u32_vec(items: list[int]) -> xdr.SCVal:
    return sv.vec([sv.u32(i) for i in items])

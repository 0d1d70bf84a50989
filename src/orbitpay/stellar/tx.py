"""A transaction's context: which contract functions it called, with what, and what came back.

Events are thin, so the indexer reads each event's transaction:

- the envelope's ``InvokeHostFunction`` operation gives the top-level call
  (contract, function, arguments);
- its ``SorobanAuthorizationEntry`` trees give the calls made *through* other
  contracts (every OrbitPay function ``require_auth`` s its caller, so each
  such call appears there as a sub-invocation with its arguments);
- the result meta gives the top-level call's return value (meta v3:
  ``SorobanTransactionMeta.returnValue``; meta v4: ``SorobanTransactionMetaV2``)
  and the contract events per operation (used to line up the n-th event of a
  kind with the n-th call of that function when one transaction calls the same
  function more than once).

Decoding the meta is the most expensive step, so it is lazy (only events
whose identifier is nowhere but in the return value, ``v_create``, or that
need ordering pay for it), done at most once per transaction, and narrow:
:mod:`orbitpay.stellar.metaread` steps over the ledger entry changes that
make up most of a real meta and decodes only the return value and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import StrKey, xdr

from orbitpay.stellar.fastxdr import Unsupported, envelope_calls_fast
from orbitpay.stellar.metaread import NO_VALUE, UNREADABLE, read_event, read_meta
from orbitpay.stellar.scval import decode_scval

_UNSET: Any = object()


class TxDecodeError(ValueError):
    """The transaction's XDR could not be read."""


@dataclass(slots=True)
class Call:
    """One contract invocation found in a transaction."""

    contract: str
    function: str
    args: list[Any]
    top_level: bool


@dataclass(slots=True)
class ContractEventRef:
    """A contract event from the meta, reduced to what ordering needs."""

    contract: str
    topic0: Any
    op_index: int
    index: int
    # Its place in the meta-v3 diagnostic events, when core emitted them: the event
    # index a protocol-22 RPC put in the event id (see ``RawEvent.legacy_ids``).
    diag_index: int | None = None

    def matches_id(self, op_index: int, event_index: int | None, legacy: bool) -> bool:
        """Is this the event whose ``getEvents`` id ends in ``event_index``?"""
        if legacy and self.diag_index is not None:
            return (0, self.diag_index) == (op_index, event_index)
        return (self.op_index, self.index) == (op_index, event_index)


@dataclass
class TxContext:
    """Everything the projections need from one transaction."""

    hash: str
    successful: bool
    ledger: int | None
    calls: list[Call]
    result_meta_xdr: str = ""
    contract_events_xdr: list[list[str]] | None = None
    _return_value: Any = field(default=_UNSET, repr=False)
    _events: list[ContractEventRef] | None = field(default=None, repr=False)
    _meta_read: bool = field(default=False, repr=False)

    def calls_to(self, contract: str, function: str) -> list[Call]:
        return [c for c in self.calls if c.contract == contract and c.function == function]

    @property
    def top_call(self) -> Call | None:
        for c in self.calls:
            if c.top_level:
                return c
        return None

    @property
    def return_value(self) -> Any:
        """The top-level call's decoded return value (None when absent or unreadable)."""
        if self._return_value is _UNSET:
            self._decode_meta()
        return None if self._return_value is _UNSET else self._return_value

    @property
    def has_return_value(self) -> bool:
        if self._return_value is _UNSET:
            self._decode_meta()
        return self._return_value is not _UNSET

    def contract_events(self) -> list[ContractEventRef]:
        """The transaction's contract events in emission order (from ``events`` or the meta)."""
        if self._events is None:
            if self.contract_events_xdr is not None:
                self._events = _events_from_lists(self.contract_events_xdr)
            else:
                self._decode_meta()
        return self._events or []

    def _decode_meta(self) -> None:
        """Read the meta once (:mod:`orbitpay.stellar.metaread`): return value and events."""
        if self._meta_read:
            return
        self._meta_read = True
        view = read_meta(self.result_meta_xdr) if self.result_meta_xdr else None
        if view is None:
            self._events = self._events or []
            return
        if view.return_value is not NO_VALUE and view.return_value is not UNREADABLE:
            self._return_value = view.return_value
        if self._events is None:
            refs = [
                ContractEventRef(e.contract, e.topic0, e.op_index, e.index) for e in view.events
            ]
            for ref, pos in zip(refs, view.diag_positions, strict=False):
                ref.diag_index = pos
            self._events = refs


def _events_from_lists(lists: list[list[str]]) -> list[ContractEventRef]:
    out: list[ContractEventRef] = []
    for op_index, events in enumerate(lists):
        for i, raw in enumerate(events or []):
            ref = read_event(raw, op_index, i)
            if ref is not None:
                out.append(ContractEventRef(ref.contract, ref.topic0, op_index, i))
    return out


def _address(a: xdr.SCAddress) -> str:
    if a.type == xdr.SCAddressType.SC_ADDRESS_TYPE_CONTRACT and a.contract_id is not None:
        return StrKey.encode_contract(a.contract_id.contract_id.hash)
    return str(decode_scval(xdr.SCVal(xdr.SCValType.SCV_ADDRESS, address=a)))


def _call(args: xdr.InvokeContractArgs, top_level: bool) -> Call:
    return Call(
        contract=_address(args.contract_address),
        function=args.function_name.sc_symbol.decode(errors="replace"),
        args=[decode_scval(a) for a in args.args],
        top_level=top_level,
    )


def _walk(inv: xdr.SorobanAuthorizedInvocation, out: list[Call]) -> None:
    fn = inv.function
    if (
        fn.type == xdr.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN
        and fn.contract_fn is not None
    ):
        out.append(_call(fn.contract_fn, top_level=False))
    for sub in inv.sub_invocations:
        _walk(sub, out)


def envelope_calls(envelope: xdr.TransactionEnvelope) -> list[Call]:
    """The top-level contract calls, then every authorized (sub-)invocation, de-duplicated."""
    if envelope.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP:
        assert envelope.fee_bump is not None
        inner = envelope.fee_bump.tx.inner_tx.v1
        operations = inner.tx.operations if inner is not None else []
    elif envelope.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX and envelope.v1 is not None:
        operations = envelope.v1.tx.operations
    else:
        operations = []
    top: list[Call] = []
    nested: list[Call] = []
    for op in operations:
        ihf = op.body.invoke_host_function_op
        if op.body.type != xdr.OperationType.INVOKE_HOST_FUNCTION or ihf is None:
            continue
        hf = ihf.host_function
        if (
            hf.type == xdr.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT
            and hf.invoke_contract is not None
        ):
            top.append(_call(hf.invoke_contract, top_level=True))
        for entry in ihf.auth:
            _walk(entry.root_invocation, nested)
    return dedupe(top + nested)


def dedupe(calls: list[Call]) -> list[Call]:
    """Drop repeated invocations (the top-level call usually reappears as an auth root)."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Call] = []
    for c in calls:
        key = (c.contract, c.function, repr(c.args))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def parse_tx(
    tx_hash: str,
    status: str,
    ledger: int | None,
    envelope_xdr: str,
    result_meta_xdr: str,
    contract_events_xdr: list[list[str]] | None = None,
) -> TxContext:
    """Build a :class:`TxContext`; raises :class:`TxDecodeError` on unreadable XDR."""
    try:
        fast = envelope_calls_fast(envelope_xdr)
        calls = dedupe([Call(c, f, a, top) for c, f, a, top in fast])
    except Unsupported:
        try:
            envelope = xdr.TransactionEnvelope.from_xdr(envelope_xdr)
            calls = envelope_calls(envelope)
        except Exception as exc:
            raise TxDecodeError(f"transaction {tx_hash}: unreadable envelope: {exc}") from None
    return TxContext(
        hash=tx_hash,
        successful=status.upper() == "SUCCESS",
        ledger=ledger,
        calls=calls,
        result_meta_xdr=result_meta_xdr,
        contract_events_xdr=contract_events_xdr,
    )

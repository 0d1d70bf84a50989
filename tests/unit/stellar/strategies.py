"""Hypothesis strategies for Stellar XDR: SCVals, contract events, ledger entry changes, metas.

Shared by the walker (``xdrskip``), meta reader (``metaread``) and event decoder tests; each
strategy builds stellar-sdk objects so the tests can compare a narrow reader with the SDK.
"""

from __future__ import annotations

import hashlib

from hypothesis import strategies as st
from stellar_sdk import StrKey, xdr

from orbitpay.devnet import xdr as dx
from orbitpay.stellar import scval as sv

_T = xdr.LedgerEntryChangeType
contract_ids = st.binary(min_size=32, max_size=32).map(StrKey.encode_contract)
account_ids = st.binary(min_size=32, max_size=32).map(StrKey.encode_ed25519_public_key)

_leaves = st.one_of(
    st.booleans().map(lambda b: xdr.SCVal(xdr.SCValType.SCV_BOOL, b=b)),
    st.just(sv.void()),
    st.integers(0, 2**32 - 1).map(sv.u32),
    st.integers(0, 2**64 - 1).map(sv.u64),
    st.integers(-(2**63), 2**63 - 1).map(
        lambda v: xdr.SCVal(xdr.SCValType.SCV_I64, i64=xdr.Int64(v))
    ),
    st.integers(-(2**127), 2**127 - 1).map(sv.i128),
    st.integers(0, 2**128 - 1).map(sv.u128),
    st.binary(max_size=70).map(lambda b: xdr.SCVal(xdr.SCValType.SCV_BYTES, bytes=xdr.SCBytes(b))),
    st.text(max_size=40).map(sv.string),
    st.from_regex(r"[a-z_]{1,20}", fullmatch=True).map(sv.symbol),
    contract_ids.map(sv.address),
    account_ids.map(sv.address),
    st.integers(0, 50).map(
        lambda c: xdr.SCVal(
            xdr.SCValType.SCV_ERROR,
            error=xdr.SCError(xdr.SCErrorType.SCE_CONTRACT, contract_code=xdr.Uint32(c)),
        )
    ),
    st.just(xdr.SCVal(xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE)),
)

scvals = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(sv.vec),
        st.lists(st.tuples(inner, inner), max_size=3).map(
            lambda kv: xdr.SCVal(
                xdr.SCValType.SCV_MAP,
                map=xdr.SCMap([xdr.SCMapEntry(key=k, val=v) for k, v in kv]),
            )
        ),
    ),
    max_leaves=12,
)


@st.composite
def contract_events(draw: st.DrawFn) -> xdr.ContractEvent:
    with_id = draw(st.integers(0, 9)) > 0
    return xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=xdr.ContractID(xdr.Hash(draw(st.binary(min_size=32, max_size=32))))
        if with_id
        else None,
        type=draw(st.sampled_from(list(xdr.ContractEventType))),
        body=xdr.ContractEventBody(
            0,
            v0=xdr.ContractEventV0(topics=draw(st.lists(scvals, max_size=4)), data=draw(scvals)),
        ),
    )


@st.composite
def entry_changes(draw: st.DrawFn) -> list[xdr.LedgerEntryChange]:
    """Contract data (with its TTL) and account changes, as a full meta carries them."""
    out: list[xdr.LedgerEntryChange] = []
    for _ in range(draw(st.integers(0, 3))):
        cid, key = draw(contract_ids), draw(scvals)
        seq = draw(st.integers(1, 2**31))
        ledger_key = dx.contract_data_key(cid, key)
        data = dx.ledger_entry(dx.contract_data_entry(cid, key, draw(scvals)), seq)
        ttl = dx.ttl_entry(ledger_key, seq + 100, seq)
        kind = draw(st.sampled_from(["pair", "created", "removed", "restored"]))
        if kind == "pair":
            out += dx.state_updated(data, data) + dx.state_updated(ttl, ttl)
        elif kind == "created":
            out += [dx.created(data), dx.created(ttl)]
        elif kind == "restored":
            out.append(
                xdr.LedgerEntryChange(
                    xdr.LedgerEntryChangeType.LEDGER_ENTRY_RESTORED, restored=data
                )
            )
        else:
            out.append(
                xdr.LedgerEntryChange(
                    xdr.LedgerEntryChangeType.LEDGER_ENTRY_REMOVED, removed=ledger_key
                )
            )
    if draw(st.booleans()):
        raw = hashlib.sha256(draw(st.binary(max_size=8))).digest()
        balance, seq_num = draw(st.integers(0, 2**62)), draw(st.integers(0, 2**62))
        out += dx.state_updated(
            dx.account_entry(raw, balance, seq_num, 5),
            dx.account_entry(raw, balance, seq_num + 1, 6),
        )
    return out


def _changes(draw: st.DrawFn) -> xdr.LedgerEntryChanges:
    return xdr.LedgerEntryChanges(draw(entry_changes()))


@st.composite
def metas(draw: st.DrawFn, version: int) -> xdr.TransactionMeta:
    """A ``TransactionMeta`` v3 or v4 with random changes, events and return value."""
    ext = draw(st.sampled_from([None, (1, 2, 3)]))
    soroban_ext = dx._soroban_ext(ext)
    n_ops = draw(st.integers(0, 2))
    if version == 4:
        tx_events = [
            xdr.TransactionEvent(
                stage=draw(st.sampled_from(list(xdr.TransactionEventStage))),
                event=draw(contract_events()),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        soroban = (
            xdr.SorobanTransactionMetaV2(ext=soroban_ext, return_value=draw(st.none() | scvals))
            if draw(st.booleans())
            else None
        )
        return xdr.TransactionMeta(
            4,
            v4=xdr.TransactionMetaV4(
                ext=xdr.ExtensionPoint(0),
                tx_changes_before=_changes(draw),
                operations=[
                    xdr.OperationMetaV2(
                        ext=xdr.ExtensionPoint(0),
                        changes=_changes(draw),
                        events=draw(st.lists(contract_events(), max_size=3)),
                    )
                    for _ in range(n_ops)
                ],
                tx_changes_after=_changes(draw),
                soroban_meta=soroban,
                events=tx_events,
                diagnostic_events=[
                    xdr.DiagnosticEvent(in_successful_contract_call=draw(st.booleans()), event=e)
                    for e in draw(st.lists(contract_events(), max_size=2))
                ],
            ),
        )
    events = draw(st.lists(contract_events(), max_size=3))
    diagnostics = [
        xdr.DiagnosticEvent(in_successful_contract_call=draw(st.booleans()), event=e)
        for e in draw(st.lists(contract_events(), max_size=4))
    ]
    if draw(st.booleans()):  # the usual shape: every contract event again among diagnostics
        diagnostics = [
            xdr.DiagnosticEvent(in_successful_contract_call=True, event=e) for e in events
        ]
    return xdr.TransactionMeta(
        3,
        v3=xdr.TransactionMetaV3(
            ext=xdr.ExtensionPoint(0),
            tx_changes_before=_changes(draw),
            operations=[xdr.OperationMeta(changes=_changes(draw)) for _ in range(n_ops)],
            tx_changes_after=_changes(draw),
            soroban_meta=xdr.SorobanTransactionMeta(
                ext=soroban_ext,
                events=events,
                return_value=draw(scvals),
                diagnostic_events=diagnostics,
            )
            if draw(st.integers(0, 4))
            else None,
        ),
    )

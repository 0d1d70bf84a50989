"""The XDR walkers against stellar-sdk: same end positions, and the same rows as a full decode."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import xdr
from tests.unit.stellar.strategies import scvals
from xdrlib3 import Unpacker

from orbitpay.devnet.lake import ledger_close_meta_batch
from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar import ledgermeta
from orbitpay.stellar.datalake import decompress
from orbitpay.stellar.ledgermeta import _tx_events, decode_batch
from orbitpay.stellar.xdrskip import (
    Unsupported,
    skip_changes,
    skip_contract_event,
    skip_scval,
    skip_transaction_meta,
)

FIXTURE = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pubnet-53312000.xdr.zstd"
PUBNET = "Public Global Stellar Network ; September 2015"
ORACLE = "CALI2BYU2JE6WVRUFYTS6MSBNEHGJ35P4AVCZYF3B6QOE3QKOB2PLE6M"


@settings(max_examples=300)
@given(value=scvals, prefix=st.binary(max_size=8).map(lambda b: b[: len(b) // 4 * 4]))
def test_skip_scval_ends_where_the_value_ends(value: xdr.SCVal, prefix: bytes) -> None:
    packed = value.to_xdr_bytes()
    assert skip_scval(prefix + packed + b"\x00" * 8, len(prefix)) == len(prefix) + len(packed)


# Long vectors of one fixed-size arm take the strided fast path; one odd element, or
# a vector of another shape, must take the element-by-element walk and still end right.
_FIXED_ARMS = st.sampled_from(
    [
        lambda i: xdr.SCVal(xdr.SCValType.SCV_U32, u32=xdr.Uint32(i)),
        lambda i: xdr.SCVal(xdr.SCValType.SCV_U64, u64=xdr.Uint64(i)),
        lambda i: xdr.SCVal(xdr.SCValType.SCV_BOOL, b=bool(i % 2)),
        lambda i: xdr.SCVal(xdr.SCValType.SCV_VOID),
        lambda i: xdr.SCVal(
            xdr.SCValType.SCV_I128,
            i128=xdr.Int128Parts(hi=xdr.Int64(-1), lo=xdr.Uint64(i)),
        ),
    ]
)


@settings(max_examples=200)
@given(
    arm=_FIXED_ARMS,
    n=st.integers(0, 300),
    odd=st.one_of(st.none(), st.tuples(st.integers(0, 299), scvals)),
    nested=st.booleans(),
)
def test_long_vectors_of_one_arm_end_where_they_end(
    arm: object, n: int, odd: tuple[int, xdr.SCVal] | None, nested: bool
) -> None:
    items = [arm(i) for i in range(n)]  # type: ignore[operator]
    if odd is not None and n:
        items[odd[0] % n] = odd[1]
    value = xdr.SCVal(xdr.SCValType.SCV_VEC, vec=xdr.SCVec(items))
    if nested:  # inside a map, after a key, before another entry
        sym = xdr.SCVal(xdr.SCValType.SCV_SYMBOL, sym=xdr.SCSymbol(b"ids"))
        value = xdr.SCVal(
            xdr.SCValType.SCV_MAP,
            map=xdr.SCMap([xdr.SCMapEntry(sym, value), xdr.SCMapEntry(value, sym)]),
        )
    packed = value.to_xdr_bytes()
    assert skip_scval(packed + b"\x00" * 8, 0) == len(packed)
    # A truncated vector is refused, never read past the end.
    if len(packed) > 16:
        with pytest.raises(Unsupported):
            skip_scval(packed[: len(packed) - 4], 0)


@given(topics=st.lists(scvals, max_size=4), data=scvals, with_id=st.booleans())
def test_skip_contract_event(topics: list[xdr.SCVal], data: xdr.SCVal, with_id: bool) -> None:
    event = xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=xdr.ContractID(xdr.Hash(b"\x03" * 32)) if with_id else None,
        type=xdr.ContractEventType.CONTRACT,
        body=xdr.ContractEventBody(0, v0=xdr.ContractEventV0(topics=topics, data=data)),
    )
    packed = event.to_xdr_bytes()
    assert skip_contract_event(packed, 0) == len(packed)


def test_unknown_arms_are_refused_not_guessed() -> None:
    with pytest.raises(Unsupported):
        skip_scval(b"\x00\x00\x00\x63" + b"\x00" * 8, 0)  # SCVal type 99
    with pytest.raises(Unsupported):
        skip_changes(b"\x00\x00\x00\x01\x00\x00\x00\x09", 0)  # LedgerEntryChangeType 9


def test_pubnet_metas_and_fee_changes_walk_to_stellar_sdk_positions() -> None:
    batch = xdr.LedgerCloseMetaBatch.from_xdr_bytes(decompress(FIXTURE.read_bytes(), "f"))
    v1 = batch.ledger_close_metas[0].v1
    assert v1 is not None
    kinds: Counter[str] = Counter()
    for trm in v1.tx_processing:
        fee = trm.fee_processing.to_xdr_bytes()
        assert skip_changes(fee, 0) == len(fee)
        meta = trm.tx_apply_processing.to_xdr_bytes()
        assert skip_transaction_meta(meta, 0) == (len(meta), [])
        m3 = trm.tx_apply_processing.v3
        assert m3 is not None
        lists = [m3.tx_changes_before, m3.tx_changes_after, *(op.changes for op in m3.operations)]
        for changes in [trm.fee_processing, *lists]:
            for ch in changes.ledger_entry_changes:
                entry = ch.state or ch.updated or ch.created
                if entry is not None:
                    kinds[entry.data.type.name] += 1
    # the walkers for these entry types were exercised on real data
    assert {"ACCOUNT", "TRUSTLINE", "OFFER", "CONTRACT_DATA", "TTL"} <= set(kinds), kinds


@pytest.mark.parametrize("meta_version", [4, 3])
def test_devnet_metas_walk_to_their_end(meta_version: int) -> None:
    """Every devnet meta (events, return values, storage changes) is walked, not decoded."""
    chain = build_chain("demo", seed=4, meta_version=meta_version, ledger_changes=True)
    stages = 0
    for tx in chain.txs.values():
        meta = base64.b64decode(tx.meta_xdr)
        end, found = skip_transaction_meta(meta, 0)
        assert end == len(meta)
        assert found == [
            e.stage.value for e in _tx_events(xdr.TransactionMeta.from_xdr_bytes(meta))
        ]
        stages += len(found)
    assert (stages > 0) == (meta_version == 4)


@pytest.mark.parametrize("meta_version", [4, 3])
def test_fast_and_full_decoding_give_the_same_rows(meta_version: int) -> None:
    chain = build_chain("demo", seed=4, meta_version=meta_version, ledger_changes=True)
    watch = {c for o in chain.organizations() for c in o["contracts"].values()}
    for seq in sorted(chain.ledgers):
        batch = ledger_close_meta_batch(chain, seq, seq)
        for w in (watch, None):
            fast = decode_batch(batch, chain.network_passphrase, w)
            full = decode_batch(batch, chain.network_passphrase, w, fast=False)
            assert [(d.events, d.storage_changes, d.tx_hashes) for d in fast] == [
                (d.events, d.storage_changes, d.tx_hashes) for d in full
            ]
            assert {h: (c.calls, c.return_value) for h, c in fast[0].transactions.items()} == {
                h: (c.calls, c.return_value) for h, c in full[0].transactions.items()
            }


def test_fast_and_full_decoding_agree_on_pubnet() -> None:
    data = decompress(FIXTURE.read_bytes(), "f")
    for w in ({ORACLE}, None):
        [fast] = decode_batch(data, PUBNET, w)
        [full] = decode_batch(data, PUBNET, w, fast=False)
        assert fast.tx_hashes == full.tx_hashes and fast.storage_changes == full.storage_changes
        assert set(fast.transactions) == set(full.transactions)


def test_decoding_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fallback on the shapes the project meets: pubnet p21, devnet meta v3 and v4."""
    real = ledgermeta._ledger

    def fast_only(u: Unpacker, buf: bytes, fast: bool) -> object:
        assert fast, "fell back to the full decode"
        return real(u, buf, fast)

    monkeypatch.setattr(ledgermeta, "_ledger", fast_only)
    decode_batch(decompress(FIXTURE.read_bytes(), "f"), PUBNET, {ORACLE})
    for meta_version in (3, 4):
        chain = build_chain(
            "load", 1, organizations=1, events=60, meta_version=meta_version, ledger_changes=True
        )
        seq = max(chain.ledgers, key=lambda s: len(chain.ledgers[s].txs))
        decode_batch(ledger_close_meta_batch(chain, seq, seq), chain.network_passphrase, set())

"""The narrow meta reader against stellar-sdk: the same view of every meta, fast or not."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stellar_sdk import xdr
from tests.unit.stellar.strategies import contract_events, metas

from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar import ledgermeta, metaread, xdrskip
from orbitpay.stellar.datalake import decompress
from orbitpay.stellar.metaread import NO_VALUE, read_event, read_meta, storage_changes, view_of

FIXTURE = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pubnet-53312000.xdr.zstd"


def _same(packed: bytes) -> metaread.MetaView | None:
    view = read_meta(packed)
    assert view == view_of(xdr.TransactionMeta.from_xdr_bytes(packed))
    assert read_meta(base64.b64encode(packed).decode()) == view
    return view


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(meta=metas(4))
def test_v4_metas_read_as_stellar_sdk_reads_them(meta: xdr.TransactionMeta) -> None:
    _same(meta.to_xdr_bytes())


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(meta=metas(3))
def test_v3_metas_read_as_stellar_sdk_reads_them(meta: xdr.TransactionMeta) -> None:
    _same(meta.to_xdr_bytes())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(event=contract_events())
def test_events_read_as_stellar_sdk_reads_them(event: xdr.ContractEvent) -> None:
    packed = event.to_xdr_bytes()
    want = metaread.event_ref(event, 1, 2)
    assert read_event(packed, 1, 2) == want
    assert read_event(base64.b64encode(packed).decode(), 1, 2) == want


@pytest.mark.parametrize("meta_version", [4, 3])
@pytest.mark.parametrize("metas_kind", ["full", "thin"])
def test_devnet_metas_take_the_fast_path(meta_version: int, metas_kind: str) -> None:
    chain = build_chain("demo", seed=3, meta_version=meta_version, metas=metas_kind)
    with_value = 0
    for tx in chain.txs.values():
        packed = base64.b64decode(tx.meta_xdr)
        fast = metaread._fast(packed)  # no fallback: the devnet's shapes are all handled
        assert fast == view_of(xdr.TransactionMeta.from_xdr_bytes(packed))
        with_value += fast.return_value is not NO_VALUE
        assert len(fast.events) == (len(tx.contract_events) if tx.success else 0)
    assert with_value > 0


def test_pubnet_metas_read_as_stellar_sdk_reads_them() -> None:
    batch = xdr.LedgerCloseMetaBatch.from_xdr_bytes(decompress(FIXTURE.read_bytes(), "f"))
    v1 = batch.ledger_close_metas[0].v1
    assert v1 is not None
    soroban = 0
    for trm in v1.tx_processing:
        view = _same(trm.tx_apply_processing.to_xdr_bytes())
        assert view is not None
        soroban += view.return_value is not NO_VALUE
    assert soroban > 0


def test_unreadable_and_unknown_shapes() -> None:
    assert read_meta(b"\x00\x00\x00\x04\x00") is None  # truncated, and stellar-sdk agrees
    assert read_meta("not base64!") is None
    # an older meta version goes the slow way and still gives a view
    v2 = xdr.TransactionMeta(
        2,
        v2=xdr.TransactionMetaV2(
            tx_changes_before=xdr.LedgerEntryChanges([]),
            operations=[],
            tx_changes_after=xdr.LedgerEntryChanges([]),
        ),
    )
    assert read_meta(v2.to_xdr_bytes()) == metaread.MetaView(2)
    # trailing bytes: the fast path refuses them, and so does stellar-sdk
    meta = xdr.TransactionMeta.from_xdr(build_chain("demo", seed=3).txs.popitem()[1].meta_xdr)
    packed = meta.to_xdr_bytes()
    with pytest.raises(xdrskip.Unsupported):
        metaread._fast(packed + b"\x00" * 4)
    with pytest.raises(ValueError):
        xdr.TransactionMeta.from_xdr_bytes(packed + b"\x00" * 4)
    assert read_meta(packed + b"\x00" * 4) is None
    assert read_meta(packed) is not None


def _sdk_changes(packed: bytes, watch: set[str] | None) -> list[ledgermeta.StorageChange]:
    meta = xdr.TransactionMeta.from_xdr_bytes(packed)
    return [
        c
        for op, changes in ledgermeta._change_groups(meta)
        for c in ledgermeta._storage_changes(changes, watch, (7, "ab" * 32, 3, op))
    ]


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(meta=metas(4) | metas(3), pick=st.integers(0, 3))
def test_storage_changes_read_as_the_archive_reads_them(
    meta: xdr.TransactionMeta, pick: int
) -> None:
    packed = meta.to_xdr_bytes()
    everything = _sdk_changes(packed, None)
    contracts = sorted({c.contract_id for c in everything})
    for watch in (None, set(contracts[:pick]), {"C" + "A" * 55}):
        want = _sdk_changes(packed, watch)
        assert storage_changes(packed, watch, 7, "ab" * 32, 3) == want


def test_devnet_storage_changes_take_the_fast_path() -> None:
    chain = build_chain("demo", seed=3)
    watch = set(list(chain.contracts)[:6])
    total = 0
    for tx in chain.txs.values():
        packed = base64.b64decode(tx.meta_xdr)
        lists = metaread._change_lists(packed)  # no fallback on the devnet's metas
        fast = [
            c
            for op, pos in lists
            for c in metaread._data_changes(packed, pos, watch, (1, tx.hash, tx.order, op))
        ]
        assert fast == [
            c
            for op, changes in ledgermeta._change_groups(xdr.TransactionMeta.from_xdr_bytes(packed))
            for c in ledgermeta._storage_changes(changes, watch, (1, tx.hash, tx.order, op))
        ]
        total += len(fast)
    assert total > 50


def _sdk_spans(meta: xdr.TransactionMeta) -> metaread.EventSpans:
    """The spans as stellar-sdk's objects give them (packed back to XDR)."""
    return metaread.EventSpans(
        per_op=[[e.to_xdr_bytes() for e in evs] for evs in ledgermeta._operation_events(meta)],
        tx_events=[(t.stage.value, t.event.to_xdr_bytes()) for t in ledgermeta._tx_events(meta)],
    )


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(meta=metas(4) | metas(3))
def test_event_spans_are_stellar_sdks_events(meta: xdr.TransactionMeta) -> None:
    packed = meta.to_xdr_bytes()
    assert metaread.event_spans(packed) == _sdk_spans(meta)


def test_event_spans_of_devnet_and_pubnet_metas() -> None:
    packed_metas = [
        base64.b64decode(tx.meta_xdr)
        for version in (4, 3)
        for tx in build_chain("demo", seed=3, meta_version=version).txs.values()
    ]
    batch = xdr.LedgerCloseMetaBatch.from_xdr_bytes(decompress(FIXTURE.read_bytes(), "f"))
    v1 = batch.ledger_close_metas[0].v1
    assert v1 is not None
    packed_metas += [trm.tx_apply_processing.to_xdr_bytes() for trm in v1.tx_processing]
    with_events = 0
    for packed in packed_metas:
        spans = metaread._spans(packed)  # no fallback on either
        assert spans == _sdk_spans(xdr.TransactionMeta.from_xdr_bytes(packed))
        with_events += any(spans.per_op)
    assert with_events > 50
    # shapes it does not walk are left to stellar-sdk: an older version, trailing bytes
    assert metaread.event_spans(b"\x00\x00\x00\x02") is None
    assert metaread.event_spans(packed_metas[0] + b"\x00" * 4) is None

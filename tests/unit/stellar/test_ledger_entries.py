"""Ledger entries as reconciliation reads them: the fast reader against stellar-sdk."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stellar_sdk import xdr
from tests.unit.stellar.strategies import contract_ids, scvals

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar import ledger
from orbitpay.stellar import scval as sv


def _outcome(fn: Any, data: str) -> tuple[str, Any]:
    try:
        return "ok", fn(data)
    except Exception as exc:
        return type(exc).__name__, None


def _same(data: xdr.LedgerEntryData) -> tuple[str, Any]:
    b64 = base64.b64encode(data.to_xdr_bytes()).decode()
    got = _outcome(ledger.decode_entry, b64)
    assert got == _outcome(ledger.decode_entry_sdk, b64)
    return got


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cid=contract_ids, key=scvals, val=scvals)
def test_data_entries_decode_as_with_stellar_sdk(cid: str, key: xdr.SCVal, val: xdr.SCVal) -> None:
    _same(dx.contract_data_entry(cid, key, val))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cid=contract_ids,
    storage=st.lists(st.tuples(scvals, scvals), max_size=4),
    wasm=st.binary(min_size=32, max_size=32),
)
def test_instance_entries_decode_as_with_stellar_sdk(
    cid: str, storage: list[tuple[xdr.SCVal, xdr.SCVal]], wasm: bytes
) -> None:
    data = dx.contract_data_entry(cid, dx.instance_key_scval(), dx.instance_value(wasm, storage))
    _same(data)


def test_devnet_entries_take_the_fast_path() -> None:
    chain = build_chain("demo", seed=5)
    n = 0
    for cid, contract in chain.contracts.items():
        keys = [
            dx.instance_key_scval(),
            *(
                sv.enum_tuple(k[0], sv.u32(k[1]))
                for k in contract.persistent
                if isinstance(k[1], int)
            ),
        ]
        for key in keys:
            found = chain.ledger_entry(dx.contract_data_key(cid, key))
            if found is None:
                continue
            raw = found[0].to_xdr_bytes()
            fast = ledger._decode_entry_fast(raw)  # no fallback for the contracts' shapes
            assert fast == ledger.decode_entry_sdk(base64.b64encode(raw).decode())
            n += 1
    assert n > 20


def test_other_entries_still_refused() -> None:
    ttl = xdr.LedgerEntryData(
        xdr.LedgerEntryType.TTL,
        ttl=xdr.TTLEntry(key_hash=xdr.Hash(b"\x01" * 32), live_until_ledger_seq=xdr.Uint32(9)),
    )
    assert _same(ttl) == ("ValueError", None)


@given(
    cid=contract_ids,
    variant=st.from_regex(r"[A-Za-z_]{1,32}", fullmatch=True),
    ids=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=2),
)
def test_persistent_keys_packed_by_hand_equal_stellar_sdk(
    cid: str, variant: str, ids: list[int]
) -> None:
    want = ledger.contract_data_key(cid, ledger.data_key(variant, *ids))
    assert ledger.persistent_key(cid, variant, *ids) == want

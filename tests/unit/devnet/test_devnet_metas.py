"""The devnet's transaction metas: as the network writes them ("full"), or thin."""

from __future__ import annotations

import hashlib

import pytest
from stellar_sdk import StrKey
from stellar_sdk import xdr as x

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.chain import FEE_REFUND, PERSISTENT_TTL_LEDGERS
from orbitpay.devnet.scenarios import build_chain

T = x.LedgerEntryChangeType


def _parts(meta: x.TransactionMeta) -> tuple[list[x.LedgerEntryChange], ...]:
    body = meta.v4 if meta.v == 4 else meta.v3
    assert body is not None
    ops = [list(op.changes.ledger_entry_changes) for op in body.operations]
    return (
        list(body.tx_changes_before.ledger_entry_changes),
        [c for changes in ops for c in changes],
        list(body.tx_changes_after.ledger_entry_changes),
    )


def _entry(change: x.LedgerEntryChange) -> x.LedgerEntry:
    entry = change.state or change.updated or change.created
    assert entry is not None
    return entry


@pytest.mark.parametrize("meta_version", [4, 3])
def test_full_metas_carry_every_write_its_ttl_and_the_source_account(meta_version: int) -> None:
    chain = build_chain("demo", seed=6, meta_version=meta_version)
    assert chain.metas == "full"
    seen_failed = seen_pairs = seen_created = 0
    for tx in chain.txs.values():
        meta = x.TransactionMeta.from_xdr(tx.meta_xdr)
        assert meta.v == meta_version
        before, op, after = _parts(meta)
        # The source account: sequence bump before, fee refund after, failed or not.
        assert [c.type for c in before] == [T.LEDGER_ENTRY_STATE, T.LEDGER_ENTRY_UPDATED]
        b0, b1 = (_entry(c).data.account for c in before)
        assert b0 is not None and b1 is not None
        assert b1.seq_num.sequence_number.int64 == b0.seq_num.sequence_number.int64 + 1
        a0, a1 = (_entry(c).data.account for c in after)
        assert a0 is not None and a1 is not None
        assert a1.balance.int64 - a0.balance.int64 == FEE_REFUND
        assert _entry(after[1]).last_modified_ledger_seq.uint32 == tx.ledger
        env = x.TransactionEnvelope.from_xdr(tx.envelope_xdr)
        assert env.v1 is not None
        source = env.v1.tx.source_account.ed25519
        assert source is not None and b0.account_id.account_id.ed25519 == source
        soroban = meta.v4.soroban_meta if meta.v4 is not None else meta.v3.soroban_meta  # type: ignore[union-attr]  # v3 when not v4
        assert soroban is not None and soroban.ext.v == 1
        if not tx.success:
            assert op == []
            seen_failed += 1
            continue
        if not op:  # treasury deposit writes nothing (CONTRACTS.md: it moves no tokens)
            assert tx.function == "deposit"
            continue
        # Contract data entries, each followed by its TTL entry (same key hash).
        i = 0
        while i < len(op):
            if op[i].type == T.LEDGER_ENTRY_CREATED:
                data, ttl = _entry(op[i]), _entry(op[i + 1])
                assert op[i + 1].type == T.LEDGER_ENTRY_CREATED
                i += 2
                seen_created += 1
            else:
                types = [c.type for c in op[i : i + 4]]
                assert types == [T.LEDGER_ENTRY_STATE, T.LEDGER_ENTRY_UPDATED] * 2
                data, ttl = _entry(op[i + 1]), _entry(op[i + 3])
                old = _entry(op[i]).data.contract_data
                assert old is not None and data.data.contract_data is not None
                assert old.key == data.data.contract_data.key
                i += 4
                seen_pairs += 1
            cd = data.data.contract_data
            assert cd is not None and ttl.data.ttl is not None
            key = dx.contract_data_key(
                StrKey.encode_contract(cd.contract.contract_id.contract_id.hash),  # type: ignore[union-attr]  # contract addresses only
                cd.key,
            )
            assert ttl.data.ttl.key_hash.hash == hashlib.sha256(key.to_xdr_bytes()).digest()
            assert ttl.data.ttl.live_until_ledger_seq.uint32 == tx.ledger + PERSISTENT_TTL_LEDGERS
            assert data.last_modified_ledger_seq.uint32 == tx.ledger
    assert seen_failed and seen_pairs and seen_created


def test_thin_metas_are_events_and_return_value_only() -> None:
    chain = build_chain("demo", seed=6, metas="thin")
    for tx in chain.txs.values():
        meta = x.TransactionMeta.from_xdr(tx.meta_xdr)
        assert all(part == [] for part in _parts(meta))
        assert meta.v4 is not None and meta.v4.soroban_meta is not None
        assert meta.v4.soroban_meta.ext.v == 0
    assert build_chain("empty", ledger_changes=False).metas == "thin"  # the older switch
    with pytest.raises(ValueError):
        build_chain("empty", metas="heavy")


def test_full_metas_do_not_change_anything_else() -> None:
    full, thin = build_chain("demo", seed=6), build_chain("demo", seed=6, metas="thin")
    assert full.state_dump() == thin.state_dump()
    assert [(t.hash, t.envelope_xdr, t.result_xdr) for t in full.txs.values()] == [
        (t.hash, t.envelope_xdr, t.result_xdr) for t in thin.txs.values()
    ]

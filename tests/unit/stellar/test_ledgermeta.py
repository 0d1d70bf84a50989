"""LedgerCloseMetaBatch decoding: the real pubnet object, devnet ledgers against the devnet RPC."""

from __future__ import annotations

import base64
import hashlib
import struct
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Account, Keypair, StrKey, TransactionBuilder, xdr
from stellar_sdk.helpers import parse_transaction_envelope_from_xdr

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.chain import Chain
from orbitpay.devnet.lake import ledger_close_meta_batch, ledger_header_entry
from orbitpay.devnet.rpc import RpcMethods
from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar import scval as sv
from orbitpay.stellar.datalake import decompress
from orbitpay.stellar.ledgermeta import (
    LedgerDecodeError,
    decode_batch,
    envelope_hash,
    event_id,
)
from orbitpay.stellar.rpc import RawEvent, toid_parts
from orbitpay.stellar.tx import parse_tx

FIXTURE = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pubnet-53312000.xdr.zstd"
PUBNET = "Public Global Stellar Network ; September 2015"
ORACLE = "CALI2BYU2JE6WVRUFYTS6MSBNEHGJ35P4AVCZYF3B6QOE3QKOB2PLE6M"  # the fixture's Soroban call
NOBODY = StrKey.encode_contract(b"\x07" * 32)


@pytest.fixture(scope="module")
def pubnet() -> bytes:
    return decompress(FIXTURE.read_bytes(), FIXTURE.name)


# ── the real pubnet object ───────────────────────────────────────────────────


def test_pubnet_ledger_decodes_with_hashes_matching_the_results(pubnet: bytes) -> None:
    [ledger] = decode_batch(pubnet, PUBNET)
    assert ledger.sequence == 53_312_000 and ledger.protocol_version == 21
    assert ledger.closed_at == datetime(2024, 9, 2, 10, 50, 19, tzinfo=UTC)
    assert ledger.tx_count == 163 and len(ledger.transactions) == 163
    # Independently: stellar-sdk's whole-object decode and its own envelope hashing.
    batch = xdr.LedgerCloseMetaBatch.from_xdr_bytes(pubnet)
    v1 = batch.ledger_close_metas[0].v1
    assert v1 is not None
    assert ledger.tx_hashes == [p.result.transaction_hash.hash.hex() for p in v1.tx_processing]
    assert ledger.hash == v1.ledger_header.hash.hash.hex()
    envelopes = [
        env
        for phase in v1.tx_set.v1_tx_set.phases  # type: ignore[union-attr]  # v1 set in p21
        for comp in phase.v0_components or []
        for env in comp.txs_maybe_discounted_fee.txs  # type: ignore[union-attr]  # one arm
    ]
    sdk_hashes = {
        parse_transaction_envelope_from_xdr(e.to_xdr(), PUBNET).hash_hex() for e in envelopes
    }
    assert sdk_hashes == set(ledger.tx_hashes)
    fee_bumps = [e for e in envelopes if e.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP]
    assert fee_bumps  # this ledger has fee-bump transactions: their outer hash is the one used
    assert ledger.events == []  # protocol 21 and no contract events in this ledger
    soroban = [c for c in ledger.transactions.values() if c.calls]
    assert len(soroban) == 1
    [call] = soroban[0].calls
    assert (call.contract, call.function, call.top_level) == (ORACLE, "set_price", True)
    assert soroban[0].successful and soroban[0].has_return_value


def test_pubnet_watched_contracts_only(pubnet: bytes) -> None:
    [ledger] = decode_batch(pubnet, PUBNET, {NOBODY})
    assert ledger.tx_count == 163 and ledger.transactions == {} and ledger.events == []
    [ledger] = decode_batch(pubnet, PUBNET, {ORACLE})
    assert [c.calls[0].function for c in ledger.transactions.values()] == ["set_price"]
    # the oracle's storage writes are in the meta: key and value before/after
    assert ledger.storage_changes
    assert {c.contract_id for c in ledger.storage_changes} == {ORACLE}
    assert all(
        c.ledger == 53_312_000 and c.tx_hash in ledger.transactions for c in ledger.storage_changes
    )
    updated = [c for c in ledger.storage_changes if c.kind == "updated"]
    assert updated and all(c.before_xdr and c.after_xdr for c in updated)


def test_wrong_passphrase_names_the_ledger(pubnet: bytes) -> None:
    with pytest.raises(LedgerDecodeError, match="passphrase") as err:
        decode_batch(pubnet, "Test SDF Network ; September 2015")
    assert err.value.ledger == 53_312_000


def _with_lcm_version(data: bytes, offset: int, version: int) -> bytes:
    return data[:offset] + struct.pack(">I", version) + data[offset + 4 :]


def test_unknown_arm_is_fine_when_skipped_and_an_error_when_watched(pubnet: bytes) -> None:
    broken = _with_lcm_version(pubnet, 12, 9)  # LedgerCloseMeta v9 does not exist
    assert decode_batch(broken, PUBNET, {NOBODY}) == []
    with pytest.raises(LedgerDecodeError, match="ledger 53312000: undecodable") as err:
        decode_batch(broken, PUBNET, {ORACLE})
    assert err.value.ledger == 53_312_000
    with pytest.raises(LedgerDecodeError):
        decode_batch(broken, PUBNET)


# ── devnet ledgers: the same rows as the devnet RPC serves ──────────────────


def _watched(chain: Chain) -> set[str]:
    return {cid for cid, name in chain.contract_names.items() if name != "router"}


@pytest.mark.parametrize("meta_version", [4, 3])
def test_devnet_ledgers_give_the_rpc_rows(meta_version: int) -> None:
    chain = build_chain("demo", seed=2, meta_version=meta_version)
    rpc = RpcMethods(chain)
    watch = _watched(chain)
    seen = 0
    for seq, rec in sorted(chain.ledgers.items()):
        batch = ledger_close_meta_batch(chain, seq, seq)
        lcm = xdr.LedgerCloseMetaBatch.from_xdr_bytes(batch).ledger_close_metas[0]
        assert lcm.v == (2 if meta_version == 4 else 1)
        [ledger] = decode_batch(batch, chain.network_passphrase, watch)
        res = rpc.get_events(
            {"startLedger": seq, "endLedger": seq + 1, "pagination": {"limit": 10_000}}
        )
        expected = [RawEvent.from_json(e) for e in res["events"] if e["contractId"] in watch]
        assert ledger.events == expected
        assert ledger.tx_hashes == [t.hash for t in rec.txs]
        for tx in rec.txs:
            got = ledger.transactions[tx.hash]
            info = rpc.get_transaction({"hash": tx.hash})
            want = parse_tx(
                tx.hash,
                info["status"],
                seq,
                info["envelopeXdr"],
                info["resultMetaXdr"],
                info["events"]["contractEventsXdr"],
            )
            assert (got.successful, got.calls) == (want.successful, want.calls)
            assert got.return_value == want.return_value
            assert got.contract_events() == want.contract_events()
        seen += len(ledger.events)
    assert seen == chain.event_count and chain.failed_tx_count > 0


def test_multi_ledger_batch_names_the_broken_ledger() -> None:
    chain = build_chain("load", 1, organizations=1, events=60)
    first = chain.genesis_ledger
    seqs = sorted(chain.ledgers)
    last = seqs[1]
    batch = ledger_close_meta_batch(chain, first, last)
    ledgers = decode_batch(batch, chain.network_passphrase, _watched(chain))
    assert [d.sequence for d in ledgers] == list(range(first, last + 1))
    assert (
        decode_batch(batch, chain.network_passphrase, _watched(chain), first=last) == ledgers[-1:]
    )
    # Break the last ledger's LedgerCloseMeta arm: the ones before it still decode.
    offset = len(ledger_close_meta_batch(chain, first, last - 1))
    broken = _with_lcm_version(batch, offset, 7)
    with pytest.raises(LedgerDecodeError) as err:
        decode_batch(broken, chain.network_passphrase, _watched(chain))
    assert err.value.ledger == last
    assert len(decode_batch(broken, chain.network_passphrase, {NOBODY})) == last - first


def test_contract_data_changes_with_before_and_after() -> None:
    # Thin metas: the changes below are the ledger's only ones.
    chain = build_chain("load", 1, organizations=1, events=20, metas="thin")
    seq = min(chain.ledgers)
    tx = chain.ledgers[seq].txs[0]
    watched = tx.contract
    key_a, key_b, key_c = sv.symbol("A"), sv.symbol("B"), sv.symbol("C")

    def entry(contract: str, key: xdr.SCVal, val: int) -> xdr.LedgerEntry:
        return xdr.LedgerEntry(
            last_modified_ledger_seq=xdr.Uint32(seq),
            data=dx.contract_data_entry(contract, key, sv.u32(val)),
            ext=xdr.LedgerEntryExt(0),
        )

    T = xdr.LedgerEntryChangeType
    changes = [
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_STATE, state=entry(watched, key_a, 1)),
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_UPDATED, updated=entry(watched, key_a, 2)),
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_CREATED, created=entry(watched, key_b, 3)),
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_STATE, state=entry(watched, key_c, 4)),
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_REMOVED, removed=dx.contract_data_key(watched, key_c)),
        xdr.LedgerEntryChange(T.LEDGER_ENTRY_CREATED, created=entry(NOBODY, key_a, 5)),
    ]
    meta = xdr.TransactionMeta.from_xdr(tx.meta_xdr)
    assert meta.v4 is not None
    meta.v4.operations[0].changes = xdr.LedgerEntryChanges(changes)
    tx.meta_xdr = base64.b64encode(meta.to_xdr_bytes()).decode()
    batch = ledger_close_meta_batch(chain, seq, seq)
    [ledger] = decode_batch(batch, chain.network_passphrase, {watched})
    got = [
        (
            c.kind,
            sv.decode_scval_b64(c.key_xdr),
            c.before_xdr and sv.decode_scval_b64(c.before_xdr),
            c.after_xdr and sv.decode_scval_b64(c.after_xdr),
            c.op_index,
            c.durability,
        )
        for c in ledger.storage_changes
    ]
    assert got == [
        ("updated", "A", 1, 2, 0, "persistent"),
        ("created", "B", None, 3, 0, "persistent"),
        ("removed", "C", 4, None, 0, "persistent"),
    ]
    assert all(c.tx_hash == tx.hash and c.apply_index == 1 for c in ledger.storage_changes)


# ── ids ──────────────────────────────────────────────────────────────────────


@given(
    ledger=st.integers(1, (1 << 31) - 1),
    tx=st.integers(0, (1 << 20) - 1),
    op=st.integers(0, (1 << 12) - 1),
    index=st.integers(0, (1 << 32) - 1),
)
def test_event_ids_are_stellar_rpc_cursors(ledger: int, tx: int, op: int, index: int) -> None:
    ev_id = event_id(ledger, tx, op, index)
    head, tail = ev_id.split("-")
    assert len(head) == 19 and len(tail) == 10
    assert toid_parts(int(head)) == (ledger, tx, op) and int(tail) == index
    assert ev_id == dx.event_id(ledger, tx, op, index)
    assert dx.parse_event_id(ev_id) == (ledger, tx, op, index)


@pytest.mark.parametrize("meta_version", [4, 3])
def test_devnet_storage_changes_replay_to_the_ledger_state(meta_version: int) -> None:
    """Replaying every CONTRACT_DATA change from the lake gives getLedgerEntries' answers."""
    chain = build_chain("demo", seed=2, meta_version=meta_version, ledger_changes=True)
    watch = _watched(chain)
    latest: dict[tuple[str, str], str | None] = {}
    instance_key = base64.b64encode(dx.instance_key_scval().to_xdr_bytes()).decode()
    changes = 0
    for seq in sorted(chain.ledgers):
        [ledger] = decode_batch(
            ledger_close_meta_batch(chain, seq, seq), chain.network_passphrase, watch
        )
        for ch in ledger.storage_changes:
            ident = (ch.contract_id, ch.key_xdr)
            if ident in latest:  # each change starts from what the previous one left
                assert ch.before_xdr == latest[ident], (seq, ch)
            elif ch.key_xdr != instance_key:  # a new entry; instances exist since deployment
                assert (ch.kind, ch.before_xdr) == ("created", None), (seq, ch)
            latest[ident] = ch.after_xdr
            changes += 1
    assert changes > len(latest) > 20
    for (contract, key_xdr), value in latest.items():
        found = chain.ledger_entry(dx.contract_data_key(contract, xdr.SCVal.from_xdr(key_xdr)))
        assert found is not None and value is not None
        data, _, _ = found
        assert data.contract_data is not None
        assert base64.b64encode(data.contract_data.val.to_xdr_bytes()).decode() == value


def test_unfiltered_events_come_in_rpc_id_order_with_fee_events() -> None:
    """Meta v4 fee events (before/after all transactions) get stellar-rpc's stage TOIDs."""
    chain = build_chain("load", 1, organizations=1, events=60)
    seq = max(chain.ledgers, key=lambda s: len(chain.ledgers[s].txs))
    n = len(chain.ledgers[seq].txs)
    assert n >= 2
    [ledger] = decode_batch(ledger_close_meta_batch(chain, seq, seq), chain.network_passphrase)
    ids = [e.id for e in ledger.events]
    assert ids == sorted(ids)
    fees = [e for e in ledger.events if e.contract_id == chain.native_sac]
    assert len(fees) == 2 * n
    assert [e.id for e in fees[:n]] == [event_id(seq, 0, 0, i) for i in range(n)]
    assert [e.id for e in fees[n:]] == [event_id(seq, (1 << 20) - 1, 0, i) for i in range(n)]
    assert ids[:n] == [e.id for e in fees[:n]] and ids[-n:] == [e.id for e in fees[n:]]


def test_ledger_close_meta_v0_with_a_classic_transaction_set() -> None:
    """Pre-generalized ledgers (LedgerCloseMeta v0, TransactionSet) decode the same rows."""
    chain = build_chain("load", 1, organizations=1, events=60, meta_version=3)
    seq = max(chain.ledgers, key=lambda s: len(chain.ledgers[s].txs))
    txs = chain.ledgers[seq].txs
    entry = xdr.LedgerHeaderHistoryEntry.from_xdr_bytes(ledger_header_entry(chain, seq))
    lcm = xdr.LedgerCloseMeta(
        0,
        v0=xdr.LedgerCloseMetaV0(
            ledger_header=entry,
            tx_set=xdr.TransactionSet(
                previous_ledger_hash=entry.header.previous_ledger_hash,
                txs=[xdr.TransactionEnvelope.from_xdr(t.envelope_xdr) for t in reversed(txs)],
            ),
            tx_processing=[
                xdr.TransactionResultMeta(
                    result=xdr.TransactionResultPair(
                        transaction_hash=xdr.Hash(bytes.fromhex(t.hash)),
                        result=xdr.TransactionResult.from_xdr(t.result_xdr),
                    ),
                    fee_processing=xdr.LedgerEntryChanges([]),
                    tx_apply_processing=xdr.TransactionMeta.from_xdr(t.meta_xdr),
                )
                for t in txs
            ],
            upgrades_processing=[],
            scp_info=[],
        ),
    )
    batch = struct.pack(">III", seq, seq, 1) + lcm.to_xdr_bytes()
    [v0] = decode_batch(batch, chain.network_passphrase, _watched(chain))
    [v1] = decode_batch(
        ledger_close_meta_batch(chain, seq, seq), chain.network_passphrase, _watched(chain)
    )
    assert v0.events == v1.events and v0.events
    assert v0.tx_hashes == v1.tx_hashes == [t.hash for t in txs]
    assert set(v0.transactions) == set(v1.transactions)


def test_v0_envelopes_hash_as_their_v1_transaction() -> None:
    kp = Keypair.from_raw_ed25519_seed(b"\x05" * 32)
    passphrase = "Test SDF Network ; September 2015"
    nid = hashlib.sha256(passphrase.encode()).digest()
    for bounds in (True, False):
        builder = TransactionBuilder(Account(kp.public_key, 7), passphrase, base_fee=100, v1=False)
        builder.append_bump_sequence_op(9)
        if bounds:
            builder.add_time_bounds(0, 1000)
        else:
            builder.time_bounds = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no time bounds, on purpose
            te = builder.build()
        te.sign(kp)
        env = te.to_xdr_object()
        assert env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_V0
        assert envelope_hash(env.to_xdr_bytes(), env, nid) == te.hash_hex()

"""The projection's rule registry, its error policy and what it reports to the cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from stellar_sdk import StrKey

from orbitpay.cache import NAMESPACE_OF, namespaces_for
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import EVENT_TYPES, REGISTRY, decode_event
from orbitpay.indexer.enrich import enrich, needs_transaction, resolve
from orbitpay.indexer.model import Changed, ContractInfo, ContractParams, Item, Snapshot
from orbitpay.indexer.project import RULES, MissingRule, apply_page, check_rules
from orbitpay.indexer.txfetch import TxFetcher
from orbitpay.stellar import scval as sv
from orbitpay.stellar.rpc import RawEvent, RpcClient
from orbitpay.stellar.tx import Call, TxContext

C_PAY = StrKey.encode_contract(b"\x01" * 32)
C_TRE = StrKey.encode_contract(b"\x02" * 32)
A, B = (StrKey.encode_ed25519_public_key(bytes([i]) * 32) for i in (10, 11))
TOKEN = StrKey.encode_contract(b"\x06" * 32)


def _item(contract: str, kind: str, event: ContractEvent, calls: list[Call] | None = None) -> Item:
    topics, value = event.encode()
    raw = RawEvent(
        id=f"{(100 << 32) | (1 << 12):019d}-{0:010d}",
        type="contract",
        ledger=100,
        ledger_closed_at=datetime.fromtimestamp(1_767_225_600, UTC),
        contract_id=contract,
        topic_xdr=[sv.to_b64(t) for t in topics],
        value_xdr=sv.to_b64(value),
        in_successful_contract_call=True,
        tx_hash="ab" * 32,
        transaction_index=1,
        operation_index=0,
    )
    it = Item(
        raw, ContractInfo(contract, kind, 1), decode_event(kind, raw.topic_xdr, raw.value_xdr)
    )
    if needs_transaction(it):
        it.tx = TxContext(hash=raw.tx_hash, successful=True, ledger=100, calls=calls or [])
    resolve(it)
    return it


def test_every_decoded_event_class_has_a_rule() -> None:
    assert EVENT_TYPES.keys() == REGISTRY.keys()
    assert set(EVENT_TYPES.values()) <= set(RULES)
    check_rules(RULES, EVENT_TYPES.values())  # what the package runs at import


def test_an_event_class_without_a_rule_fails_the_check_loudly() -> None:
    @dataclass(frozen=True, slots=True)
    class Paused(ContractEvent):
        symbol = "pause"
        kind = "payroll"
        stream_id: int

    with pytest.raises(MissingRule, match=r"payroll\.Paused"):
        check_rules(RULES, [*EVENT_TYPES.values(), Paused])
    without = {cls: r for cls, r in RULES.items() if cls is not pay.StreamCancelled}
    with pytest.raises(MissingRule, match=r"payroll\.StreamCancelled"):
        check_rules(without, EVENT_TYPES.values())


def test_a_malformed_call_is_rejected_at_enrichment_and_recorded() -> None:
    # total_amount is a string: the call cannot be a create_stream the contract accepted
    bad = Call(C_PAY, "create_stream", [A, B, TOKEN, "10", 1, 2], True)
    it = _item(C_PAY, "payroll", pay.StreamCreated(A, 0), [bad])
    assert it.call is None and it.problem is not None and "malformed" in it.problem
    snap = Snapshot()
    out = apply_page([it], snap)
    assert not snap.streams
    assert [(d.source, d.entity, d.entity_id) for d in out.discrepancies] == [
        ("enrich", "event", it.raw.id)
    ]
    assert "total_amount: expected an integer" in out.discrepancies[0].message


def test_a_rule_bug_raises_instead_of_becoming_a_discrepancy() -> None:
    it = _item(
        C_PAY,
        "payroll",
        pay.StreamCreated(A, 0),
        [Call(C_PAY, "create_stream", [A, B, TOKEN, 10, 1, 2], True)],
    )
    assert it.call is not None
    it.call = pay.Claim(B, 0)  # a wrong record: enrichment would never attach it
    with pytest.raises(TypeError, match="expected a CreateStream call"):
        apply_page([it], Snapshot())


def test_changes_report_changed_families_and_the_cache_maps_them() -> None:
    items = [
        _item(C_PAY, "payroll", pay.Initialized(A), [Call(C_PAY, "initialize", [A], True)]),
        _item(C_TRE, "treasury", tre.SignerAdded(B)),
    ]
    out = apply_page(items, Snapshot())
    assert out.changed == {Changed.EVENTS, Changed.PAYROLL, Changed.TREASURY}
    assert namespaces_for(out.changed) == ["analytics", "events", "streams", "treasury"]
    assert set(NAMESPACE_OF) == set(Changed)  # every family invalidates something


def test_contract_params_keep_unknown_keys_and_drop_unknown_values() -> None:
    params = ContractParams.from_json({"threshold": 2, "signers": [A], "future": {"x": 1}})
    assert params.threshold == 2 and params.signers == [A] and params.stream_count is None
    params.withdrawal_count = 3
    assert params.to_json() == {
        "threshold": 2,
        "signers": [A],
        "withdrawal_count": 3,
        "future": {"x": 1},
    }


async def test_enrich_attaches_cached_transactions_and_resolves_their_calls() -> None:
    """The real fetcher, its transactions already in its LRU (no RPC request is made)."""
    claim = _item(C_PAY, "payroll", pay.StreamClaimed(B, 5), [Call(C_PAY, "claim", [B, 4], True)])
    plain = _item(C_TRE, "treasury", tre.SignerAdded(B))
    ctx = claim.tx
    assert ctx is not None
    claim.tx, claim.call = None, None  # as the source hands it over
    claim.raw.transaction_index = None  # order then comes from the event id
    fetcher = TxFetcher(RpcClient("http://127.0.0.1:9"))
    fetcher._remember(ctx)
    times = await enrich([claim, plain], fetcher)
    assert claim.tx is ctx and claim.problem is None
    assert claim.call == pay.Claim(B, 4) and claim.call_top_level is True
    assert plain.tx is None and plain.call is None and plain.problem is None
    assert times.fetch >= 0 and times.resolve >= 0

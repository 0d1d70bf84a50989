"""Events, arguments and storage encoded as the OrbitPay Rust contracts (soroban-sdk 22) do."""

from __future__ import annotations

import base64

import pytest
from compat_kit import account, contract
from stellar_sdk import Address, xdr

from orbitpay.contracts.governance import vote_choice as _choice
from orbitpay.contracts.registry import decode_event
from orbitpay.indexer.reconcile import _variant
from orbitpay.stellar import scval as sv
from orbitpay.stellar.ledger import decode_entry, instance_key, key_of_entry, persistent_key

GOV = contract(4)
A, B = account(11), account(12)


def _dec(kind: str, topics: list[xdr.SCVal], value: xdr.SCVal):  # type: ignore[no-untyped-def]
    return decode_event(kind, [sv.to_b64(t) for t in topics], sv.to_b64(value))


def test_v_create_value_is_a_three_tuple() -> None:
    d = _dec(
        "vesting",
        [sv.symbol("v_create"), sv.address(A), sv.address(B)],
        sv.vec([sv.i128(10**12), sv.u64(3600), sv.u64(7200)]),
    )
    assert d.event is not None
    assert (d.event.total_amount, d.event.cliff_duration, d.event.total_duration) == (
        10**12,
        3600,
        7200,
    )


def test_v_fully_value_is_unit_void() -> None:
    d = _dec("vesting", [sv.symbol("v_fully"), sv.u32(4)], sv.void())
    assert d.event is not None and d.event.schedule_id == 4


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_finalize_value_is_the_status_enum(status: str) -> None:
    d = _dec("governance", [sv.symbol("finalize")], sv.enum_unit(status))
    assert d.event is not None and d.event.status == status.lower()


def test_w_set_weight_is_u128_and_ids_are_u32() -> None:
    d = _dec("governance", [sv.symbol("w_set"), sv.address(A)], sv.u128(2**70))
    assert d.event is not None and d.event.weight == 2**70
    wrong = _dec("governance", [sv.symbol("vote"), sv.address(A)], sv.u64(1))
    assert wrong.event is None and wrong.reason == "malformed"


def test_newer_schema_events_are_stored_raw() -> None:
    d = _dec("treasury", [sv.symbol("TreasuryDeposit"), sv.address(A)], sv.i128(1))
    assert d.event is None and d.reason == "unknown" and d.topics is not None


def test_vote_choice_argument_is_a_unit_enum() -> None:
    assert _choice(sv.decode_scval(sv.enum_unit("Yes"))) == "yes"
    assert _choice(sv.decode_scval(sv.enum_unit("Abstain"))) == "abstain"


def test_status_variants_map_to_table_values() -> None:
    assert _variant(["FullyClaimed"]) == "fully_claimed"
    assert _variant(["Cancelled"]) == "cancelled"
    assert _variant(["Expired"]) == "expired"


# ── storage keys and entries ─────────────────────────────────────────────────


def _key(b64: str) -> xdr.LedgerKey:
    return xdr.LedgerKey.from_xdr(b64)


def test_data_keys_are_encoded_like_soroban_sdk() -> None:
    k = _key(persistent_key(GOV, "Proposal", 7)).contract_data
    assert k is not None
    assert k.durability == xdr.ContractDataDurability.PERSISTENT
    assert k.key.to_xdr_bytes() == sv.vec([sv.symbol("Proposal"), sv.u32(7)]).to_xdr_bytes()
    w = _key(persistent_key(GOV, "VotingWeight", A)).contract_data
    assert w is not None
    assert w.key.to_xdr_bytes() == sv.vec([sv.symbol("VotingWeight"), sv.address(A)]).to_xdr_bytes()
    i = _key(instance_key(GOV)).contract_data
    assert i is not None and i.key.type == xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE


def _entry(key: xdr.SCVal, val: xdr.SCVal) -> str:
    data = xdr.LedgerEntryData(
        xdr.LedgerEntryType.CONTRACT_DATA,
        contract_data=xdr.ContractDataEntry(
            ext=xdr.ExtensionPoint(0),
            contract=Address(GOV).to_xdr_sc_address(),
            key=key,
            durability=xdr.ContractDataDurability.PERSISTENT,
            val=val,
        ),
    )
    return base64.b64encode(data.to_xdr_bytes()).decode()


def test_vesting_schedule_entry_as_the_contract_stores_it() -> None:
    fields = {
        "id": sv.u32(2),
        "grantor": sv.address(A),
        "beneficiary": sv.address(B),
        "token": sv.address(contract(8)),
        "total_amount": sv.i128(1000),
        "claimed_amount": sv.i128(1000),
        "start_time": sv.u64(1),
        "cliff_duration": sv.u64(2),
        "cliff_amount": sv.i128(3),
        "total_duration": sv.u64(4),
        "label": sv.symbol("seed"),
        "status": sv.enum_unit("FullyClaimed"),
        "revocable": sv.boolean(False),
        "revoked_at": sv.void(),
    }
    raw = _entry(sv.vec([sv.symbol("Schedule"), sv.u32(2)]), sv.struct(fields))
    key, value = decode_entry(raw)
    assert key == ("Schedule", 2)
    assert _variant(value["status"]) == "fully_claimed"
    assert value["revoked_at"] is None and value["claimed_amount"] == 1000
    assert key_of_entry(raw) == persistent_key(GOV, "Schedule", 2)


def test_instance_storage_entry() -> None:
    storage = xdr.SCMap(
        [
            xdr.SCMapEntry(key=sv.enum_unit("Admin"), val=sv.address(A)),
            xdr.SCMapEntry(key=sv.enum_unit("QuorumPercentage"), val=sv.u32(51)),
            xdr.SCMapEntry(key=sv.enum_unit("TotalWeight"), val=sv.u128(9)),
        ]
    )
    inst = xdr.SCVal(
        xdr.SCValType.SCV_CONTRACT_INSTANCE,
        instance=xdr.SCContractInstance(
            executable=xdr.ContractExecutable(
                xdr.ContractExecutableType.CONTRACT_EXECUTABLE_WASM, wasm_hash=xdr.Hash(bytes(32))
            ),
            storage=storage,
        ),
    )
    raw = _entry(xdr.SCVal(xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), inst)
    name, values = decode_entry(raw)
    assert name == "__instance__"
    assert values == {"Admin": A, "QuorumPercentage": 51, "TotalWeight": 9}

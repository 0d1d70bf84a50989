"""Ledger keys exactly as soroban-sdk encodes DataKey, and decoding contract storage entries."""

from __future__ import annotations

import base64

from stellar_sdk import StrKey
from stellar_sdk import xdr as x

from orbitpay.devnet import xdr as dx
from orbitpay.stellar import scval as sv
from orbitpay.stellar.ledger import decode_entry, instance_key, persistent_key

GOV = StrKey.encode_contract(b"\x04" * 32)


def _b64(obj: object) -> str:
    return base64.b64encode(obj.to_xdr_bytes()).decode()  # type: ignore[attr-defined]


def test_persistent_key_is_vec_symbol_u32_with_persistent_durability() -> None:
    key = x.LedgerKey.from_xdr(persistent_key(GOV, "Proposal", 7))
    cd = key.contract_data
    assert key.type == x.LedgerEntryType.CONTRACT_DATA and cd is not None
    assert cd.durability == x.ContractDataDurability.PERSISTENT
    assert cd.key == sv.vec([sv.symbol("Proposal"), sv.u32(7)])
    assert sv.decode_scval(x.SCVal(x.SCValType.SCV_ADDRESS, address=cd.contract)) == GOV
    # byte-identical to the devnet's (independent) construction of the same key
    assert persistent_key(GOV, "Proposal", 7) == _b64(
        dx.contract_data_key(GOV, sv.enum_tuple("Proposal", sv.u32(7)))
    )


def test_instance_key() -> None:
    key = x.LedgerKey.from_xdr(instance_key(GOV))
    assert key.contract_data is not None
    assert key.contract_data.key.type == x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE


def test_decode_instance_and_struct_entries() -> None:
    storage = [
        (sv.enum_unit("Admin"), sv.address(GOV)),
        (sv.enum_unit("QuorumPercentage"), sv.u32(30)),
    ]
    inst = dx.contract_data_entry(
        GOV, dx.instance_key_scval(), dx.instance_value(b"\x00" * 32, storage)
    )
    name, value = decode_entry(_b64(inst))
    assert name == "__instance__" and value == {"Admin": GOV, "QuorumPercentage": 30}
    proposal = sv.struct({"id": sv.u32(3), "status": sv.enum_unit("Rejected")})
    entry = dx.contract_data_entry(GOV, sv.enum_tuple("Proposal", sv.u32(3)), proposal)
    name, value = decode_entry(_b64(entry))
    assert name == ("Proposal", 3) and value == {"id": 3, "status": ["Rejected"]}

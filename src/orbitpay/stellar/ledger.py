"""Contract storage as ledger entries: keys exactly as ``soroban-sdk`` encodes them.

A ``DataKey`` tuple variant ``Proposal(7)`` is the key ``Vec[Symbol("Proposal"),
U32(7)]`` of a persistent ``ContractData`` entry; unit variants (``Admin``,
``Threshold``...) stored with ``instance()`` live inside the contract instance
entry, whose key is ``SCV_LEDGER_KEY_CONTRACT_INSTANCE``.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from stellar_sdk import Address, xdr

from orbitpay.stellar import scval as sv
from orbitpay.stellar.fastxdr import Reader, Unsupported


def _b64(obj: Any) -> str:
    return base64.b64encode(obj.to_xdr_bytes()).decode()


def data_key(variant: str, *args: int | str) -> xdr.SCVal:
    """``DataKey::Variant(arg)``: u32 for ints, Address for strkeys."""
    enc = [sv.u32(a) if isinstance(a, int) else sv.address(a) for a in args]
    return sv.enum_tuple(variant, *enc) if enc else sv.enum_unit(variant)


def contract_data_key(
    contract_id: str,
    key: xdr.SCVal,
    durability: xdr.ContractDataDurability = xdr.ContractDataDurability.PERSISTENT,
) -> str:
    """A base64 ``LedgerKey`` for a contract data entry."""
    lk = xdr.LedgerKey(
        xdr.LedgerEntryType.CONTRACT_DATA,
        contract_data=xdr.LedgerKeyContractData(
            contract=Address(contract_id).to_xdr_sc_address(),
            key=key,
            durability=durability,
        ),
    )
    return _b64(lk)


def instance_key(contract_id: str) -> str:
    """The ledger key of a contract's instance entry (holds its instance storage)."""
    return contract_data_key(contract_id, xdr.SCVal(xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE))


_PREFIXES: dict[tuple[str, str, int], bytes] = {}


def persistent_key(contract_id: str, variant: str, *args: int | str) -> str:
    """The base64 ledger key of ``DataKey::Variant(args)`` in persistent storage.

    Reconciliation asks for one per entity, so keys of u32 arguments (every
    entity id) are packed by hand: the ``LedgerKey`` bytes up to the arguments
    are the same for a contract and variant, and a u32 is its tag and four
    bytes. Equal to :func:`contract_data_key` of :func:`data_key` (tests check it).
    """
    if not args or not all(isinstance(a, int) and 0 <= a < 1 << 32 for a in args):
        return contract_data_key(contract_id, data_key(variant, *args))
    prefix = _PREFIXES.get((contract_id, variant, len(args)))
    if prefix is None:
        name = variant.encode()
        prefix = (
            struct.pack(">II", 6, 1)  # CONTRACT_DATA, SC_ADDRESS_TYPE_CONTRACT
            + Address(contract_id).to_xdr_sc_address().contract_id.contract_id.hash  # type: ignore[union-attr]  # a C... strkey always has a contract id
            + struct.pack(">III", 16, 1, 1 + len(args))  # SCV_VEC, present, length
            + struct.pack(">II", 15, len(name))  # SCV_SYMBOL
            + name
            + b"\x00" * (-len(name) % 4)
        )
        if len(_PREFIXES) < 10_000:
            _PREFIXES[(contract_id, variant, len(args))] = prefix
    body = b"".join(struct.pack(">II", 3, a) for a in args if isinstance(a, int))  # SCV_U32
    return base64.b64encode(prefix + body + struct.pack(">I", 1)).decode()  # PERSISTENT


def _key_name(decoded: Any) -> Any:
    """``["Admin"]`` -> ``"Admin"``; ``["Proposal", 3]`` -> ``("Proposal", 3)``."""
    if isinstance(decoded, list | tuple):
        if len(decoded) == 1:
            return decoded[0]
        return tuple(decoded)
    return decoded


_INSTANCE_KEY = 20  # SCV_LEDGER_KEY_CONTRACT_INSTANCE
_CONTRACT_INSTANCE = 19  # SCV_CONTRACT_INSTANCE
_CONTRACT_DATA = 6  # LedgerEntryType.CONTRACT_DATA


def decode_entry(entry_xdr: str) -> tuple[Any, Any]:
    """A ``LedgerEntryData`` (as ``getLedgerEntries`` returns it) -> (key, value).

    For the instance entry the value is its storage as ``{name: value}``;
    for a data entry the key is ``"Name"`` or ``("Name", arg)``.

    Reconciliation reads every entity's entry, so this walks the bytes with
    :class:`orbitpay.stellar.fastxdr.Reader` (plain values, no stellar-sdk
    objects); any shape it does not handle goes through :func:`decode_entry_sdk`,
    which gives the same answer (or raises the same error).
    """
    try:
        return _decode_entry_fast(base64.b64decode(entry_xdr, validate=True))
    except (Unsupported, struct.error, ValueError, UnicodeDecodeError, IndexError, TypeError):
        return decode_entry_sdk(entry_xdr)


def _decode_entry_fast(buf: bytes) -> tuple[Any, Any]:
    r = Reader(buf)
    if r.u32() != _CONTRACT_DATA or r.u32() != 0:  # entry type, ContractDataEntry ext
        raise Unsupported("not a v0 contract data entry")
    r.address()
    out: tuple[Any, Any]
    if r.u32() == _INSTANCE_KEY:
        r.u32()  # durability
        if r.u32() != _CONTRACT_INSTANCE:
            raise Unsupported("instance entry without an instance value")
        executable = r.u32()
        if executable == 0:
            r.fixed(32)  # wasm hash
        elif executable != 1:  # 1: the Stellar asset contract, no body
            raise Unsupported("contract executable type")
        storage: dict[Any, Any] = {}
        if r.boolean():
            for _ in range(r.u32()):
                name = _key_name(r.scval())
                storage[name] = r.scval()
        out = ("__instance__", storage)
    else:
        r.pos -= 4
        key = _key_name(r.scval())
        r.u32()  # durability
        out = (key, r.scval())
    if r.pos != len(buf):
        raise Unsupported("bytes after the entry")
    return out


def decode_entry_sdk(entry_xdr: str) -> tuple[Any, Any]:
    """:func:`decode_entry` through stellar-sdk's classes (the fallback)."""
    data = xdr.LedgerEntryData.from_xdr(entry_xdr)
    if data.type != xdr.LedgerEntryType.CONTRACT_DATA or data.contract_data is None:
        raise ValueError(f"not a contract data entry: {data.type}")
    cd = data.contract_data
    if cd.key.type == xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE:
        inst = cd.val.instance
        storage: dict[Any, Any] = {}
        if inst is not None and inst.storage is not None:
            for e in inst.storage.sc_map:
                storage[_key_name(sv.decode_scval(e.key))] = sv.decode_scval(e.val)
        return "__instance__", storage
    return _key_name(sv.decode_scval(cd.key)), sv.decode_scval(cd.val)


def key_of_entry(entry_xdr: str) -> str:
    """Recover the ledger key (base64) for an entry, to match answers to requests."""
    data = xdr.LedgerEntryData.from_xdr(entry_xdr)
    cd = data.contract_data
    assert cd is not None
    return contract_data_key(xdr_address_to_str(cd.contract), cd.key, cd.durability)


def xdr_address_to_str(a: xdr.SCAddress) -> str:
    return str(sv.decode_scval(xdr.SCVal(xdr.SCValType.SCV_ADDRESS, address=a)))


def archived(live_until_ledger: int | None, latest_ledger: int) -> bool:
    """True when an entry's TTL has run out: ``liveUntilLedgerSeq`` below the latest ledger.

    An RPC that does not send ``liveUntilLedgerSeq`` (older versions, or an entry type
    without a TTL) gives no evidence of archival: False.
    """
    return live_until_ledger is not None and live_until_ledger < latest_ledger


def unit_variant(value: Any) -> str | None:
    """A ``#[contracttype]`` unit enum value as its snake case name: ``["FullyClaimed"]`` ->
    ``"fully_claimed"``; None when ``value`` is not a unit variant."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        return None
    out = []
    for i, ch in enumerate(value):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)

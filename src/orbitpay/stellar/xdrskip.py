"""Walking over XDR without building objects: where a transaction meta ends, and little else.

Decoding a ledger with stellar-sdk builds an object per field; most of a
pubnet ledger is other people's transaction metas (account entries changing,
Soroban events and return values), which a lake reader only has to step over
to reach the transactions it watches. These functions take ``(buffer,
position)`` and return the position after the value, reading only the
discriminants and lengths they need.

Every union arm not handled here is handed to stellar-sdk's own ``unpack`` at
that position (rare entry types, contract executables), and an arm that
neither knows raises :class:`Unsupported`: the caller then decodes the whole
ledger the slow way, so a new protocol can cost speed but never correctness.
The tests check each walker against stellar-sdk's packed lengths.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from stellar_sdk import xdr as x
from xdrlib3 import Unpacker

_U32 = struct.Struct(">I")


class Unsupported(ValueError):
    """A shape these walkers do not know (the caller falls back to a full decode)."""


class _Unpackable(Protocol):
    @classmethod
    def unpack(cls, unpacker: Unpacker, depth_limit: int = ...) -> object: ...


def _u32(buf: bytes, pos: int) -> int:
    value: int = _U32.unpack_from(buf, pos)[0]
    return value


def _opaque(buf: bytes, pos: int) -> int:
    """Variable-length opaque / string: length, then the bytes padded to 4."""
    n = _u32(buf, pos)
    end = pos + 4 + (n + 3) // 4 * 4
    if end > len(buf):
        raise Unsupported("length past the end of the buffer")
    return end


def _sdk(cls: type[_Unpackable], buf: bytes, pos: int) -> int:
    u = Unpacker(buf)
    u.set_position(pos)
    try:
        cls.unpack(u)
    except (ValueError, EOFError, struct.error) as exc:
        raise Unsupported(f"{cls.__name__}: {exc}") from None
    end: int = u.get_position()
    return end


def _ext_v0(buf: bytes, pos: int) -> int:
    if _u32(buf, pos) != 0:
        raise Unsupported("extension point")
    return pos + 4


# ── SCVal and events ─────────────────────────────────────────────────────────

# SCVal arms whose body has a fixed size: bool, void, u32/i32, u64/i64, time
# point, duration, u128/i128, u256/i256, ledger key contract instance, nonce key.
_SCVAL_FIXED = {0: 4, 1: 0, 3: 4, 4: 4, 5: 8, 6: 8, 7: 8, 8: 8, 9: 16, 10: 16, 11: 32, 12: 32}
_SCVAL_FIXED.update({20: 0, 21: 8})
_SCVAL_OPAQUE = frozenset({13, 14, 15, 22})  # bytes, string, symbol, executable tag
# SCAddress: account (key type + 32), contract (32), muxed account (id + 32),
# claimable balance (id type + 32), liquidity pool (32).
_ADDRESS_SIZE = {0: 36, 1: 32, 2: 40, 3: 36, 4: 32}


# A vec at least this long is first tried as a run of one fixed-size arm (below).
_RUN_MIN = 8


def _fixed_run(buf: bytes, pos: int, n: int) -> int:
    """The end of ``n`` SCVals at ``pos`` when all are of the first one's fixed-size arm, else 0.

    A contract's index vectors (``SenderStreams``, ``GrantorSchedules``: thousands of
    ``u32`` ids, written whole before and after in every meta that appends to them)
    are such runs. Their type words sit at a fixed stride, so four strided byte
    slices compared in C check every element at once instead of one loop turn each.
    """
    kind = _U32.unpack_from(buf, pos)[0]
    size = _SCVAL_FIXED.get(kind)
    if size is None:
        return 0
    stride = 4 + size
    end = pos + n * stride
    if end > len(buf):
        return 0
    tag = _U32.pack(kind)
    for b in range(4):
        if buf[pos + b : end : stride] != tag[b : b + 1] * n:
            return 0
    return end


def skip_scval(buf: bytes, pos: int) -> int:
    """The position after the SCVal at ``pos``.

    One flat loop over a count of values still to step over (a vec adds its
    length, a map twice its length): the hot path of a meta full of contract
    data, where a recursive walker spent most of its time in calls, so
    nesting costs nothing here.
    """
    unpack = _U32.unpack_from
    fixed = _SCVAL_FIXED
    todo = 1
    try:
        while todo:
            todo -= 1
            kind = unpack(buf, pos)[0]
            pos += 4
            size = fixed.get(kind)
            if size is not None:
                pos += size
            elif kind in _SCVAL_OPAQUE:
                pos += 4 + (unpack(buf, pos)[0] + 3) // 4 * 4
            elif kind == 16 or kind == 17:  # vec / map: optional, count, values (pairs)
                if unpack(buf, pos)[0]:
                    n = unpack(buf, pos + 4)[0]
                    pos += 8
                    if kind == 16 and n >= _RUN_MIN:
                        end = _fixed_run(buf, pos, n)
                        if end:
                            pos = end
                            continue
                    todo += n if kind == 16 else 2 * n
                else:
                    pos += 4
            elif kind == 18:
                pos = _skip_address(buf, pos)
            elif kind == 2:  # error: type, then a contract code or an SCErrorCode (4 bytes)
                if unpack(buf, pos)[0] > 9:
                    raise Unsupported("SCError type")
                pos += 8
            elif kind == 19:  # contract instance: executable, optional storage map
                executable = unpack(buf, pos)[0]
                if executable == 0:
                    pos += 4 + 32
                elif executable == 1:
                    pos += 4
                else:
                    pos = _sdk(x.ContractExecutable, buf, pos)
                if unpack(buf, pos)[0]:
                    todo += 2 * unpack(buf, pos + 4)[0]
                    pos += 8
                else:
                    pos += 4
            else:
                raise Unsupported(f"SCVal type {kind}")
    except struct.error:
        raise Unsupported("SCVal past the end of the buffer") from None
    if pos > len(buf):
        raise Unsupported("length past the end of the buffer")
    return pos


def _skip_address(buf: bytes, pos: int) -> int:
    size = _ADDRESS_SIZE.get(_u32(buf, pos))
    if size is None:
        raise Unsupported("SCAddress type")
    return pos + 4 + size


def skip_contract_event(buf: bytes, pos: int) -> int:
    pos = _ext_v0(buf, pos)
    pos += 4 + 32 if _u32(buf, pos) else 4  # optional contract id
    pos += 4  # ContractEventType
    pos += 4  # body arm
    if _u32(buf, pos - 4) != 0:
        raise Unsupported("ContractEventBody")
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):
        pos = skip_scval(buf, pos)
    return skip_scval(buf, pos)


def _skip_events(buf: bytes, pos: int, diagnostic: bool = False) -> int:
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):
        if diagnostic:
            pos += 4  # inSuccessfulContractCall
        pos = skip_contract_event(buf, pos)
    return pos


# ── ledger entry changes ─────────────────────────────────────────────────────


def _skip_account_id(buf: bytes, pos: int) -> int:
    if _u32(buf, pos) != 0:
        raise Unsupported("PublicKey type")
    return pos + 36


def _skip_account_entry(buf: bytes, pos: int) -> int:
    pos = _skip_account_id(buf, pos)
    pos += 8 + 8 + 4  # balance, seqNum, numSubEntries
    pos = _skip_account_id(buf, pos + 4) if _u32(buf, pos) else pos + 4  # inflationDest
    pos += 4  # flags
    pos = _opaque(buf, pos)  # homeDomain
    pos += 4  # thresholds
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):  # signers: SignerKey, weight
        key = _u32(buf, pos)
        if key in (0, 1, 2):
            pos += 4 + 32
        elif key == 3:
            pos = _opaque(buf, pos + 4 + 32)
        else:
            raise Unsupported("SignerKey type")
        pos += 4
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 1:
        raise Unsupported("AccountEntryExt")
    pos += 16  # liabilities
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 2:
        raise Unsupported("AccountEntryExtensionV1Ext")
    pos += 8  # numSponsored, numSponsoring
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):  # signerSponsoringIDs: optional AccountID each
        pos = _skip_account_id(buf, pos + 4) if _u32(buf, pos) else pos + 4
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 3:
        raise Unsupported("AccountEntryExtensionV2Ext")
    return _ext_v0(buf, pos) + 4 + 8  # seqLedger, seqTime


# Asset / TrustLineAsset arms: native, alphanum 4 (code + issuer), alphanum 12, pool share.
_ASSET_SIZE = {0: 0, 1: 4 + 36, 2: 12 + 36, 3: 32}


def _skip_asset(buf: bytes, pos: int, pool_share: bool) -> int:
    kind = _u32(buf, pos)
    size = _ASSET_SIZE.get(kind)
    if size is None or (kind == 3 and not pool_share):
        raise Unsupported("asset type")
    return pos + 4 + size


def _skip_trustline_entry(buf: bytes, pos: int) -> int:
    pos = _skip_account_id(buf, pos)
    pos = _skip_asset(buf, pos, pool_share=True)
    pos += 8 + 8 + 4  # balance, limit, flags
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 1:
        raise Unsupported("TrustLineEntryExt")
    pos += 16  # liabilities
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 2:
        raise Unsupported("TrustLineEntryV1Ext")
    return _ext_v0(buf, pos + 4)  # liquidityPoolUseCount, ext


def _skip_offer_entry(buf: bytes, pos: int) -> int:
    pos = _skip_account_id(buf, pos) + 8  # sellerID, offerID
    pos = _skip_asset(buf, pos, pool_share=False)
    pos = _skip_asset(buf, pos, pool_share=False)
    return _ext_v0(buf, pos + 8 + 8 + 4)  # amount, price, flags, ext


def _skip_contract_data_entry(buf: bytes, pos: int) -> int:
    pos = _skip_address(buf, _ext_v0(buf, pos))
    pos = skip_scval(buf, pos) + 4  # key, durability
    return skip_scval(buf, pos)


def _skip_ttl_entry(buf: bytes, pos: int) -> int:
    return pos + 32 + 4  # keyHash, liveUntilLedgerSeq


_ENTRY_WALKERS: dict[int, Callable[[bytes, int], int]] = {
    x.LedgerEntryType.ACCOUNT.value: _skip_account_entry,
    x.LedgerEntryType.TRUSTLINE.value: _skip_trustline_entry,
    x.LedgerEntryType.OFFER.value: _skip_offer_entry,
    x.LedgerEntryType.CONTRACT_DATA.value: _skip_contract_data_entry,
    x.LedgerEntryType.TTL.value: _skip_ttl_entry,
}


def _skip_ledger_entry(buf: bytes, pos: int) -> int:
    pos += 4  # lastModifiedLedgerSeq
    walker = _ENTRY_WALKERS.get(_u32(buf, pos))
    if walker is not None:
        pos = walker(buf, pos + 4)
    else:  # data, claimable balances, pools, code, config settings: rarer, varied
        pos = _sdk(x.LedgerEntryData, buf, pos)
    v = _u32(buf, pos)
    pos += 4
    if v == 0:
        return pos
    if v != 1:
        raise Unsupported("LedgerEntryExt")
    pos = _skip_account_id(buf, pos + 4) if _u32(buf, pos) else pos + 4  # sponsoringID
    return _ext_v0(buf, pos)


def skip_changes(buf: bytes, pos: int) -> int:
    """A ``LedgerEntryChanges``."""
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):
        kind = _u32(buf, pos)
        pos += 4
        if kind == x.LedgerEntryChangeType.LEDGER_ENTRY_REMOVED.value:
            pos = _sdk(x.LedgerKey, buf, pos)
        elif kind in (0, 1, 3, 4):
            pos = _skip_ledger_entry(buf, pos)
        else:
            raise Unsupported("LedgerEntryChangeType")
    return pos


# ── transaction meta ─────────────────────────────────────────────────────────


def _skip_soroban_meta_ext(buf: bytes, pos: int) -> int:
    v = _u32(buf, pos)
    if v == 0:
        return pos + 4
    if v == 1:
        return _ext_v0(buf, pos + 4) + 24
    raise Unsupported("SorobanTransactionMetaExt")


def skip_transaction_meta(buf: bytes, pos: int) -> tuple[int, list[int]]:
    """(end position, the stages of its transaction-level events) of a ``TransactionMeta``.

    Versions 3 and 4 are walked; older ones are handed to stellar-sdk.
    """
    v = _u32(buf, pos)
    if v not in (3, 4):
        return _sdk(x.TransactionMeta, buf, pos), []
    pos = _ext_v0(buf, pos + 4)
    pos = skip_changes(buf, pos)
    n, pos = _u32(buf, pos), pos + 4
    for _ in range(n):  # operations
        if v == 4:
            pos = skip_changes(buf, _ext_v0(buf, pos))
            pos = _skip_events(buf, pos)
        else:
            pos = skip_changes(buf, pos)
    pos = skip_changes(buf, pos)
    present, pos = _u32(buf, pos), pos + 4
    if present and v == 3:  # SorobanTransactionMeta
        pos = _skip_soroban_meta_ext(buf, pos)
        pos = _skip_events(buf, pos)
        pos = skip_scval(buf, pos)
        pos = _skip_events(buf, pos, diagnostic=True)
    elif present:  # SorobanTransactionMetaV2
        pos = _skip_soroban_meta_ext(buf, pos)
        has_value, pos = _u32(buf, pos), pos + 4
        if has_value:
            pos = skip_scval(buf, pos)
    stages: list[int] = []
    if v == 4:
        n, pos = _u32(buf, pos), pos + 4
        for _ in range(n):  # TransactionEvent: stage, event
            stages.append(_u32(buf, pos))
            pos = skip_contract_event(buf, pos + 4)
        pos = _skip_events(buf, pos, diagnostic=True)
    return pos, stages


# The walkers other narrow readers (``metaread``) step with.
read_u32 = _u32
skip_address = _skip_address
skip_ledger_entry = _skip_ledger_entry
skip_ext_v0 = _ext_v0
skip_events = _skip_events
skip_soroban_meta_ext = _skip_soroban_meta_ext

__all__ = [
    "Unsupported",
    "read_u32",
    "skip_address",
    "skip_changes",
    "skip_contract_event",
    "skip_events",
    "skip_ext_v0",
    "skip_ledger_entry",
    "skip_scval",
    "skip_soroban_meta_ext",
    "skip_transaction_meta",
]

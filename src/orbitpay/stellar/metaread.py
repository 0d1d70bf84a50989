"""A narrow reader for transaction metas: return value and contract events, nothing else.

A meta as the network writes it is mostly ledger entry changes: every
contract data entry a transaction wrote, whole, before and after (instance
storage maps, structs), their TTL entries, the source account twice. The
indexer reads none of that; it needs the top-level call's return value and
the contract events per operation (with, for meta v3, their places among the
diagnostic events). stellar-sdk builds an object for every field of every
entry to get there (about 4 ms for a heavy meta); this reader steps over the
changes with :mod:`orbitpay.stellar.xdrskip` (discriminants and lengths only)
and decodes the few values it returns with :mod:`orbitpay.stellar.fastxdr`.
:func:`storage_changes` gives the archive path the contract data changes of
watched contracts the same way (key and values copied out as bytes, the rest
stepped over).

Any shape either does not handle (an older meta version, an SCVal arm the fast
decoder leaves to stellar-sdk, bytes left over at the end, a truncated
buffer) makes :func:`read_meta` decode the whole meta with stellar-sdk
instead (:func:`view_of`): the answer is the same either way, only slower.
Tests hold the two equal over generated metas, v3 and v4.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stellar_sdk import StrKey
from stellar_sdk import xdr as x

from orbitpay.stellar import fastxdr, xdrskip
from orbitpay.stellar.scval import decode_scval
from orbitpay.stellar.xdrskip import read_u32 as _u32

if TYPE_CHECKING:
    from orbitpay.stellar.ledgermeta import StorageChange  # annotations only

NO_VALUE: Any = object()
"""``MetaView.return_value`` when the meta holds none (a failed v4 transaction)."""


@dataclass(slots=True)
class EventRef:
    """A contract event of the meta: its contract, its decoded first topic, its place.

    ``topic0`` is None when the event has no topics or its first topic cannot
    be decoded; events without a contract id are left out (their place still
    counts in ``index``).
    """

    contract: str
    topic0: Any
    op_index: int
    index: int


@dataclass(slots=True)
class MetaView:
    """What the indexer reads from one ``TransactionMeta``.

    ``return_value``: the top-level call's value decoded (``NO_VALUE`` when
    absent; ``UNREADABLE`` when present but not decodable); ``events``: contract
    events in emission order; ``diag_positions``: for a v3 meta with diagnostic
    events, the positions of the successful contract events among them (a
    protocol-22 RPC numbered events by those), else empty.
    """

    version: int
    return_value: Any = NO_VALUE
    events: list[EventRef] = field(default_factory=list)
    diag_positions: list[int] = field(default_factory=list)


UNREADABLE: Any = object()
"""``MetaView.return_value`` when the meta holds one that does not decode."""

_Fallback = (
    xdrskip.Unsupported,
    fastxdr.Unsupported,
    struct.error,
    IndexError,
    UnicodeDecodeError,
    TypeError,  # map keys that do not sort (stellar-sdk's decode_scval fails on them too)
)


def _contract(raw: bytes) -> str:
    return fastxdr._strkey(1, raw)


def _event(r: fastxdr.Reader, op_index: int, index: int, out: list[EventRef]) -> tuple[int, bool]:
    """Read the ``ContractEvent`` at ``r.pos``: appends its ref; (its type, in list)."""
    buf = r.buf
    pos = xdrskip.skip_ext_v0(buf, r.pos)
    has_id = _u32(buf, pos)
    if has_id > 1:
        raise xdrskip.Unsupported("optional flag")
    contract = None
    if has_id:
        if pos + 36 > len(buf):
            raise xdrskip.Unsupported("truncated contract id")
        contract = _contract(buf[pos + 4 : pos + 36])
        pos += 36
    else:
        pos += 4
    event_type = _u32(buf, pos)
    if _u32(buf, pos + 4) != 0:
        raise xdrskip.Unsupported("ContractEventBody")
    n = _u32(buf, pos + 8)
    pos += 12
    topic0: Any = None
    for i in range(n):
        if i == 0:
            r.pos = pos
            topic0 = r.scval()
            pos = r.pos
        else:
            pos = xdrskip.skip_scval(buf, pos)
    r.pos = xdrskip.skip_scval(buf, pos)  # data
    if contract is not None:
        out.append(EventRef(contract, topic0, op_index, index))
    return event_type, contract is not None


def view_of(meta: x.TransactionMeta) -> MetaView:
    """The same view from a stellar-sdk object (the fallback, and the tests' reference)."""
    view = MetaView(meta.v)
    rv: x.SCVal | None = None
    per_op: list[list[x.ContractEvent]] = []
    if meta.v == 4 and meta.v4 is not None:
        m4 = meta.v4
        rv = m4.soroban_meta.return_value if m4.soroban_meta is not None else None
        per_op = [list(op.events) for op in m4.operations]
    elif meta.v == 3 and meta.v3 is not None and meta.v3.soroban_meta is not None:
        rv = meta.v3.soroban_meta.return_value
        per_op = [list(meta.v3.soroban_meta.events)]
    if rv is not None:
        try:
            view.return_value = decode_scval(rv)
        except Exception:
            view.return_value = UNREADABLE
    for op_index, events in enumerate(per_op):
        for i, ev in enumerate(events):
            ref = event_ref(ev, op_index, i)
            if ref is not None:
                view.events.append(ref)
    if meta.v == 3 and meta.v3 is not None and meta.v3.soroban_meta is not None:
        diagnostics = meta.v3.soroban_meta.diagnostic_events or []
        positions = [
            pos
            for pos, d in enumerate(diagnostics)
            if d.event.type == x.ContractEventType.CONTRACT and d.in_successful_contract_call
        ]
        if diagnostics and len(positions) == len(view.events):
            view.diag_positions = positions
    return view


def event_ref(ev: x.ContractEvent, op_index: int, index: int) -> EventRef | None:
    """An sdk ``ContractEvent`` as an :class:`EventRef` (None without a contract id)."""
    if ev.contract_id is None or ev.body.v0 is None:
        return None
    contract = StrKey.encode_contract(ev.contract_id.contract_id.hash)
    topics = ev.body.v0.topics
    try:
        topic0 = decode_scval(topics[0]) if topics else None
    except Exception:
        topic0 = None
    return EventRef(contract, topic0, op_index, index)


def read_meta(data: bytes | str) -> MetaView | None:
    """The view of a ``TransactionMeta`` (raw bytes or base64); None when unreadable."""
    try:
        buf = base64.b64decode(data) if isinstance(data, str) else data
    except ValueError:
        return None
    try:
        return _fast(buf)
    except _Fallback:
        pass
    try:
        meta = x.TransactionMeta.from_xdr_bytes(buf)
    except Exception:
        return None
    return view_of(meta)


def read_event(data: bytes | str, op_index: int, index: int) -> EventRef | None:
    """One base64 ``ContractEvent`` (as ``getTransaction`` lists them) as an :class:`EventRef`.

    None when unreadable or without a contract id.
    """
    try:
        buf = base64.b64decode(data) if isinstance(data, str) else data
    except ValueError:
        return None
    try:
        r = fastxdr.Reader(buf)
        out: list[EventRef] = []
        _event(r, op_index, index, out)
        if r.pos != len(buf):
            raise xdrskip.Unsupported("bytes after the event")
        return out[0] if out else None
    except _Fallback:
        pass
    try:
        return event_ref(x.ContractEvent.from_xdr_bytes(buf), op_index, index)
    except Exception:
        return None


# ── storage changes ──────────────────────────────────────────────────────────

_STATE, _REMOVED = 3, 2
_KINDS = {0: "created", 1: "updated", 4: "restored"}


def _change_lists(buf: bytes) -> list[tuple[int | None, int]]:
    """(op index or None, position) of each ``LedgerEntryChanges`` of a v3/v4 meta."""
    v = _u32(buf, 0)
    if v not in (3, 4) or xdrskip.skip_transaction_meta(buf, 0)[0] != len(buf):
        raise xdrskip.Unsupported("not a whole v3/v4 meta")
    pos = xdrskip.skip_ext_v0(buf, 4)
    out: list[tuple[int | None, int]] = [(None, pos)]
    pos = xdrskip.skip_changes(buf, pos)
    n_ops = _u32(buf, pos)
    pos += 4
    for op_index in range(n_ops):
        if v == 4:
            pos = xdrskip.skip_ext_v0(buf, pos)
            out.append((op_index, pos))
            pos = xdrskip.skip_events(buf, xdrskip.skip_changes(buf, pos))
        else:
            out.append((op_index, pos))
            pos = xdrskip.skip_changes(buf, pos)
    out.append((None, pos))
    return out


def _data_changes(
    buf: bytes, pos: int, watch: Collection[str] | None, base: tuple[int, str, int, int | None]
) -> list[StorageChange]:
    """ledgermeta's ``_storage_changes`` of the ``LedgerEntryChanges`` at ``pos``, from bytes."""
    from orbitpay.stellar.ledgermeta import StorageChange  # ledgermeta imports this module

    ledger, tx_hash, apply_index, op_index = base
    out: list[StorageChange] = []
    before: dict[bytes, bytes] = {}  # identity -> the STATE entry's value bytes
    n = _u32(buf, pos)
    pos += 4
    for _ in range(n):
        kind = _u32(buf, pos)
        pos += 4
        if kind == _REMOVED:
            if _u32(buf, pos) != 6:  # not CONTRACT_DATA: ledgermeta skips it
                raise xdrskip.Unsupported("removed key of another type")
            start = pos + 4
            key_start = xdrskip.skip_address(buf, start)
            key_end = xdrskip.skip_scval(buf, key_start)
            durability = _u32(buf, key_end)
            pos = key_end + 4
            value = None
        elif kind in (0, 1, 3, 4):
            entry = pos
            pos = xdrskip.skip_ledger_entry(buf, entry)
            if _u32(buf, entry + 4) != 6:
                continue
            start = xdrskip.skip_ext_v0(buf, entry + 8)
            key_start = xdrskip.skip_address(buf, start)
            key_end = xdrskip.skip_scval(buf, key_start)
            durability = _u32(buf, key_end)
            value_end = xdrskip.skip_scval(buf, key_end + 4)
            value = buf[key_end + 4 : value_end]
        else:
            raise xdrskip.Unsupported("LedgerEntryChangeType")
        if durability > 1:
            raise xdrskip.Unsupported("ContractDataDurability")
        identity = buf[start:key_end] + bytes([durability])
        if kind == _STATE:
            assert value is not None
            before[identity] = value
            continue
        if _u32(buf, start) != 1:  # not a contract address
            continue
        cid = _contract(buf[start + 4 : start + 36])
        if watch is not None and cid not in watch:
            continue
        prev = before.pop(identity, None)
        out.append(
            StorageChange(
                ledger=ledger,
                tx_hash=tx_hash,
                apply_index=apply_index,
                op_index=op_index,
                contract_id=cid,
                durability="temporary" if durability == 0 else "persistent",
                key_xdr=_b64(buf[key_start:key_end]),
                kind="removed" if kind == _REMOVED else _KINDS[kind],
                before_xdr=None if prev is None else _b64(prev),
                after_xdr=None if value is None else _b64(value),
            )
        )
    return out


@dataclass(slots=True)
class EventSpans:
    """A v3/v4 meta's events as byte spans, for readers that decode only these.

    ``per_op``: each operation's contract events (meta v3: the one Soroban
    operation's, or none without Soroban meta), as ``ContractEvent`` XDR;
    ``tx_events``: meta v4's transaction-level events as (stage, ``ContractEvent``
    XDR). The archive decodes these few small values instead of the whole meta.
    """

    per_op: list[list[bytes]]
    tx_events: list[tuple[int, bytes]]


def _event_list(buf: bytes, pos: int) -> tuple[list[bytes], int]:
    n = _u32(buf, pos)
    pos += 4
    out: list[bytes] = []
    for _ in range(n):
        end = xdrskip.skip_contract_event(buf, pos)
        out.append(buf[pos:end])
        pos = end
    return out, pos


@dataclass(slots=True)
class _Walk:
    """One pass over a v3/v4 meta: its events as spans, and where the values are that
    only some readers decode (``None``: absent)."""

    version: int
    spans: EventSpans
    return_at: int | None  # the top-level call's return value (an SCVal)
    diagnostics_at: int | None  # meta v3: the diagnostic events list


def _walk(buf: bytes) -> _Walk:
    """The one walk over a meta's layout both narrow readers share (:func:`_fast`,
    :func:`_spans`): ledger entry changes stepped over, events cut out as spans."""
    v = _u32(buf, 0)
    if v not in (3, 4):
        raise xdrskip.Unsupported(f"TransactionMeta v{v}")
    pos = xdrskip.skip_changes(buf, xdrskip.skip_ext_v0(buf, 4))  # ext, txChangesBefore
    n_ops = _u32(buf, pos)
    pos += 4
    per_op: list[list[bytes]] = []
    for _ in range(n_ops):
        if v == 4:  # OperationMetaV2: ext, changes, events
            events, pos = _event_list(buf, xdrskip.skip_changes(buf, xdrskip.skip_ext_v0(buf, pos)))
            per_op.append(events)
        else:  # OperationMeta: changes
            pos = xdrskip.skip_changes(buf, pos)
    pos = xdrskip.skip_changes(buf, pos)  # txChangesAfter
    present = _u32(buf, pos)
    pos += 4
    if present > 1:
        raise xdrskip.Unsupported("optional flag")
    return_at = diagnostics_at = None
    if present and v == 3:  # SorobanTransactionMeta: ext, events, returnValue, diagnostics
        events, pos = _event_list(buf, xdrskip.skip_soroban_meta_ext(buf, pos))
        per_op = [events]
        return_at = pos
        diagnostics_at = xdrskip.skip_scval(buf, pos)
        pos = xdrskip.skip_events(buf, diagnostics_at, diagnostic=True)
    elif present:  # SorobanTransactionMetaV2: ext, optional returnValue
        pos = xdrskip.skip_soroban_meta_ext(buf, pos)
        has_value = _u32(buf, pos)
        pos += 4
        if has_value > 1:
            raise xdrskip.Unsupported("optional flag")
        if has_value:
            return_at = pos
            pos = xdrskip.skip_scval(buf, pos)
    tx_events: list[tuple[int, bytes]] = []
    if v == 4:  # transaction events (stage + event), diagnostic events
        n = _u32(buf, pos)
        pos += 4
        for _ in range(n):
            end = xdrskip.skip_contract_event(buf, pos + 4)
            tx_events.append((_u32(buf, pos), buf[pos + 4 : end]))
            pos = end
        pos = xdrskip.skip_events(buf, pos, diagnostic=True)
    if pos != len(buf):
        raise xdrskip.Unsupported("bytes after the meta")
    return _Walk(v, EventSpans(per_op, tx_events), return_at, diagnostics_at)


def _spans(buf: bytes) -> EventSpans:
    return _walk(buf).spans


def _fast(buf: bytes) -> MetaView:
    """The :class:`MetaView` of a v3/v4 meta from :func:`_walk`: events decoded from their
    spans, the return value and the v3 diagnostic positions read where the walk found them."""
    walk = _walk(buf)
    view = MetaView(walk.version)
    for op_index, events in enumerate(walk.spans.per_op):
        for index, span in enumerate(events):
            _event(fastxdr.Reader(span), op_index, index, view.events)
    r = fastxdr.Reader(buf)
    if walk.return_at is not None:
        r.pos = walk.return_at
        view.return_value = r.scval()
    if walk.diagnostics_at is not None:
        r.pos = walk.diagnostics_at
        n = r.u32()
        positions: list[int] = []
        for i in range(n):
            flag = r.u32()
            if flag > 1:
                raise xdrskip.Unsupported("bool")
            kind, _ = _event(r, 0, 0, [])
            if kind == x.ContractEventType.CONTRACT.value and flag:
                positions.append(i)
        if n and len(positions) == len(view.events):
            view.diag_positions = positions
    return view


def event_spans(buf: bytes) -> EventSpans | None:
    """The meta's contract and transaction events as XDR spans; None for shapes it does not walk.

    None (an older meta version, an unknown arm, a truncated buffer) tells the
    caller to decode the meta with stellar-sdk; tests hold the spans equal to the
    packed events of stellar-sdk's decoding.
    """
    try:
        return _spans(buf)
    except _Fallback:
        return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def storage_changes(
    data: bytes | str,
    watch: Collection[str] | None,
    ledger: int,
    tx_hash: str,
    apply_index: int,
) -> list[StorageChange]:
    """The ``CONTRACT_DATA`` changes of watched contracts in a meta, as the archive reads them.

    Equal to :mod:`orbitpay.stellar.ledgermeta`'s reading of the decoded meta
    (its ``_change_groups`` and ``_storage_changes``): a change per written entry,
    the value before from the ``STATE`` entry that precedes it, op index None for
    the transaction's before/after lists. Only the key and values of watched
    entries are copied out; everything else is stepped over. Shapes the walk does
    not handle go through stellar-sdk (raises as ``TransactionMeta.from_xdr`` does).
    """
    buf = base64.b64decode(data) if isinstance(data, str) else data
    try:
        return [
            change
            for op_index, pos in _change_lists(buf)
            for change in _data_changes(buf, pos, watch, (ledger, tx_hash, apply_index, op_index))
        ]
    except _Fallback:
        pass
    from orbitpay.stellar import ledgermeta

    meta = x.TransactionMeta.from_xdr_bytes(buf)
    return [
        change
        for op_index, changes in ledgermeta._change_groups(meta)
        for change in ledgermeta._storage_changes(
            changes, watch, (ledger, tx_hash, apply_index, op_index)
        )
    ]


__all__ = [
    "NO_VALUE",
    "UNREADABLE",
    "EventRef",
    "EventSpans",
    "MetaView",
    "event_ref",
    "event_spans",
    "read_event",
    "read_meta",
    "storage_changes",
    "view_of",
]

"""Decoding ``LedgerCloseMetaBatch`` (SEP-54 lake objects) into the rows the RPC would serve.

For each ledger of a batch this yields, for the watched contracts only:

- the contract events as :class:`~orbitpay.stellar.rpc.RawEvent` s with ids
  computed exactly as stellar-rpc computes them (``db/event.go``, read not
  copied): operation events get ``TOID(ledger, apply index, op index)`` and
  their index within the operation; transaction-level events (meta v4) get
  ``TOID(ledger, 0, 0)`` before all transactions, ``TOID(ledger, apply index,
  4095)`` after a transaction and ``TOID(ledger, 2^20 - 1, 0)`` after all,
  each numbered by a counter per stage. The id string is ``"%019d-%010d"``.
  ``inSuccessfulContractCall`` is the transaction's success, as in stellar-rpc.
  So an archive row and an RPC row of the same event are the same row;
- a :class:`~orbitpay.stellar.tx.TxContext` per transaction that touches them
  (calls, return value, events per operation), so enrichment needs no
  ``getTransactions``;
- their ``CONTRACT_DATA`` changes (key, value before, value after), which
  carry state that no event states (the silent finalize paths).

Envelopes are matched to apply order by hash: a ledger's transaction set
lists envelopes in set order (phases, components, and for the protocol-23
parallel Soroban phase stages and clusters), while ``txProcessing`` is in
apply order with each result naming its transaction hash. Hashes are taken
from the envelope's own bytes (``sha256(network id || envelope type ||
tx)``), with no re-encoding. A result with no envelope means a wrong network
passphrase or a corrupt object, and is an error.

The batch is walked one ledger at a time with the XDR unpacker's position, so
an undecodable ledger is named. When that ledger (and the rest of the batch)
mentions no watched contract, it is of no concern and decoding stops quietly;
otherwise :class:`LedgerDecodeError` names it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stellar_sdk import Network, StrKey
from stellar_sdk import xdr as x
from xdrlib3 import Unpacker

from orbitpay.stellar import metaread, xdrskip
from orbitpay.stellar.rpc import OP_MASK, TX_MASK, RawEvent, event_id, toid
from orbitpay.stellar.tx import TxContext, TxDecodeError, parse_tx

_EVENT_TYPES = {
    x.ContractEventType.SYSTEM: "system",
    x.ContractEventType.CONTRACT: "contract",
    x.ContractEventType.DIAGNOSTIC: "diagnostic",
}
_SUCCESS_CODES = frozenset(
    {x.TransactionResultCode.txSUCCESS, x.TransactionResultCode.txFEE_BUMP_INNER_SUCCESS}
)
_BEFORE_ALL = x.TransactionEventStage.TRANSACTION_EVENT_STAGE_BEFORE_ALL_TXS.value
_AFTER_ALL = x.TransactionEventStage.TRANSACTION_EVENT_STAGE_AFTER_ALL_TXS.value
_AFTER_TX = x.TransactionEventStage.TRANSACTION_EVENT_STAGE_AFTER_TX.value
_TAG_TX = struct.pack(">I", x.EnvelopeType.ENVELOPE_TYPE_TX.value)
_TAG_FEE_BUMP = struct.pack(">I", x.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP.value)


class LedgerDecodeError(ValueError):
    """A ledger that concerns the watched contracts could not be decoded."""

    def __init__(self, ledger: int, reason: str) -> None:
        super().__init__(f"ledger {ledger}: {reason}")
        self.ledger = ledger
        self.reason = reason


# ── results ──────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class StorageChange:
    """One change of a watched contract's ``CONTRACT_DATA`` entry, base64 SCVal XDR."""

    ledger: int
    tx_hash: str
    apply_index: int
    op_index: int | None  # None: the transaction's before/after changes
    contract_id: str
    durability: str  # "persistent" | "temporary"
    key_xdr: str
    kind: str  # "created" | "updated" | "removed" | "restored"
    before_xdr: str | None
    after_xdr: str | None


@dataclass(slots=True)
class ArchiveLedger:
    """What one ledger holds for the watched contracts."""

    sequence: int
    hash: str
    closed_at: datetime
    protocol_version: int
    tx_count: int
    # Every transaction hash in apply order (the index + 1 is the TOID's tx order).
    tx_hashes: list[str]
    events: list[RawEvent] = field(default_factory=list)
    transactions: dict[str, TxContext] = field(default_factory=dict)
    storage_changes: list[StorageChange] = field(default_factory=list)


@dataclass(slots=True)
class _Envelope:
    raw: bytes
    envelope: x.TransactionEnvelope


@dataclass(slots=True)
class _Applied:
    hash: str
    result: x.TransactionResult
    meta_raw: bytes
    raw: bytes  # result pair + fee changes + meta (+ post-apply fee changes): the prefilter span
    # Decoded on the slow path; on the fast one only when the transaction is watched.
    decoded: x.TransactionMeta | None
    # Stages of the meta's transaction-level events (they number each other's ids).
    stages: list[int]

    @property
    def meta(self) -> x.TransactionMeta:
        if self.decoded is None:
            self.decoded = x.TransactionMeta.from_xdr_bytes(self.meta_raw)
        return self.decoded


@dataclass(slots=True)
class _Ledger:
    header: x.LedgerHeaderHistoryEntry
    envelopes: list[_Envelope]
    applied: list[_Applied]


# ── walking the XDR ──────────────────────────────────────────────────────────


def _envelope(u: Unpacker, buf: bytes) -> _Envelope:
    start = u.get_position()
    env = x.TransactionEnvelope.unpack(u)
    return _Envelope(buf[start : u.get_position()], env)


def _envelopes(u: Unpacker, buf: bytes) -> list[_Envelope]:
    return [_envelope(u, buf) for _ in range(u.unpack_uint())]


def _tx_set(u: Unpacker, buf: bytes, generalized: bool) -> list[_Envelope]:
    if not generalized:
        x.Hash.unpack(u)
        return _envelopes(u, buf)
    v = u.unpack_int()
    if v != 1:
        raise ValueError(f"unknown GeneralizedTransactionSet v{v}")
    x.Hash.unpack(u)
    out: list[_Envelope] = []
    for _ in range(u.unpack_uint()):  # phases
        phase = u.unpack_int()
        if phase == 0:
            for _ in range(u.unpack_uint()):  # components
                kind = u.unpack_int()
                if kind != x.TxSetComponentType.TXSET_COMP_TXS_MAYBE_DISCOUNTED_FEE.value:
                    raise ValueError(f"unknown TxSetComponent type {kind}")
                if u.unpack_uint():
                    x.Int64.unpack(u)
                out.extend(_envelopes(u, buf))
        elif phase == 1:  # parallel Soroban phase (protocol 23)
            if u.unpack_uint():
                x.Int64.unpack(u)
            for _ in range(u.unpack_uint()):  # stages
                for _ in range(u.unpack_uint()):  # clusters
                    out.extend(_envelopes(u, buf))
        else:
            raise ValueError(f"unknown TransactionPhase v{phase}")
    return out


def _applied(u: Unpacker, buf: bytes, v1: bool, fast: bool) -> _Applied:
    """One ``TransactionResultMeta`` (``V1`` in LedgerCloseMeta v2).

    ``fast``: step over the fee changes and the meta with :mod:`xdrskip`
    (decoding the meta later only if the transaction is watched).
    """
    start = u.get_position()
    if v1:
        x.ExtensionPoint.unpack(u)
    pair = x.TransactionResultPair.unpack(u)
    decoded: x.TransactionMeta | None = None
    stages: list[int]
    if fast:
        pos = xdrskip.skip_changes(buf, u.get_position())
        meta_start = pos
        pos, stages = xdrskip.skip_transaction_meta(buf, pos)
        meta_end = pos
        if v1:
            pos = xdrskip.skip_changes(buf, pos)
        if pos > len(buf):
            raise xdrskip.Unsupported("walked past the end of the batch")
        u.set_position(pos)
    else:
        x.LedgerEntryChanges.unpack(u)
        meta_start = u.get_position()
        decoded = x.TransactionMeta.unpack(u)
        meta_end = u.get_position()
        stages = [e.stage.value for e in _tx_events(decoded)]
        if v1:
            x.LedgerEntryChanges.unpack(u)
    return _Applied(
        hash=pair.transaction_hash.hash.hex(),
        result=pair.result,
        meta_raw=buf[meta_start:meta_end],
        raw=buf[start : u.get_position()],
        decoded=decoded,
        stages=stages,
    )


def _skip_list(u: Unpacker, cls: type[x.UpgradeEntryMeta | x.SCPHistoryEntry]) -> None:
    for _ in range(u.unpack_uint()):
        cls.unpack(u)


def _ledger(u: Unpacker, buf: bytes, fast: bool) -> _Ledger:
    v = u.unpack_int()
    if v not in (0, 1, 2):
        raise ValueError(f"unknown LedgerCloseMeta v{v}")
    if v != 0:
        x.LedgerCloseMetaExt.unpack(u)
    header = x.LedgerHeaderHistoryEntry.unpack(u)
    envelopes = _tx_set(u, buf, generalized=v != 0)
    applied = [_applied(u, buf, v1=v == 2, fast=fast) for _ in range(u.unpack_uint())]
    _skip_list(u, x.UpgradeEntryMeta)
    _skip_list(u, x.SCPHistoryEntry)
    if v != 0:
        x.Uint64.unpack(u)
        for _ in range(u.unpack_uint()):
            x.LedgerKey.unpack(u)
    if v == 1:
        for _ in range(u.unpack_uint()):
            x.LedgerEntry.unpack(u)
    return _Ledger(header, envelopes, applied)


def envelope_hash(raw: bytes, envelope: x.TransactionEnvelope, network_id: bytes) -> str:
    """The transaction hash, from the envelope's own bytes (no re-encoding for v1/fee bump)."""
    kind = envelope.type
    if kind == x.EnvelopeType.ENVELOPE_TYPE_TX and envelope.v1 is not None:
        sigs = envelope.v1.signatures
        tag = _TAG_TX
    elif kind == x.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP and envelope.fee_bump is not None:
        sigs = envelope.fee_bump.signatures
        tag = _TAG_FEE_BUMP
    elif kind == x.EnvelopeType.ENVELOPE_TYPE_TX_V0 and envelope.v0 is not None:
        # A v0 transaction is hashed as the v1 transaction it stands for, whose bytes
        # are the v0 bytes behind a KEY_TYPE_ED25519 muxed-account tag (the optional
        # time bounds flag 0/1 reads as PRECOND_NONE/PRECOND_TIME).
        sigs = envelope.v0.signatures
        tag = _TAG_TX + b"\x00\x00\x00\x00"
    else:
        raise ValueError(f"unknown envelope type {kind}")
    sig_len = 4 + sum(8 + (len(s.signature.signature) + 3) // 4 * 4 for s in sigs)
    body = raw[4 : len(raw) - sig_len]
    return hashlib.sha256(network_id + tag + body).hexdigest()


# ── turning one ledger into rows ─────────────────────────────────────────────


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _contract_of(ev: x.ContractEvent) -> str:
    if ev.contract_id is None:
        return ""
    return StrKey.encode_contract(ev.contract_id.contract_id.hash)


def _successful(result: x.TransactionResult) -> bool:
    return result.result.code in _SUCCESS_CODES


def _operation_events(meta: x.TransactionMeta) -> list[list[x.ContractEvent]]:
    """Contract events per operation, as stellar-rpc ingests them (meta v3 or v4)."""
    if meta.v == 4 and meta.v4 is not None:
        return [list(op.events) for op in meta.v4.operations]
    if meta.v == 3 and meta.v3 is not None:
        sm = meta.v3.soroban_meta
        return [list(sm.events)] if sm is not None else []
    if meta.v in (0, 1, 2):
        return []
    raise ValueError(f"unknown TransactionMeta v{meta.v}")


def _tx_events(meta: x.TransactionMeta) -> list[x.TransactionEvent]:
    if meta.v == 4 and meta.v4 is not None:
        return list(meta.v4.events)
    return []


def _change_groups(
    meta: x.TransactionMeta,
) -> list[tuple[int | None, list[x.LedgerEntryChange]]]:
    """(op index or None, changes) for the before/operations/after change lists."""
    body: x.TransactionMetaV3 | x.TransactionMetaV4 | x.TransactionMetaV2 | x.TransactionMetaV1
    if meta.v == 4 and meta.v4 is not None:
        m4 = meta.v4
        return [
            (None, list(m4.tx_changes_before.ledger_entry_changes)),
            *[(i, list(op.changes.ledger_entry_changes)) for i, op in enumerate(m4.operations)],
            (None, list(m4.tx_changes_after.ledger_entry_changes)),
        ]
    if meta.v == 3 and meta.v3 is not None:
        body = meta.v3
    elif meta.v == 2 and meta.v2 is not None:
        body = meta.v2
    elif meta.v == 1 and meta.v1 is not None:
        return [
            (None, list(meta.v1.tx_changes.ledger_entry_changes)),
            *[
                (i, list(op.changes.ledger_entry_changes))
                for i, op in enumerate(meta.v1.operations)
            ],
        ]
    else:
        return []
    return [
        (None, list(body.tx_changes_before.ledger_entry_changes)),
        *[(i, list(op.changes.ledger_entry_changes)) for i, op in enumerate(body.operations)],
        (None, list(body.tx_changes_after.ledger_entry_changes)),
    ]


def _contract_data(
    data: x.LedgerEntryData | None,
) -> x.ContractDataEntry | None:
    if data is None or data.type != x.LedgerEntryType.CONTRACT_DATA:
        return None
    return data.contract_data


def _address_contract(a: x.SCAddress) -> str | None:
    if a.type == x.SCAddressType.SC_ADDRESS_TYPE_CONTRACT and a.contract_id is not None:
        return StrKey.encode_contract(a.contract_id.contract_id.hash)
    return None


def _storage_changes(
    changes: list[x.LedgerEntryChange],
    watch: Collection[str] | None,
    base: tuple[int, str, int, int | None],
) -> list[StorageChange]:
    """Watched contracts' CONTRACT_DATA changes; a STATE entry is the next change's 'before'."""
    ledger, tx_hash, apply_index, op_index = base
    out: list[StorageChange] = []
    before: dict[bytes, x.ContractDataEntry] = {}
    for ch in changes:
        t = ch.type
        if t == x.LedgerEntryChangeType.LEDGER_ENTRY_STATE and ch.state is not None:
            cd = _contract_data(ch.state.data)
            if cd is not None:
                before[_cd_identity(cd.contract, cd.key, cd.durability)] = cd
            continue
        if t == x.LedgerEntryChangeType.LEDGER_ENTRY_REMOVED and ch.removed is not None:
            lk = ch.removed.contract_data
            if ch.removed.type != x.LedgerEntryType.CONTRACT_DATA or lk is None:
                continue
            contract, key, durability = lk.contract, lk.key, lk.durability
            after: x.ContractDataEntry | None = None
            kind = "removed"
        else:
            entry = ch.created or ch.updated or ch.restored
            cd = _contract_data(entry.data if entry is not None else None)
            if cd is None:
                continue
            contract, key, durability, after = cd.contract, cd.key, cd.durability, cd
            kind = {
                x.LedgerEntryChangeType.LEDGER_ENTRY_CREATED: "created",
                x.LedgerEntryChangeType.LEDGER_ENTRY_UPDATED: "updated",
                x.LedgerEntryChangeType.LEDGER_ENTRY_RESTORED: "restored",
            }.get(t, "updated")
        cid = _address_contract(contract)
        if cid is None or (watch is not None and cid not in watch):
            continue
        prev = before.pop(_cd_identity(contract, key, durability), None)
        out.append(
            StorageChange(
                ledger=ledger,
                tx_hash=tx_hash,
                apply_index=apply_index,
                op_index=op_index,
                contract_id=cid,
                durability="temporary"
                if durability == x.ContractDataDurability.TEMPORARY
                else "persistent",
                key_xdr=_b64(key.to_xdr_bytes()),
                kind=kind,
                before_xdr=None if prev is None else _b64(prev.val.to_xdr_bytes()),
                after_xdr=None if after is None else _b64(after.val.to_xdr_bytes()),
            )
        )
    return out


def _cd_identity(
    contract: x.SCAddress, key: x.SCVal, durability: x.ContractDataDurability
) -> bytes:
    return contract.to_xdr_bytes() + key.to_xdr_bytes() + bytes([durability.value])


def _raw_event(
    ev: x.ContractEvent,
    ev_id: str,
    ledger: int,
    closed_at: datetime,
    tx_hash: str,
    success: bool,
    tx_order: int,
    op_index: int,
) -> RawEvent:
    body = ev.body.v0
    if body is None:
        raise ValueError(f"unknown ContractEventBody v{ev.body.v}")
    return RawEvent(
        id=ev_id,
        type=_EVENT_TYPES.get(ev.type, "contract"),
        ledger=ledger,
        ledger_closed_at=closed_at,
        contract_id=_contract_of(ev),
        topic_xdr=[_b64(t.to_xdr_bytes()) for t in body.topics],
        value_xdr=_b64(body.data.to_xdr_bytes()),
        in_successful_contract_call=success,
        tx_hash=tx_hash,
        transaction_index=tx_order,
        operation_index=op_index,
        legacy_ids=False,
    )


@dataclass(slots=True)
class _MetaParts:
    """What the archive keeps of a watched transaction's meta."""

    tx_events: list[tuple[int, x.ContractEvent]]  # (stage, event) of meta v4
    per_op: list[list[x.ContractEvent]]
    per_op_xdr: list[list[str]]  # the same events, base64 (``parse_tx`` takes these)
    storage_changes: list[StorageChange]


def _meta_parts(app: _Applied, watch: Collection[str] | None, seq: int, order: int) -> _MetaParts:
    """The events and storage changes of one watched transaction's meta.

    The narrow path (:func:`metaread.event_spans`, :func:`metaread.storage_changes`)
    steps over the ledger entry changes that make up most of a real meta and
    decodes only the events, each from its own bytes; a meta it does not walk (or
    one already decoded on the slow path) is read from stellar-sdk's objects.
    Both give the same rows (tests hold them equal).
    """
    spans = metaread.event_spans(app.meta_raw) if app.decoded is None else None
    if spans is not None:
        return _MetaParts(
            tx_events=[(st, x.ContractEvent.from_xdr_bytes(b)) for st, b in spans.tx_events],
            per_op=[[x.ContractEvent.from_xdr_bytes(b) for b in evs] for evs in spans.per_op],
            per_op_xdr=[[_b64(b) for b in evs] for evs in spans.per_op],
            storage_changes=metaread.storage_changes(app.meta_raw, watch, seq, app.hash, order),
        )
    meta = app.meta
    per_op = _operation_events(meta)
    return _MetaParts(
        tx_events=[(tev.stage.value, tev.event) for tev in _tx_events(meta)],
        per_op=per_op,
        per_op_xdr=[[_b64(e.to_xdr_bytes()) for e in evs] for evs in per_op],
        storage_changes=[
            change
            for group_op, changes in _change_groups(meta)
            for change in _storage_changes(changes, watch, (seq, app.hash, order, group_op))
        ],
    )


def _rows(
    led: _Ledger,
    network_id: bytes,
    watch: Collection[str] | None,
    needles: Sequence[bytes] | None,
    event_types: Collection[str],
) -> ArchiveLedger:
    header = led.header.header
    seq = header.ledger_seq.uint32
    closed_at = datetime.fromtimestamp(header.scp_value.close_time.time_point.uint64, UTC)
    by_hash: dict[str, _Envelope] = {}
    for env in led.envelopes:
        by_hash[envelope_hash(env.raw, env.envelope, network_id)] = env
    hashes = [a.hash for a in led.applied]
    missing = [h for h in hashes if h not in by_hash]
    if missing or len(by_hash) != len(hashes):
        raise ValueError(
            f"{len(missing)} of {len(hashes)} applied transactions have no envelope in the "
            f"transaction set (first {missing[0] if missing else '-'}): "
            "is the network passphrase right?"
        )
    out = ArchiveLedger(
        sequence=seq,
        hash=led.header.hash.hash.hex(),
        closed_at=closed_at,
        protocol_version=header.ledger_version.uint32,
        tx_count=len(hashes),
        tx_hashes=hashes,
    )
    before_all = after_all = 0
    for order, app in enumerate(led.applied, start=1):
        env = by_hash[app.hash]
        success = _successful(app.result)
        relevant = needles is None or any(n in env.raw or n in app.raw for n in needles)
        if not relevant:
            # Nothing of it is watched; its fee events still number the ledger's.
            before_all += app.stages.count(_BEFORE_ALL)
            after_all += app.stages.count(_AFTER_ALL)
            continue
        parts = _meta_parts(app, watch, seq, order)
        for stage, tev in parts.tx_events:
            if stage == _BEFORE_ALL:
                tx_order, op, index = 0, 0, before_all
                before_all += 1
            elif stage == _AFTER_ALL:
                tx_order, op, index = TX_MASK, 0, after_all
                after_all += 1
            elif stage == _AFTER_TX:
                continue  # numbered below, per transaction
            else:
                raise ValueError(f"unknown TransactionEventStage {stage}")
            _keep(
                out,
                tev,
                event_id(seq, tx_order, op, index),
                seq,
                closed_at,
                app.hash,
                success,
                tx_order,
                op,
                watch,
                event_types,
            )
        after_tx = 0
        for stage, tev in parts.tx_events:
            if stage == _AFTER_TX:
                _keep(
                    out,
                    tev,
                    event_id(seq, order, OP_MASK, after_tx),
                    seq,
                    closed_at,
                    app.hash,
                    success,
                    order,
                    OP_MASK,
                    watch,
                    event_types,
                )
                after_tx += 1
        for op_index, events in enumerate(parts.per_op):
            for index, ev in enumerate(events):
                _keep(
                    out,
                    ev,
                    event_id(seq, order, op_index, index),
                    seq,
                    closed_at,
                    app.hash,
                    success,
                    order,
                    op_index,
                    watch,
                    event_types,
                )
        out.storage_changes.extend(parts.storage_changes)
        try:
            ctx = parse_tx(
                app.hash,
                "SUCCESS" if success else "FAILED",
                seq,
                _b64(env.raw),
                _b64(app.meta_raw),
                parts.per_op_xdr,
            )
        except TxDecodeError as exc:
            raise ValueError(str(exc)) from None
        out.transactions[app.hash] = ctx
    # stellar-rpc serves events in id order: fee events before all transactions
    # (transaction order 0) come first, those after all (2^20 - 1) last. Ids are
    # fixed-width, so string order is numeric order.
    out.events.sort(key=lambda e: e.id)
    return out


def _keep(
    out: ArchiveLedger,
    ev: x.ContractEvent,
    ev_id: str,
    ledger: int,
    closed_at: datetime,
    tx_hash: str,
    success: bool,
    tx_order: int,
    op_index: int,
    watch: Collection[str] | None,
    event_types: Collection[str],
) -> None:
    if _EVENT_TYPES.get(ev.type) not in event_types:
        return
    if watch is not None and _contract_of(ev) not in watch:
        return
    out.events.append(
        _raw_event(ev, ev_id, ledger, closed_at, tx_hash, success, tx_order, op_index)
    )


# ── entry points ─────────────────────────────────────────────────────────────


def batch_range(xdr_bytes: bytes) -> tuple[int, int]:
    """(startSequence, endSequence) of a ``LedgerCloseMetaBatch`` without decoding it."""
    first, last = struct.unpack_from(">II", xdr_bytes, 0)
    return int(first), int(last)


def first_close_time(xdr_bytes: bytes) -> datetime:
    """Close time of a batch's first ledger, read from fixed offsets (no decoding).

    ``LedgerCloseMetaBatch`` = start, end, count, then ``LedgerCloseMeta``:
    its arm, the extension for v1/v2 (v0: 4 bytes; v1: 4 + ext 4 + int64 8), the
    header entry's hash, then the header: version, previous hash, and the SCP
    value whose tx set hash precedes ``closeTime``. Cheap enough to read from
    every object, which is what turns a date into a ledger by binary search.
    """
    pos = 12
    (arm,) = struct.unpack_from(">I", xdr_bytes, pos)
    pos += 4
    if arm in (1, 2):
        (ext,) = struct.unpack_from(">I", xdr_bytes, pos)
        pos += {0: 4, 1: 16}.get(ext, -1)
        if ext not in (0, 1):
            raise ValueError(f"unknown LedgerCloseMetaExt v{ext}")
    elif arm != 0:
        raise ValueError(f"unknown LedgerCloseMeta v{arm}")
    pos += 32 + 4 + 32 + 32  # entry hash, ledgerVersion, previousLedgerHash, txSetHash
    (close_time,) = struct.unpack_from(">Q", xdr_bytes, pos)
    return datetime.fromtimestamp(close_time, UTC)


def decode_batch(
    xdr_bytes: bytes,
    network_passphrase: str,
    watch: Collection[str] | None = None,
    *,
    first: int | None = None,
    last: int | None = None,
    event_types: Collection[str] = ("contract",),
    fast: bool = True,
) -> list[ArchiveLedger]:
    """The ledgers of a decompressed ``LedgerCloseMetaBatch`` in ``[first, last]``.

    ``watch``: contract strkeys (None: every contract, every transaction gets a
    context). Raises :class:`LedgerDecodeError` naming the ledger that concerns
    a watched contract and cannot be decoded. ``fast=False`` decodes every
    transaction meta with stellar-sdk instead of stepping over the unwatched
    ones (:mod:`orbitpay.stellar.xdrskip`); the rows are the same.
    """
    network_id = Network(network_passphrase).network_id()
    watched = None if watch is None else frozenset(watch)
    needles = None if watched is None else [StrKey.decode_contract(c) for c in watched]
    start, end = batch_range(xdr_bytes)
    u = Unpacker(xdr_bytes)
    u.set_position(8)
    count = u.unpack_uint()
    if count != end - start + 1:
        raise LedgerDecodeError(start, f"batch {start}-{end} holds {count} ledgers")
    out: list[ArchiveLedger] = []
    for i in range(count):
        seq = start + i
        pos = u.get_position()
        try:
            try:
                led = _ledger(u, xdr_bytes, fast=fast)
            except Exception:
                if not fast:
                    raise
                u.set_position(pos)  # a shape the walkers do not know: the full decode
                led = _ledger(u, xdr_bytes, fast=False)
            got = led.header.header.ledger_seq.uint32
            if got != seq:
                raise ValueError(f"header says ledger {got}")
        except Exception as exc:
            rest = xdr_bytes[pos:]
            if needles is not None and not any(n in rest for n in needles):
                return out  # this ledger and the rest concern no watched contract
            raise LedgerDecodeError(seq, f"undecodable ledger meta: {exc}") from None
        if (first is not None and seq < first) or (last is not None and seq > last):
            continue
        try:
            out.append(_rows(led, network_id, watched, needles, event_types))
        except LedgerDecodeError:
            raise
        except Exception as exc:
            raise LedgerDecodeError(seq, str(exc)) from None
    return out


__all__ = [
    "OP_MASK",
    "TX_MASK",
    "ArchiveLedger",
    "LedgerDecodeError",
    "StorageChange",
    "batch_range",
    "decode_batch",
    "envelope_hash",
    "event_id",
    "first_close_time",
    "toid",
]

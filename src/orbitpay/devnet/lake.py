"""The devnet's ledgers as real ``LedgerCloseMeta`` XDR, and a SEP-54 lake written from them.

A ledger's meta is assembled from the bytes the chain already holds (each
transaction's envelope, result and meta XDR), so it costs a few concatenations,
not an XDR object graph per ledger; empty ledgers, which are most of the
devnet's months of history, are a header and a handful of zero counts.

Shapes follow the chain's meta version, as core emits them:

- meta v4 (protocol 23): ``LedgerCloseMeta`` v2, ``TransactionResultMetaV1``,
  a generalized transaction set whose Soroban phase is the parallel one
  (``TransactionPhase`` v1: one stage, one cluster);
- meta v3 (protocol 22): ``LedgerCloseMeta`` v1, ``TransactionResultMeta``,
  a generalized transaction set whose Soroban phase is ``TransactionPhase`` v0
  with one component.

Envelopes sit in the transaction set in hash order (as in core's sets), not in
apply order, so a reader has to match them to ``txProcessing`` by hash.

:class:`LakeWriter` writes the lake (``.config.json`` + one zstd object per
batch, one ledger per batch by default, like the public pubnet lake) as ledgers
close; each object is written to a temporary name and renamed, so a reader
never sees half an object.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import threading
from pathlib import Path

import zstandard

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.chain import Chain, TxRec
from orbitpay.stellar.datalake import CONFIG_KEY, LakeConfig

_ZERO32 = b"\x00" * 32
_OBJECT_NAME = re.compile(r"\.?[0-9A-F]{8}--\d+(?:-\d+)?\.xdr\.zstd?(?:\.tmp)?")
_PARTITION_NAME = re.compile(r"[0-9A-F]{8}--\d+-\d+")
_U32_ZERO = b"\x00\x00\x00\x00"
TOTAL_COINS = 1_000_000_000_000_000_000
BASE_RESERVE = 5_000_000
MAX_TX_SET_SIZE = 1000


def protocol_of(chain: Chain) -> int:
    """The protocol whose meta shapes the chain emits (meta v4 came with protocol 23)."""
    return 23 if chain.meta_version == 4 else 22


def _u32(v: int) -> bytes:
    return struct.pack(">I", v)


def ledger_header_entry(chain: Chain, seq: int) -> bytes:
    """``LedgerHeaderHistoryEntry`` XDR for ledger ``seq`` (hash, header, ext)."""
    passphrase = chain.network_passphrase
    header = b"".join(
        (
            _u32(protocol_of(chain)),
            dx.ledger_hash(passphrase, seq - 1),  # previousLedgerHash
            _ZERO32,  # scpValue.txSetHash
            struct.pack(">QII", chain.close_time(seq), 0, 0),  # closeTime, no upgrades, BASIC
            _ZERO32,  # txSetResultHash
            _ZERO32,  # bucketListHash
            struct.pack(
                ">IqqIQIII",
                seq,
                TOTAL_COINS,
                0,  # feePool
                0,  # inflationSeq
                0,  # idPool
                dx.BASE_FEE,
                BASE_RESERVE,
                MAX_TX_SET_SIZE,
            ),
            _ZERO32 * 4,  # skipList
            _U32_ZERO,  # ext
        )
    )
    return dx.ledger_hash(passphrase, seq) + header + _U32_ZERO


def _envelopes(txs: list[TxRec]) -> bytes:
    ordered = sorted(txs, key=lambda t: t.hash)
    return _u32(len(ordered)) + b"".join(base64.b64decode(t.envelope_xdr) for t in ordered)


def _tx_set(chain: Chain, seq: int, txs: list[TxRec]) -> bytes:
    """A GeneralizedTransactionSet v1: an empty classic phase, then the Soroban phase."""
    prev = dx.ledger_hash(chain.network_passphrase, seq - 1)
    classic = _u32(0) + _u32(0)  # TransactionPhase v0 with no components
    if chain.meta_version == 4:
        if txs:  # v1: no base fee, one stage holding one cluster
            soroban = _u32(1) + _u32(0) + _u32(1) + _u32(1) + _envelopes(txs)
        else:
            soroban = _u32(1) + _u32(0) + _u32(0)
    elif txs:  # v0: one TXSET_COMP_TXS_MAYBE_DISCOUNTED_FEE component, no base fee
        soroban = _u32(0) + _u32(1) + _u32(0) + _u32(0) + _envelopes(txs)
    else:
        soroban = _u32(0) + _u32(0)
    return _u32(1) + prev + _u32(2) + classic + soroban


def _tx_processing(chain: Chain, txs: list[TxRec]) -> bytes:
    parts = [_u32(len(txs))]
    v1 = chain.meta_version == 4
    for t in txs:  # apply order
        if v1:
            parts.append(_U32_ZERO)  # ExtensionPoint
        parts.append(bytes.fromhex(t.hash))
        parts.append(base64.b64decode(t.result_xdr))
        parts.append(_U32_ZERO)  # feeProcessing: no changes
        parts.append(base64.b64decode(t.meta_xdr))
        if v1:
            parts.append(_U32_ZERO)  # postTxApplyFeeProcessing
    return b"".join(parts)


def ledger_close_meta(chain: Chain, seq: int) -> bytes:
    """``LedgerCloseMeta`` XDR of closed ledger ``seq`` (v2 for meta v4, v1 for meta v3)."""
    rec = chain.ledgers.get(seq)
    txs = rec.txs if rec is not None else []
    version = 2 if chain.meta_version == 4 else 1
    tail = _U32_ZERO + _U32_ZERO + struct.pack(">Q", 0) + _U32_ZERO  # upgrades, scp, size, evicted
    if version == 1:
        tail += _U32_ZERO  # unused
    return b"".join(
        (
            _u32(version),
            _U32_ZERO,  # LedgerCloseMetaExt v0
            ledger_header_entry(chain, seq),
            _tx_set(chain, seq, txs),
            _tx_processing(chain, txs),
            tail,
        )
    )


def ledger_close_meta_batch(chain: Chain, first: int, last: int) -> bytes:
    """``LedgerCloseMetaBatch`` XDR of ledgers ``first..last``."""
    metas = [ledger_close_meta(chain, s) for s in range(first, last + 1)]
    return struct.pack(">III", first, last, len(metas)) + b"".join(metas)


class LakeWriter:
    """Writes the chain's closed ledgers as a SEP-54 lake under ``root`` (idempotent)."""

    def __init__(
        self,
        chain: Chain,
        root: Path,
        *,
        ledgers_per_batch: int = 1,
        batches_per_partition: int = 64_000,
        level: int = 3,
    ) -> None:
        self.chain = chain
        self.root = root
        self.config = LakeConfig(
            network_passphrase=chain.network_passphrase,
            ledgers_per_batch=ledgers_per_batch,
            batches_per_partition=batches_per_partition,
            version="1.0",
        )
        # Content checksums, as Galexie writes them: a corrupt object fails to decompress.
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._lock = threading.Lock()
        self._made_dirs: set[Path] = set()
        self.next_ledger = self.config.batch_start(chain.genesis_ledger)
        self.objects_written = 0
        root.mkdir(parents=True, exist_ok=True)
        self.objects_removed = self._remove_previous()
        self._write(CONFIG_KEY, self.config.to_json())

    def _remove_previous(self) -> int:
        """Delete the lake objects a previous devnet left in ``root``; returns how many.

        The devnet rebuilds its chain from genesis on every start, so objects of
        an earlier run (possibly past this run's ledgers) would splice two chains
        into one lake. Only names of SEP-54 objects and partitions are touched.
        """
        removed = 0
        for path in sorted(self.root.rglob("*"), reverse=True):  # files before their folders
            rel = path.relative_to(self.root)
            if path.is_file() and _OBJECT_NAME.fullmatch(path.name):
                if len(rel.parts) == 1 or _PARTITION_NAME.fullmatch(rel.parts[0]):
                    path.unlink()
                    removed += 1
            elif path.is_dir() and _PARTITION_NAME.fullmatch(path.name) and not any(path.iterdir()):
                path.rmdir()
        return removed

    def _write(self, key: str, data: bytes) -> None:
        path = self.root / key
        parent = path.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        tmp = parent / f".{path.name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def sync(self) -> int:
        """Write every complete batch of closed ledgers not written yet; returns objects written."""
        with self._lock:
            written = 0
            per = self.config.ledgers_per_batch
            while True:
                with self.chain.lock:
                    latest = self.chain.latest_ledger
                    start = self.next_ledger
                    end = start + per - 1
                    if end > latest:
                        break
                    batch = ledger_close_meta_batch(self.chain, start, end)
                self._write(self.config.object_key(start), self._compressor.compress(batch))
                self.next_ledger = end + 1
                written += 1
            self.objects_written += written
            return written


__all__ = [
    "LakeWriter",
    "ledger_close_meta",
    "ledger_close_meta_batch",
    "ledger_header_entry",
    "protocol_of",
]

"""Reading a SEP-54 ledger data lake (as written by Galexie): keys, config, download, prefilter.

A lake is a key-value store of zstd-compressed XDR ``LedgerCloseMetaBatch``
objects under one base URL (``file://`` or ``http(s)://``; public S3 and GCS
buckets are plain HTTPS) plus a ``.config.json`` manifest beside them.
Keys, from SEP-54 and ``stellar/go`` ``support/datastore`` (read, not copied)::

    <base>/<partition>/<batch>.xdr.zst
    partition = "%08X--%d-%d/" % (0xFFFFFFFF - pstart, pstart, pend)  # none if 1 batch each
    batch     = "%08X--%d-%d" % (0xFFFFFFFF - bstart, bstart, bend)  # "%08X--%d" if 1 ledger

Older lakes use the ``.xdr.zstd`` extension; the reader tries the extension
that answered last (``zst`` at first), then the other one, before it calls an
object missing.

Objects carry zstd content checksums (Galexie writes them, and so does the
devnet), so a corrupt object fails decompression; one without a checksum is
only checked against the ledger range its key names.

Nothing is skipped silently: an object missing inside the requested range is
a :class:`Gap` (raised as :class:`GapError`, or yielded when the caller asks
for gaps as values); a truncated or corrupt object raises
:class:`CorruptObject` naming its key; transient transport failures are
retried and then raise :class:`LakeUnavailable`.

The prefilter decides, on the decompressed bytes and before any XDR decoding,
whether a batch can concern the watched contracts: a contract id appears in
the XDR as its raw 32 bytes (event ``contractID``, ``SCAddress`` in calls,
auth trees and ledger keys), so a batch containing none of them is skipped.
That is what makes a backfill over months of pubnet affordable.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

import httpx
import zstandard
from stellar_sdk import StrKey

from orbitpay.retry import Backoff, GaveUp, Sleep, Transient, parse_retry_after, retrying
from orbitpay.stellar.ledgermeta import (
    ArchiveLedger,
    batch_range,
    decode_batch,
    first_close_time,
)
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import TxContext

MAX_UINT32 = 0xFFFF_FFFF
CONFIG_KEY = ".config.json"
EXTENSIONS = ("zst", "zstd")
# Reading more than this from one object means it is not a ledger batch (zip bomb guard).
MAX_DECOMPRESSED_BYTES = 1 << 30


class LakeError(Exception):
    """Base of every data lake failure."""


class LakeConfigError(LakeError):
    """``.config.json`` is missing, unreadable or does not describe a usable lake."""


class PassphraseMismatch(LakeConfigError):
    """The lake holds another network's ledgers."""


class CorruptObject(LakeError):
    """An object could not be decompressed or is not the batch its key names."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"data lake object {key}: {reason}")
        self.key = key
        self.reason = reason


class LakeUnavailable(LakeError):
    """The store kept failing transiently; retries are exhausted."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Ledgers whose object is missing from the lake (a hole, never skipped silently)."""

    first_ledger: int
    last_ledger: int
    key: str

    def __str__(self) -> str:
        return (
            f"ledgers {self.first_ledger}-{self.last_ledger} are missing from the data lake "
            f"(no object {self.key})"
        )


class GapError(LakeError):
    def __init__(self, gap: Gap) -> None:
        super().__init__(str(gap))
        self.gap = gap


# ── configuration and keys ───────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class LakeConfig:
    """The lake's manifest (``.config.json``) and the key scheme it implies."""

    network_passphrase: str
    ledgers_per_batch: int = 1
    batches_per_partition: int = 64_000
    compression: str = "zstd"
    version: str | None = None

    def __post_init__(self) -> None:
        if self.ledgers_per_batch < 1 or self.batches_per_partition < 1:
            raise LakeConfigError("ledgersPerBatch and batchesPerPartition must be at least 1")
        if self.compression != "zstd":
            raise LakeConfigError(f"unsupported compression {self.compression!r} (only zstd)")

    @classmethod
    def from_json(cls, raw: bytes, where: str = CONFIG_KEY) -> LakeConfig:
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise LakeConfigError(f"{where}: not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise LakeConfigError(f"{where}: expected a JSON object")
        try:
            passphrase = doc["networkPassphrase"]
            per_batch = doc["ledgersPerBatch"]
            per_partition = doc["batchesPerPartition"]
        except KeyError as exc:
            raise LakeConfigError(f"{where}: missing {exc.args[0]}") from None
        compression = doc.get("compression") or "zstd"
        ints = (per_batch, per_partition)
        if not isinstance(passphrase, str) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in ints
        ):
            raise LakeConfigError(f"{where}: wrong field types")
        version = doc.get("version")
        return cls(
            network_passphrase=passphrase,
            ledgers_per_batch=per_batch,
            batches_per_partition=per_partition,
            compression=str(compression),
            version=None if version is None else str(version),
        )

    def to_json(self) -> bytes:
        doc: dict[str, object] = {
            "networkPassphrase": self.network_passphrase,
            "version": self.version or "1.0",
            "compression": self.compression,
            "ledgersPerBatch": self.ledgers_per_batch,
            "batchesPerPartition": self.batches_per_partition,
        }
        return json.dumps(doc).encode()

    def check_passphrase(self, expected: str) -> None:
        if self.network_passphrase != expected:
            raise PassphraseMismatch(
                f"the data lake holds ledgers of {self.network_passphrase!r}, "
                f"not of the configured network {expected!r}"
            )

    def batch_start(self, ledger: int) -> int:
        return ledger - ledger % self.ledgers_per_batch

    def batch_end(self, ledger: int) -> int:
        return self.batch_start(ledger) + self.ledgers_per_batch - 1

    def object_key(self, ledger: int, extension: str = "zst") -> str:
        """The key (relative to the ledgers path) of the object holding ``ledger``."""
        if not 0 <= ledger <= MAX_UINT32:
            raise ValueError(f"ledger {ledger} is not a uint32")
        prefix = ""
        if self.batches_per_partition > 1:
            size = self.ledgers_per_batch * self.batches_per_partition
            pstart = ledger - ledger % size
            prefix = f"{MAX_UINT32 - pstart:08X}--{pstart}-{pstart + size - 1}/"
        start, end = self.batch_start(ledger), self.batch_end(ledger)
        name = f"{MAX_UINT32 - start:08X}--{start}"
        if end != start:
            name += f"-{end}"
        return f"{prefix}{name}.xdr.{extension}"

    def batch_starts(self, first: int, last: int) -> range:
        """Start ledgers of the batches covering ``[first, last]``."""
        step = self.ledgers_per_batch
        return range(self.batch_start(first), self.batch_start(last) + 1, step)


# ── stores ───────────────────────────────────────────────────────────────────


class ObjectStore(Protocol):
    """Where objects come from. ``get`` returns None when the key does not exist."""

    async def get(self, key: str) -> bytes | None: ...

    async def close(self) -> None: ...

    def describe(self, key: str) -> str: ...


class FileStore:
    """A lake on the local filesystem; reads run in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, key: str) -> str:
        return str(self.root / key)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self.read, key)

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LakeError(f"cannot read {self.root / key}: {exc}") from None

    async def close(self) -> None:
        return None


class HttpStore:
    """A lake over HTTP(S): one keep-alive client, retries on transient failures.

    Timeouts, connection errors (a body cut short included), HTTP 5xx and 429
    are retried with the project's policy (:mod:`orbitpay.retry`: capped
    exponential backoff, full jitter, ``Retry-After`` as a floor), then
    :class:`LakeUnavailable`. 404 means "no such object" (a gap when inside the
    range). Anything else that is not 2xx (e.g. 403 from a bucket that hides
    missing keys) is an error with the URL in it, never a silent skip.
    """

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 16,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.backoff = backoff or Backoff(max_retries=6, max_delay=8.0)
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"user-agent": "orbitpay-indexer"},
            transport=transport,
            follow_redirects=True,
        )

    def describe(self, key: str) -> str:
        return self.base_url + key

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, key: str) -> bytes | None:
        try:
            return await retrying(
                lambda: self._once(key),
                policy=self.backoff,
                retry_on=(Transient,),
                sleep=self._sleep,
            )
        except GaveUp as exc:
            raise LakeUnavailable(f"{self.describe(key)}: {exc}") from None

    async def _once(self, key: str) -> bytes | None:
        url = self.base_url + key
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException:
            raise Transient("timeout") from None
        except httpx.TransportError as exc:
            raise Transient(f"connection error: {type(exc).__name__}") from None
        status = response.status_code
        if status == 404:
            return None
        if status == 429 or status >= 500:
            wait = parse_retry_after(response.headers.get("retry-after"))
            raise Transient(f"HTTP {status}", wait)
        if status >= 400:
            raise LakeError(f"{url}: HTTP {status}")
        return response.content


def open_store(
    url: str, *, concurrency: int = 16, transport: httpx.AsyncBaseTransport | None = None
) -> ObjectStore:
    """A store for ``file://``, ``http://`` or ``https://`` base URLs (a bare path is a file)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return HttpStore(url, concurrency=concurrency, transport=transport)
    if parts.scheme == "file":
        return FileStore(Path(unquote(parts.path)))
    if parts.scheme == "":
        return FileStore(Path(url))
    raise LakeConfigError(f"unsupported data lake URL scheme {parts.scheme!r} in {url}")


# ── decompression and prefilter ──────────────────────────────────────────────


_LOCAL = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    """One decompressor per thread (they are not thread-safe; creating one costs ~10 us)."""
    d: zstandard.ZstdDecompressor | None = getattr(_LOCAL, "zstd", None)
    if d is None:
        d = _LOCAL.zstd = zstandard.ZstdDecompressor()
    return d


def decompress(raw: bytes, key: str) -> bytes:
    """One zstd frame -> bytes; a truncated or corrupt frame raises :class:`CorruptObject`."""
    obj = _decompressor().decompressobj()
    try:
        out = obj.decompress(raw)
    except zstandard.ZstdError as exc:
        raise CorruptObject(key, f"zstd: {exc}") from None
    if not obj.eof:
        raise CorruptObject(key, f"truncated zstd frame ({len(raw)} bytes read)")
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise CorruptObject(key, "decompresses to more than 1 GiB")
    return out


def contract_id_bytes(contract_ids: Iterable[str]) -> tuple[bytes, ...]:
    """``C...`` strkeys -> the raw 32-byte ids the prefilter looks for."""
    return tuple(StrKey.decode_contract(c) for c in contract_ids)


def mentions_any(data: bytes, needles: Sequence[bytes]) -> bool:
    """True when any needle occurs in ``data`` (a raw substring search, no decoding)."""
    return any(n in data for n in needles)


@dataclass(slots=True)
class LakeBatch:
    """One object of the lake: which ledgers it covers and, unless skipped, its XDR."""

    first_ledger: int
    last_ledger: int
    key: str
    xdr: bytes | None  # decompressed LedgerCloseMetaBatch; None when the prefilter skipped it
    compressed_size: int
    # Close time of the first ledger (None if its header is an unknown shape).
    first_closed_at: datetime | None = None

    @property
    def skipped(self) -> bool:
        return self.xdr is None


def _batch_range(xdr: bytes, key: str) -> tuple[int, int]:
    if len(xdr) < 12:
        raise CorruptObject(key, f"{len(xdr)} bytes is too short for a LedgerCloseMetaBatch")
    return batch_range(xdr)


def process_object(
    raw: bytes, key: str, start: int, end: int, needles: Sequence[bytes] | None
) -> LakeBatch:
    """Decompress, check the batch header against the key, prefilter (CPU work, thread-safe)."""
    xdr = decompress(raw, key)
    first, last = _batch_range(xdr, key)
    if (first, last) != (start, end):
        raise CorruptObject(key, f"holds ledgers {first}-{last}, its key says {start}-{end}")
    keep = needles is None or mentions_any(xdr, needles)
    try:
        closed_at: datetime | None = first_close_time(xdr)
    except (ValueError, struct.error):
        closed_at = None  # an unknown arm: only an error if the ledger is decoded
    return LakeBatch(start, end, key, xdr if keep else None, len(raw), closed_at)


# ── the reader ───────────────────────────────────────────────────────────────


class DataLake:
    """A SEP-54 lake at ``url`` (the ledgers path), checked against ``network_passphrase``."""

    def __init__(
        self,
        url: str,
        *,
        network_passphrase: str | None = None,
        concurrency: int = 8,
        store: ObjectStore | None = None,
    ) -> None:
        self.url = url
        self.network_passphrase = network_passphrase
        self.concurrency = max(1, concurrency)
        self.store = store or open_store(url, concurrency=self.concurrency)
        self._config: LakeConfig | None = None
        self._ext: str | None = None

    async def __aenter__(self) -> DataLake:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.store.close()

    @property
    def config(self) -> LakeConfig:
        if self._config is None:
            raise LakeError("DataLake.open() was not awaited")
        return self._config

    async def open(self) -> LakeConfig:
        """Read and check ``.config.json`` (once)."""
        if self._config is None:
            raw = await self.store.get(CONFIG_KEY)
            if raw is None:
                raise LakeConfigError(
                    f"no {CONFIG_KEY} at {self.store.describe(CONFIG_KEY)}: "
                    "is the URL the lake's ledgers path?"
                )
            config = LakeConfig.from_json(raw, self.store.describe(CONFIG_KEY))
            if self.network_passphrase is not None:
                config.check_passphrase(self.network_passphrase)
            self._config = config
        return self._config

    async def _get_object(self, start: int) -> tuple[str, bytes | None]:
        """(key, bytes or None when missing), the known extension first.

        The extension that answered last is tried first; the other one is tried
        before an object is called missing, so a lake whose writer changed from
        ``.zstd`` to ``.zst`` part-way is read whole.
        """
        config = self.config
        order = EXTENSIONS if self._ext in (None, EXTENSIONS[0]) else EXTENSIONS[::-1]
        for ext in order:
            key = config.object_key(start, ext)
            raw = await self.store.get(key)
            if raw is not None:
                self._ext = ext
                return key, raw
        return config.object_key(start, EXTENSIONS[0]), None

    async def fetch(self, ledger: int, watch: Sequence[bytes] | None = None) -> LakeBatch | Gap:
        """The object holding ``ledger`` (a :class:`Gap` when it is missing)."""
        config = await self.open()
        start, end = config.batch_start(ledger), config.batch_end(ledger)
        if isinstance(self.store, FileStore):
            # One worker-thread hop for read + decompress + prefilter.
            return await asyncio.to_thread(self._fetch_file, self.store, start, end, watch)
        key, raw = await self._get_object(start)
        if raw is None:
            return Gap(start, end, key)
        return await asyncio.to_thread(process_object, raw, key, start, end, watch)

    def _fetch_file(
        self, store: FileStore, start: int, end: int, watch: Sequence[bytes] | None
    ) -> LakeBatch | Gap:
        order = EXTENSIONS if self._ext in (None, EXTENSIONS[0]) else EXTENSIONS[::-1]
        for ext in order:
            key = self.config.object_key(start, ext)
            raw = store.read(key)
            if raw is not None:
                self._ext = ext
                return process_object(raw, key, start, end, watch)
        return Gap(start, end, self.config.object_key(start, EXTENSIONS[0]))

    async def batches(
        self,
        first: int,
        last: int,
        *,
        watch: Sequence[bytes] | None = None,
        on_gap: Literal["raise", "yield"] = "raise",
    ) -> AsyncIterator[LakeBatch | Gap]:
        """Objects covering ``[first, last]`` in ledger order, ``concurrency`` downloads ahead.

        ``watch``: raw contract ids for the prefilter (None keeps every batch).
        Batches may start before ``first`` or end after ``last``: callers drop
        the ledgers outside their range. A missing object raises
        :class:`GapError` (``on_gap="raise"``) or is yielded as a :class:`Gap`.
        """
        if last < first:
            return
        await self.open()
        starts = iter(self.config.batch_starts(first, last))
        pending: deque[asyncio.Task[LakeBatch | Gap]] = deque()

        def top_up() -> None:
            # Until one object has answered, the extension (zst or zstd) is unknown:
            # probe with one download, then keep ``concurrency`` in flight.
            limit = self.concurrency if self._ext is not None else 1
            while len(pending) < limit:
                nxt = next(starts, None)
                if nxt is None:
                    return
                pending.append(asyncio.ensure_future(self.fetch(nxt, watch)))

        top_up()
        try:
            while pending:
                item = await pending.popleft()
                top_up()
                if isinstance(item, Gap) and on_gap == "raise":
                    raise GapError(item)
                yield item
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


# ── what a source consumes ───────────────────────────────────────────────────


@dataclass(slots=True)
class ArchiveSlice:
    """Ledgers ``first_ledger..last_ledger`` read from the lake, for the watched contracts.

    Every ledger of the range is accounted for: either it is in ``ledgers``,
    or it concerns no watched contract (skipped by the prefilter, or decoded
    and empty), or the slice is a ``gap`` (its object is missing). This is the
    unit a :class:`~orbitpay.indexer.sources.base.Source` turns into batches:
    its events (already in RPC id order), the transactions' contexts, and a
    position of ``scanned_to = last_ledger``.
    """

    first_ledger: int
    last_ledger: int
    closed_at: datetime | None  # close time of ``last_ledger`` when known
    ledgers: list[ArchiveLedger] = field(default_factory=list)
    gap: Gap | None = None

    @property
    def events(self) -> list[RawEvent]:
        return [e for led in self.ledgers for e in led.events]

    @property
    def transactions(self) -> dict[str, TxContext]:
        return {h: c for led in self.ledgers for h, c in led.transactions.items()}


async def read_archive(
    lake: DataLake,
    first: int,
    last: int,
    watch: Collection[str],
    *,
    on_gap: Literal["raise", "yield"] = "raise",
) -> AsyncIterator[ArchiveSlice]:
    """Slices of ``[first, last]`` in order: download, prefilter, decode (in a worker thread).

    ``watch`` is a set of contract strkeys. A missing object raises
    :class:`GapError`, or with ``on_gap="yield"`` becomes a slice with ``gap`` set.
    An undecodable ledger that concerns a watched contract raises
    :class:`~orbitpay.stellar.ledgermeta.LedgerDecodeError`.
    """
    config = await lake.open()
    watched = frozenset(watch)
    needles = contract_id_bytes(sorted(watched))
    passphrase = lake.network_passphrase or config.network_passphrase
    async for item in lake.batches(first, last, watch=needles, on_gap=on_gap):
        lo = max(first, item.first_ledger)
        hi = min(last, item.last_ledger)
        if isinstance(item, Gap):
            yield ArchiveSlice(lo, hi, None, gap=item)
            continue
        closed_at = item.first_closed_at if item.first_ledger == hi else None
        if item.xdr is None:
            yield ArchiveSlice(lo, hi, closed_at)
            continue
        ledgers = await asyncio.to_thread(
            decode_batch, item.xdr, passphrase, watched, first=lo, last=hi
        )
        if ledgers and ledgers[-1].sequence == hi:
            closed_at = ledgers[-1].closed_at
        yield ArchiveSlice(lo, hi, closed_at, ledgers)


async def ledger_at(lake: DataLake, when: datetime, lo: int, hi: int) -> int:
    """The first ledger in ``[lo, hi]`` that closed at or after ``when`` (``hi + 1`` if none).

    A binary search over the close times of the objects' first ledgers (one
    download each, about log2(range / ledgersPerBatch) of them), then a scan of
    the one batch that holds the answer. A missing object raises :class:`GapError`.
    """
    config = await lake.open()

    async def closed(ledger: int) -> datetime:
        item = await lake.fetch(ledger)
        if isinstance(item, Gap):
            raise GapError(item)
        if item.first_closed_at is None:
            raise CorruptObject(item.key, "the first ledger's header is of an unknown shape")
        return item.first_closed_at

    if hi < lo:
        return lo
    if await closed(lo) >= when:  # the first ledger of lo's batch: all later ones too
        return lo
    # Invariant: the batch starting at ``left`` closed before ``when``.
    left, right = config.batch_start(lo), config.batch_start(hi)
    if await closed(right) < when:
        left = right
    else:
        while right - left > config.ledgers_per_batch:
            mid = config.batch_start(left + (right - left) // 2)
            if mid in (left, right):
                break
            if await closed(mid) < when:
                left = mid
            else:
                right = mid
    if config.ledgers_per_batch == 1:
        return max(lo, left + 1) if left + 1 <= hi else hi + 1
    item = await lake.fetch(left)
    if isinstance(item, Gap):
        raise GapError(item)
    assert item.xdr is not None  # fetched without a prefilter
    passphrase = lake.network_passphrase or config.network_passphrase
    for led in await asyncio.to_thread(decode_batch, item.xdr, passphrase, frozenset()):
        if led.sequence >= lo and led.closed_at >= when:
            return min(led.sequence, hi + 1)
    return max(lo, min(item.last_ledger + 1, hi + 1))


__all__ = [
    "CONFIG_KEY",
    "ArchiveSlice",
    "Backoff",
    "CorruptObject",
    "DataLake",
    "FileStore",
    "Gap",
    "GapError",
    "HttpStore",
    "LakeBatch",
    "LakeConfig",
    "LakeConfigError",
    "LakeError",
    "LakeUnavailable",
    "ObjectStore",
    "PassphraseMismatch",
    "contract_id_bytes",
    "decompress",
    "ledger_at",
    "mentions_any",
    "open_store",
    "process_object",
    "read_archive",
]

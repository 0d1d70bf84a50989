"""The Stellar RPC client: JSON-RPC over one keep-alive HTTP/1.1 connection pool.

Only this package talks to the RPC. Responses are parsed into small typed
records that accept both the protocol-22 and protocol-23 shapes of each
method (``pagingToken`` present or not, ``inSuccessfulContractCall`` present
or not, ``transactionIndex``/``operationIndex`` present or not, the
``events`` object of ``getTransaction`` present or not).

Transient failures (timeouts, connection errors, HTTP 5xx, HTTP 429 with its
``Retry-After``, a body that is not a JSON-RPC response, JSON-RPC internal
errors) are retried by :func:`orbitpay.retry.retrying` (capped exponential
backoff with full jitter, ``Retry-After`` as a floor), at most ``max_retries``
times; then :class:`RpcUnavailable` is raised. A JSON-RPC
error that says the request itself is wrong (e.g. a ``startLedger`` outside
the retention window) is raised at once as :class:`RpcError`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from orbitpay import jsoncodec
from orbitpay.observability.metrics import RPC_LATENCY, RPC_REQUESTS, RPC_UP
from orbitpay.retry import Attempt, Backoff, GaveUp, Sleep, Transient, parse_retry_after, retrying

# JSON-RPC error codes that mean "try again later" rather than "your request is wrong".
_TRANSIENT_RPC_CODES = frozenset({-32603})
MAX_FILTERS = 5
MAX_CONTRACT_IDS_PER_FILTER = 5


class RpcError(Exception):
    """The RPC answered with a JSON-RPC error that retrying will not fix."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.rpc_message = message


class RpcUnavailable(Exception):
    """The RPC kept failing transiently; retries are exhausted."""


class _Transient(Transient):
    """A failure of one request that another attempt may not repeat."""


# ── typed responses ──────────────────────────────────────────────────────────


_TIMES: dict[str, datetime] = {}


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 string or unix seconds (int or numeric string) -> aware UTC datetime."""
    if isinstance(value, str):
        hit = _TIMES.get(value)
        if hit is None:
            hit = _parse_time(value)
            if hit is not None:
                if len(_TIMES) > 10_000:
                    _TIMES.clear()
                _TIMES[value] = hit
        return hit
    return _parse_time(value)


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# TOID bit layout (Horizon's toid package, used by stellar-rpc's event ids and cursors);
# the one definition the decoders, the indexer and the devnet share.
TX_MASK = (1 << 20) - 1
OP_MASK = (1 << 12) - 1
MAX_EVENT_INDEX = (1 << 32) - 1


def toid(ledger: int, tx_order: int, op_index: int) -> int:
    """The TOID stellar-rpc puts in event ids: ledger << 32 | tx order << 12 | op index."""
    return (ledger << 32) | ((tx_order & TX_MASK) << 12) | (op_index & OP_MASK)


def toid_parts(value: int) -> tuple[int, int, int]:
    """A TOID -> (ledger, transaction order, operation index)."""
    return value >> 32, (value >> 12) & TX_MASK, value & OP_MASK


def event_id(ledger: int, tx_order: int, op_index: int, event_index: int) -> str:
    """``"<toid, 19 digits>-<event index, 10 digits>"``, as stellar-rpc spells event ids."""
    return f"{toid(ledger, tx_order, op_index):019d}-{event_index:010d}"


def cursor_ledger(cursor: str | None) -> int | None:
    """The ledger a getEvents/getTransactions cursor points into (None if unparseable)."""
    if not cursor:
        return None
    head = cursor.split("-", 1)[0]
    if not head.isdigit():
        return None
    return toid_parts(int(head))[0]


@dataclass(slots=True)
class RawEvent:
    """One ``getEvents`` item, still XDR."""

    id: str
    type: str
    ledger: int
    ledger_closed_at: datetime
    contract_id: str
    topic_xdr: list[str]
    value_xdr: str
    in_successful_contract_call: bool
    tx_hash: str
    transaction_index: int | None
    operation_index: int | None
    # True for the protocol-22 shape (no ``operationIndex``): the RPC then numbered
    # a transaction's events by their place in its diagnostic events (when core
    # emitted any), not by their place among the operation's contract events.
    legacy_ids: bool = False

    @property
    def is_contract_event(self) -> bool:
        """A ``contract`` event (not ``system`` / ``diagnostic``) naming a contract."""
        return self.type == "contract" and bool(self.contract_id)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> RawEvent:
        value = item.get("value")
        if isinstance(value, dict):  # very old RPCs: {"xdr": "..."}
            value = value.get("xdr")
        ev_id = str(item["id"])
        tx_index = item.get("transactionIndex")
        op_index = item.get("operationIndex")
        legacy = op_index is None
        if tx_index is None or op_index is None:
            head = ev_id.split("-", 1)[0]
            if head.isdigit():
                _, tx, op = toid_parts(int(head))
                tx_index = tx if tx_index is None else tx_index
                op_index = op if op_index is None else op_index
        closed = parse_time(item.get("ledgerClosedAt"))
        success = item.get("inSuccessfulContractCall")
        return cls(
            id=ev_id,
            type=str(item.get("type", "contract")),
            ledger=int(item["ledger"]),
            ledger_closed_at=closed or datetime.fromtimestamp(0, UTC),
            contract_id=str(item.get("contractId") or ""),
            topic_xdr=[str(t) for t in item.get("topic") or []],
            value_xdr=str(value or ""),
            # Absent since protocol 23: failed calls' events are no longer served.
            in_successful_contract_call=True if success is None else bool(success),
            tx_hash=str(item.get("txHash") or ""),
            transaction_index=None if tx_index is None else int(tx_index),
            operation_index=None if op_index is None else int(op_index),
            legacy_ids=legacy,
        )


@dataclass(slots=True)
class EventPage:
    events: list[RawEvent]
    cursor: str
    latest_ledger: int
    oldest_ledger: int | None
    latest_ledger_close_time: datetime | None
    limit: int

    @property
    def full(self) -> bool:
        """True when the page hit its limit (the cursor is the last event, not the window end)."""
        return len(self.events) >= self.limit

    @property
    def scanned_to(self) -> int:
        """The newest ledger this page proves fully scanned."""
        end = cursor_ledger(self.cursor)
        if self.full:
            last = self.events[-1].ledger if self.events else (end or 0)
            return last - 1
        if end is None:
            return self.latest_ledger
        return min(end, self.latest_ledger)


@dataclass(slots=True)
class TxInfo:
    """One transaction from ``getTransaction`` or ``getTransactions``."""

    hash: str
    status: str
    ledger: int | None
    created_at: datetime | None
    application_order: int | None
    envelope_xdr: str
    result_xdr: str
    result_meta_xdr: str
    contract_events_xdr: list[list[str]] | None = None

    @classmethod
    def from_json(cls, item: dict[str, Any], tx_hash: str | None = None) -> TxInfo:
        events = item.get("events") or {}
        return cls(
            hash=str(item.get("txHash") or tx_hash or ""),
            status=str(item.get("status", "")),
            ledger=item.get("ledger"),
            created_at=parse_time(item.get("createdAt")),
            application_order=item.get("applicationOrder"),
            envelope_xdr=str(item.get("envelopeXdr") or ""),
            result_xdr=str(item.get("resultXdr") or ""),
            result_meta_xdr=str(item.get("resultMetaXdr") or ""),
            contract_events_xdr=events.get("contractEventsXdr")
            if isinstance(events, dict)
            else None,
        )


@dataclass(slots=True)
class TxPage:
    transactions: list[TxInfo]
    cursor: str
    latest_ledger: int
    oldest_ledger: int | None


@dataclass(slots=True)
class LedgerEntry:
    key: str
    xdr: str
    last_modified_ledger: int | None
    live_until_ledger: int | None


@dataclass(slots=True)
class LedgerEntries:
    entries: list[LedgerEntry]
    latest_ledger: int


@dataclass(slots=True)
class LatestLedger:
    sequence: int
    close_time: datetime | None
    protocol_version: int | None


@dataclass(slots=True)
class Health:
    status: str
    latest_ledger: int | None
    oldest_ledger: int | None
    retention_window: int | None


@dataclass(slots=True)
class Network:
    passphrase: str
    protocol_version: int | None


@dataclass
class EventFilter:
    contract_ids: list[str]
    type: str = "contract"
    topics: list[list[str]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "contractIds": list(self.contract_ids)}
        if self.topics:
            out["topics"] = self.topics
        return out


def filters_for(
    contract_ids: Sequence[str], topics: list[list[str]] | None = None
) -> list[EventFilter]:
    """Filters covering ``contract_ids``: at most 5 per filter, at most 5 filters (25 ids),
    each with ``topics`` (base64 SCVal segments) when given."""
    if len(contract_ids) > MAX_FILTERS * MAX_CONTRACT_IDS_PER_FILTER:
        raise ValueError("at most 25 contracts fit in one getEvents request")
    ids = list(contract_ids)
    step = MAX_CONTRACT_IDS_PER_FILTER
    return [EventFilter(ids[i : i + step], topics=topics) for i in range(0, len(ids), step)]


# ── the client ───────────────────────────────────────────────────────────────


@dataclass
class RpcStats:
    requests: int = 0
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class RpcClient:
    """Async JSON-RPC client for a Stellar RPC endpoint.

    ``concurrency`` bounds the requests in flight at once (getTransaction
    fan-out shares it with paging), so a burst never opens hundreds of sockets.
    ``retry`` replaces the default policy (``max_retries`` retries, 0.1 s to
    10 s); ``sleep`` is how the client waits between attempts (tests pass a
    recorder instead of real sleeps).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15.0,
        max_retries: int = 8,
        concurrency: int = 16,
        retry: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url
        self.retry = retry or Backoff(max_retries=max_retries)
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._sem = asyncio.Semaphore(concurrency)
        self.stats = RpcStats()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"content-type": "application/json", "user-agent": "orbitpay-indexer"},
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC call with retries; returns ``result``."""

        def count_retry(_: Attempt) -> None:
            RPC_REQUESTS.labels(method, "retry").inc()
            self.stats.retries += 1

        try:
            result = await retrying(
                lambda: self._once(method, params),
                policy=self.retry,
                retry_on=(_Transient,),
                on_retry=count_retry,
                sleep=self._sleep,
            )
        except GaveUp as exc:
            RPC_REQUESTS.labels(method, "error").inc()
            RPC_UP.set(0)
            raise RpcUnavailable(f"{method}: {exc}") from None
        except RpcError:
            RPC_REQUESTS.labels(method, "rejected").inc()  # a failed request too (error rate)
            raise
        RPC_REQUESTS.labels(method, "ok").inc()
        RPC_UP.set(1)
        return result

    async def _once(self, method: str, params: dict[str, Any] | None) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            body["params"] = params
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        started = time.perf_counter()
        async with self._sem:
            try:
                response = await self._client.post(self.url, content=json.dumps(body))
            except httpx.TimeoutException:
                raise _Transient("timeout") from None
            except httpx.TransportError as exc:
                raise _Transient(f"connection error: {type(exc).__name__}") from None
            finally:
                RPC_LATENCY.labels(method).observe(time.perf_counter() - started)
        status = response.status_code
        if status == 429:
            raise _Transient("HTTP 429", parse_retry_after(response.headers.get("retry-after")))
        if status >= 500:
            raise _Transient(
                f"HTTP {status}", parse_retry_after(response.headers.get("retry-after"))
            )
        try:
            payload = jsoncodec.loads(response.content)
        except ValueError:
            raise _Transient(f"malformed JSON (HTTP {status})") from None
        if not isinstance(payload, dict) or ("result" not in payload and "error" not in payload):
            raise _Transient(f"not a JSON-RPC response (HTTP {status})")
        error = payload.get("error")
        if error:
            code = int(error.get("code", 0)) if isinstance(error, dict) else 0
            message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
            if code in _TRANSIENT_RPC_CODES:
                raise _Transient(f"RPC error {code}: {message}")
            raise RpcError(method, code, message)
        if status >= 400:
            raise RpcError(method, status, f"HTTP {status}")
        return payload["result"]

    # ── methods ──────────────────────────────────────────────────────────────

    async def get_health(self) -> Health:
        r = await self.call("getHealth")
        return Health(
            status=str(r.get("status", "")),
            latest_ledger=r.get("latestLedger"),
            oldest_ledger=r.get("oldestLedger"),
            retention_window=r.get("ledgerRetentionWindow"),
        )

    async def get_network(self) -> Network:
        r = await self.call("getNetwork")
        return Network(passphrase=str(r["passphrase"]), protocol_version=r.get("protocolVersion"))

    async def get_latest_ledger(self) -> LatestLedger:
        r = await self.call("getLatestLedger")
        return LatestLedger(
            sequence=int(r["sequence"]),
            close_time=parse_time(r.get("closeTime")),
            protocol_version=r.get("protocolVersion"),
        )

    async def get_events(
        self,
        filters: Sequence[EventFilter],
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> EventPage:
        params: dict[str, Any] = {
            "filters": [f.to_json() for f in filters],
            "pagination": {"limit": limit},
        }
        if cursor:
            params["pagination"]["cursor"] = cursor
        else:
            params["startLedger"] = start_ledger
        r = await self.call("getEvents", params)
        try:
            events = [RawEvent.from_json(item) for item in r.get("events") or []]
            latest = int(r["latestLedger"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RpcError("getEvents", 0, f"unexpected response shape: {exc}") from None
        next_cursor = r.get("cursor")
        if not next_cursor and events:  # protocol <= 21: only pagingToken per event
            next_cursor = events[-1].id
        latest_close = r.get("latestLedgerCloseTime")
        return EventPage(
            events=events,
            cursor=str(next_cursor or cursor or ""),
            latest_ledger=latest,
            oldest_ledger=r.get("oldestLedger"),
            latest_ledger_close_time=parse_time(latest_close),
            limit=limit,
        )

    async def get_transaction(self, tx_hash: str) -> TxInfo:
        r = await self.call("getTransaction", {"hash": tx_hash})
        return TxInfo.from_json(r, tx_hash)

    async def get_transactions(
        self,
        *,
        start_ledger: int | None = None,
        cursor: str | None = None,
        limit: int = 200,
        only: set[str] | None = None,
    ) -> TxPage:
        """A page of transactions; with ``only``, other hashes are not parsed (``hash`` only)."""
        params: dict[str, Any] = {"pagination": {"limit": limit}}
        if cursor:
            params["pagination"]["cursor"] = cursor
        else:
            params["startLedger"] = start_ledger
        r = await self.call("getTransactions", params)
        txs = []
        for t in r.get("transactions") or []:
            if only is not None and t.get("txHash") not in only:
                t = {
                    "txHash": t.get("txHash"),
                    "ledger": t.get("ledger"),
                    "applicationOrder": t.get("applicationOrder"),
                    "status": t.get("status"),
                }
            txs.append(TxInfo.from_json(t))
        return TxPage(
            transactions=txs,
            cursor=str(r.get("cursor") or ""),
            latest_ledger=int(r.get("latestLedger") or 0),
            oldest_ledger=r.get("oldestLedger"),
        )

    async def get_ledger_entries(self, keys: Sequence[str]) -> LedgerEntries:
        """Entries for base64 ``LedgerKey`` s, in calls of 200 keys (the RPC's limit).

        The calls of a large read go out together (the client's ``concurrency``
        bounds them), so reading 16,000 entries costs a few round trips of wall
        time, not 80 in a row; entries come back in the order of the calls.
        """
        chunks = [list(keys[i : i + 200]) for i in range(0, len(keys), 200)]

        async def one(chunk: list[str]) -> tuple[int, list[LedgerEntry]]:
            r = await self.call("getLedgerEntries", {"keys": chunk})
            return int(r.get("latestLedger") or 0), [
                LedgerEntry(
                    key=str(e["key"]),
                    xdr=str(e["xdr"]),
                    last_modified_ledger=e.get("lastModifiedLedgerSeq"),
                    live_until_ledger=e.get("liveUntilLedgerSeq"),
                )
                for e in r.get("entries") or []
            ]

        answers = await asyncio.gather(*map(one, chunks))
        found = [e for _, entries in answers for e in entries]
        return LedgerEntries(entries=found, latest_ledger=max((a[0] for a in answers), default=0))

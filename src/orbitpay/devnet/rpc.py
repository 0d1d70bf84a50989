"""Stellar RPC methods over a :class:`~orbitpay.devnet.chain.Chain` (JSON-RPC 2.0 semantics).

Checked against (read, not copied):

- ``stellar/stellar-rpc`` ``cmd/stellar-rpc/internal/methods/get_events.go``: at most
  10,000 ledgers scanned per call (``LedgerScanLimit``); a cursor resumes *after*
  the event it names; when fewer than ``limit`` events are found the response
  cursor is the max cursor of the last scanned ledger (``endLedger - 1``), so
  empty pages with a cursor happen; ``startLedger`` outside
  ``[oldestLedger, latestLedger]`` is JSON-RPC ``-32600`` ("startLedger must be
  within the ledger range: A - B"); validation errors are ``-32602``.
- ``stellar/go-stellar-sdk`` ``protocols/rpc/get_events.go``: 5 filters, 5 contract
  ids and 5 topic filters per filter, 1-4 segments, ``*`` one segment, ``**`` only
  last (zero or more); type must be ``system`` or ``contract``; ``limit`` <= 10000
  (default 100); ``startLedger`` and cursor are exclusive; ``latestLedgerCloseTime``
  and ``oldestLedgerCloseTime`` are JSON strings; ``ledgerClosedAt`` is RFC 3339.
  Event id = ``"%019d-%010d" % (toid(ledger, tx, op), event index)``.
- ``protocols/rpc/get_transaction.go``: ``createdAt``/``*LedgerCloseTime`` are
  strings in ``getTransaction`` (numbers in ``getTransactions``); ``events`` has
  ``transactionEventsXdr`` and ``contractEventsXdr`` (one list per operation).
- ``StellarCN/py-stellar-base`` ``stellar_sdk/soroban_rpc.py`` (16.1.1, installed):
  every response here validates with its pydantic models (see the tests).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from stellar_sdk import StrKey
from stellar_sdk import xdr as x

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.chain import Chain, EventRec, TxRec
from orbitpay.devnet.lake import ledger_close_meta, ledger_header_entry

LEDGER_SCAN_LIMIT = 10_000
EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 10_000
TX_DEFAULT_LIMIT = 10
TX_MAX_LIMIT = 200
LEDGERS_DEFAULT_LIMIT = 50
LEDGERS_MAX_LIMIT = 200
MAX_LEDGER_KEYS = 200
MAX_FILTERS = 5
MAX_CONTRACT_IDS = 5
MAX_TOPIC_FILTERS = 5
MAX_SEGMENTS = 4

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "invalid parameters: expected an object")
    return params


def _uint(v: Any, name: str) -> int:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 32:
        raise RpcError(
            INVALID_PARAMS, f"invalid parameters: {name} must be an unsigned 32-bit integer"
        )
    return v


class _Segment:
    __slots__ = ("value", "wildcard")

    value: str | None
    wildcard: str | None

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, str):
            raise RpcError(INVALID_PARAMS, "invalid parameters: topic segment must be a string")
        if raw in ("*", "**"):
            self.wildcard, self.value = raw, None
        else:
            try:
                self.value = base64.b64encode(x.SCVal.from_xdr(raw).to_xdr_bytes()).decode()
            except Exception as exc:
                raise RpcError(
                    INVALID_PARAMS, f"invalid parameters: invalid topic segment {raw!r}"
                ) from exc
            self.wildcard = None


class _TopicFilter:
    def __init__(self, raw: Any, index: int) -> None:
        if not isinstance(raw, list):
            raise RpcError(INVALID_PARAMS, "invalid parameters: topic filter must be a list")
        segs = [_Segment(s) for s in raw]
        if not segs:
            raise RpcError(
                INVALID_PARAMS, f"topic {index} invalid: topic must have at least 1 segment"
            )
        self.at_least = segs[-1].wildcard == "**"
        body = segs[:-1] if self.at_least else segs
        for i, s in enumerate(body):
            if s.wildcard == "**":
                raise RpcError(
                    INVALID_PARAMS,
                    f"topic {index} invalid: segment {i + 1} invalid: "
                    "wildcard '**' is only allowed as the last segment",
                )
        if len(body) > MAX_SEGMENTS:
            raise RpcError(
                INVALID_PARAMS, f"topic {index} invalid: topic cannot have more than 4 segments"
            )
        self.values = [s.value for s in body]

    def matches(self, topics: tuple[str, ...]) -> bool:
        n = len(self.values)
        if len(topics) < n or (not self.at_least and len(topics) != n):
            return False
        return all(want is None or topics[i] == want for i, want in enumerate(self.values))


class _Filter:
    def __init__(self, raw: Any, index: int) -> None:
        if not isinstance(raw, dict):
            raise RpcError(INVALID_PARAMS, "invalid parameters: filter must be an object")
        prefix = f"filter {index} invalid: "
        types = raw.get("type")
        self.types: set[str] = set()
        if types:
            if not isinstance(types, str):
                raise RpcError(INVALID_PARAMS, prefix + "filter type invalid")
            self.types = set(types.split(","))
            if not self.types <= {"system", "contract"}:
                raise RpcError(
                    INVALID_PARAMS,
                    prefix
                    + "filter type invalid: if set, type must be either 'system' or 'contract'",
                )
        ids = raw.get("contractIds") or []
        if not isinstance(ids, list):
            raise RpcError(INVALID_PARAMS, prefix + "contractIds must be a list")
        if len(ids) > MAX_CONTRACT_IDS:
            raise RpcError(INVALID_PARAMS, prefix + "maximum 5 contract IDs per filter")
        for i, cid in enumerate(ids):
            if not isinstance(cid, str) or not StrKey.is_valid_contract(cid):
                raise RpcError(INVALID_PARAMS, prefix + f"contract ID {i + 1} invalid")
        self.contract_ids = set(ids)
        topics = raw.get("topics") or []
        if not isinstance(topics, list):
            raise RpcError(INVALID_PARAMS, prefix + "topics must be a list")
        if len(topics) > MAX_TOPIC_FILTERS:
            raise RpcError(INVALID_PARAMS, prefix + "maximum 5 topics per filter")
        self.topics = [_TopicFilter(t, i + 1) for i, t in enumerate(topics)]

    def matches(self, ev: EventRec) -> bool:
        if self.types and "contract" not in self.types:
            return False
        if self.contract_ids and ev.contract_id not in self.contract_ids:
            return False
        return not self.topics or any(t.matches(ev.topics) for t in self.topics)


def _max_cursor(ledger: int) -> str:
    return dx.event_id(ledger, dx.TX_MASK, dx.OP_MASK, dx.MAX_EVENT_INDEX)


class RpcMethods:
    """The subset of the Stellar RPC API that an indexer needs."""

    protocol_version = dx.PROTOCOL_VERSION

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.methods = {
            "getHealth": self.get_health,
            "getNetwork": self.get_network,
            "getLatestLedger": self.get_latest_ledger,
            "getEvents": self.get_events,
            "getTransaction": self.get_transaction,
            "getTransactions": self.get_transactions,
            "getLedgers": self.get_ledgers,
            "getLedgerEntries": self.get_ledger_entries,
            "getVersionInfo": self.get_version_info,
        }

    def call(self, method: str, params: Any) -> Any:
        fn = self.methods.get(method)
        if fn is None:
            raise RpcError(METHOD_NOT_FOUND, "method not found")
        with self.chain.lock:
            return fn(_params(params))

    # simple methods ---------------------------------------------------------
    def _window(self) -> tuple[int, int, int, int]:
        c = self.chain
        latest, oldest = c.latest_ledger, c.oldest_ledger
        return latest, c.close_time(latest), oldest, c.close_time(oldest)

    def get_health(self, p: dict[str, Any]) -> dict[str, Any]:
        latest, _, oldest, _ = self._window()
        window = self.chain.retention_ledgers or (latest - oldest + 1)
        return {
            "status": "healthy",
            "latestLedger": latest,
            "oldestLedger": oldest,
            "ledgerRetentionWindow": window,
        }

    def get_network(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "passphrase": self.chain.network_passphrase,
            "protocolVersion": self.protocol_version,
        }

    def get_version_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "23.0.0-orbitpay-devnet",
            "commitHash": "0" * 40,
            "buildTimestamp": "2026-01-01T00:00:00Z",
            "captiveCoreVersion": "devnet",
            "protocolVersion": self.protocol_version,
        }

    def get_latest_ledger(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self.chain
        seq = c.latest_ledger
        entry = ledger_header_entry(c, seq)
        return {
            "id": dx.ledger_hash(c.network_passphrase, seq).hex(),
            "protocolVersion": self.protocol_version,
            "sequence": seq,
            "closeTime": str(c.close_time(seq)),
            "headerXdr": dx.b64(entry[32:-4]),
            "metadataXdr": dx.b64(ledger_close_meta(c, seq)),
        }

    # getLedgers ----------------------------------------------------------------
    def get_ledgers(self, p: dict[str, Any]) -> dict[str, Any]:
        """Ledgers from ``startLedger`` or after ``cursor`` (a ledger sequence).

        As stellar-rpc's ``methods/get_ledgers.go`` with go-stellar-sdk's
        ``ValidatePagination`` (no data lake fallback): ``startLedger`` outside
        the window is ``-32600`` "start ledger (S) must be between the oldest
        ledger: A and the latest ledger: B for this rpc instance"; a cursor whose
        next ledger is outside it is ``-32602``.
        """
        c = self.chain
        start_ledger = _uint(p.get("startLedger"), "startLedger")
        fmt = p.get("xdrFormat")
        if fmt not in (None, "", "base64"):
            raise RpcError(INVALID_REQUEST, f"expected 'base64' xdrFormat, got {fmt!r}")
        pagination = p.get("pagination")
        if pagination is not None and not isinstance(pagination, dict):
            raise RpcError(INVALID_PARAMS, "invalid parameters: pagination must be an object")
        latest, latest_t, oldest, oldest_t = self._window()
        out_of_range = RpcError(
            INVALID_REQUEST,
            f"start ledger ({start_ledger}) must be between the oldest ledger: {oldest} "
            f"and the latest ledger: {latest} for this rpc instance",
        )
        cursor = (pagination or {}).get("cursor") or ""
        limit = (pagination or {}).get("limit") or 0
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise RpcError(
                INVALID_PARAMS, "invalid parameters: limit must be a non-negative integer"
            )
        if cursor:
            if start_ledger:
                raise RpcError(
                    INVALID_REQUEST,
                    f"startLedger ({start_ledger}) and cursor ({cursor}) cannot both be set",
                )
        elif not oldest <= start_ledger <= latest:
            raise out_of_range
        if limit > LEDGERS_MAX_LIMIT:
            raise RpcError(INVALID_REQUEST, f"limit must not exceed {LEDGERS_MAX_LIMIT}")
        start = start_ledger
        if cursor:
            if not isinstance(cursor, str) or not cursor.isdigit() or int(cursor) >= 1 << 32:
                raise RpcError(INVALID_PARAMS, f"invalid cursor {cursor!r}")
            start = int(cursor) + 1
            if not oldest <= start <= latest:
                raise RpcError(
                    INVALID_PARAMS,
                    f"cursor ('{cursor}') must be between the oldest ledger: {oldest} "
                    f"and the latest ledger: {latest} for this rpc instance",
                )
        limit = limit or LEDGERS_DEFAULT_LIMIT
        end = min(start + limit - 1, latest)
        ledgers = []
        for seq in range(start, end + 1):
            entry = ledger_header_entry(c, seq)
            ledgers.append(
                {
                    "hash": entry[:32].hex(),
                    "sequence": seq,
                    "ledgerCloseTime": str(c.close_time(seq)),
                    "headerXdr": dx.b64(entry),
                    "metadataXdr": dx.b64(ledger_close_meta(c, seq)),
                }
            )
        next_cursor = str(ledgers[-1]["sequence"]) if ledgers else (cursor or str(start - 1))
        return {
            "ledgers": ledgers,
            "latestLedger": latest,
            "latestLedgerCloseTime": latest_t,
            "oldestLedger": oldest,
            "oldestLedgerCloseTime": oldest_t,
            "cursor": next_cursor,
        }

    # getEvents ---------------------------------------------------------------
    def get_events(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self.chain
        fmt = p.get("xdrFormat")
        if fmt not in (None, "", "base64"):
            raise RpcError(INVALID_PARAMS, f"expected 'base64' xdrFormat, got {fmt!r}")
        start_ledger = _uint(p.get("startLedger"), "startLedger")
        end_ledger = _uint(p.get("endLedger"), "endLedger")
        pagination = p.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise RpcError(INVALID_PARAMS, "invalid parameters: pagination must be an object")
        raw_cursor = pagination.get("cursor")
        limit = pagination.get("limit")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise RpcError(
                INVALID_PARAMS, "invalid parameters: limit must be a non-negative integer"
            )
        start: tuple[int, int, int, int]
        if raw_cursor:
            if start_ledger or end_ledger:
                raise RpcError(INVALID_PARAMS, "ledger ranges and cursor cannot both be set")
            if not isinstance(raw_cursor, str):
                raise RpcError(INVALID_PARAMS, "invalid parameters: cursor must be a string")
            try:
                ledger, tx, op, ev_index = dx.parse_event_id(raw_cursor)
            except ValueError as exc:
                raise RpcError(INVALID_PARAMS, str(exc)) from None
            start = (ledger, tx, op, ev_index + 1)  # resume after the cursor
        else:
            if start_ledger <= 0:
                raise RpcError(INVALID_PARAMS, "startLedger must be positive")
            start = (start_ledger, 0, 0, 0)
        if limit and limit > EVENTS_MAX_LIMIT:
            raise RpcError(INVALID_PARAMS, f"limit must not exceed {EVENTS_MAX_LIMIT}")
        filters_raw = p.get("filters") or []
        if not isinstance(filters_raw, list):
            raise RpcError(INVALID_PARAMS, "invalid parameters: filters must be a list")
        if len(filters_raw) > MAX_FILTERS:
            raise RpcError(INVALID_PARAMS, "maximum 5 filters per request")
        filters = [_Filter(f, i + 1) for i, f in enumerate(filters_raw)]
        limit = limit or EVENTS_DEFAULT_LIMIT

        latest, latest_t, oldest, oldest_t = self._window()
        end = min(start[0] + LEDGER_SCAN_LIMIT, latest + 1)
        if end_ledger:
            end = min(end_ledger, end)
        if start[0] < oldest or start[0] > latest:
            raise RpcError(
                INVALID_REQUEST, f"startLedger must be within the ledger range: {oldest} - {latest}"
            )

        found: list[EventRec] = []
        done = False
        for rec in c.iter_ledgers(start[0], end):
            for ev in rec.events:
                if rec.seq == start[0] and ev.cursor < start:
                    continue
                if filters and not any(f.matches(ev) for f in filters):
                    continue
                found.append(ev)
                if len(found) >= limit:
                    done = True
                    break
            if done:
                break
        cursor = found[-1].id if len(found) == limit else _max_cursor(end - 1)
        return {
            "events": [self._event_json(ev) for ev in found],
            "cursor": cursor,
            "latestLedger": latest,
            "oldestLedger": oldest,
            "latestLedgerCloseTime": str(latest_t),
            "oldestLedgerCloseTime": str(oldest_t),
        }

    @staticmethod
    def _event_json(ev: EventRec) -> dict[str, Any]:
        return {
            "type": "contract",
            "ledger": ev.ledger,
            "ledgerClosedAt": ev.closed_at,
            "contractId": ev.contract_id,
            "id": ev.id,
            "operationIndex": ev.op_index,
            "transactionIndex": ev.tx_order,
            "txHash": ev.tx_hash,
            "inSuccessfulContractCall": True,
            "topic": list(ev.topics),
            "value": ev.value,
        }

    # transactions -----------------------------------------------------------
    @staticmethod
    def _tx_fields(rec: TxRec) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "SUCCESS" if rec.success else "FAILED",
            "txHash": rec.hash,
            "applicationOrder": rec.order,
            "feeBump": False,
            "envelopeXdr": rec.envelope_xdr,
            "resultXdr": rec.result_xdr,
            "resultMetaXdr": rec.meta_xdr,
            "ledger": rec.ledger,
            "events": {
                "transactionEventsXdr": list(rec.tx_events),
                "contractEventsXdr": [list(rec.contract_events)] if rec.success else [],
            },
        }
        if rec.diagnostics:
            out["diagnosticEventsXdr"] = list(rec.diagnostics)
        return out

    def get_transaction(self, p: dict[str, Any]) -> dict[str, Any]:
        h = p.get("hash")
        if not isinstance(h, str):
            raise RpcError(INVALID_PARAMS, "invalid parameters: hash is required")
        if len(h) != 64:
            raise RpcError(INVALID_PARAMS, f"unexpected hash length ({len(h)})")
        try:
            binascii.unhexlify(h)
        except binascii.Error:
            raise RpcError(INVALID_PARAMS, "incorrect hash: invalid hex") from None
        latest, latest_t, oldest, oldest_t = self._window()
        base = {
            "latestLedger": latest,
            "latestLedgerCloseTime": str(latest_t),
            "oldestLedger": oldest,
            "oldestLedgerCloseTime": str(oldest_t),
        }
        rec = self.chain.txs.get(h.lower())
        if rec is None or rec.ledger > latest or rec.ledger < oldest:
            return {**base, "status": "NOT_FOUND", "txHash": h}
        return {**base, **self._tx_fields(rec), "createdAt": str(rec.created_at)}

    def get_transactions(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self.chain
        start_ledger = _uint(p.get("startLedger"), "startLedger")
        pagination = p.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise RpcError(INVALID_PARAMS, "invalid parameters: pagination must be an object")
        raw_cursor = pagination.get("cursor")
        limit = pagination.get("limit") or TX_DEFAULT_LIMIT
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise RpcError(
                INVALID_PARAMS, "invalid parameters: limit must be a non-negative integer"
            )
        if limit > TX_MAX_LIMIT:
            raise RpcError(INVALID_PARAMS, f"limit must not exceed {TX_MAX_LIMIT}")
        latest, latest_t, oldest, oldest_t = self._window()
        if raw_cursor:
            if start_ledger:
                raise RpcError(INVALID_PARAMS, "startLedger and cursor cannot both be set")
            try:
                t = int(raw_cursor)
            except (TypeError, ValueError):
                raise RpcError(INVALID_PARAMS, f"invalid cursor {raw_cursor!r}") from None
            ledger, tx_order, _ = dx.parse_toid(t)
            after = (ledger, tx_order)
            if ledger < oldest:
                # stellar-rpc reads the cursor's ledger from its database first.
                raise RpcError(
                    INVALID_PARAMS, f"database does not contain metadata for ledger: {ledger}"
                )
        else:
            if start_ledger <= 0:
                raise RpcError(INVALID_PARAMS, "startLedger must be positive")
            if start_ledger < oldest or start_ledger > latest:
                raise RpcError(
                    INVALID_REQUEST,
                    f"start ledger ({start_ledger}) must be between the oldest ledger: {oldest} "
                    f"and the latest ledger: {latest} for this rpc instance",
                )
            ledger, after = start_ledger, (start_ledger, 0)
        out: list[TxRec] = []
        for rec in c.iter_ledgers(max(ledger, oldest), latest + 1):
            for tx in rec.txs:
                if (tx.ledger, tx.order) <= after:
                    continue
                out.append(tx)
                if len(out) >= limit:
                    break
            if len(out) >= limit:
                break
        if out:
            cursor = str(dx.toid(out[-1].ledger, out[-1].order, 0))
        else:
            cursor = str(dx.toid(latest, dx.TX_MASK, 0))
        return {
            "transactions": [{**self._tx_fields(t), "createdAt": t.created_at} for t in out],
            "latestLedger": latest,
            "latestLedgerCloseTimestamp": latest_t,
            "oldestLedger": oldest,
            "oldestLedgerCloseTimestamp": oldest_t,
            "cursor": cursor,
        }

    # ledger entries -------------------------------------------------------
    def get_ledger_entries(self, p: dict[str, Any]) -> dict[str, Any]:
        keys = p.get("keys")
        if not isinstance(keys, list) or not keys:
            raise RpcError(INVALID_PARAMS, "key list must be non-empty")
        if len(keys) > MAX_LEDGER_KEYS:
            raise RpcError(
                INVALID_PARAMS,
                f"key count ({len(keys)}) exceeds maximum supported ({MAX_LEDGER_KEYS})",
            )
        entries = []
        for i, raw in enumerate(keys):
            try:
                key = x.LedgerKey.from_xdr(raw)
            except Exception:
                raise RpcError(
                    INVALID_PARAMS, f"cannot unmarshal key value {raw} at index {i}"
                ) from None
            if key.type == x.LedgerEntryType.TTL:
                raise RpcError(
                    INVALID_PARAMS, f"ledger ttl entries cannot be queried directly. Index: {i}"
                )
            found = self.chain.ledger_entry(key)
            if found is None:
                continue
            data, modified, live_until = found
            entries.append(
                {
                    "key": dx.b64(key.to_xdr_bytes()),
                    "xdr": dx.b64(data.to_xdr_bytes()),
                    "lastModifiedLedgerSeq": modified,
                    "liveUntilLedgerSeq": live_until,
                }
            )
        return {"entries": entries, "latestLedger": self.chain.latest_ledger}


def handle_request(methods: RpcMethods, req: Any) -> dict[str, Any] | None:
    """One JSON-RPC request object -> response object (None for a notification)."""
    if (
        not isinstance(req, dict)
        or req.get("jsonrpc") != "2.0"
        or not isinstance(req.get("method"), str)
    ):
        return {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": INVALID_REQUEST, "message": "invalid request"},
        }
    rid = req.get("id")
    try:
        result = methods.call(req["method"], req.get("params"))
    except RpcError as exc:
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": exc.message}}
    except Exception as exc:  # pragma: no cover - a devnet bug, reported like core would
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": INTERNAL_ERROR, "message": str(exc)}}
    if "id" not in req:
        return None
    return {"jsonrpc": "2.0", "id": rid, "result": result}

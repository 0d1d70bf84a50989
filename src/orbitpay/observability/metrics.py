"""Prometheus metrics, one registry for the whole process.

Names follow Prometheus conventions (``orbitpay_`` prefix, ``_total`` for
counters, base units). The alert rules in ``deploy/prometheus/alerts.yml`` and
the Grafana dashboard refer to these names; rename nothing without updating them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Indexer
EVENTS_INDEXED = Counter(
    "orbitpay_events_indexed_total",
    "Contract events stored, by contract kind and event type.",
    ["kind", "type"],
    registry=REGISTRY,
)
EVENTS_UNRECOGNISED = Counter(
    "orbitpay_events_unrecognised_total",
    "Events stored raw because no decoder recognised them (or decoding failed).",
    ["kind", "reason"],
    registry=REGISTRY,
)
INDEXER_LAST_LEDGER = Gauge(
    "orbitpay_indexer_last_ledger",
    "Newest ledger fully indexed.",
    registry=REGISTRY,
)
INDEXER_LATEST_LEDGER = Gauge(
    "orbitpay_indexer_rpc_latest_ledger",
    "Latest ledger reported by the RPC.",
    registry=REGISTRY,
)
INDEXER_LAG_LEDGERS = Gauge(
    "orbitpay_indexer_lag_ledgers",
    "Ledgers between the RPC's latest ledger and the newest indexed one.",
    registry=REGISTRY,
)
INDEXER_LAG_SECONDS = Gauge(
    "orbitpay_indexer_lag_seconds",
    "Seconds since the close time of the newest indexed ledger.",
    registry=REGISTRY,
)
INDEXER_LAST_SUCCESS = Gauge(
    "orbitpay_indexer_last_success_timestamp_seconds",
    "Unix time of the indexer's last successful poll.",
    registry=REGISTRY,
)
INDEXER_UP = Gauge(
    "orbitpay_indexer_up",
    "1 while the indexer loop runs and its last poll succeeded, else 0.",
    registry=REGISTRY,
)
INDEXER_GAPS = Counter(
    "orbitpay_indexer_gaps_total",
    "Times the stored cursor was older than the RPC's retention window.",
    registry=REGISTRY,
)
HISTORY_GAP_LEDGERS = Gauge(
    "orbitpay_history_gap_ledgers",
    "Ledgers missing from a contract's indexed history (holes between covered ranges, and "
    "before the first one when the contract's first ledger is known), by contract.",
    ["contract"],
    registry=REGISTRY,
)
HISTORY_COMPLETE = Gauge(
    "orbitpay_history_complete",
    "1 when a contract's history is indexed from its initialize ledger on without a hole.",
    ["contract"],
    registry=REGISTRY,
)
NETWORK_RESETS = Counter(
    "orbitpay_network_reset_total",
    "Times the RPC served a different chain than the indexed one (a network reset), "
    "by the action taken (stop or reindex).",
    ["action"],
    registry=REGISTRY,
)
DISCREPANCIES = Counter(
    "orbitpay_discrepancies_total",
    "Differences recorded between indexed rows and the chain, by source and entity.",
    ["source", "entity"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "orbitpay_indexer_batch_seconds",
    "Time to enrich and project one page of events.",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# RPC
RPC_REQUESTS = Counter(
    "orbitpay_rpc_requests_total",
    "Stellar RPC requests, by method and outcome (ok, retry, error).",
    ["method", "outcome"],
    registry=REGISTRY,
)
RPC_LATENCY = Histogram(
    "orbitpay_rpc_request_seconds",
    "Stellar RPC request latency by method.",
    ["method"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RPC_UP = Gauge(
    "orbitpay_rpc_up",
    "1 when the last RPC request succeeded, else 0.",
    registry=REGISTRY,
)

# Database and cache
DB_UP = Gauge(
    "orbitpay_database_up", "1 when the last database check succeeded.", registry=REGISTRY
)
CACHE_UP = Gauge("orbitpay_cache_up", "1 when the last cache check succeeded.", registry=REGISTRY)
CACHE_REQUESTS = Counter(
    "orbitpay_cache_requests_total",
    "Cache look-ups by outcome (hit, miss, error).",
    ["outcome"],
    registry=REGISTRY,
)

# API
HTTP_REQUESTS = Counter(
    "orbitpay_http_requests_total",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "orbitpay_http_request_seconds",
    "HTTP request latency by route template.",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
READ_POOL_RETIRED = Counter(
    "orbitpay_api_read_pool_retired_total",
    "API read pool connections retired mid-use (request cancelled, statement or socket broken).",
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "orbitpay_http_rate_limited_total",
    "Requests answered 429.",
    registry=REGISTRY,
)
RATE_LIMIT_FALLBACK = Counter(
    "orbitpay_rate_limit_fallback_total",
    "Rate-limit decisions made by the in-process limiter because Redis was unavailable.",
    registry=REGISTRY,
)
REDIS_BREAKER_OPEN = Gauge(
    "orbitpay_redis_circuit_open",
    "1 while the Redis circuit breaker is open (calls skipped without waiting).",
    registry=REGISTRY,
)
HTTP_REFUSED = Counter(
    "orbitpay_http_refused_total",
    "Requests refused by a resource guard (body too large, too many exports or streams, "
    "analytics too costly), by reason.",
    ["reason"],
    registry=REGISTRY,
)

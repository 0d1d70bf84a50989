"""Prometheus metrics, each owned by the role that sets it: ``indexer`` or ``api``.

Names follow Prometheus conventions (``orbitpay_`` prefix, ``_total`` for
counters, base units). The alert rules in ``deploy/prometheus/alerts.yml`` and
the Grafana dashboard refer to these names; rename nothing without updating them
(``tests/integration/observability`` checks every name they use against a live
``/metrics`` of the right role).

Why roles: ``orbitpay index`` and ``orbitpay api`` are separate processes, each
scraped as its own job, and ``orbitpay up`` runs both in one. A process used to
export every metric, so the API said ``orbitpay_indexer_up 0`` and
``orbitpay_indexer_last_success_timestamp_seconds 0`` (it runs no indexer), and
alert rules without a job selector fired on a healthy stack. Now every metric
family has one owner (:data:`OWNERS`) and a process exposes only the families
of the roles it runs (:func:`registry_for`): the indexer's metrics server
exposes the ``indexer`` role, the API's ``/metrics`` the ``api`` role plus
``indexer`` when the process also runs the indexer (``orbitpay up``:
:func:`enable_role`).

:data:`REGISTRY` holds every metric of the process whatever its role (tests
read values from it); never serve it as is.

Several API workers: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process
starts) prometheus-client keeps values in per-process files there, and
:func:`registry_for` reads the files of every worker (counters and histograms
are summed; gauges take the most recent value). Scrape-time collectors (the
read pool, the lag) report the worker that answers the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from orbitpay.enums import ContractKind, DiscrepancyEntity, DiscrepancySource
from orbitpay.observability.lag import LAG_METRICS, ChainPosition, LagCollector


class Role(StrEnum):
    """Which part of OrbitPay owns a metric (and which process exposes it)."""

    INDEXER = "indexer"
    API = "api"


# No ``*_created`` series: one more series per label set (and the label sets alerts read are
# created up front), used by nothing here, and absent in multiprocess mode anyway.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

# Metric family name (as collected: counters without ``_total``) -> owning role.
OWNERS: dict[str, Role] = {}
# Families whose values live in the metric objects (multiprocess files), as opposed to
# scrape-time collectors, which are always read from this process.
_VALUE_BACKED: set[str] = set()
# The roles this process runs besides the one a metrics endpoint is for (enable_role).
_ENABLED: set[Role] = set()


def _own(role: Role, family: str, *, value_backed: bool = True) -> None:
    if family in OWNERS:
        raise ValueError(f"metric {family} defined twice")
    OWNERS[family] = role
    if value_backed:
        _VALUE_BACKED.add(family)


def _counter(role: Role, name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
    metric = Counter(name, doc, list(labels), registry=REGISTRY)
    _own(role, name.removesuffix("_total"))
    return metric


def _gauge(role: Role, name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
    # "mostrecent": under several workers the value last set wins (not one series per pid).
    metric = Gauge(name, doc, list(labels), registry=REGISTRY, multiprocess_mode="mostrecent")
    _own(role, name)
    return metric


def _histogram(
    role: Role, name: str, doc: str, buckets: tuple[float, ...], labels: Iterable[str] = ()
) -> Histogram:
    metric = Histogram(name, doc, list(labels), registry=REGISTRY, buckets=buckets)
    _own(role, name)
    return metric


def register_collector(role: Role, collector: Collector, families: Iterable[str]) -> None:
    """Register a scrape-time collector whose metric ``families`` belong to ``role``."""
    for family in families:
        _own(role, family, value_backed=False)
    REGISTRY.register(collector)


INDEXER, API = Role.INDEXER, Role.API

# ── Indexer ─────────────────────────────────────────────────────────────────────
EVENTS_INDEXED = _counter(
    INDEXER,
    "orbitpay_events_indexed_total",
    "Contract events stored, by contract kind and event type.",
    ["kind", "type"],
)
EVENTS_UNRECOGNISED = _counter(
    INDEXER,
    "orbitpay_events_unrecognised_total",
    "Events stored raw because no decoder recognised them (or decoding failed).",
    ["kind", "reason"],
)
INDEXER_UP = _gauge(
    INDEXER,
    "orbitpay_indexer_up",
    "1 while this indexer runs its loop (holds the lock) and its last poll did not fail, else 0.",
)
INDEXER_GAPS = _counter(
    INDEXER,
    "orbitpay_indexer_gaps_total",
    "Times the stored cursor was older than the RPC's retention window (or the archive had a "
    "hole): ledgers were skipped.",
)
HISTORY_GAP_LEDGERS = _gauge(
    INDEXER,
    "orbitpay_history_gap_ledgers",
    "Ledgers missing from a contract's indexed history (holes between covered ranges, and "
    "before the first one when the contract's first ledger is known), by contract.",
    ["contract"],
)
HISTORY_COMPLETE = _gauge(
    INDEXER,
    "orbitpay_history_complete",
    "1 when a contract's history is indexed from its initialize ledger on without a hole.",
    ["contract"],
)
NETWORK_RESETS = _counter(
    INDEXER,
    "orbitpay_network_reset_total",
    "Times the RPC served a different chain than the indexed one (a network reset), "
    "by the action taken (stop or reindex).",
    ["action"],
)
DISCREPANCIES = _counter(
    INDEXER,
    "orbitpay_discrepancies_total",
    "Differences recorded between indexed rows and the chain, by source and entity.",
    ["source", "entity"],
)
BATCH_SECONDS = _histogram(
    INDEXER,
    "orbitpay_indexer_batch_seconds",
    "Time to enrich and project one page of events.",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The lag and the chain position, computed at scrape time (orbitpay.observability.lag).
CHAIN = ChainPosition()
register_collector(INDEXER, LagCollector(CHAIN), LAG_METRICS)

# RPC: only the indexer talks to the RPC.
RPC_METHODS = (
    "getEvents",
    "getHealth",
    "getLatestLedger",
    "getLedgerEntries",
    "getNetwork",
    "getTransaction",
    "getTransactions",
)
RPC_OUTCOMES = ("ok", "retry", "error", "rejected")
RPC_REQUESTS = _counter(
    INDEXER,
    "orbitpay_rpc_requests_total",
    "Stellar RPC request attempts by method and outcome: ok; retry (failed, retried); error "
    "(failed, retries spent); rejected (the RPC answered a JSON-RPC error).",
    ["method", "outcome"],
)
RPC_LATENCY = _histogram(
    INDEXER,
    "orbitpay_rpc_request_seconds",
    "Stellar RPC request latency by method.",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    ["method"],
)
RPC_UP = _gauge(
    INDEXER,
    "orbitpay_rpc_up",
    "1 when the last RPC request succeeded, else 0.",
)

# ── API ─────────────────────────────────────────────────────────────────────────
DB_UP = _gauge(
    API, "orbitpay_database_up", "1 when the API's database check (at each scrape) succeeded."
)
CACHE_UP = _gauge(
    API, "orbitpay_cache_up", "1 when the API's cache check (at each scrape) succeeded."
)
CACHE_REQUESTS = _counter(
    API,
    "orbitpay_cache_requests_total",
    "Cache look-ups by outcome (hit, miss, bypass, error).",
    ["outcome"],
)
REDIS_BREAKER_OPEN = _gauge(
    API,
    "orbitpay_redis_circuit_open",
    "1 while the Redis circuit breaker is open (calls skipped without waiting).",
)
HTTP_REQUESTS = _counter(
    API,
    "orbitpay_http_requests_total",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = _histogram(
    API,
    "orbitpay_http_request_seconds",
    "HTTP request latency by route template.",
    (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    ["route"],
)
READ_POOL_RETIRED = _counter(
    API,
    "orbitpay_api_read_pool_retired_total",
    "API read pool connections retired mid-use (request cancelled, statement or socket broken).",
)
RATE_LIMITED = _counter(API, "orbitpay_http_rate_limited_total", "Requests answered 429.")
RATE_LIMIT_FALLBACK = _counter(
    API,
    "orbitpay_rate_limit_fallback_total",
    "Rate-limit decisions made by the in-process limiter because Redis was unavailable.",
)
HTTP_REFUSED = _counter(
    API,
    "orbitpay_http_refused_total",
    "Requests refused by a resource guard (body too large, too many exports or streams, "
    "analytics too costly), by reason.",
    ["reason"],
)
# orbitpay.db.readpool registers its scrape-time collector under these names.
for _family in (
    "orbitpay_api_read_pool_connections",
    "orbitpay_api_read_pool_waiting",
    "orbitpay_api_read_pool_size",
):
    _own(API, _family, value_backed=False)


def _initialise() -> None:
    """Create the label sets known in advance, at 0.

    A labelled series appears with its first increment, and ``increase()`` over
    a series that starts at 1 is 0: the first discrepancy, unrecognised event,
    network reset or failed RPC request would never alert. Started at 0, the
    first one is an increase like any other (and dashboards show 0, not "no data").
    """
    for source in DiscrepancySource:
        for entity in DiscrepancyEntity:
            DISCREPANCIES.labels(source.value, entity.value)
    for kind in ContractKind:
        for reason in ("unknown", "malformed", "unreadable"):
            EVENTS_UNRECOGNISED.labels(kind.value, reason)
    for action in ("stop", "reindex"):
        NETWORK_RESETS.labels(action)
    for method in RPC_METHODS:
        for outcome in RPC_OUTCOMES:
            RPC_REQUESTS.labels(method, outcome)
    for outcome in ("hit", "miss", "bypass", "error"):
        CACHE_REQUESTS.labels(outcome)


_initialise()


# ── exposition ──────────────────────────────────────────────────────────────────


def enable_role(role: Role) -> None:
    """This process runs ``role``: every metrics endpoint of the process exposes it too."""
    _ENABLED.add(role)


def enabled_roles() -> frozenset[Role]:
    return frozenset(_ENABLED)


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when set (prometheus-client then writes values there)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _multiprocess_families(path: str) -> list[Metric]:
    """Every worker's values, merged, from the files under ``path`` (untyped upstream)."""
    collector: Any = MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]
    return list(collector.collect())


class _RoleView(Collector):
    """The families owned by ``roles`` (plus the process's enabled roles), at each scrape."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def collect(self) -> Iterator[Metric]:
        roles = self.roles | _ENABLED
        path = multiprocess_dir()
        if path is None:
            families: Iterable[Metric] = REGISTRY.collect()
        else:
            files = _multiprocess_families(path)
            local = (m for m in REGISTRY.collect() if m.name not in _VALUE_BACKED)
            families = (*files, *local)
        for family in families:
            if OWNERS.get(family.name) in roles:
                yield family


def registry_for(*roles: Role) -> CollectorRegistry:
    """What a metrics endpoint serving ``roles`` exposes (and every role enabled here).

    A new registry per call is cheap (one collector); the families are read at
    each ``generate_latest``.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RoleView(frozenset(roles)))
    return registry


__all__ = [
    "API",
    "BATCH_SECONDS",
    "CACHE_REQUESTS",
    "CACHE_UP",
    "CHAIN",
    "DB_UP",
    "DISCREPANCIES",
    "EVENTS_INDEXED",
    "EVENTS_UNRECOGNISED",
    "HISTORY_COMPLETE",
    "HISTORY_GAP_LEDGERS",
    "HTTP_LATENCY",
    "HTTP_REFUSED",
    "HTTP_REQUESTS",
    "INDEXER",
    "INDEXER_GAPS",
    "INDEXER_UP",
    "NETWORK_RESETS",
    "OWNERS",
    "RATE_LIMITED",
    "RATE_LIMIT_FALLBACK",
    "READ_POOL_RETIRED",
    "REDIS_BREAKER_OPEN",
    "REGISTRY",
    "RPC_LATENCY",
    "RPC_METHODS",
    "RPC_OUTCOMES",
    "RPC_REQUESTS",
    "RPC_UP",
    "Role",
    "enable_role",
    "enabled_roles",
    "multiprocess_dir",
    "register_collector",
    "registry_for",
]

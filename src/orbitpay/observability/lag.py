"""How far the indexer is behind the chain, computed when Prometheus scrapes.

Gauges set when a page commits freeze with the indexer: while the RPC hangs
or the loop is stuck nothing commits, so a lag set at commit time reads the
last healthy value (often 0) for the whole stall. Here the indexer only
records facts as it sees them (the newest indexed ledger of each cursor group
and its close time, the RPC's latest ledger and its close time, the time of
the last successful poll), and :class:`LagCollector` turns them into lag at
scrape time:

- ``orbitpay_indexer_lag_seconds``: now minus the close time of the newest
  ledger indexed by the slowest group: it rises one second per second in any
  stall, whatever the RPC says;
- ``orbitpay_indexer_lag_ledgers``: the RPC's latest ledger as last seen minus
  the slowest group's ledger, plus the ledgers the network has closed since
  that observation, estimated from the close interval seen so far (Stellar
  closes one every ~5 s): a frozen RPC shows no new ledgers, yet the network
  moves on, so the estimate keeps the lag rising during a stall too;
- ``orbitpay_indexer_last_ledger``, ``orbitpay_indexer_rpc_latest_ledger`` and
  ``orbitpay_indexer_last_success_timestamp_seconds`` as last seen.

Nothing is exported before the indexer has seen it: a value of 0 would claim
"the indexer last succeeded in 1970" (and page someone) for an indexer that
simply has not finished its first poll, or for a process that runs no indexer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Stellar's target ledger close time, until two observed ledgers give the real one.
DEFAULT_LEDGER_SECONDS = 5.0

LAG_METRICS = {
    "orbitpay_indexer_last_ledger": "Newest ledger fully indexed (by the slowest cursor group).",
    "orbitpay_indexer_rpc_latest_ledger": "Latest ledger reported by the RPC, as last seen.",
    "orbitpay_indexer_lag_ledgers": (
        "Ledgers between the chain's latest ledger and the newest indexed one, at scrape time "
        "(the RPC's latest as last seen, plus the ledgers closed since, estimated)."
    ),
    "orbitpay_indexer_lag_seconds": (
        "Seconds since the close time of the newest indexed ledger, at scrape time."
    ),
    "orbitpay_indexer_last_success_timestamp_seconds": (
        "Unix time of the indexer's last committed page or completed poll."
    ),
}


@dataclass(slots=True)
class _Seen:
    """The RPC's latest ledger and its close time (unix seconds) at one observation."""

    ledger: int
    closed_at: float | None


class ChainPosition:
    """What the indexer has seen of the chain; thread-safe (the metrics server has its own
    thread, and scrapes keep working while the event loop is stuck)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, tuple[int, float | None]] = {}
        self._seen: _Seen | None = None
        self._ledger_seconds = DEFAULT_LEDGER_SECONDS
        self._last_success: float | None = None

    def reset(self) -> None:
        """Forget everything (a network reset starts the index over; tests)."""
        with self._lock:
            self._groups.clear()
            self._seen = None
            self._ledger_seconds = DEFAULT_LEDGER_SECONDS
            self._last_success = None

    def indexed(self, group: str, ledger: int, closed_at: datetime | None) -> None:
        """Group ``group`` has committed every ledger up to ``ledger`` (closed at ``closed_at``)."""
        with self._lock:
            known = self._groups.get(group)
            when = closed_at.timestamp() if closed_at is not None else None
            if when is None and known is not None:
                # An empty page below the head has no close time: the previous ledger's
                # bounds it (the lag reads at most a few ledgers high, never missing).
                when = known[1]
            self._groups[group] = (ledger, when)
            self._last_success = self._clock()

    def rpc_latest(self, ledger: int, closed_at: datetime | None) -> None:
        """The RPC reported ``ledger`` as its latest (closed at ``closed_at``, when it says)."""
        when = closed_at.timestamp() if closed_at is not None else None
        with self._lock:
            seen = self._seen
            if seen is not None and ledger < seen.ledger:
                newer = when is not None and seen.closed_at is not None and when > seen.closed_at
                if not newer:
                    return  # an older answer arriving late (requests overlap)
                # A lower ledger closed later: another chain (a network reset, reindexed).
                self._seen = _Seen(ledger, when)
                return
            if (
                seen is not None
                and when is not None
                and seen.closed_at is not None
                and ledger > seen.ledger
                and when > seen.closed_at
            ):
                # Smoothed, so one slow ledger does not swing the estimate.
                interval = (when - seen.closed_at) / (ledger - seen.ledger)
                self._ledger_seconds = 0.8 * self._ledger_seconds + 0.2 * interval
            if seen is None or ledger > seen.ledger or when is not None:
                self._seen = _Seen(ledger, when if when is not None else self._clock())

    def succeeded(self) -> None:
        """A poll completed (caught up, nothing new to commit)."""
        with self._lock:
            self._last_success = self._clock()

    def forget_group(self, group: str) -> None:
        with self._lock:
            self._groups.pop(group, None)

    def samples(self) -> dict[str, float]:
        """The lag metrics' values now (only those the indexer has seen the inputs of)."""
        now = self._clock()
        with self._lock:
            out: dict[str, float] = {}
            if self._last_success is not None:
                out["orbitpay_indexer_last_success_timestamp_seconds"] = self._last_success
            seen = self._seen
            if seen is not None:
                out["orbitpay_indexer_rpc_latest_ledger"] = seen.ledger
            if not self._groups:
                return out
            ledger, closed_at = min(self._groups.values(), key=lambda g: g[0])
            out["orbitpay_indexer_last_ledger"] = ledger
            if closed_at is not None:
                out["orbitpay_indexer_lag_seconds"] = max(0.0, now - closed_at)
            if seen is not None:
                since = 0
                if seen.closed_at is not None and self._ledger_seconds > 0:
                    since = int(max(0.0, now - seen.closed_at) // self._ledger_seconds)
                out["orbitpay_indexer_lag_ledgers"] = max(0, seen.ledger + since - ledger)
            return out


class LagCollector(Collector):
    """Exports a :class:`ChainPosition` as gauges, computed at each scrape."""

    def __init__(self, position: ChainPosition) -> None:
        self.position = position

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self.position.samples().items():
            yield GaugeMetricFamily(name, LAG_METRICS[name], value=value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # The names, whether or not they have a value yet (registration checks duplicates).
        for name, doc in LAG_METRICS.items():
            yield GaugeMetricFamily(name, doc)


__all__ = ["DEFAULT_LEDGER_SECONDS", "LAG_METRICS", "ChainPosition", "LagCollector"]

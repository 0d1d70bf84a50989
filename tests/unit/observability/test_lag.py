"""The scrape-time lag: it rises during a stall, and says nothing before it knows."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from orbitpay.observability.lag import DEFAULT_LEDGER_SECONDS, ChainPosition, LagCollector


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_nothing_is_exported_before_the_indexer_has_seen_the_chain() -> None:
    position = ChainPosition(Clock(1_000.0))
    assert position.samples() == {}
    registry = CollectorRegistry()
    registry.register(LagCollector(position))
    # No "last success at 1970" and no lag of 0 for an indexer that has not polled yet.
    assert b"orbitpay_indexer" not in generate_latest(registry)


def test_lag_rises_while_nothing_commits() -> None:
    clock = Clock(10_000.0)
    position = ChainPosition(clock)
    position.rpc_latest(500, at(9_998.0))
    position.indexed("g0", 500, at(9_998.0))
    first = position.samples()
    assert first["orbitpay_indexer_lag_seconds"] == 2.0
    assert first["orbitpay_indexer_lag_ledgers"] == 0
    assert first["orbitpay_indexer_last_success_timestamp_seconds"] == 10_000.0
    clock.now += 150  # the RPC freezes: no commit, no new head
    stalled = position.samples()
    assert stalled["orbitpay_indexer_lag_seconds"] == 152.0
    # 152 s since the last seen ledger closed: ~30 ledgers closed meanwhile (5 s each).
    assert stalled["orbitpay_indexer_lag_ledgers"] == int(152 // DEFAULT_LEDGER_SECONDS)
    assert stalled["orbitpay_indexer_last_success_timestamp_seconds"] == 10_000.0
    assert stalled["orbitpay_indexer_last_ledger"] == 500
    assert stalled["orbitpay_indexer_rpc_latest_ledger"] == 500


def test_the_slowest_group_sets_the_lag() -> None:
    clock = Clock(2_000.0)
    position = ChainPosition(clock)
    position.rpc_latest(300, at(1_990.0))
    position.indexed("fast", 300, at(1_990.0))
    position.indexed("slow", 200, at(1_500.0))
    samples = position.samples()
    assert samples["orbitpay_indexer_last_ledger"] == 200
    assert samples["orbitpay_indexer_lag_seconds"] == 500.0
    assert samples["orbitpay_indexer_lag_ledgers"] == 100 + int(10 // DEFAULT_LEDGER_SECONDS)


def test_the_close_interval_is_learnt_and_late_answers_are_ignored() -> None:
    clock = Clock(1_000.0)
    position = ChainPosition(clock)
    position.rpc_latest(100, at(1_000.0))
    for n in range(1, 40):  # ledgers every 2 s
        position.rpc_latest(100 + n, at(1_000.0 + 2 * n))
    position.rpc_latest(120, at(1_040.0))  # an older answer arriving late
    position.indexed("g", 139, at(1_078.0))
    clock.now = 1_078.0 + 60
    samples = position.samples()
    assert samples["orbitpay_indexer_rpc_latest_ledger"] == 139
    # ~30 ledgers in 60 s at the learnt ~2 s (the smoothed estimate is within a few).
    assert 26 <= samples["orbitpay_indexer_lag_ledgers"] <= 31


def test_an_empty_page_without_close_time_keeps_the_previous_bound() -> None:
    clock = Clock(5_000.0)
    position = ChainPosition(clock)
    position.indexed("g", 10, at(4_900.0))
    position.indexed("g", 12, None)
    assert position.samples()["orbitpay_indexer_lag_seconds"] == 100.0
    assert position.samples()["orbitpay_indexer_last_ledger"] == 12
    position.reset()
    assert position.samples() == {}


def test_a_reset_network_with_lower_ledgers_is_followed() -> None:
    clock = Clock(9_000.0)
    position = ChainPosition(clock)
    position.rpc_latest(5_000, at(8_990.0))
    position.rpc_latest(4_990, at(8_940.0))  # late answer, same chain: ignored
    assert position.samples()["orbitpay_indexer_rpc_latest_ledger"] == 5_000
    position.rpc_latest(20, at(8_999.0))  # a new chain: lower ledger, newer close time
    assert position.samples()["orbitpay_indexer_rpc_latest_ledger"] == 20

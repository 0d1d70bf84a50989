"""Catch-up progress: ledgers and events per second, and the time left."""

from __future__ import annotations

from orbitpay.indexer.progress import Progress


def test_progress_rates_and_eta() -> None:
    p = Progress(tty=False, log_every=3600)
    p.start("g", 100, 1100)
    p._t0 -= 10  # ten seconds ago
    p.update(600, 1100, 5000)
    lps, eps, eta = p.rates()
    assert 49 < lps <= 50 and 499 < eps <= 500
    assert eta is not None and 9 < eta <= 10.1

"""``make run`` stopped and started again: the built-in devnet is a new chain each time.

The issue's scenario: the restarted demo chain is younger than the ledger the
first run had indexed, so the indexer used to stall on ``startLedger must be
within the ledger range``, report the RPC down with lag 0, and then stitch two
chains together. Now the demo database starts over (one line says so) and the
indexer is healthy within a minute, its lag true.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import clean_env, free_port, start, stop, wait_for, wait_http


def _health(base: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}/health", timeout=5).json()
    return body


def test_make_run_restart_starts_over_and_is_healthy_within_a_minute(tmp_path: Path) -> None:
    env = clean_env()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["up", "--port", str(port)], env, tmp_path)
    try:
        wait_http(f"{base}/health", timeout=120, proc=proc)
        wait_for(lambda: _health(base)["indexer"]["lag_ledgers"] == 0, timeout=90)
        first = _health(base)["indexer"]["last_ledger"]
        # At least one live ledger indexed: the first run's cursor is now ahead of where
        # a rebuilt demo chain ends.
        wait_for(lambda: _health(base)["indexer"]["last_ledger"] > first, timeout=30)
        old_cursor = _health(base)["indexer"]["last_ledger"]
    finally:
        out = stop(proc)
    assert out.count("the demo database starts over") == 1

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["up", "--port", str(port)], env, tmp_path)
    started = time.monotonic()
    try:
        wait_http(f"{base}/health", timeout=60, proc=proc)

        def healthy() -> bool:
            body = _health(base)
            idx = body["indexer"]
            return (
                body["status"] == "ok"
                and idx["lag_ledgers"] is not None
                and idx["lag_ledgers"] <= 1
                and idx["latest_ledger"] is not None
            )

        wait_for(healthy, timeout=max(1.0, 60 - (time.monotonic() - started)))
        body = _health(base)
        assert body["rpc"]["status"] == "ok" and body["rpc"]["error"] is None
        # Lag is true: measured against the new chain, whose head is below the old cursor
        # right after the restart.
        assert body["indexer"]["lag_seconds"] < 60
        events = httpx.get(f"{base}/api/events", params={"limit": 1}, timeout=5).json()
        newest = events["items"][0]["ledger"]
        assert newest <= body["indexer"]["latest_ledger"]
    finally:
        out = stop(proc)
    assert out.count("the demo database starts over") == 1
    assert "network reset" not in out
    assert "startLedger must be within" not in out
    assert old_cursor > 0

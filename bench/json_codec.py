"""JSON codec benchmark: the stdlib against orjson on the indexer's two JSON hot spots.

    .venv/bin/python bench/json_codec.py

1. Parsing a ``getTransactions`` response (200 transactions of a devnet ``load``
   chain, served over HTTP exactly as the indexer receives it):
   ``json.loads`` against :func:`orbitpay.jsoncodec.loads` (orjson).
2. Encoding one page of ``events`` rows for the bulk ``json_to_recordset``
   insert: ``json.dumps`` with the datetime hook the store used before, against
   :func:`orbitpay.jsoncodec.dumps` (orjson), as ``indexer/store.py`` calls it.

Both sides get the same input in the same run; the ratio is printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def best_of(fn: Callable[[], Any], repeat: int = 7, number: int = 20) -> float:
    """Seconds per call: the best of ``repeat`` timings of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def transactions_page() -> bytes:
    """A real ``getTransactions`` response body from a devnet ``load`` chain."""
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="load", seed=1, live=False, events=5000)
    try:
        health = httpx.post(
            handle.url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=30
        ).json()["result"]
        body = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "getTransactions",
            "params": {"startLedger": health["oldestLedger"], "pagination": {"limit": 200}},
        }
        return httpx.post(handle.url, json=body, timeout=30).content
    finally:
        handle.stop()


def event_rows(n: int = 2000) -> list[dict[str, Any]]:
    """``n`` rows shaped like the indexer's ``events`` rows (jsonb topics and value)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": f"{(1000 + i) << 32:019d}-{i % 10:010d}",
            "contract_id": "CBLQ6YEIZQYPPB5N6HZOAQAHJX5CKXYXKAK7BSOHQVXDN5ALWV6IWVYI",
            "ledger": 1000 + i,
            "ledger_closed_at": base + timedelta(seconds=5 * i),
            "tx_hash": f"{i:064x}",
            "transaction_index": 1,
            "operation_index": 0,
            "event_type": "contract",
            "type": "s_claim",
            "topic_symbols": ["s_claim"],
            "topics": ["s_claim", "GBDS3XGIVGLHNLQEBRNE3B3XFKW7LUY6N4ZJCS3JI4YBYZOTK25BBK5O"],
            "value": {"amount": str(1_000_000 + i), "to": "GBBQNQJG23SQZDRBV5WHJN5DAKO5RAID"},
            "topics_xdr": ["AAAADwAAAAdzX2NsYWltAA==", "AAAAEgAAAAAAAAAA"],
            "value_xdr": "AAAACgAAAAAAAAAAAAAAAAAPQkA=",
            "recognised": True,
            "in_successful_contract_call": True,
            "decode_error": None,
        }
        for i in range(n)
    ]


def _stdlib_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def main() -> None:
    from orbitpay.jsoncodec import dumps, loads

    body = transactions_page()
    assert loads(body) == json.loads(body)
    stdlib = best_of(lambda: json.loads(body))
    fast = best_of(lambda: loads(body))
    print(
        f"parse getTransactions ({len(body) / 1024:.0f} KB): json.loads {stdlib * 1e3:.2f} ms, "
        f"orjson {fast * 1e3:.2f} ms -> {stdlib / fast:.1f}x"
    )

    rows = event_rows()
    assert json.loads(dumps(rows)) == json.loads(json.dumps(rows, default=_stdlib_default))
    stdlib = best_of(
        lambda: json.dumps(rows, default=_stdlib_default, separators=(",", ":"), allow_nan=False)
    )
    fast = best_of(lambda: dumps(rows))
    print(
        f"encode {len(rows)} event rows: json.dumps {stdlib * 1e3:.2f} ms, "
        f"orjson {fast * 1e3:.2f} ms -> {stdlib / fast:.1f}x"
    )


if __name__ == "__main__":
    main()

"""Devnet benchmark: generate a ``load`` chain, serve it, page through getEvents over HTTP.

Run: ``.venv/bin/python bench/devnet.py [--events 100000] [--organizations 10] [--page 1000]``

Prints events generated per second (contract execution + real XDR + signing) and
getEvents pages (and events) served per second through real HTTP (uvicorn,
JSON-RPC, one client, keep-alive), plus the chain's memory footprint.
"""

from __future__ import annotations

import argparse
import resource
import time

import httpx

from orbitpay.devnet.scenarios import build_chain
from orbitpay.devnet.server import serve_chain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--organizations", type=int, default=10)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    chain = build_chain("load", args.seed, organizations=args.organizations, events=args.events)
    gen = time.perf_counter() - t0
    mem = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # KiB on Linux
    print(
        f"generated {chain.event_count} events in {chain.tx_count} transactions "
        f"({chain.failed_tx_count} failed) over "
        f"{chain.latest_ledger - chain.genesis_ledger + 1} ledgers"
    )
    print(
        f"  generation: {gen:.1f} s, {chain.event_count / gen:,.0f} events/s; "
        f"peak RSS growth ~{mem:,.0f} MiB"
    )

    with serve_chain(chain) as dn, httpx.Client(timeout=60) as client:

        def rpc(params: dict) -> dict:
            r = client.post(
                dn.url, json={"jsonrpc": "2.0", "id": 1, "method": "getEvents", "params": params}
            )
            r.raise_for_status()
            return r.json()["result"]

        t0 = time.perf_counter()
        res = rpc({"startLedger": chain.genesis_ledger, "pagination": {"limit": args.page}})
        pages, events = 1, len(res["events"])
        while True:
            if not res["events"] and int(res["cursor"].split("-")[0]) >> 32 >= res["latestLedger"]:
                break
            res = rpc({"pagination": {"cursor": res["cursor"], "limit": args.page}})
            pages += 1
            events += len(res["events"])
        dt = time.perf_counter() - t0
        assert events == chain.event_count, (events, chain.event_count)
        print(
            f"served {events} events in {pages} getEvents pages (limit {args.page}) in {dt:.2f} s: "
            f"{pages / dt:,.1f} pages/s, {events / dt:,.0f} events/s"
        )

        hashes = list(chain.txs)[:500]
        t0 = time.perf_counter()
        for h in hashes:
            client.post(
                dn.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": {"hash": h}},
            )
        dt = time.perf_counter() - t0
        print(f"getTransaction: {len(hashes) / dt:,.0f} requests/s")


if __name__ == "__main__":
    main()

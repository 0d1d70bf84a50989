"""Ingest benchmark: end-to-end events/s on thin and realistic metas, decode-only, reconcile.

    .venv/bin/python bench/ingest.py --events 100000 --latency 0,50

For each kind of transaction meta (``--metas thin,full``: "thin" carries events
and return value only, as the devnet wrote them before issue 12; "full" is
what the network writes: every written entry before and after, TTL entries,
the source account around the sequence bump and the refund, resource fees),
one after the other in the same run:

1. Serves a ``load`` chain of ``--events`` events from a devnet in a separate
   process (so the devnet's CPU is not charged to the indexer).
2. Decode-only: downloads every event of the registered contracts and the
   transactions behind the thin ones (untimed), then times the pure CPU work
   the indexer does on them: event XDR -> typed event, envelope -> calls,
   matching each thin event to its call (``decode_event`` + ``parse_tx`` +
   ``resolve``), under the same garbage-collector settings as the indexer.
3. End to end, for each injected RPC latency (milliseconds added to every
   request by the client's HTTP transport): a fresh database, then
   ``index_until_latest`` in a child process, timed from start to the last
   commit; its peak RSS is read from the child's rusage. After the first
   latency's run the child also times reconciliation over every contract:
   the pass ``orbitpay reconcile`` runs (``reconcile``: every entity that can
   still change or is missing is read, compared, corrected) and an audit of
   every entity, final ones too (``reconcile(every=True)``), per entity read.
4. The command as users run it (``--cli``): ``orbitpay index --once`` (catch-up
   plus the reconciliation pass it ends with) in a fresh database migrated by
   that checkout, timed from exec to exit, with the process's CPU seconds per
   event (user + system, from ``wait4``): the figure issue 12 was filed with.

Needs PostgreSQL: ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a database per run is
created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import httpx

ADMIN_URL = os.environ.get(
    "ORBITPAY_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# ── devnet process ──────────────────────────────────────────────────────────────


def serve_devnet(events: int, seed: int, metas: str, organizations: int = 10) -> None:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(
        scenario="load",
        seed=seed,
        live=False,
        events=events,
        metas=metas,
        organizations=organizations,
    )
    print(json.dumps({"url": handle.url, "events": handle.chain.event_count}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    handle.stop()


def start_devnet(
    events: int, seed: int, metas: str, organizations: int = 10
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-devnet",
            "--events",
            str(events),
            "--seed",
            str(seed),
            "--metas",
            metas,
            "--organizations",
            str(organizations),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("devnet failed to start")
    return proc, json.loads(line)["url"]


# ── databases ─────────────────────────────────────────────────────────────────


_PREPARE = """
import asyncio, json, sys
from orbitpay.db.engine import create_engine
from orbitpay.db.migrate import upgrade
from orbitpay.orgs import register_organization

url, orgs = sys.argv[1], json.loads(sys.stdin.read())
upgrade(url)

async def main():
    engine = create_engine(url, pool_size=1)
    try:
        for org in orgs:
            async with engine.begin() as conn:
                await register_organization(conn, org["name"], org["contracts"])
    finally:
        await engine.dispose()

asyncio.run(main())
"""


def create_database(orgs: list[dict[str, Any]], python: str = sys.executable) -> str:
    """A fresh database, migrated and with ``orgs`` registered by ``python``'s orbitpay
    (this checkout's by default; a baseline's own ``.venv`` migrates it its own way)."""
    from orbitpay.db import admin

    url = admin.create_database("orbitpay_bench", ADMIN_URL)
    try:
        subprocess.run([python, "-c", _PREPARE, url], input=json.dumps(orgs), text=True, check=True)
    except BaseException:
        drop_database(url)
        raise
    return url


def drop_database(url: str) -> None:
    from orbitpay.db import admin

    admin.drop_database(url, ADMIN_URL)


# ── end to end (child process) ───────────────────────────────────────────────────


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: after fork+exec that still counts
    the parent's memory at fork time."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class DelayTransport(httpx.AsyncHTTPTransport):
    """Adds a fixed latency to every request (a far-away RPC)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        return await super().handle_async_request(request)


def worker(
    db_url: str, rpc_url: str, latency_ms: float, page_limit: int, with_reconcile: bool
) -> None:
    from orbitpay.config import load_settings
    from orbitpay.db.engine import create_engine
    from orbitpay.indexer.reconcile import reconcile
    from orbitpay.indexer.service import index_until_latest
    from orbitpay.observability.logging import configure_logging
    from orbitpay.stellar.rpc import RpcClient

    configure_logging("json", "warning")

    from orbitpay.indexer import service

    first_start = {"seconds": 0.0}
    bootstrap = service.bootstrap_new_contracts

    async def timed_bootstrap(*args: Any, **kwargs: Any) -> Any:
        # Timed apart: the first-start read of ledger state is a fixed cost per contract
        # set (an older checkout has none), not part of the per-event pipeline.
        t0 = time.perf_counter()
        try:
            return await bootstrap(*args, **kwargs)
        finally:
            first_start["seconds"] += time.perf_counter() - t0

    service.bootstrap_new_contracts = timed_bootstrap  # type: ignore[assignment]

    async def run() -> dict[str, Any]:
        settings = load_settings(database_url=db_url, rpc_url=rpc_url)
        engine = create_engine(db_url, pool_size=4)
        rpc = RpcClient(rpc_url, transport=DelayTransport(latency_ms / 1000))
        try:
            t0 = time.perf_counter()
            result = await index_until_latest(
                settings,
                engine,
                rpc_url,
                rpc=rpc,
                reconcile_after=False,
                progress=False,
                page_limit=page_limit,
            )
            seconds = time.perf_counter() - t0
            out: dict[str, Any] = {
                "events": result.events,
                "seconds": seconds,
                "first_start_seconds": first_start["seconds"],
                "requests": dict(rpc.stats.by_method),
                "retries": rpc.stats.retries,
            }
            if with_reconcile:
                t0 = time.perf_counter()
                report = await reconcile(engine, rpc)
                out["reconcile"] = {
                    "seconds": time.perf_counter() - t0,
                    "entities": report.checked,
                    "contracts": report.contracts,
                    "differences": len(report.findings),
                    "skipped_newer": report.skipped_newer,
                }
                t0 = time.perf_counter()
                report = await reconcile(engine, rpc, every=True)
                out["reconcile_every"] = {
                    "seconds": time.perf_counter() - t0,
                    "entities": report.checked,
                    "contracts": report.contracts,
                    "differences": len(report.findings),
                    "skipped_newer": report.skipped_newer,
                }
        finally:
            await rpc.close()
            await engine.dispose()
        return out

    from orbitpay.runtime import run as run_on_loop

    out = run_on_loop(run())  # the event loop `orbitpay index` runs on
    out["max_rss_mb"] = peak_rss_mb()
    print(json.dumps(out), flush=True)


def end_to_end(
    rpc_url: str,
    orgs: list[dict[str, Any]],
    latency_ms: float,
    page_limit: int,
    with_reconcile: bool = False,
    baseline: str | None = None,
) -> dict[str, Any]:
    """Index the chain in a child process; ``baseline`` runs another checkout's indexer instead.

    A baseline is a checkout of an earlier commit with its own ``.venv`` (e.g. made with
    ``git worktree add``): its own ``bench/ingest.py --worker`` indexes the same chain into a
    database migrated by this checkout (later migrations only add columns with defaults and
    tables), so old and new code are timed side by side on identical input.
    """
    db_url = create_database(orgs)
    if baseline is not None:
        python, script = f"{baseline}/.venv/bin/python", f"{baseline}/bench/ingest.py"
        with_reconcile = False  # an older worker has no reconcile pass to time
    else:
        python, script = sys.executable, __file__
    try:
        proc = subprocess.run(
            [
                python,
                script,
                "--worker",
                db_url,
                rpc_url,
                str(latency_ms),
                "--page-limit",
                str(page_limit),
                *(["--with-reconcile"] if with_reconcile else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"worker failed:\n{proc.stderr[-3000:]}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        drop_database(db_url)


# ── the command as users run it ────────────────────────────────────────────────


def timed_child(cmd: list[str], env: dict[str, str], cwd: str) -> dict[str, Any]:
    """Run ``cmd`` to completion: wall seconds, the child's own CPU seconds and peak RSS.

    ``os.wait4`` gives the CPU time of exactly that process (user + system),
    unaffected by what else the machine runs at the time; the peak RSS is its VmHWM.
    """
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        peak_kb = 0
        while True:
            # ru_maxrss of a child forked from this (large) process starts at this
            # process's size, so the peak is read from the child's own VmHWM instead,
            # sampled until it exits (VmHWM only grows).
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak_kb = max(peak_kb, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()[-3000:]}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": peak_kb / 1024,
    }


def index_once(rpc_url: str, orgs: list[dict[str, Any]], checkout: str) -> dict[str, Any]:
    """``orbitpay index --once`` of ``checkout`` (its own ``.venv``) on a fresh database."""
    import tempfile

    url = create_database(orgs, python=f"{checkout}/.venv/bin/python")
    try:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "ORBITPAY_DATABASE_URL": url,
            "ORBITPAY_RPC_URL": rpc_url,
            "ORBITPAY_LOG_LEVEL": "warning",
        }
        with tempfile.TemporaryDirectory() as cwd:  # no stray .env is read
            out = timed_child([f"{checkout}/.venv/bin/orbitpay", "index", "--once"], env, cwd)
        out["events"] = _count_events(url)
        return out
    finally:
        drop_database(url)


def _count_events(url: str) -> int:
    from orbitpay.db.engine import create_engine

    async def count() -> int:
        from sqlalchemy import text

        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM events"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


# ── decode only ──────────────────────────────────────────────────────────────────


async def _download(rpc_url: str, orgs: list[dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    from orbitpay.indexer.model import ContractInfo
    from orbitpay.indexer.sources import plan_groups
    from orbitpay.stellar.rpc import RpcClient, filters_for

    infos = [
        ContractInfo(cid, kind, i)
        for i, org in enumerate(orgs)
        for kind, cid in org["contracts"].items()
    ]
    groups = plan_groups(infos, [])
    pages: list[Any] = []
    txs: dict[str, Any] = {}
    async with RpcClient(rpc_url) as rpc:
        health = await rpc.get_health()
        for group in groups:
            cursor = None
            while True:
                page = await rpc.get_events(
                    filters_for(group.ids),
                    cursor=cursor,
                    start_ledger=None if cursor else health.oldest_ledger,
                    limit=5000,
                )
                pages.append((group, page))
                if not page.full and page.scanned_to >= page.latest_ledger:
                    break
                cursor = page.cursor
        hashes = sorted({e.tx_hash for _, p in pages for e in p.events})
        sem = asyncio.Semaphore(16)

        async def one(h: str) -> None:
            async with sem:
                txs[h] = await rpc.get_transaction(h)

        await asyncio.gather(*(one(h) for h in hashes))
    return pages, txs


def decode_only(rpc_url: str, orgs: list[dict[str, Any]]) -> dict[str, Any]:
    from orbitpay.contracts.registry import decode_event
    from orbitpay.indexer.enrich import needs_transaction, resolve
    from orbitpay.indexer.model import Item
    from orbitpay.stellar.tx import parse_tx

    pages, txs = asyncio.run(_download(rpc_url, orgs))
    n = 0
    t0 = time.perf_counter()
    for group, page in pages:
        contexts: dict[str, Any] = {}
        for raw in page.events:
            info = group.contracts[raw.contract_id]
            item = Item(
                raw=raw,
                contract=info,
                decoded=decode_event(info.kind, raw.topic_xdr, raw.value_xdr),
            )
            if needs_transaction(item):
                ctx = contexts.get(raw.tx_hash)
                if ctx is None:
                    t = txs[raw.tx_hash]
                    ctx = parse_tx(
                        t.hash,
                        t.status,
                        t.ledger,
                        t.envelope_xdr,
                        t.result_meta_xdr,
                        t.contract_events_xdr,
                    )
                    contexts[raw.tx_hash] = ctx
                item.tx = ctx
            resolve(item)
            n += 1
    seconds = time.perf_counter() - t0
    del pages, txs
    return {"events": n, "seconds": seconds}


# ── main ────────────────────────────────────────────────────────────────────────


RECONCILE_PASSES = (
    ("reconcile", "open entities: what a pass reads"),
    ("reconcile_every", "every entity, final ones too"),
)


def run_chain(args: argparse.Namespace, metas: str) -> dict[str, Any]:
    """Decode-only, end to end at each latency, and reconcile, on one chain."""
    t0 = time.perf_counter()
    proc, url = start_devnet(args.events, args.seed, metas, args.organizations)
    print(
        f"[{metas}] devnet: load chain of {args.organizations} organizations, "
        f"{args.events} events target, "
        f"built in {time.perf_counter() - t0:.1f}s"
    )
    try:
        orgs = httpx.get(f"{url}/devnet/organizations", timeout=30).json()
        dec = decode_only(url, orgs)
        decode_rate = dec["events"] / dec["seconds"]
        print(
            f"[{metas}] decode-only: {dec['events']} contract events in {dec['seconds']:.2f}s = "
            f"{decode_rate:,.0f} events/s"
        )
        rows = []
        for i, ms in enumerate(float(x) for x in args.latency.split(",") if x.strip()):
            r = end_to_end(url, orgs, ms, args.page_limit, with_reconcile=i == 0)
            rate = r["events"] / r["seconds"]
            rows.append((ms, r, rate))
            print(
                f"[{metas}] end-to-end @ {ms:.0f} ms RPC latency: {r['events']} events "
                f"in {r['seconds']:.2f}s "
                f"= {rate:,.0f} events/s ({rate / decode_rate:.0%} of decode-only), "
                f"peak RSS {r['max_rss_mb']:.0f} MB, requests {r['requests']}"
            )
            if args.baseline:
                b = end_to_end(url, orgs, ms, args.page_limit, baseline=args.baseline)
                b_rate = b["events"] / b["seconds"]
                r["baseline"] = {**b, "rate": b_rate}
                print(
                    f"[{metas}] baseline ({args.baseline}) @ {ms:.0f} ms: {b['events']} events "
                    f"in {b['seconds']:.2f}s = {b_rate:,.0f} events/s, "
                    f"peak RSS {b['max_rss_mb']:.0f} MB; this checkout {rate / b_rate:.2f}x"
                )
                first = r.get("first_start_seconds", 0.0)
                if first:
                    pipeline_rate = r["events"] / (r["seconds"] - first)
                    print(
                        f"[{metas}] this checkout without its first-start ledger-state read "
                        f"({first:.2f}s): {pipeline_rate:,.0f} events/s = "
                        f"{pipeline_rate / b_rate:.2f}x the baseline"
                    )
            for key, what in RECONCILE_PASSES:
                if key in r:
                    rc = r[key]
                    print(
                        f"[{metas}] reconcile ({what}): {rc['entities']} entities of "
                        f"{rc['contracts']} contracts in {rc['seconds']:.2f}s "
                        f"({rc['seconds'] / max(rc['entities'], 1) * 1e6:,.0f} us/entity), "
                        f"{rc['differences']} differences"
                    )
        cli: dict[str, Any] = {}
        if args.cli:
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            for name, checkout in (("this checkout", here), ("baseline", args.baseline)):
                if checkout is None:
                    continue
                c = index_once(url, orgs, checkout)
                c["rate"] = c["events"] / c["seconds"]
                c["cpu_us"] = c["cpu_seconds"] / max(c["events"], 1) * 1e6
                cli[name] = c
                print(
                    f"[{metas}] orbitpay index --once ({name}): {c['events']} events in "
                    f"{c['seconds']:.2f}s = {c['rate']:,.0f} events/s, "
                    f"{c['cpu_us']:,.0f} us CPU/event, peak RSS {c['max_rss_mb']:.0f} MB"
                )
            if len(cli) == 2:
                new, old = cli["this checkout"], cli["baseline"]
                print(
                    f"[{metas}] orbitpay index --once: this checkout "
                    f"{new['rate'] / old['rate']:.2f}x the baseline's events/s, "
                    f"{old['cpu_us'] / new['cpu_us']:.2f}x less CPU/event"
                )
        return {"decode": dec, "decode_rate": decode_rate, "rows": rows, "cli": cli}
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", default="0,50", help="comma-separated milliseconds")
    parser.add_argument("--page-limit", type=int, default=2000)
    parser.add_argument(
        "--metas", default="thin,full", help="chains to measure: thin, full (comma-separated)"
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also time the indexer of another checkout (with its own .venv) on the same chains",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time `orbitpay index --once` (with its reconcile pass) as users run it, "
        "for this checkout and --baseline",
    )
    parser.add_argument(
        "--organizations",
        type=int,
        default=10,
        help="organizations on the load chain (fewer: longer per-address index vectors, "
        "heavier metas)",
    )
    parser.add_argument("--serve-devnet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=3, metavar=("DB", "RPC", "MS"), help=argparse.SUPPRESS)
    parser.add_argument("--with-reconcile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_devnet:
        serve_devnet(args.events, args.seed, args.metas, args.organizations)
        return
    if args.worker:
        db, rpc, ms = args.worker
        worker(db, rpc, float(ms), args.page_limit, args.with_reconcile)
        return

    from orbitpay.runtime import tune_gc

    tune_gc()  # decode-only runs under the indexer's GC settings (runtime.run applies them)
    chains = [m.strip() for m in args.metas.split(",") if m.strip()]
    results = {metas: run_chain(args, metas) for metas in chains}
    print()
    print("| metas | stage | events | seconds | events/s | vs decode-only | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for metas, res in results.items():
        dec, decode_rate = res["decode"], res["decode_rate"]
        print(
            f"| {metas} | decode only | {dec['events']} | {dec['seconds']:.2f} | "
            f"{decode_rate:,.0f} | 100% | - |"
        )
        for ms, r, rate in res["rows"]:
            print(
                f"| {metas} | end to end, {ms:.0f} ms RPC latency | {r['events']} | "
                f"{r['seconds']:.2f} | {rate:,.0f} | {rate / decode_rate:.0%} | "
                f"{r['max_rss_mb']:.0f} MB |"
            )
            if "baseline" in r:
                b = r["baseline"]
                print(
                    f"| {metas} | baseline, {ms:.0f} ms RPC latency | {b['events']} | "
                    f"{b['seconds']:.2f} | {b['rate']:,.0f} | {b['rate'] / decode_rate:.0%} | "
                    f"{b['max_rss_mb']:.0f} MB |"
                )
        for name, c in res.get("cli", {}).items():
            print(
                f"| {metas} | `orbitpay index --once` ({name}) | {c['events']} | "
                f"{c['seconds']:.2f} | {c['rate']:,.0f} | {c['rate'] / decode_rate:.0%} | "
                f"{c['max_rss_mb']:.0f} MB ({c['cpu_us']:,.0f} us CPU/event) |"
            )
    print()
    print("| metas | reconcile pass | entities | contracts | seconds | us/entity |")
    print("|---|---|---|---|---|---|")
    for metas, res in results.items():
        for _, r, _ in res["rows"]:
            for key, what in RECONCILE_PASSES:
                if key in r:
                    rc = r[key]
                    per = rc["seconds"] / max(rc["entities"], 1) * 1e6
                    print(
                        f"| {metas} | {what} | {rc['entities']} | {rc['contracts']} | "
                        f"{rc['seconds']:.2f} | {per:,.0f} |"
                    )
    if "thin" in results and "full" in results:
        print()
        for i, (ms, _, full_rate) in enumerate(results["full"]["rows"]):
            thin_rate = results["thin"]["rows"][i][2]
            print(
                f"realistic (full) metas vs thin @ {ms:.0f} ms: {full_rate:,.0f} / "
                f"{thin_rate:,.0f} events/s = {full_rate / thin_rate:.0%}"
            )
        ratio = results["full"]["decode_rate"] / results["thin"]["decode_rate"]
        print(f"realistic (full) metas vs thin, decode-only: {ratio:.0%}")


if __name__ == "__main__":
    main()

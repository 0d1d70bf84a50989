"""Read API benchmark: list and analytics endpoints against the framework floor.

Creates its own database (dropped at the end unless ``--keep``), fills it in
PostgreSQL with ``INSERT ... SELECT generate_series`` (1,000,000 streams,
5,000,000 events and 1,000,000 claims by default), serves the real app with
uvicorn on loopback in a separate process, and drives it over HTTP with
``--concurrency`` clients (aiohttp). Prints requests/s and p50/p99 latency for
a trivial route of the same app (the floor: same middlewares, dependencies and
server), ``GET /api/streams?recipient=`` and ``GET /api/analytics/payroll``
(dashboard traffic: cached; and cold: a distinct range per request, so every
request computes in SQL), then the EXPLAIN plans of their queries.

    .venv/bin/python bench/api.py                       # full size (about 5 min to fill)
    .venv/bin/python bench/api.py --streams 100000 --events 500000 --duration 5

The admin URL defaults to ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` or the local
``postgres`` superuser, like the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from stellar_sdk import StrKey

from orbitpay.db.admin import create_database, drop_database
from orbitpay.db.engine import create_engine

ADMIN_URL = os.environ.get(
    "ORBITPAY_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RECIPIENTS = 50_000
SENDERS = 200
PAYROLL_CONTRACTS = 4
TOKENS = 3
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SAMPLE_SQL = "SELECT DISTINCT recipient FROM streams TABLESAMPLE SYSTEM (1) LIMIT 2000"
START = NOW - timedelta(days=365)


def _contract(n: int) -> str:
    return StrKey.encode_contract(n.to_bytes(4, "big") * 8)


def _account(n: int) -> str:
    return StrKey.encode_ed25519_public_key((n + 1_000_000).to_bytes(4, "big") * 8)


# ------------------------------------------------------------------ filling


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


async def fill(url: str, streams: int, events: int) -> dict[str, Any]:
    payroll = [_contract(i) for i in range(PAYROLL_CONTRACTS)]
    others = [_contract(100 + i) for i in range(3)]  # treasury, vesting, governance
    tokens = [_contract(200 + i) for i in range(TOKENS)]
    claims = min(streams, events // 5)
    engine = create_engine(url, pool_size=1)
    step = (NOW - START).total_seconds() / max(events, 1)
    # Event i: ledger 1000 + i // 4, 4 events per ledger, closing every `4 * step` seconds.
    event_id = (
        "lpad((((1000 + {i} / 4)::bigint << 32) | (({i} % 4 + 1) << 12))::text, 19, '0')"
        " || '-' || lpad(({i} % 4 + 1)::text, 10, '0')"
    )
    event_time = f"(timestamptz '{START.isoformat()}' + ({{i}} * {step}) * interval '1 second')"
    stream_i = f"({{j}} * {max(events // max(streams, 1), 1)})"  # the event creating stream j
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SET synchronous_commit = off"))
            await conn.execute(text("SET maintenance_work_mem = '512MB'"))
            t0 = time.perf_counter()
            await conn.execute(
                text("CREATE TABLE bench_accounts (i integer PRIMARY KEY, addr text NOT NULL)")
            )
            rows = [{"i": i, "addr": _account(i)} for i in range(RECIPIENTS + SENDERS)]
            await conn.execute(text("INSERT INTO bench_accounts VALUES (:i, :addr)"), rows)
            org = (
                await conn.execute(
                    text("INSERT INTO organizations (name) VALUES ('bench') RETURNING id")
                )
            ).scalar_one()
            kinds = [("payroll", c) for c in payroll] + list(
                zip(("treasury", "vesting", "governance"), others, strict=True)
            )
            for kind, cid in kinds:
                await conn.execute(
                    text(
                        "INSERT INTO contracts (contract_id, kind, organization_id) "
                        "VALUES (:c, :k, :o)"
                    ),
                    {"c": cid, "k": kind, "o": org},
                )
            # Bulk loads are faster without secondary indexes: drop, load, rebuild.
            saved = (
                await conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                        "('events', 'streams', 'stream_claims') AND indexname NOT LIKE 'pk_%'"
                    )
                )
            ).all()
            for name, _ in saved:
                await conn.execute(text(f'DROP INDEX "{name}"'))
            all_contracts = _array(payroll + others)
            types = _array(["claim", "deposit", "s_create", "vote", "v_claim"])
            print(f"  events: {events:,} ...", flush=True)
            await conn.execute(
                text(
                    f"""
                    INSERT INTO events (id, contract_id, ledger, ledger_closed_at, tx_hash,
                        transaction_index, operation_index, type, topic_symbols, topics_xdr,
                        value_xdr, recognised, in_successful_contract_call)
                    SELECT {event_id.format(i="i")},
                           ({all_contracts})[1 + i % {len(payroll) + len(others)}],
                           1000 + i / 4,
                           {event_time.format(i="i")},
                           md5(i::text) || md5((i + 1)::text),
                           i % 4 + 1, 0,
                           ({types})[1 + i % 5],
                           ARRAY[({types})[1 + i % 5]],
                           '{{}}', '', true, true
                    FROM generate_series(0, {events - 1}) AS i
                    """
                )
            )
            print(f"  streams: {streams:,} ...", flush=True)
            await conn.execute(
                text(
                    f"""
                    INSERT INTO streams (contract_id, stream_id, sender, recipient, token,
                        total_amount, claimed_amount, start_time, end_time, status,
                        created_ledger, created_tx_hash, created_at, last_ledger)
                    SELECT ({_array(payroll)})[1 + j % {len(payroll)}],
                           j / {len(payroll)},
                           s.addr, r.addr,
                           ({_array(tokens)})[1 + j % {len(tokens)}],
                           t.total,
                           CASE j % 10 WHEN 0 THEN div(t.total, 3) WHEN 1 THEN div(t.total, 2)
                                ELSE t.total END,
                           t.start, t.start + CASE WHEN j % 10 = 0 THEN 2 * 365 * 86400
                                                   ELSE (1 + j % 30) * 86400 END,
                           CASE j % 10 WHEN 0 THEN 'active' WHEN 1 THEN 'cancelled'
                                ELSE 'completed' END,
                           1000 + {stream_i.format(j="j")} / 4,
                           md5(j::text), {event_time.format(i=stream_i.format(j="j"))},
                           1000 + {stream_i.format(j="j")} / 4
                    FROM generate_series(0, {streams - 1}) AS j
                    CROSS JOIN LATERAL (
                        SELECT (1000 + (j::bigint * 7919) % 1000000)::numeric * 10000000 AS total,
                               extract(epoch FROM {event_time.format(i=stream_i.format(j="j"))})
                                 ::bigint AS start
                    ) AS t
                    JOIN bench_accounts r ON r.i = (j::bigint * 7) % {RECIPIENTS}
                    JOIN bench_accounts s ON s.i = {RECIPIENTS} + j % {SENDERS}
                    """
                )
            )
            print(f"  claims: {claims:,} ...", flush=True)
            # Claim k pays stream k from event 5k + 0 (a "claim" event of a payroll contract).
            await conn.execute(
                text(
                    f"""
                    INSERT INTO stream_claims (event_id, contract_id, stream_id, kind, recipient,
                        token, amount, ledger, tx_hash, claimed_at)
                    SELECT {event_id.format(i="(k * 5)")},
                           ({_array(payroll)})[1 + k % {len(payroll)}],
                           k / {len(payroll)}, 'claim', 'G',
                           ({_array(tokens)})[1 + k % {len(tokens)}],
                           (1 + k % 1000)::numeric * 1000000,
                           1000 + (k * 5) / 4,
                           md5(k::text),
                           {event_time.format(i="(k * 5)")}
                    FROM generate_series(0, {claims - 1}) AS k
                    """
                )
            )
            print(f"  rebuilding {len(saved)} indexes ...", flush=True)
            for _, definition in saved:
                await conn.execute(text(definition))
            await conn.execute(text("DROP TABLE bench_accounts"))
            print("  vacuum analyze ...", flush=True)
            await conn.execute(text("VACUUM ANALYZE"))
            print(f"  filled in {time.perf_counter() - t0:.0f} s", flush=True)
            recipients = [r[0] for r in (await conn.execute(text(SAMPLE_SQL))).all()]
    finally:
        await engine.dispose()
    return {"recipients": recipients, "payroll": payroll, "tokens": tokens}


# ------------------------------------------------------------------ server


def serve(url: str, port: int, loop: str = "auto", http: str = "auto") -> None:
    """Run the real app (plus the floor route) under uvicorn; used in a child process.

    ``auto`` is uvicorn's default: uvloop and httptools when installed, else asyncio and h11.
    """
    import uvicorn
    from fastapi import Response

    from orbitpay.api.app import create_app
    from orbitpay.config import load_settings
    from orbitpay.runtime import tune_gc

    tune_gc()  # as `orbitpay api` runs (runtime.run)
    settings = load_settings(database_url=url, rate_limit="100000000/second")
    app = create_app(settings, database_url=url)

    @app.get("/api/bench/floor", include_in_schema=False)
    async def floor() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop=loop,  # type: ignore[arg-type]
        http=http,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ load


@dataclass
class Result:
    name: str
    count: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.count / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def drive(base: str, name: str, make_url: Any, concurrency: int, seconds: float) -> Result:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def worker(deadline: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(make_url()) as response:
                    await response.read()
                    ok = response.status == 200
                if record:
                    latencies.append(time.perf_counter() - started)
                    errors += 0 if ok else 1

        warm = time.perf_counter() + min(2.0, seconds / 3)
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Result(name, len(latencies), errors, elapsed, latencies)


async def wait_ready(base: str, within: float = 60) -> None:
    import aiohttp

    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(base) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get("/api/bench/floor") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API did not start")


# ------------------------------------------------------------------ plans


async def explain(url: str, recipient: str) -> None:
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    from orbitpay.api.routers import analytics, streams

    dialect = PGDialect_asyncpg()
    # The statements the route runs: the sort key and each row's JSON, built in SQL.
    first = streams.SPEC.statement(("recipient",), "desc", False, as_json=True).compile(
        dialect=dialect
    )
    later = streams.SPEC.statement(("recipient",), "desc", True, as_json=True).compile(
        dialect=dialect
    )
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        row = await raw.fetchrow(
            "SELECT created_ledger, stream_id, contract_id FROM streams WHERE recipient = $1 "
            "ORDER BY created_ledger DESC, stream_id DESC, contract_id DESC OFFSET 5 LIMIT 1",
            recipient,
        )
        for title, sql, args in (
            ("GET /api/streams?recipient=  (first page)", first.string, [recipient, 51]),
            ("GET /api/streams?recipient=&cursor=  (next page)", later.string,
             [recipient, *(row or (0, 0, "")), 51]),
        ):  # fmt: skip
            print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {title}\n    {' '.join(sql.split())}")
            for line in await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args):
                print("   ", line[0])
    finally:
        await raw.close()

    # A cold request: `to` not on the hour, so both series statements run.
    to = (NOW - timedelta(seconds=1234)).isoformat()
    rng = await analytics.analytics_range(
        int(NOW.timestamp()), None, datetime.fromisoformat(to), "day"
    )
    whole_end = rng.to.replace(minute=0, second=0, microsecond=0)
    totals_sql = analytics.payroll_totals_sql(None)
    hours_sql, recent_sql = analytics.payroll_series_sql(None)
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    stride = timedelta(seconds=rng.step)
    try:
        tokens = [r["token"] for r in await raw.fetch(totals_sql, rng.now)]
        print("\n--- EXPLAIN (ANALYZE, BUFFERS) GET /api/analytics/payroll  (totals)")
        for line in await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + totals_sql, rng.now):
            print("   ", line[0])
        for title, sql, args in (
            ("(series, whole hours)", hours_sql, [stride, rng.start, tokens, whole_end]),
            ("(series, last hour)", recent_sql, [stride, rng.start, tokens, whole_end, rng.to]),
        ):
            print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) GET /api/analytics/payroll  {title}")
            for line in await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args):
                print("   ", line[0])
    finally:
        await raw.close()


# ------------------------------------------------------------------ main


async def _sizes(url: str) -> dict[str, int]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return {
                name: (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one()
                for name in ("streams", "events", "stream_claims")
            }
    finally:
        await engine.dispose()


def _server_kind(loop: str, http: str) -> str:
    """What uvicorn's ``auto`` resolves to here (uvloop/httptools when installed)."""
    import importlib.util

    def have(name: str) -> bool:
        return importlib.util.find_spec(name) is not None

    if loop == "auto":
        loop = "uvloop" if have("uvloop") else "asyncio"
    if http == "auto":
        http = "httptools" if have("httptools") else "h11"
    return f"{loop}+{http}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    parser.add_argument(
        "--keep",
        metavar="URL",
        nargs="?",
        const="new",
        default=None,
        help="keep the database (or reuse URL, already filled)",
    )
    parser.add_argument(
        "--loop", default="auto", choices=("auto", "asyncio", "uvloop"), help="uvicorn loop"
    )
    parser.add_argument(
        "--http", default="auto", choices=("auto", "h11", "httptools"), help="uvicorn HTTP"
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN plans")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.loop, args.http)
        return

    reuse = args.keep not in (None, "new")
    if reuse:
        url = args.keep
        print(f"reusing {url}")
    else:
        url = create_database("orbitpay_bench", ADMIN_URL)
        name = url.rsplit("/", 1)[1]
        from orbitpay.db.migrate import upgrade

        upgrade(url)
        print(f"filling {name}: {args.streams:,} streams, {args.events:,} events")
    server = None
    try:
        if reuse:

            async def sample() -> list[str]:
                engine = create_engine(url, pool_size=1)
                async with engine.connect() as conn:
                    rows = await conn.execute(text(SAMPLE_SQL))
                    found = [r[0] for r in rows.all()]
                await engine.dispose()
                return found

            world = {"recipients": asyncio.run(sample())}
        else:
            world = asyncio.run(fill(url, args.streams, args.events))
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [
                *(sys.executable, __file__, "--serve", url, "--port", str(port)),
                *("--loop", args.loop, "--http", args.http),
            ],
            env={**os.environ, "ORBITPAY_LOG_LEVEL": "warning"},
        )
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base))
        recipients = world["recipients"]
        counter = iter(range(10**9))

        def cold_payroll() -> str:
            # A distinct `to` (to the second) per request: a cache miss every time.
            end = NOW - timedelta(seconds=next(counter))
            return f"/api/analytics/payroll?to={end.strftime('%Y-%m-%dT%H:%M:%SZ')}"

        scenarios = [
            ("floor: GET /api/bench/floor", lambda: "/api/bench/floor"),
            (
                "GET /api/streams?recipient=",
                lambda: f"/api/streams?recipient={random.choice(recipients)}",
            ),
            ("GET /api/analytics/payroll (cached)", lambda: "/api/analytics/payroll"),
            ("GET /api/analytics/payroll (cold)", cold_payroll),
        ]
        results = []
        for title, make_url in scenarios:
            result = asyncio.run(drive(base, title, make_url, args.concurrency, args.duration))
            results.append(result)
        floor = results[0]
        sizes = asyncio.run(_sizes(url))
        print(
            f"\n{sizes['streams']:,} streams, {sizes['events']:,} events, "
            f"{sizes['stream_claims']:,} claims; {args.concurrency} concurrent "
            f"clients over HTTP (uvicorn {_server_kind(args.loop, args.http)}, 1 worker, "
            f"loopback); {args.duration:.0f} s per row; "
            f"{os.cpu_count()} CPUs shared by client, server and PostgreSQL\n"
        )
        header = (
            f"{'endpoint':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'p50/floor':>10} {'errors':>7}"
        )
        print(header)
        print("-" * len(header))
        for r in results:
            print(
                f"{r.name:<40} {r.rps:>8.0f} {r.pct(50):>8.1f} {r.pct(99):>8.1f} "
                f"{r.pct(50) / floor.pct(50):>9.2f}x {r.errors:>7}"
            )
        mean = statistics.mean(results[1].latencies) * 1000
        print(f"(streams: mean latency {mean:.1f} ms)")
        if not args.no_explain:
            asyncio.run(explain(url, recipients[0]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if args.keep is None:
            drop_database(url, ADMIN_URL)
        elif not reuse:
            print(f"\nkept the database: {url}")


if __name__ == "__main__":
    main()

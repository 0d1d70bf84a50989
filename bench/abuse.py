"""Abuse load test (issue 13): normal clients' latency with and without an attack.

Loopback only, bounded, stops by itself. Creates its own database (dropped at the
end), fills it with ``bench/api.py``'s filler (``--streams`` streams, 5 events per
stream), serves the real app in a child process with uvicorn configured as
``orbitpay api`` configures it (``orbitpay.api.server.uvicorn_options``), with the
default limits, caps and timeouts and ``ORBITPAY_TRUSTED_PROXIES=127.0.0.1`` so
that each simulated client can have its own address (``X-Forwarded-For``, as a
front proxy would add it). Then two phases of ``--duration`` seconds each:

- ``quiet``: ``--clients`` normal clients, each in a loop: a page of
  ``/api/streams``, a page of ``/api/events``, one ``/api/analytics/payroll``
  (about 6 requests/s per client, under the per-address limit);
- ``attack``: the same clients while at the same time
  - 8 slow readers, each from its own address, start CSV exports of every
    stream, read 100 bytes and then stop reading (tiny receive buffers);
  - 4 clients each announce a 400 MB body on ``POST /api/organizations`` and try
    to push it (2 without a key, 2 with a bogus one);
  - a limit-dodging client hammers ``/api/streams`` with a fresh spoofed address
    left of its real one in every request's ``X-Forwarded-For``.

Prints, side by side, the normal clients' request count, p50, p99 and max
latency and errors, then what the attackers got.

    .venv/bin/python bench/abuse.py                      # 20,000 streams, 10 s phases
    .venv/bin/python bench/abuse.py --streams 50000 --duration 20

The admin URL defaults to ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` or the local
``postgres`` superuser, like the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from orbitpay.db.admin import create_database, drop_database

ADMIN_URL = os.environ.get(
    "ORBITPAY_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HOST = "127.0.0.1"  # loopback only: never anything else
HUGE = 400 * 1024 * 1024
PUSH_AT_MOST = 64 * 1024 * 1024  # what one body attacker tries to send before giving up
HARD_STOP = 600.0  # seconds: the whole run ends by then whatever happens


def _filler() -> ModuleType:
    """``bench/api.py`` (its ``fill`` makes the data; it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("api.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_api"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def serve(url: str, port: int) -> None:
    """The child process: the real app, served as ``orbitpay api`` serves it."""
    import uvicorn

    from orbitpay.api.app import create_app
    from orbitpay.api.server import uvicorn_options
    from orbitpay.config import load_settings
    from orbitpay.runtime import tune_gc

    tune_gc()
    settings = load_settings(
        database_url=url,
        trusted_proxies="127.0.0.1",
        rate_limit="600/minute",
        cursor_secret="abuse-bench-cursor-secret",
    )
    app = create_app(settings, database_url=url)
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        log_level="error",
        access_log=False,
        **uvicorn_options(settings),
    )


# ------------------------------------------------------------------ normal clients


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


async def normal_client(base: str, n: int, until: float, phase: Phase) -> None:
    address = f"198.51.100.{n + 1}"
    paths = [
        "/api/streams?limit=20",
        "/api/events?limit=20",
        "/api/analytics/payroll?interval=day",
    ]
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
        i = 0
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                response = await client.get(paths[i % len(paths)])
                phase.statuses[response.status_code] += 1
            except httpx.HTTPError:
                phase.errors += 1
            phase.latencies.append(time.perf_counter() - started)
            i += 1
            await asyncio.sleep(max(0.0, 0.15 - (time.perf_counter() - started)))


# ------------------------------------------------------------------ attackers


@dataclass
class Attack:
    exports: Counter[str] = field(default_factory=Counter)
    bodies: list[tuple[str, int]] = field(default_factory=list)
    dodger: Counter[int] = field(default_factory=Counter)


async def slow_reader(port: int, n: int, until: float, attack: Attack) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, (HOST, port))
        request = (
            f"GET /api/streams?order=asc HTTP/1.1\r\nHost: bench\r\nAccept: text/csv\r\n"
            f"X-Forwarded-For: 203.0.113.{n + 1}\r\n\r\n"
        ).encode()
        await loop.sock_sendall(sock, request)
        head = await asyncio.wait_for(loop.sock_recv(sock, 100), 10)
        attack.exports[head[9:12].decode(errors="replace") or "closed"] += 1
        await asyncio.sleep(max(0.0, until - time.monotonic()))  # and never read again
    except (OSError, TimeoutError):
        attack.exports["error"] += 1
    finally:
        sock.close()


async def big_body(port: int, n: int, attack: Attack) -> None:
    key = "" if n % 2 == 0 else "X-API-Key: opk_bogus_bogus\r\n"
    head = (
        f"POST /api/organizations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"{key}X-Forwarded-For: 192.0.2.{n + 1}\r\nContent-Length: {HUGE}\r\n\r\n"
    ).encode()
    pushed = 0
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    reading = asyncio.ensure_future(reader.read(12))
    try:
        writer.write(head)
        chunk = b"x" * (1 << 20)
        while pushed < PUSH_AT_MOST and not reading.done():
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 5)
            pushed += len(chunk)
    except (OSError, TimeoutError):
        pass  # the server closed the connection: it does not want the body
    try:
        answer = await asyncio.wait_for(reading, 10)
        status = answer[9:12].decode(errors="replace") or "closed"
    except (OSError, TimeoutError):
        status = "closed"
    writer.close()
    attack.bodies.append((status, pushed))


async def dodger(base: str, until: float, attack: Attack) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < until:
            spoofed = ".".join(str(random.randrange(1, 255)) for _ in range(4))
            headers = {"X-Forwarded-For": f"{spoofed}, 203.0.113.200"}
            try:
                response = await client.get("/api/streams?limit=20", headers=headers)
                attack.dodger[response.status_code] += 1
            except httpx.HTTPError:
                attack.dodger[0] += 1


# ------------------------------------------------------------------ phases


async def run_phase(base: str, port: int, clients: int, duration: float, attacked: bool) -> Any:
    phase, attack = Phase(), Attack()
    until = time.monotonic() + duration
    tasks = [normal_client(base, n, until, phase) for n in range(clients)]
    if attacked:
        tasks += [slow_reader(port, n, until, attack) for n in range(8)]
        tasks += [big_body(port, n, attack) for n in range(4)]
        tasks.append(dodger(base, until, attack))
    await asyncio.wait_for(asyncio.gather(*tasks), duration + 60)
    return phase, attack


def _ms(values: list[float], p: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000:.1f}"


def report(quiet: Phase, attacked: Phase, attack: Attack, duration: float) -> None:
    print(f"\nnormal clients ({duration:.0f} s per phase)      quiet     attack")
    rows = [
        ("requests", str(len(quiet.latencies)), str(len(attacked.latencies))),
        ("p50 ms", _ms(quiet.latencies, 50), _ms(attacked.latencies, 50)),
        ("p99 ms", _ms(quiet.latencies, 99), _ms(attacked.latencies, 99)),
        ("max ms", _ms(quiet.latencies, 100), _ms(attacked.latencies, 100)),
        ("mean ms", *(
            f"{statistics.fmean(p.latencies) * 1000:.1f}" if p.latencies else "-"
            for p in (quiet, attacked)
        )),
        ("non-200 answers", *(
            str(sum(v for k, v in p.statuses.items() if k != 200)) for p in (quiet, attacked)
        )),
        ("transport errors", str(quiet.errors), str(attacked.errors)),
    ]  # fmt: skip
    for name, a, b in rows:
        print(f"  {name:<36}{a:>8}  {b:>9}")
    print("\nattackers")
    print(f"  8 slow CSV readers (status: count)     {dict(attack.exports)}")
    bodies = ", ".join(f"{s} after {p // 2**20} MiB sent" for s, p in attack.bodies)
    print(f"  4 x 400 MB bodies                      {bodies}")
    print(f"  limit dodger (status: count)           {dict(attack.dodger)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (<=120)")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    duration = min(max(args.duration, 1.0), 120.0)
    started = time.monotonic()
    url = create_database("orbitpay_abuse", ADMIN_URL)
    server: subprocess.Popen[bytes] | None = None
    try:
        from orbitpay.db.migrate import upgrade

        upgrade(url)
        print(f"filling: {args.streams:,} streams, {args.streams * 5:,} events", flush=True)
        asyncio.run(_filler().fill(url, args.streams, args.streams * 5))
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", url, "--port", str(port)],
            env={**os.environ, "ORBITPAY_LOG_LEVEL": "error"},
        )
        base = f"http://{HOST}:{port}"
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() - started > HARD_STOP / 2:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        quiet, _ = asyncio.run(run_phase(base, port, args.clients, duration, False))
        time.sleep(1.0)
        attacked, attack = asyncio.run(run_phase(base, port, args.clients, duration, True))
        report(quiet, attacked, attack, duration)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        drop_database(url, ADMIN_URL)


if __name__ == "__main__":
    main()

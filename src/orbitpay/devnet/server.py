"""HTTP front of the devnet: JSON-RPC 2.0 on ``POST /`` (Starlette + uvicorn).

Extra, non-RPC routes for tests and demos: ``GET /devnet/state`` (the state
dump), ``GET /devnet/organizations``, and, with an archive, the SEP-54 lake
under ``GET /lake/<key>`` (so ``ORBITPAY_ARCHIVE_URL=<devnet>/lake`` reads it
over HTTP, as from a public bucket).

Start one in a test::

    from orbitpay.devnet.server import start_background_devnet

    with start_background_devnet(scenario="demo", seed=1, live=False) as dn:
        server = SorobanServer(dn.url)
        ...  # dn.chain.state_dump() is the ground truth
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orbitpay import jsoncodec
from orbitpay.devnet.chain import Chain
from orbitpay.devnet.faults import FaultConfig
from orbitpay.devnet.lake import LakeWriter
from orbitpay.devnet.rpc import PARSE_ERROR, RpcMethods, handle_request


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        jsoncodec.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def create_app(
    chain: Chain, faults: FaultConfig | None = None, lake_dir: Path | None = None
) -> Starlette:
    """An ASGI app serving ``chain`` over the Stellar RPC wire format (and ``lake_dir``)."""
    methods = RpcMethods(chain)

    async def rpc(request: Request) -> Response:
        if faults is not None and faults.enabled:
            kind = faults.draw()
            if kind == "503":
                return _json({"error": "service unavailable"}, 503)
            if kind == "429":
                return _json(
                    {"error": "too many requests"}, 429, {"Retry-After": str(faults.retry_after)}
                )
            if kind == "timeout":
                await asyncio.sleep(faults.timeout_seconds)
            elif kind == "malformed":
                return Response(
                    '{"jsonrpc":"2.0","result":{"events":[', media_type="application/json"
                )
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            return _json(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": PARSE_ERROR, "message": "parse error"},
                }
            )
        if isinstance(payload, list):
            if not payload:
                return _json(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32600, "message": "empty batch"},
                    }
                )
            out = [r for r in (handle_request(methods, p) for p in payload) if r is not None]
            return _json(out)
        resp = handle_request(methods, payload)
        return _json(resp) if resp is not None else Response(status_code=204)

    async def state(request: Request) -> Response:
        return _json(chain.state_dump())

    async def orgs(request: Request) -> Response:
        with chain.lock:
            return JSONResponse(chain.organizations())

    routes = [
        Route("/", rpc, methods=["POST"]),
        Route("/devnet/state", state, methods=["GET"]),
        Route("/devnet/organizations", orgs, methods=["GET"]),
    ]
    if lake_dir is not None:
        root = lake_dir.resolve()

        async def lake(request: Request) -> Response:
            path = (root / request.path_params["key"]).resolve()
            hidden = path.name.startswith(".") and path.name != ".config.json"  # temp files
            if hidden or not path.is_relative_to(root):
                return Response(status_code=404)
            try:
                body = await asyncio.to_thread(path.read_bytes)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return Response(status_code=404)
            return Response(body, media_type="application/octet-stream")

        routes.append(Route("/lake/{key:path}", lake, methods=["GET"]))
    return Starlette(routes=routes)


class LiveProducer(threading.Thread):
    """Closes a ledger every ``interval`` seconds, with new scenario activity in it."""

    def __init__(
        self,
        chain: Chain,
        interval: float,
        step: Any,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="orbitpay-devnet-ledgers")
        self.chain = chain
        self.interval = interval
        self.step = step
        self.on_close = on_close
        self._stop_evt = threading.Event()

    def run(self) -> None:
        next_t = time.monotonic() + self.interval
        while not self._stop_evt.wait(max(0.0, next_t - time.monotonic())):
            with self.chain.lock:
                if self.step is not None:
                    self.step()
                self.chain.close_ledger()
            if self.on_close is not None:
                self.on_close()  # e.g. the lake writer, outside the chain lock
            next_t += self.interval

    def stop(self) -> None:
        self._stop_evt.set()


class DevnetHandle:
    """A devnet served by uvicorn in a daemon thread; ``with`` stops it on exit."""

    def __init__(
        self,
        chain: Chain,
        server: uvicorn.Server,
        thread: threading.Thread,
        url: str,
        producer: LiveProducer | None,
        lake: LakeWriter | None = None,
    ) -> None:
        self.chain = chain
        self.url = url
        self.lake = lake
        self.lake_url = f"{url}/lake" if lake is not None else None
        self._server = server
        self._thread = thread
        self._producer = producer

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> DevnetHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _make(
    scenario: str, seed: int, params: dict[str, Any], live: bool = False
) -> tuple[Chain, Any]:
    """Build the scenario; a live chain is aligned with the wall clock.

    Live mode is what ``make run`` shows people, so its history must end *now*:
    streams mid-way, cliffs ahead, and ``lag_seconds`` in /health meaning what
    it says. The demo is cheap, so it is rebuilt with its genesis moved so that
    its history ends at the current time; other scenarios jump ahead with
    empty ledgers instead.
    """
    from orbitpay.devnet.scenarios import build_chain, live_stepper

    chain = build_chain(scenario, seed, **dict(params))
    if live:
        wall = int(time.time())
        if scenario == "demo" and "genesis_time" not in params:
            span = chain.now - chain.genesis_time
            chain = build_chain(scenario, seed, genesis_time=wall - span, **dict(params))
        chain.advance_to(wall)
    return chain, live_stepper(chain, scenario, seed)


def _lake(
    chain: Chain, archive: Path | None, ledgers_per_file: int, files_per_partition: int
) -> LakeWriter | None:
    """A lake writer for ``archive`` with the history so far already written (None: no lake)."""
    if archive is None:
        return None
    writer = LakeWriter(
        chain,
        archive,
        ledgers_per_batch=ledgers_per_file,
        batches_per_partition=files_per_partition,
    )
    writer.sync()
    return writer


def serve_chain(
    chain: Chain,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: FaultConfig | None = None,
    ledger_interval: float = 0.0,
    step: Any = None,
    *,
    archive: Path | None = None,
    archive_ledgers_per_file: int = 1,
    archive_files_per_partition: int = 64_000,
) -> DevnetHandle:
    """Serve an existing chain in a daemon thread (0 = a free port); ledgers close live if
    ``ledger_interval`` > 0. With ``archive`` the chain's history is written there as a
    SEP-54 lake (kept up to date as ledgers close) and served under ``/lake``."""
    port = port or _free_port(host)
    lake = _lake(chain, archive, archive_ledgers_per_file, archive_files_per_partition)
    config = uvicorn.Config(
        create_app(chain, faults, archive),
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="orbitpay-devnet-http")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"devnet did not start on {host}:{port}")
        time.sleep(0.02)
    producer = None
    if ledger_interval > 0:
        producer = LiveProducer(
            chain, ledger_interval, step, lake.sync if lake is not None else None
        )
        producer.start()
    return DevnetHandle(chain, server, thread, f"http://{host}:{port}", producer, lake)


def start_background_devnet(
    scenario: str = "demo",
    seed: int = 1,
    ledger_interval: float = 5.0,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: FaultConfig | None = None,
    live: bool = True,
    archive: Path | None = None,
    archive_ledgers_per_file: int = 1,
    archive_files_per_partition: int = 64_000,
    **params: Any,
) -> DevnetHandle:
    """Build the scenario, serve it on ``host:port`` (0 = a free port) and return a handle.

    With ``live`` a ledger closes every ``ledger_interval`` seconds (with new demo
    activity); without it the chain stays as pre-generated. ``retention_ledgers``
    (in ``params``) limits what the RPC serves; ``archive`` writes and serves a lake
    (and turns on ``ledger_changes``: the metas then carry contract storage changes).
    """
    if archive is not None:
        params.setdefault("ledger_changes", True)
    chain, step = _make(scenario, seed, params, live=live)
    return serve_chain(
        chain,
        host,
        port,
        faults,
        ledger_interval if live else 0.0,
        step,
        archive=archive,
        archive_ledgers_per_file=archive_ledgers_per_file,
        archive_files_per_partition=archive_files_per_partition,
    )


def run_devnet(
    host: str = "127.0.0.1",
    port: int = 8100,
    seed: int = 1,
    scenario: str = "demo",
    ledger_interval: float = 5.0,
    fault_rate: float = 0.0,
    archive: Path | None = None,
    archive_ledgers_per_file: int = 1,
    archive_files_per_partition: int = 64_000,
    **params: Any,
) -> None:
    """Serve the devnet in the foreground (used by ``orbitpay devnet``); ledgers close live."""
    if archive is not None:
        params.setdefault("ledger_changes", True)
    chain, step = _make(scenario, seed, params, live=ledger_interval > 0)
    faults = FaultConfig.uniform(fault_rate, seed=seed) if fault_rate > 0 else None
    started = time.monotonic()
    lake = _lake(chain, archive, archive_ledgers_per_file, archive_files_per_partition)
    producer = None
    if ledger_interval > 0:
        producer = LiveProducer(
            chain, ledger_interval, step, lake.sync if lake is not None else None
        )
        producer.start()
    orgs = chain.organizations()
    print(
        f"orbitpay devnet: http://{host}:{port}  scenario={scenario} seed={seed} "
        f"ledgers {chain.oldest_ledger}..{chain.latest_ledger} events={chain.event_count} "
        f"passphrase={chain.network_passphrase!r}",
        flush=True,
    )
    if chain.retention_ledgers is not None:
        print(
            f"  RPC retention: the last {chain.retention_ledgers} ledgers "
            f"(history from {chain.genesis_ledger})",
            flush=True,
        )
    if lake is not None:
        print(
            f"  ledger data lake: {lake.root} ({lake.objects_written} objects, "
            f"{lake.config.ledgers_per_batch} ledger(s) each, written in "
            f"{time.monotonic() - started:.1f}s"
            + (
                f"; {lake.objects_removed} of a previous run removed"
                if lake.objects_removed
                else ""
            )
            + f"), served at http://{host}:{port}/lake",
            flush=True,
        )
    for org in orgs:
        print(f"  organization {org['name']}: {json.dumps(org['contracts'])}", flush=True)
    try:
        uvicorn.run(
            create_app(chain, faults, archive),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        if producer is not None:
            producer.stop()

"""Running the long-lived parts in one process: API, indexer, demo devnet.

``orbitpay up`` = migrate + indexer + API; ``orbitpay api`` = API only. With
no ``ORBITPAY_RPC_URL``, ``up`` starts the built-in devnet's ``demo`` scenario
in live mode and registers its organization, so a fresh machine shows live,
growing data with no configuration at all.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.api.server import uvicorn_options
from orbitpay.cache import create_cache
from orbitpay.config import ConfigError, Settings
from orbitpay.db.engine import create_engine
from orbitpay.observability.logging import get_logger
from orbitpay.orgs import register_organization
from orbitpay.runtime import database, run

if TYPE_CHECKING:
    from orbitpay.devnet.server import DevnetHandle

log = get_logger(__name__)


def run_service(
    settings: Settings,
    *,
    with_api: bool,
    with_indexer: bool,
    migrate: bool = False,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Blocking entry point for ``up`` and ``api``; returns after a clean shutdown."""
    if with_api:
        settings.require_cursor_secret()  # ConfigError: one line, before anything starts
    with database(settings) as url:
        if migrate:
            from orbitpay.db.migrate import upgrade

            upgrade(url)
            log.info("migrated")
        run(
            _serve(
                settings,
                url,
                with_api=with_api,
                with_indexer=with_indexer,
                host=host or settings.api_host,
                port=settings.api_port if port is None else port,
            )
        )


async def _serve(
    settings: Settings,
    url: str,
    *,
    with_api: bool,
    with_indexer: bool,
    host: str,
    port: int,
) -> None:
    engine = create_engine(url)
    cache = create_cache(settings.redis_url, settings.redis_timeout, settings.redis_retry_after)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    devnet: DevnetHandle | None = None
    tasks: list[asyncio.Task[None]] = []

    def stop_on_failure(task: asyncio.Task[None]) -> None:
        # A crashed part takes the whole process down (exit code != 0), so a
        # supervisor restarts it instead of an API serving an index that no
        # longer moves.
        if not task.cancelled() and task.exception() is not None:
            stop.set()

    try:
        if settings.contract_ids:
            async with engine.begin() as conn:
                await register_organization(conn, settings.org_name, settings.contract_ids)
        rpc_url = settings.rpc_url
        if with_indexer and rpc_url is None:
            devnet, rpc_url = await _start_demo_devnet(engine)
        if with_indexer:
            from orbitpay.indexer.service import run_indexer

            assert rpc_url is not None
            indexer = asyncio.create_task(run_indexer(settings, engine, rpc_url, stop, cache=cache))
            indexer.add_done_callback(stop_on_failure)
            tasks.append(indexer)
        if with_api:
            app = create_app(settings, engine=engine, cache=cache)
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="on",
                **uvicorn_options(settings),
            )
            # uvicorn's serve() captures SIGINT/SIGTERM itself (and restores ours
            # afterwards); its exit ends _run_server, which sets ``stop`` for the rest.
            server = uvicorn.Server(config)
            serving = asyncio.create_task(_run_server(server, stop))
            serving.add_done_callback(stop_on_failure)
            tasks.append(serving)
            tasks.append(asyncio.create_task(_announce(server, host, port)))
        await stop.wait()
    finally:
        stop.set()
        failure = await _finish(tasks)
        if devnet is not None:
            devnet.stop()
        await cache.close()
        await engine.dispose()
    if failure is not None:
        # A configuration error was already printed as one line by its owner.
        raise SystemExit(2 if isinstance(failure, ConfigError) else 1)


async def _finish(tasks: list[asyncio.Task[None]]) -> BaseException | None:
    """Wait for every part to stop; return the first failure (already logged)."""
    failure: BaseException | None = None
    for task in tasks:
        try:
            await asyncio.wait_for(task, timeout=15)
        except (asyncio.CancelledError, TimeoutError):
            continue
        except ConfigError as exc:
            failure = failure or exc
        except Exception as exc:
            log.error("component_failed", error=str(exc) or type(exc).__name__, exc_info=exc)
            failure = failure or exc
    return failure


async def _run_server(server: uvicorn.Server, stop: asyncio.Event) -> None:
    serving = asyncio.create_task(server.serve())
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stop.set()


async def _announce(server: uvicorn.Server, host: str, port: int) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    if port == 0 and server.servers:
        port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://{host}:{port}"
    log.info("api_listening", url=base, docs=f"{base}/docs")
    print(f"OrbitPay API: {base}  (docs: {base}/docs)", flush=True)


async def _start_demo_devnet(engine: AsyncEngine) -> tuple[DevnetHandle, str]:
    """Start the devnet's live demo chain and register its organization."""
    from orbitpay.devnet.server import start_background_devnet
    from orbitpay.indexer.chain import wipe as wipe_indexed

    handle = await asyncio.to_thread(start_background_devnet, scenario="demo", live=True)
    # The demo chain is built anew on every start (its history ends now): rows indexed from
    # the previous run's chain must not be mixed with it, so the demo database starts over.
    async with engine.begin() as conn:
        await wipe_indexed(conn)
    print(
        "Built-in devnet: a new chain on every start, so the demo database starts over "
        "(indexed rows of the previous run deleted; organizations and API keys kept)",
        flush=True,
    )
    for org in handle.chain.organizations():
        async with engine.begin() as conn:
            await register_organization(conn, org["name"], org["contracts"], admin=org["admin"])
    log.info("devnet_started", url=handle.url)
    print(f"Built-in devnet (demo scenario): {handle.url}", flush=True)
    return handle, handle.url

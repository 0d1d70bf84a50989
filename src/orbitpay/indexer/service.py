"""Entry points: the long-running indexer, a one-shot catch-up, a reconciliation pass.

- :func:`run_indexer` is what ``orbitpay up`` / ``orbitpay index`` run: take
  the advisory lock (or wait as a standby), check the network passphrase, then
  poll forever, reconciling every ``ORBITPAY_RECONCILE_INTERVAL`` seconds.
  RPC outages and database outages pause it and it resumes by itself.
- :func:`index_until_latest` catches every registered contract up to the
  RPC's latest ledger once (``orbitpay index --once``); tests and benchmarks
  use it to fill a database from a devnet.
- :func:`reconcile_once` is ``orbitpay reconcile``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay import notify
from orbitpay.config import ConfigError, Settings
from orbitpay.indexer import chain, store
from orbitpay.indexer.bootstrap import bootstrap_new_contracts
from orbitpay.indexer.findings import BootstrapReport
from orbitpay.indexer.lock import AdvisoryLock
from orbitpay.indexer.model import Changed
from orbitpay.indexer.pipeline import GapError, Indexer, SyncResult, is_db_outage
from orbitpay.indexer.progress import Progress
from orbitpay.indexer.reconcile import ReconcileReport, read_ahead, reconcile
from orbitpay.indexer.sources.archive import ArchiveGap
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import INDEXER_UP, Role, enable_role
from orbitpay.retry import Attempt, Backoff, GaveUp, Retries, Sleep, retrying
from orbitpay.runtime import run
from orbitpay.security.redact import redact_url
from orbitpay.stellar.datalake import LakeError
from orbitpay.stellar.ledgermeta import LedgerDecodeError
from orbitpay.stellar.rpc import RpcClient, RpcError, RpcUnavailable

log = get_logger(__name__)

# What a bootstrap or reconciliation pass may write (entity rows of every kind, never
# events): the families whose cached answers it makes stale.
_ENTITY_FAMILIES = frozenset(Changed) - {Changed.EVENTS}


async def announce_corrections(engine: AsyncEngine, cache: Any, report: BootstrapReport) -> None:
    """Tell the read caches about rows a bootstrap or reconciliation pass wrote.

    Those passes write outside the pages, which announce their own changes; without
    this a silent ``finalize`` corrected here would be served stale until the
    cache's TTL. Nothing is announced when the pass wrote nothing.
    """
    if not (report.inserted or report.corrected):
        return
    async with engine.begin() as conn:
        await notify.publish(conn, _ENTITY_FAMILIES)  # API caches without our Redis
    if cache is not None:
        await cache.invalidate_changed(_ENTITY_FAMILIES)


# A database outage (or a cursor moved under us) pauses the loop with the shared
# backoff; it never gives up, the long-running indexer resumes by itself.
DB_OUTAGE_BACKOFF = Backoff(max_retries=None, base_delay=1.0, max_delay=30.0)


def once_backoff(settings: Settings) -> Backoff:
    """``orbitpay index --once``: a few whole-run retries, then a non-zero exit."""
    return Backoff(max_retries=max(3, settings.rpc_max_retries), base_delay=2.0, max_delay=30.0)


def make_rpc(settings: Settings, rpc_url: str) -> RpcClient:
    return RpcClient(rpc_url, timeout=settings.rpc_timeout, max_retries=settings.rpc_max_retries)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


def _indexer(
    settings: Settings,
    engine: AsyncEngine,
    client: RpcClient,
    cache: Any,
    progress: Progress | None,
    page_limit: int | None,
) -> Indexer:
    """An :class:`Indexer` with the pipeline's own page limit unless one is given."""
    if page_limit:
        return Indexer(
            settings, engine, client, cache=cache, progress=progress, page_limit=page_limit
        )
    return Indexer(settings, engine, client, cache=cache, progress=progress)


async def _report_rpc_down(indexer: Indexer, error: str) -> None:
    with suppress(Exception):
        await indexer.report(force=True, rpc_status="down", rpc_error=error[:500])


async def index_until_latest(
    settings: Settings,
    engine: AsyncEngine,
    rpc_url: str,
    *,
    cache: Any = None,
    reconcile_after: bool = True,
    progress: bool | None = None,
    page_limit: int | None = None,
    rpc: RpcClient | None = None,
) -> SyncResult:
    """Catch every registered contract up to the RPC's latest ledger, then return.

    Exactly once and restartable: kill it at any moment and run it again; it
    resumes from the committed cursors. With ``reconcile_after`` it finishes
    with one reconciliation pass (silent state changes). Raises
    :class:`~orbitpay.config.ConfigError` on a passphrase mismatch,
    :class:`GapError` on a retention gap with ``gap_policy=stop`` and
    :class:`~orbitpay.stellar.rpc.RpcUnavailable` when the RPC stays down.
    Does not take the advisory lock (the caller decides; the CLI does).
    """
    own = rpc is None
    client = rpc or make_rpc(settings, rpc_url)
    prog = Progress(tty=progress) if progress is not False else None
    indexer = _indexer(settings, engine, client, cache, prog, page_limit)
    try:
        await indexer.check_network()
        if await chain.guard(
            engine, client, policy=settings.on_network_reset, full=True, cache=cache
        ):
            await notify.publish_everything(engine)  # the wipe, for caches without our Redis
        first = await bootstrap_new_contracts(engine, client, start_ledger=settings.start_ledger)
        await announce_corrections(engine, cache, first)
        # Reconciliation reads ledger state beside the catch-up (read_ahead), and
        # only compares and writes once the events are in.
        ahead = asyncio.create_task(read_ahead(engine, client)) if reconcile_after else None
        try:
            result = await indexer.sync()
        except BaseException:
            if ahead is not None:
                ahead.cancel()
                with suppress(BaseException):
                    await ahead
            raise
        if ahead is not None:
            report = await reconcile(engine, client, read=await ahead)
            await announce_corrections(engine, cache, report)
        await indexer.report(force=True, rpc_status="ok", rpc_error=None)
        return result
    finally:
        await indexer.close()
        if own:
            await client.close()


async def reconcile_once(settings: Settings, engine: AsyncEngine, rpc_url: str) -> ReconcileReport:
    """One reconciliation pass (``orbitpay reconcile``); its corrections reach the caches."""
    from orbitpay.cache import create_cache

    cache = create_cache(settings.redis_url) if settings.redis_url else None
    try:
        async with make_rpc(settings, rpc_url) as client:
            report = await reconcile(engine, client, start_ledger=settings.start_ledger)
        await announce_corrections(engine, cache, report)
        return report
    finally:
        if cache is not None:
            await cache.close()


async def run_indexer(
    settings: Settings,
    engine: AsyncEngine,
    rpc_url: str,
    stop: asyncio.Event,
    cache: Any = None,
    *,
    once: bool = False,
    page_limit: int | None = None,
) -> None:
    """Run the indexer until ``stop`` is set (or, with ``once``, until caught up).

    A passphrase mismatch or a network reset with ``ORBITPAY_ON_NETWORK_RESET=stop``
    (:class:`~orbitpay.indexer.chain.NetworkReset`) is fatal: one line on stderr,
    ``stop`` is set, and :class:`ConfigError` is raised. Everything else (RPC down, database down, a
    retention gap with ``gap_policy=stop``) is reported in ``indexer_status``
    and the logs, and retried.
    """
    enable_role(Role.INDEXER)  # this process's metrics endpoints expose the indexer's
    lock = AdvisoryLock(engine)
    client = make_rpc(settings, rpc_url)
    indexer = _indexer(settings, engine, client, cache, Progress(min_ledgers=100), page_limit)
    last_reconcile = 0.0
    outages = Retries(DB_OUTAGE_BACKOFF)
    checked_network = False
    checked_chain = False
    INDEXER_UP.set(0)
    try:
        while not stop.is_set():
            try:
                if not lock.held or not await lock.alive():
                    if not await lock.acquire(stop):
                        return
                    # Running: up until a poll fails (a first catch-up may take hours).
                    INDEXER_UP.set(1)
                    log.info("indexer_started", rpc_url=redact_url(rpc_url))
                if not checked_network:
                    await indexer.check_network()
                    checked_network = True
                # A different chain behind the URL (ORBITPAY_ON_NETWORK_RESET); the full check
                # (ledger hashes) once, and again after RPC errors (a reset shows as getEvents'
                # "startLedger must be within the ledger range").
                if await chain.guard(
                    engine,
                    client,
                    policy=settings.on_network_reset,
                    full=not checked_chain,
                    cache=cache,
                ):
                    await notify.publish_everything(engine)  # for caches without our Redis
                checked_chain = True
                first = await bootstrap_new_contracts(
                    engine, client, start_ledger=settings.start_ledger
                )
                await announce_corrections(engine, cache, first)
                result = await indexer.sync(stop)
                INDEXER_UP.set(1)
                outages.succeeded()
                if time.monotonic() - last_reconcile >= settings.reconcile_interval:
                    await announce_corrections(engine, cache, await reconcile(engine, client))
                    last_reconcile = time.monotonic()
                await indexer.report(
                    force=True,
                    rpc_status="ok",
                    rpc_error=None,
                    rpc_latest_ledger=result.latest_ledger,
                )
                if once:
                    return
            except ConfigError as exc:
                print(str(exc), file=sys.stderr, flush=True)
                log.error("indexer_config_error", error=str(exc))
                stop.set()
                raise
            except (ArchiveGap, LakeError, LedgerDecodeError) as exc:
                # A hole, a corrupt object or another network's lake: retrying cannot help.
                print(f"orbitpay index: {_first_line(exc)}", file=sys.stderr, flush=True)
                log.error("indexer_archive_error", error=str(exc))
                stop.set()
                raise
            except GapError as exc:
                INDEXER_UP.set(0)
                log.error("indexer_stopped_at_gap", error=str(exc))
                if once:
                    raise
            except RpcUnavailable as exc:
                INDEXER_UP.set(0)
                log.warning("rpc_unavailable", error=str(exc))
                await _report_rpc_down(indexer, str(exc))
            except RpcError as exc:
                INDEXER_UP.set(0)
                checked_chain = False
                log.error("rpc_error", error=str(exc))
                await _report_rpc_down(indexer, str(exc))
            except Exception as exc:
                if not is_db_outage(exc) and not isinstance(exc, store.CursorMoved):
                    raise
                INDEXER_UP.set(0)
                pause = outages.failed(exc)
                log.warning(
                    "database_unavailable" if is_db_outage(exc) else "cursor_moved",
                    error=str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__,
                    retry_in=round(pause, 3),
                )
                await _wait(stop, pause)
                continue
            await _wait(stop, settings.poll_interval)
    finally:
        INDEXER_UP.set(0)
        await lock.release()
        await indexer.close()
        await client.close()


# ── CLI glue (``orbitpay index`` and ``orbitpay reconcile``) ─────────────────────


async def _register_configured(settings: Settings, engine: AsyncEngine) -> None:
    if settings.contract_ids:
        from orbitpay.orgs import register_organization

        async with engine.begin() as conn:
            await register_organization(conn, settings.org_name, settings.contract_ids)


async def _index_command(settings: Settings, url: str, once: bool) -> int:
    import signal

    from orbitpay.cache import create_cache
    from orbitpay.db.engine import create_engine

    assert settings.rpc_url is not None
    engine = create_engine(url, pool_size=4)
    # With Redis, bump the API workers' cache versions there after each commit (an
    # in-process cache would help nobody); API processes without it are told through
    # PostgreSQL NOTIFY, which every commit sends anyway (orbitpay.notify).
    cache = create_cache(settings.redis_url) if settings.redis_url else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await _register_configured(settings, engine)
        if not once:
            try:
                await run_indexer(settings, engine, settings.rpc_url, stop, cache=cache)
            except (ConfigError, ArchiveGap, LakeError, LedgerDecodeError):
                return 2  # run_indexer already printed the one line
            return 0
        lock = AdvisoryLock(engine)
        if not await lock.acquire(stop):
            return 130
        rpc_url = settings.rpc_url
        try:
            result = await retrying(
                lambda: index_until_latest(settings, engine, rpc_url, cache=cache),
                policy=once_backoff(settings),
                retry_on=_once_retryable,
                on_retry=_log_once_retry,
                sleep=_sleep_until_stopped(stop),
            )
        except GaveUp as exc:
            print(f"orbitpay index --once: giving up: {_first_line(exc.error)}", file=sys.stderr)
            return 1
        except _Stopped:
            return 130
        finally:
            await lock.release()
        log.info(
            "caught_up",
            events=result.events,
            pages=result.pages,
            last_ledger=result.last_ledger,
            latest_ledger=result.latest_ledger,
        )
        return 0
    except (GapError, ArchiveGap, LakeError, LedgerDecodeError) as exc:
        print(f"orbitpay index: {_first_line(exc)}", file=sys.stderr)
        return 1
    except RpcError as exc:
        print(f"orbitpay index: {exc}", file=sys.stderr)
        return 1
    finally:
        if cache is not None:
            await cache.close()
        await engine.dispose()


class _Stopped(Exception):
    """SIGINT/SIGTERM arrived while ``--once`` waited to retry."""


def _sleep_until_stopped(stop: asyncio.Event) -> Sleep:
    async def sleep(seconds: float) -> None:
        await _wait(stop, seconds)
        if stop.is_set():
            raise _Stopped

    return sleep


def _once_retryable(exc: BaseException) -> bool:
    """An RPC outage, a database outage or a moved cursor: run ``--once`` again."""
    return isinstance(exc, RpcUnavailable | store.CursorMoved) or is_db_outage(exc)


def _first_line(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _log_once_retry(attempt: Attempt) -> None:
    log.warning("index_once_retry", error=_first_line(attempt.error), attempt=attempt.number)


def run_index_command(settings: Settings, url: str, *, once: bool) -> int:
    """``orbitpay index [--once]``: exit code 0 when caught up (or stopped cleanly)."""
    return run(_index_command(settings, url, once))


def run_reconcile_command(settings: Settings, url: str, console: Any) -> int:
    """``orbitpay reconcile``: print each difference found (and corrected)."""
    from orbitpay.db.engine import create_engine

    async def _run() -> ReconcileReport:
        engine = create_engine(url, pool_size=2)
        try:
            assert settings.rpc_url is not None
            return await reconcile_once(settings, engine, settings.rpc_url)
        finally:
            await engine.dispose()

    try:
        report = run(_run())
    except (RpcUnavailable, RpcError) as exc:
        print(f"orbitpay reconcile: {exc}", file=sys.stderr)
        return 1
    for f in report.findings:
        console.print(f"{f.entity} {f.entity_id} ({f.contract_id}): {f.message}", highlight=False)
    console.print(
        f"checked {report.checked} entities: {len(report.findings)} differences, "
        f"{report.corrected} corrected, {report.skipped_newer} newer than the indexed ledger",
        highlight=False,
    )
    return 0

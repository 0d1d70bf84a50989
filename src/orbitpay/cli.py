"""The ``orbitpay`` command line: parse, then call into the package.

Configuration errors end the process with one line on stderr naming the
variable (exit code 2), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from orbitpay.config import ConfigError, Settings, load_settings
from orbitpay.enums import ContractKind
from orbitpay.runtime import database, setup_logging

app = typer.Typer(
    help="OrbitPay indexer: index the OrbitPay Soroban contracts and serve them over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Manage indexed organizations.", no_args_is_help=True)
app.add_typer(org_app, name="org")
keys_app = typer.Typer(help="Manage API keys (the secret is printed once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """One plain line on stderr (no wrapping: operators grep for it), then exit."""
    sys.stderr.write(message.replace("\n", " ") + "\n")
    raise typer.Exit(code)


def handles_config_errors(func: F) -> F:
    """Turn a ``ConfigError`` (or a refused registration) into one line and exit 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = load_settings()
    setup_logging(settings)
    return settings


def _require(value: str | None, variable: str, command: str) -> None:
    """Exit with one configuration line when ``command`` needs ``variable`` and it is unset."""
    if not value:
        fail(f"invalid configuration: {variable}: required by 'orbitpay {command}'")


@app.command()
@handles_config_errors
def migrate(
    revision: str = typer.Option("head", help="Target revision."),
    down: bool = typer.Option(False, "--down", help="Downgrade to REVISION (default base)."),
) -> None:
    """Apply database migrations (Alembic) and exit."""
    from orbitpay.db import migrate as migrations

    settings = _settings()
    with database(settings) as url:
        if down:
            migrations.downgrade(url, "base" if revision == "head" else revision)
        else:
            migrations.upgrade(url, revision)
        console.print(f"database at revision {migrations.current_revision(url)}")


@app.command()
@handles_config_errors
def api(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Run the HTTP API only (the database must be migrated)."""
    from orbitpay.service import run_service

    settings = _settings()
    run_service(settings, with_api=True, with_indexer=False, host=host, port=port)


@app.command()
@handles_config_errors
def up(
    host: str | None = typer.Option(None, help="Listen address (ORBITPAY_API_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (ORBITPAY_API_PORT)."),
) -> None:
    """Migrate, then run the indexer and the API in one process."""
    from orbitpay.service import run_service

    settings = _settings()
    run_service(settings, with_api=True, with_indexer=True, migrate=True, host=host, port=port)


@app.command()
@handles_config_errors
def index(
    once: bool = typer.Option(False, "--once", help="Catch up to the latest ledger, then exit."),
) -> None:
    """Run the indexer (ORBITPAY_RPC_URL required); --once catches up and exits 0."""
    from orbitpay.indexer.service import run_index_command

    settings = _settings()
    _require(settings.rpc_url, "ORBITPAY_RPC_URL", "index")
    if settings.metrics_port:
        # A standalone indexer has no API: serve its metrics for Prometheus.
        from prometheus_client import start_http_server

        from orbitpay.observability.metrics import REGISTRY

        start_http_server(settings.metrics_port, addr=settings.api_host, registry=REGISTRY)
    with database(settings) as url:
        raise typer.Exit(run_index_command(settings, url, once=once))


@app.command()
@handles_config_errors
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
@handles_config_errors
def reconcile() -> None:
    """Compare stored entities with contract storage, correct and report differences."""
    from orbitpay.indexer.service import run_reconcile_command

    settings = _settings()
    _require(settings.rpc_url, "ORBITPAY_RPC_URL", "reconcile")
    with database(settings) as url:
        raise typer.Exit(run_reconcile_command(settings, url, console))


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
@handles_config_errors
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
@handles_config_errors
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
@handles_config_errors
def org_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List organizations and their contracts."""
    from orbitpay.orgs import list_organizations

    orgs = _with_connection(_settings(), list_organizations, write=False)
    if as_json:
        print(json.dumps(orgs, default=str, indent=2))
        return
    table = Table("id", "name", "admin", *ContractKind)
    for org in orgs:
        c = org["contracts"]
        table.add_row(
            str(org["id"]),
            org["name"],
            org["admin"] or "",
            *(", ".join(c[k]) for k in ContractKind),
        )
    console.print(table)


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

    with database(settings) as url:
        return asyncio.run(_run(url))


def _print_secret(issued: Any, verb: str) -> None:
    console.print(f"key {issued.id} ({issued.name}, scope {issued.scope}) {verb}.")
    console.print("Secret (shown once, store it now):")
    print(issued.secret, flush=True)


@keys_app.command("create")
@handles_config_errors
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
@handles_config_errors
def keys_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List API keys (never their secrets)."""
    from orbitpay.security.apikeys import list_keys

    rows = _with_connection(_settings(), list_keys, write=False)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table("id", "name", "scope", "prefix", "created", "rotated", "revoked", "last used")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["scope"],
            r["prefix"],
            *(str(r[k] or "") for k in ("created_at", "rotated_at", "revoked_at", "last_used_at")),
        )
    console.print(table)


@keys_app.command("rotate")
@handles_config_errors
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
@handles_config_errors
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

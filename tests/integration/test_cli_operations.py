"""The operator's CLI on the run's database: discrepancies, health --indexer, lists, help.

Commands run as processes (``.venv/bin/orbitpay``), their output piped (so rich
lays tables out at its default 80 columns, where it used to cut contract ids).
Rows are written with the indexer's own store functions (``add_discrepancies``,
``write_status``), the way the indexer writes them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.helpers import clean_env

from orbitpay.cli import app
from orbitpay.enums import DiscrepancyEntity, DiscrepancySource
from orbitpay.indexer import store
from orbitpay.indexer.model import Discrepancy

ORBITPAY = str(Path(sys.executable).parent / "orbitpay")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
PAYROLL = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"
PAYROLL2 = "CBLQ6YEIZQYPPB5N6HZOAQAHJX5CKXYXKAK7BSOHQVXDN5ALWV6IWVYI"
OTHER = "CBYNJS7K5NXMS6V7ZDEDTQG63ZLKLUNZNBANCBDRAABDXTNRE2XF4BKG"


@pytest.fixture
def cli(database_url: str, clean_engine: AsyncEngine, tmp_path: Path) -> Any:
    env = clean_env(ORBITPAY_DATABASE_URL=database_url)

    def run(*args: str, code: int = 0, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [ORBITPAY, *args],
            env={**env, **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        return done

    return run


async def _record(engine: AsyncEngine) -> None:
    rows = [
        Discrepancy.of(
            DiscrepancySource.RECONCILE,
            DiscrepancyEntity.STREAM,
            "stream 4 claimed_amount differs from the chain; corrected from the chain",
            contract_id=PAYROLL,
            entity_id=4,
            field="claimed_amount",
            indexed=99,
            chain=100,
            ledger=1234,
            corrected=True,
        ),
        *(
            Discrepancy.of(
                DiscrepancySource.RECONCILE,
                DiscrepancyEntity.WITHDRAWAL,
                f"withdrawal {n} approvals differ from the chain (recorded, not corrected)",
                contract_id=OTHER if n == 2 else PAYROLL,
                entity_id=n,
                field="approvals",
                indexed="",
                chain="GA",
                ledger=1300 + n,
            )
            for n in range(3)
        ),
    ]
    async with engine.begin() as conn:
        await store.add_discrepancies(conn, rows)


async def test_discrepancies_command(cli: Any, clean_engine: AsyncEngine) -> None:
    assert "no discrepancies recorded" in cli("discrepancies").stdout
    await _record(clean_engine)

    lines = cli("discrepancies", "--json").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 4
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert all(ISO_Z.match(r["detected_at"]) for r in rows)

    got = cli("discrepancies", "--json", "--contract", PAYROLL, "--uncorrected", "--limit", "1")
    (row,) = [json.loads(line) for line in got.stdout.splitlines()]
    assert (row["entity"], row["entity_id"], row["corrected"]) == ("withdrawal", "1", False)
    assert row["contract_id"] == PAYROLL and row["chain_value"] == "GA"

    got = cli("discrepancies", "--json", "--corrected", "--entity", "stream")
    (row,) = [json.loads(line) for line in got.stdout.splitlines()]
    assert (row["field"], row["indexed_value"], row["chain_value"]) == (
        "claimed_amount",
        "99",
        "100",
    )
    assert cli("discrepancies", "--json", "--entity-id", "2").stdout.count(OTHER) == 1
    assert cli("discrepancies", "--json", "--source", "gap").stdout == ""

    table = cli("discrepancies").stdout
    assert PAYROLL in table and OTHER in table  # whole ids, though the pipe is 80 wide
    assert "stream 4 claimed_amount differs from the chain; corrected from the chain" in table
    assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z", table)


async def test_health_indexer(cli: Any, clean_engine: AsyncEngine) -> None:
    assert cli("health").stdout.strip() == "database ok"
    silent = cli("health", "--indexer", code=1)
    assert silent.stderr.count("\n") == 1 and "has not reported yet" in silent.stderr

    async with clean_engine.begin() as conn:
        await store.write_status(conn, rpc_status="ok", rpc_error=None, rpc_latest_ledger=50)
    fresh = cli("health", "--indexer")
    assert fresh.stdout.startswith("indexer ok: last successful poll") and not fresh.stderr

    async with clean_engine.begin() as conn:
        await conn.execute(
            text("UPDATE indexer_status SET heartbeat_at = now() - interval '10 minutes'")
        )
    stale = cli("health", "--indexer", code=1)
    assert stale.stderr.count("\n") == 1 and "Traceback" not in stale.stderr
    assert re.search(r"indexer stalled: last report 60\d s ago \(limit 120 s", stale.stderr)
    cli("health", "--indexer", "--max-age", "3600")  # a looser limit: healthy again
    cli("health", "--indexer", ORBITPAY_HEALTH_MAX_AGE="3600")

    async with clean_engine.begin() as conn:
        await store.write_status(conn, rpc_status="down", rpc_error="getHealth: connect timeout")
    down = cli("health", "--indexer", code=1)
    assert "its RPC is down (getHealth: connect timeout)" in down.stderr


def test_org_list_and_keys_list(cli: Any) -> None:
    cli("org", "add", "acme-[b]with[/b]-a-rather-long-organization-name", "--payroll", PAYROLL)
    cli("org", "add", "acme-[b]with[/b]-a-rather-long-organization-name", "--payroll", PAYROLL2)
    cli("org", "add", "beta", "--vesting", OTHER, "--governance", "C" + "A" * 55, code=2)
    listed = cli("org", "list").stdout
    assert PAYROLL in listed and PAYROLL2 in listed  # whole, each on its own line
    assert "acme-[b]with[/b]-a-rather" in listed  # shown as given, not read as markup
    orgs = json.loads(cli("org", "list", "--json").stdout)
    assert sorted(orgs[0]["contracts"]["payroll"]) == sorted([PAYROLL, PAYROLL2])
    assert ISO_Z.match(orgs[0]["created_at"])

    cli("keys", "create", "--name", "ops", "--scope", "write")
    (key,) = json.loads(cli("keys", "list", "--json").stdout)
    assert ISO_Z.match(key["created_at"]) and key["revoked_at"] is None
    cli("keys", "revoke", key["id"])
    (key,) = json.loads(cli("keys", "list", "--json").stdout)
    assert ISO_Z.match(key["revoked_at"])
    table = cli("keys", "list").stdout
    assert key["created_at"] in table and key["revoked_at"] in table


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI (typer ships its own click: groups have ``commands``)."""
    found = [path]
    for name, sub in getattr(group, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_indexer_limit_is_the_one_health_uses() -> None:
    from orbitpay.api.routers.health import HEARTBEAT_STALE_SECONDS
    from orbitpay.cli import INDEXER_MAX_AGE

    assert INDEXER_MAX_AGE == HEARTBEAT_STALE_SECONDS


def test_help_shows_no_type_placeholders_on_flags() -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert ("discrepancies",) in paths and ("health",) in paths and ("org", "list") in paths
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"])
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, (path, shown.output)
    health = runner.invoke(app, ["health", "--help"]).output
    assert re.search(r"--indexer\s+Also require", health)
    listed = runner.invoke(app, ["discrepancies", "--help"]).output
    assert "--corrected / --uncorrected" in listed

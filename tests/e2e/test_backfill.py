"""``orbitpay backfill`` as a process: SIGKILL part-way, rerun, identical tables.

The devnet's RPC keeps the last ~5 days of the demo and writes the whole
history as a lake. Both databases are indexed from the RPC (state bootstrapped
from ledger entries); the reference is then backfilled in one uninterrupted
worker, the other by ``orbitpay backfill`` processes killed with SIGKILL while
their range is half done and rerun: the rerun releases the dead process's
claim at once (same host) and continues at the range's ``next_ledger``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orbitpay.db.schema import backfill_ranges
from tests.e2e.db_helpers import index_in_process, new_database, with_engine
from tests.e2e.helpers import ORBITPAY, clean_env, run
from tests.e2e.test_indexer_helpers import table_snapshot

pytestmark = pytest.mark.e2e


def _done_ledgers(db: str) -> int:
    async def go(engine: Any) -> int:
        async with engine.connect() as conn:
            value = await conn.scalar(
                select(
                    func.coalesce(
                        func.sum(backfill_ranges.c.next_ledger - backfill_ranges.c.from_ledger), 0
                    )
                )
            )
        return int(value or 0)

    return int(with_engine(db, go))


def test_backfill_killed_then_rerun_ends_with_the_same_tables(
    databases: list[str], tmp_path: Path
) -> None:
    from orbitpay.devnet.server import start_background_devnet

    lake = tmp_path / "lake"
    handle = start_background_devnet(
        "demo",
        seed=1,
        live=False,
        retention_ledgers=86_400,
        archive=lake,
        archive_ledgers_per_file=1000,
    )
    try:
        chain = handle.chain
        since = str(chain.genesis_ledger)
        reference = new_database(databases, "orbitpay_bf")
        db = new_database(databases, "orbitpay_bf")
        for url in (reference, db):
            index_in_process(url, handle.url, chain)
        common = {"ORBITPAY_RPC_URL": handle.url, "ORBITPAY_ARCHIVE_URL": lake.as_uri()}
        once = run(
            ["backfill", "--since", since],
            clean_env(ORBITPAY_DATABASE_URL=reference, **common),
            tmp_path,
            timeout=600,
        )
        assert once.returncode == 0, once.stderr[-3000:]
        assert "ledgers/s" in once.stdout
        want = with_engine(reference, table_snapshot)
        total = _done_ledgers(reference)

        env = clean_env(ORBITPAY_DATABASE_URL=db, **common)
        kills: list[int] = []
        for fraction in (0.2, 0.5):
            proc = subprocess.Popen(
                [*ORBITPAY, "backfill", "--since", since],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 300
            while _done_ledgers(db) < fraction * total and time.monotonic() < deadline:
                assert proc.poll() is None, "the backfill finished before it could be killed"
                time.sleep(0.05)
            proc.kill()
            proc.wait(timeout=30)
            kills.append(_done_ledgers(db))
        assert 0 < kills[0] <= kills[1] < total
        final = run(["backfill", "--since", since], env, tmp_path, timeout=600)
        assert final.returncode == 0, final.stderr[-3000:]
        got = with_engine(db, table_snapshot)
        differ = {t: (len(want[t]), len(got[t])) for t in want if got[t] != want[t]}
        assert not differ, (differ, kills)
        assert _done_ledgers(db) == total
    finally:
        handle.stop()


def test_bad_lakes_through_the_cli_are_one_line_each(databases: list[str], tmp_path: Path) -> None:
    """A wrong passphrase in .config.json, a missing object: exit 1, one stderr line naming
    the problem (``orbitpay index --once`` from a start older than the RPC's window)."""
    import json
    import shutil

    from orbitpay.devnet.server import start_background_devnet
    from tests.e2e.helpers import run

    lake = tmp_path / "lake"
    with start_background_devnet(
        "demo",
        seed=1,
        live=False,
        retention_ledgers=86_400,
        archive=lake,
        archive_ledgers_per_file=1000,
    ) as handle:
        chain = handle.chain
        org = chain.organizations()[0]
        db = new_database(databases, "orbitpay_bf")
        wrong = tmp_path / "wrong"
        shutil.copytree(lake, wrong)
        config = json.loads((wrong / ".config.json").read_text())
        config["networkPassphrase"] = "Another Network ; 2026"
        (wrong / ".config.json").write_text(json.dumps(config))
        holed = tmp_path / "holed"
        shutil.copytree(lake, holed)
        hole = (chain.genesis_ledger + 20_000) // 1000 * 1000
        next(holed.rglob(f"*--{hole}-{hole + 999}.xdr.zst")).unlink()
        base = {
            "ORBITPAY_DATABASE_URL": db,
            "ORBITPAY_RPC_URL": handle.url,
            "ORBITPAY_START_LEDGER": str(chain.genesis_ledger),
            "ORBITPAY_ORG_NAME": org["name"],
            **{
                f"ORBITPAY_{kind.upper()}_CONTRACT_ID": cid
                for kind, cid in org["contracts"].items()
            },
        }
        for url, says in (
            (wrong.as_uri(), "not of the configured network"),
            (holed.as_uri(), f"ledgers {hole}-{hole + 999} are missing from the data lake"),
        ):
            env = clean_env(ORBITPAY_ARCHIVE_URL=url, **base)
            done = run(["index", "--once"], env, tmp_path, timeout=300)
            assert done.returncode == 1, done.stderr[-2000:]
            lines = [ln for ln in done.stderr.splitlines() if ln.startswith("orbitpay index:")]
            assert len(lines) == 1 and says in lines[0], done.stderr[-2000:]

"""Crash safety and fault tolerance of the indexer, end to end.

- ``orbitpay index --once`` killed with SIGKILL at ten random moments during
  catch-up and restarted each time ends with exactly the tables of an
  uninterrupted run (and the devnet's state): no duplicate, no lost row.
- With 20% of RPC requests failing (503, 429, timeouts, malformed JSON) the
  indexer ends with the same tables too.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orbitpay.db.schema import events, indexer_cursors
from tests.e2e.db_helpers import index_in_process, new_database, with_engine
from tests.e2e.helpers import ORBITPAY, clean_env, run
from tests.e2e.test_indexer_helpers import (
    comparable,
    diff,
    expected_state,
    indexed_state,
    register_devnet_orgs,
    table_snapshot,
)

pytestmark = pytest.mark.e2e


def test_sigkill_at_random_moments_then_restart_ends_with_the_same_tables(
    databases: list[str], tmp_path: Path
) -> None:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="load", seed=7, live=False, events=24_000)
    try:
        reference = new_database(databases, "orbitpay_idx")
        index_in_process(reference, handle.url, handle.chain)
        want = with_engine(reference, table_snapshot)

        db = new_database(databases, "orbitpay_idx")
        with_engine(db, lambda e: register_devnet_orgs(e, handle.chain))
        env = clean_env(ORBITPAY_DATABASE_URL=db, ORBITPAY_RPC_URL=handle.url)
        rng = random.Random(20261129)
        progress: list[int] = []

        async def committed(engine: Any) -> int:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(events)) or 0)

        total = len(want["events"])
        # Ten random moments during catch-up: each run is killed once it has committed
        # past a random fraction of the chain, plus a random delay (mid-page, mid-commit...).
        # A round commits several thousand events at once (one page per group, side by
        # side): the last target leaves room for a few rounds, so the kill lands mid-way
        # (0.7 did not once the first start stopped reading ledger state: the last run
        # could commit the rest within the random delay).
        targets = sorted(rng.uniform(0.05, 0.55) for _ in range(10))
        for target in targets:
            proc = subprocess.Popen(
                [*ORBITPAY, "index", "--once"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while with_engine(db, committed) < target * total and time.monotonic() < deadline:
                assert proc.poll() is None, "the indexer finished before it could be killed"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.1))
            proc.kill()  # SIGKILL: no cleanup, no final commit
            proc.wait(timeout=30)
            progress.append(with_engine(db, committed))
        assert 0 < progress[0] and progress[-1] < total  # killed during catch-up
        assert progress == sorted(progress)  # committed work is never lost

        final = run(["index", "--once"], env, tmp_path, timeout=600)
        assert final.returncode == 0, final.stderr[-3000:]
        got = with_engine(db, table_snapshot)
        differ = {t: (len(want[t]), len(got[t])) for t in want if got[t] != want[t]}
        assert not differ, (differ, progress)
        expected = expected_state(handle.chain.state_dump())
        assert diff(expected, comparable(with_engine(db, indexed_state))) == []
    finally:
        handle.stop()


def test_twenty_percent_rpc_faults_end_with_the_same_tables(databases: list[str]) -> None:
    from orbitpay.devnet.faults import FaultConfig
    from orbitpay.devnet.server import start_background_devnet

    clean = start_background_devnet(scenario="demo", seed=3, live=False)
    share = 0.05
    faults = FaultConfig(share, share, share, share, retry_after=1, timeout_seconds=1.5, seed=5)
    faulty = start_background_devnet(scenario="demo", seed=3, live=False, faults=faults)
    try:
        reference = new_database(databases, "orbitpay_idx")
        index_in_process(reference, clean.url, clean.chain)
        want = with_engine(reference, table_snapshot)

        db = new_database(databases, "orbitpay_idx")
        index_in_process(db, faulty.url, faulty.chain, rpc_timeout=0.5, rpc_max_retries=12)
        assert sum(faults.counts.values()) >= 10, faults.counts
        assert set(faults.counts) == {"503", "429", "timeout", "malformed"}
        got = with_engine(db, table_snapshot)
        for table in want:
            assert got[table] == want[table], table
        expected = expected_state(faulty.chain.state_dump())
        assert diff(expected, comparable(with_engine(db, indexed_state))) == []

        async def cursor(engine: Any) -> int:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.min(indexer_cursors.c.last_ledger))) or 0)

        assert with_engine(db, cursor) == faulty.chain.latest_ledger
    finally:
        clean.stop()
        faulty.stop()

"""``orbitpay index`` with a ledger data lake: the archive up to the RPC's window, then getEvents.

The devnet serves only the last ~5 days through its RPC and writes the whole
demo history as a SEP-54 lake. Indexing from the genesis ledger with
``ORBITPAY_ARCHIVE_URL`` (file:// and http://) must leave every indexed table
equal, row for row, to a run against an RPC that keeps the whole history.
``table_snapshot`` leaves out the volatile timestamps (``indexed_at``,
``updated_at``, ``detected_at``, ``created_at`` of bookkeeping rows). Two
more things legitimately differ and are left out (:func:`_comparable`): a
silent status change (a proposal rejected by ``finalize`` without an event)
is read from the metas' storage changes on the archive path, while the RPC
run learns it from the reconciliation, which records a ``reconcile``
discrepancy and stamps ``state_ledger`` (the entry read); so ``state_ledger``
and the ``reconcile`` discrepancies are not compared, and the test checks
instead that the archive run needed fewer corrections. ``origin`` names the
source that created a row: ``archive`` for rows created from the lake's
ledgers, ``events`` for the RPC's; the test checks both appear where they
should and then compares the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import truncate_all
from tests.e2e.test_indexer_helpers import register_devnet_orgs, table_snapshot

from orbitpay.config import load_settings
from orbitpay.db.schema import indexer_cursors
from orbitpay.devnet.server import DevnetHandle, start_background_devnet
from orbitpay.indexer.service import index_until_latest
from orbitpay.indexer.sources.archive import ArchiveGap
from orbitpay.stellar.datalake import PassphraseMismatch

PER_FILE = 1000  # ledgers per lake file: conftest's LAKE_PER_FILE, which `short` writes


@pytest.fixture(scope="module")
def full() -> Iterator[DevnetHandle]:
    # The same chain (ledger_changes on, as with an archive), every ledger served.
    with start_background_devnet("demo", seed=1, live=False, ledger_changes=True) as dn:
        yield dn


async def _index(eng: AsyncEngine, database_url: str, dn: DevnetHandle, **kw: Any) -> None:
    chain = dn.chain
    await register_devnet_orgs(eng, chain)
    settings = load_settings(
        database_url=database_url,
        rpc_url=dn.url,
        start_ledger=chain.genesis_ledger,
        network_passphrase=chain.network_passphrase,
        **kw,
    )
    await index_until_latest(settings, eng, dn.url, progress=False)


ENTITY_TABLES = ("withdrawals", "streams", "vesting_schedules", "proposals")


async def _origins(eng: AsyncEngine) -> dict[str, int]:
    """How many entity rows each source created (``origin``), over the entity tables."""
    from sqlalchemy import text

    out: dict[str, int] = {}
    async with eng.connect() as conn:
        for table in ENTITY_TABLES:
            for origin, n in await conn.execute(
                text(f"SELECT origin, count(*) FROM {table} GROUP BY origin")
            ):
                out[origin] = out.get(origin, 0) + int(n)
    return out


async def _comparable(eng: AsyncEngine) -> tuple[dict[str, Any], int]:
    """The table snapshot without ``state_ledger``, ``origin`` and ``reconcile``
    discrepancies, and how many of those there were."""
    from sqlalchemy import text

    async with eng.begin() as conn:
        for table in ENTITY_TABLES:
            await conn.execute(text(f"UPDATE {table} SET origin = 'events'"))
        corrections = int(
            await conn.scalar(text("SELECT count(*) FROM discrepancies WHERE source = 'reconcile'"))
            or 0
        )
        await conn.execute(text("DELETE FROM discrepancies WHERE source = 'reconcile'"))
        for table in ("withdrawals", "streams", "vesting_schedules", "proposals"):
            await conn.execute(text(f"UPDATE {table} SET state_ledger = NULL"))
        await conn.execute(text("UPDATE governance_members SET state_ledger = NULL"))
    return await table_snapshot(eng), corrections


async def _cursors(eng: AsyncEngine) -> list[tuple[Any, ...]]:
    async with eng.connect() as conn:
        rows = await conn.execute(
            select(indexer_cursors.c.name, indexer_cursors.c.cursor, indexer_cursors.c.last_ledger)
        )
        return sorted(tuple(r) for r in rows)


@pytest.mark.parametrize("via", ["file", "http"])
async def test_archive_then_rpc_equals_a_full_retention_run(
    eng: AsyncEngine,
    database_url: str,
    short: DevnetHandle,
    full: DevnetHandle,
    lake_dir: Path,
    via: str,
) -> None:
    assert short.chain.oldest_ledger > short.chain.genesis_ledger + 100_000
    await _index(eng, database_url, full)
    assert set(await _origins(eng)) == {"events"}
    want_cursors = await _cursors(eng)
    want, want_corrections = await _comparable(eng)
    await truncate_all(eng)

    url = lake_dir.as_uri() if via == "file" else f"{short.url}/lake"
    await _index(eng, database_url, short, archive_url=url)
    origins = await _origins(eng)
    assert origins.get("archive", 0) > 0  # created from the lake's ledgers, and said so
    assert set(origins) <= {"archive", "events"}
    got_cursors = await _cursors(eng)
    got, got_corrections = await _comparable(eng)
    assert got_corrections < want_corrections  # the metas said what no event says
    # An archived-entry notice is written where an entry is read. The full-retention run
    # sees every contract's ``init`` in reach and skips the first-start read, so only
    # the final reconciliation (open entities) notices archival; the lake run's first
    # start cannot see ``init`` through the short RPC and reads every entity, final ones
    # too. Everything else, notices included, is equal.
    archival = "live_until_ledger"
    want_notes, got_notes = want.pop("discrepancies"), got.pop("discrepancies")
    assert {r for r in want_notes if r[4] == archival} <= {r for r in got_notes if r[4] == archival}
    assert [r for r in got_notes if r[4] != archival] == [r for r in want_notes if r[4] != archival]
    for table in want:
        assert got[table] == want[table], table
    assert sum(len(rows) for rows in got.values()) > 300
    assert got_cursors == want_cursors  # the RPC continued where the lake stopped


async def test_no_archive_and_a_start_before_the_window_stops_at_the_gap(
    eng: AsyncEngine, database_url: str, short: DevnetHandle
) -> None:
    from orbitpay.indexer.pipeline import GapError

    with pytest.raises(GapError, match="no longer served"):
        await _index(eng, database_url, short)


async def test_a_missing_object_stops_naming_the_ledgers(
    eng: AsyncEngine, database_url: str, short: DevnetHandle, lake_dir: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "lake"
    shutil.copytree(lake_dir, copy)
    chain = short.chain
    hole = (chain.genesis_ledger + 5_000) // PER_FILE * PER_FILE
    end = hole + PER_FILE - 1
    victims = list(copy.rglob(f"*--{hole}-{end}.xdr.zst"))
    assert len(victims) == 1
    victims[0].unlink()
    with pytest.raises(ArchiveGap, match=f"ledgers {hole}-{end} are missing"):
        await _index(eng, database_url, short, archive_url=copy.as_uri())


async def test_a_wrong_passphrase_in_the_lake_is_one_clear_error(
    eng: AsyncEngine, database_url: str, short: DevnetHandle, lake_dir: Path, tmp_path: Path
) -> None:
    import json

    copy = tmp_path / "lake"
    copy.mkdir()
    config = json.loads((lake_dir / ".config.json").read_text())
    config["networkPassphrase"] = "Some Other Network"
    (copy / ".config.json").write_text(json.dumps(config))
    with pytest.raises(PassphraseMismatch, match="not of the configured network"):
        await _index(eng, database_url, short, archive_url=copy.as_uri())


async def test_a_corrupt_object_is_an_error_naming_it(
    eng: AsyncEngine, database_url: str, short: DevnetHandle, lake_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from orbitpay.stellar.datalake import CorruptObject

    copy = tmp_path / "lake"
    shutil.copytree(lake_dir, copy)
    start = (short.chain.genesis_ledger + 9_000) // PER_FILE * PER_FILE
    victim = next(copy.rglob(f"*--{start}-{start + PER_FILE - 1}.xdr.zst"))
    raw = victim.read_bytes()
    victim.write_bytes(raw[: len(raw) // 2])  # cut short, as by an interrupted upload
    with pytest.raises(CorruptObject, match=victim.name):
        await _index(eng, database_url, short, archive_url=copy.as_uri())
